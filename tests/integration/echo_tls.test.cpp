// File: integration/echo_tls.test.cpp
//
// otpnet-echo serving TLS (--tls-cert/--tls-key, or their TOML and
// OTPNET_* equivalents), as a real process, against peers no one here
// wrote: Python's ssl module exchanging {packet, 2} frames, `openssl
// s_client` a line echo. A plaintext client on the TLS port costs only its
// own connection; SIGHUP reloads the certificate (a new handshake sees the
// new one while an old connection stays up; a bad file keeps the old one);
// the server ends a TLS connection with close_notify; TLS settings that do
// not load are one line and a non-zero exit. Certificates are made at test
// time with the openssl CLI, in a temporary directory; the tests skip when
// python3 or openssl is not installed.
#include "integration/echo_process.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace otpnet::echo_test {
namespace {

// -- a child with pipes -----------------------------------------------------------------------------------

/// Children spawned so far (each keeps its stderr in a file of its own).
int spawned = 0;

/// A helper program (python3, openssl) run with its stdin and stdout on
/// pipes and stderr in a file; every read is bounded, and the child is
/// killed by pid and reaped when the object goes.
class piped_child {
 public:
  piped_child(const std::vector<std::string>& argv, const temp_dir& dir)
      : err_(dir / ("stderr." + std::to_string(++spawned))) {
    int in[2];
    int out[2];
    if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0) {
      ADD_FAILURE() << "pipe: " << std::strerror(errno);
      return;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_addopen(&fa, 2, err_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    std::vector<std::string> args = argv;
    std::vector<char*> av;
    av.reserve(args.size() + 1);
    for (auto& a : args) {
      av.push_back(a.data());
    }
    av.push_back(nullptr);
    int rc = ::posix_spawnp(&pid_, av[0], &fa, nullptr, av.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    ::close(in[0]);
    ::close(out[1]);
    in_ = in[1];
    out_ = out[0];
    if (rc != 0) {
      pid_ = -1;
      ADD_FAILURE() << "posix_spawnp " << argv[0] << ": " << std::strerror(rc);
    }
  }
  ~piped_child() {
    close_stdin();
    if (out_ >= 0) {
      ::close(out_);
    }
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      int st = 0;
      while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
      }
    }
  }
  piped_child(const piped_child&) = delete;
  piped_child& operator=(const piped_child&) = delete;

  void write_line(const std::string& line) const {
    std::string l = line + "\n";
    (void)!::write(in_, l.data(), l.size());
  }
  void close_stdin() {
    if (in_ >= 0) {
      ::close(in_);
      in_ = -1;
    }
  }
  /// The next line of its stdout (without the newline), or nothing within
  /// `t` (or at its end).
  std::optional<std::string> read_line(milliseconds t = must) {
    auto end = std::chrono::steady_clock::now() + t;
    for (;;) {
      if (auto nl = buf_.find('\n'); nl != std::string::npos) {
        std::string line = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        return line;
      }
      auto left = std::chrono::duration_cast<milliseconds>(end - std::chrono::steady_clock::now());
      pollfd p{out_, POLLIN, 0};
      if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) {
        return std::nullopt;
      }
      char b[4096];
      ssize_t n = ::read(out_, b, sizeof b);
      if (n <= 0) {
        return std::nullopt;
      }
      buf_.append(b, static_cast<std::size_t>(n));
    }
  }
  std::string stderr_text() const { return read_file(err_); }

  /// Waits (bounded) for it to end: its exit code (-1: ended by a signal),
  /// or nothing.
  std::optional<int> wait_exit(milliseconds t = must) {
    auto end = std::chrono::steady_clock::now() + t;
    while (pid_ > 0) {
      int st = 0;
      if (::waitpid(pid_, &st, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
      }
      if (std::chrono::steady_clock::now() > end) {
        break;
      }
      std::this_thread::sleep_for(5ms);
    }
    return std::nullopt;
  }

 private:
  std::filesystem::path err_;
  pid_t pid_ = -1;
  int in_ = -1;
  int out_ = -1;
  std::string buf_;
};

/// Runs `argv` to its end (bounded): true if it exited 0.
bool run_command(const std::vector<std::string>& argv, const temp_dir& dir) {
  piped_child c(argv, dir);
  c.close_stdin();
  while (c.read_line()) {
  }
  auto code = c.wait_exit();
  EXPECT_EQ(code, 0) << argv[0] << ": " << c.stderr_text();
  return code == 0;
}

/// Whether `program` is on the PATH.
bool have(std::string_view program) {
  const char* path = std::getenv("PATH");  // NOLINT(concurrency-mt-unsafe): read before any thread
  std::istringstream dirs(path != nullptr ? path : "");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    if (!dir.empty() && ::access((std::filesystem::path(dir) / program).c_str(), X_OK) == 0) {
      return true;
    }
  }
  return false;
}

// -- certificates ------------------------------------------------------------------------------------------

/// A self-signed P-256 certificate for localhost and 127.0.0.1 with common
/// name `cn`: DIR/cn.pem and DIR/cn.key.
void make_certificate(const temp_dir& d, const std::string& cn) {
  std::string base = (d / cn).string();
  run_command({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
               base + ".key", "-out", base + ".pem", "-days", "2", "-subj", "/CN=" + cn, "-addext",
               "subjectAltName=DNS:localhost,IP:127.0.0.1"},
              d);
  ASSERT_FALSE(read_file(base + ".pem").empty()) << "openssl req made no certificate for " << cn;
}

/// Replaces `to` with a copy of `from` in one step (rename).
void replace_file(const std::filesystem::path& from, const std::filesystem::path& to) {
  std::filesystem::path tmp = to.string() + ".new";
  std::filesystem::copy_file(from, tmp, std::filesystem::copy_options::overwrite_existing);
  std::filesystem::rename(tmp, to);
}

// -- the Python client ---------------------------------------------------------------------------------------

/// A TLS client driven line by line (a third argument: a PROXY version 1
/// line, without its CRLF, sent before the handshake). It prints
/// "connected VERSION CN" after
/// the handshake (CN: the server certificate's common name), or "failed
/// REASON"; then for each "send N SEED" line on stdin it sends a {packet,
/// 2} frame of N bytes and prints "echo ok N" or "echo bad ..."; "wait_end"
/// reads until the server ends the connection and prints "close_notify"
/// (a clean TLS end), "eof_without_close_notify" or "reset".
constexpr const char* python_client = R"PY(
import socket, ssl, struct, sys

port, trust = int(sys.argv[1]), sys.argv[2]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.load_verify_locations(trust)
def out(*a):
    print(*a, flush=True)
try:
    raw = socket.create_connection(("127.0.0.1", port), timeout=20)
    if len(sys.argv) > 3:
        raw.sendall(sys.argv[3].encode() + b"\r\n")  # a PROXY v1 line before the handshake
    s = ctx.wrap_socket(raw, server_hostname="localhost", suppress_ragged_eofs=False)
except Exception as e:
    out("failed", type(e).__name__, str(e).replace("\n", " "))
    sys.exit(0)
cn = dict(x[0] for x in s.getpeercert()["subject"])["commonName"]
out("connected", s.version(), cn)
def read_exact(n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError("closed after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return buf
for line in sys.stdin:
    cmd = line.split()
    try:
        if cmd[0] == "send":
            n, seed = int(cmd[1]), int(cmd[2])
            body = bytes((i * 7 + seed) % 251 for i in range(n))
            s.sendall(struct.pack(">H", n) + body)
            (m,) = struct.unpack(">H", read_exact(2))
            got = read_exact(m)
            out("echo ok", n) if got == body else out("echo bad", len(got))
        elif cmd[0] == "wait_end":
            while True:
                if not s.recv(65536):
                    out("close_notify")
                    break
    except ssl.SSLEOFError:
        out("eof_without_close_notify")
    except (ConnectionResetError, BrokenPipeError):
        out("reset")
    except Exception as e:
        out("error", type(e).__name__, str(e).replace("\n", " "))
)PY";

class tls_client {
 public:
  tls_client(const temp_dir& d, std::uint16_t port, const std::filesystem::path& trust,
             const std::string& proxy_line = "")
      : c_(proxy_line.empty()
               ? std::vector<std::string>{"python3", (d / "client.py").string(), std::to_string(port), trust.string()}
               : std::vector<std::string>{"python3", (d / "client.py").string(), std::to_string(port), trust.string(),
                                          proxy_line},
           d) {}

  /// The first line: "connected TLSv1.3 CN" or "failed ...".
  std::string hello() { return c_.read_line().value_or("<nothing>"); }
  /// Sends a frame of `n` bytes and reads its echo: "echo ok N" if it matched.
  std::string echo(std::size_t n, int seed = 1) {
    c_.write_line("send " + std::to_string(n) + " " + std::to_string(seed));
    return c_.read_line().value_or("<nothing>");
  }
  std::string wait_end() {
    c_.write_line("wait_end");
    return c_.read_line().value_or("<nothing>");
  }
  std::string stderr_text() const { return c_.stderr_text(); }

 private:
  piped_child c_;
};

// -- the fixture -------------------------------------------------------------------------------------------

class echo_tls : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have("python3") || !have("openssl")) {
      GTEST_SKIP() << "python3 and openssl are needed";
    }
    std::ofstream(d_ / "client.py") << python_client;
    make_certificate(d_, "echo-one");
    make_certificate(d_, "echo-two");
    // What the server is started with (replaced on disk by the reload test).
    std::filesystem::copy_file(d_ / "echo-one.pem", d_ / "server.pem");
    std::filesystem::copy_file(d_ / "echo-one.key", d_ / "server.key");
    // The clients trust both certificates, and tell them apart by name.
    std::ofstream(d_ / "trust.pem") << read_file(d_ / "echo-one.pem") << read_file(d_ / "echo-two.pem");
  }

  std::vector<std::string> tls_args() const {
    return {"--tls-cert", (d_ / "server.pem").string(), "--tls-key", (d_ / "server.key").string()};
  }
  std::vector<std::string> with_tls(std::vector<std::string> more) const {
    auto a = tls_args();
    a.insert(a.end(), more.begin(), more.end());
    return a;
  }
  tls_client connect(const echo_server& s) const { return {d_, s.port(), d_ / "trust.pem"}; }

  /// Waits (bounded) until the server's stderr holds `needle`.
  static bool wait_for_log(const echo_server& s, std::string_view needle) {
    auto end = std::chrono::steady_clock::now() + must;
    while (s.stderr_text().find(needle) == std::string::npos) {
      if (std::chrono::steady_clock::now() > end) {
        return false;
      }
      std::this_thread::sleep_for(5ms);
    }
    return true;
  }

  temp_dir d_;
};

// -- traffic -------------------------------------------------------------------------------------------------

TEST_F(echo_tls, python_ssl_exchanges_packet_2_frames) {
  echo_server s;
  ASSERT_TRUE(s.start({.args = tls_args()}));
  EXPECT_NE(s.stdout_text().find("(TLS)"), std::string::npos) << s.stdout_text();
  tls_client c = connect(s);
  ASSERT_EQ(c.hello().rfind("connected TLSv1.3 echo-one", 0), 0u) << c.stderr_text();
  for (std::size_t n : {1u, 100u, 16384u, 16385u, 65535u, 0u, 3u}) {
    EXPECT_EQ(c.echo(n, static_cast<int>(n)), "echo ok " + std::to_string(n)) << c.stderr_text();
  }
}

// Behind a proxy: the PROXY header comes before the ClientHello, and the
// handshake that follows it is whole.
TEST_F(echo_tls, a_proxy_header_before_the_handshake_names_the_client) {
  echo_server s;
  ASSERT_TRUE(s.start({.args = with_tls({"--proxy-protocol", "--log-connections"})}));
  tls_client c(d_, s.port(), d_ / "trust.pem", "PROXY TCP4 203.0.113.9 198.51.100.1 4242 2222");
  ASSERT_EQ(c.hello().rfind("connected TLSv1.3 echo-one", 0), 0u) << c.stderr_text() << s.stderr_text();
  EXPECT_EQ(c.echo(1000), "echo ok 1000");
  EXPECT_TRUE(wait_for_log(s, "echo: client 203.0.113.9:4242 connected")) << s.stderr_text();
}

TEST_F(echo_tls, the_toml_file_and_the_environment_turn_tls_on_too) {
  std::ofstream(d_ / "echo.toml") << "[tls]\ncert = \"" << (d_ / "server.pem").string() << "\"\nkey = \""
                                  << (d_ / "server.key").string() << "\"\n";
  echo_server by_file;
  ASSERT_TRUE(by_file.start({.args = {"--config", (d_ / "echo.toml").string()}}));
  echo_server by_env;
  ASSERT_TRUE(by_env.start(
      {.env = {{"OTPNET_TLS_CERT", (d_ / "server.pem").string()}, {"OTPNET_TLS_KEY", (d_ / "server.key").string()}}}));
  for (echo_server* s : {&by_file, &by_env}) {
    tls_client c = connect(*s);
    ASSERT_EQ(c.hello().rfind("connected", 0), 0u) << c.stderr_text();
    EXPECT_EQ(c.echo(1000), "echo ok 1000");
  }
}

TEST_F(echo_tls, openssl_s_client_talks_to_the_line_echo) {
  echo_server s;
  ASSERT_TRUE(s.start({.args = with_tls({"--packet", "line"})}));
  piped_child sc({"openssl", "s_client", "-connect", "127.0.0.1:" + std::to_string(s.port()), "-servername",
                  "localhost", "-CAfile", (d_ / "trust.pem").string(), "-verify_return_error", "-quiet"},
                 d_);
  sc.write_line("hello from s_client");
  EXPECT_EQ(sc.read_line().value_or("<nothing>: " + sc.stderr_text()), "hello from s_client");
  sc.write_line("and again");
  EXPECT_EQ(sc.read_line().value_or("<nothing>: " + sc.stderr_text()), "and again");
}

// -- isolation -------------------------------------------------------------------------------------------------

TEST_F(echo_tls, a_plaintext_client_on_the_tls_port_costs_only_its_own_connection) {
  echo_server s;
  ASSERT_TRUE(s.start({.args = tls_args()}));
  tls_client before = connect(s);
  ASSERT_EQ(before.hello().rfind("connected", 0), 0u) << before.stderr_text();

  client plain = client::connect(s.port());
  ASSERT_TRUE(plain.write(frame("hello in the clear")));
  EXPECT_TRUE(plain.closed_by_server()) << "a plaintext client is closed";
  EXPECT_TRUE(wait_for_log(s, "handshake failed")) << s.stderr_text();

  EXPECT_EQ(before.echo(5000), "echo ok 5000") << "a TLS client connected before is served on";
  tls_client after = connect(s);
  ASSERT_EQ(after.hello().rfind("connected", 0), 0u) << after.stderr_text();
  EXPECT_EQ(after.echo(5000), "echo ok 5000") << "and so is a new one";
  EXPECT_TRUE(s.alive());
}

// -- the end of a connection ---------------------------------------------------------------------------------------

TEST_F(echo_tls, the_server_ends_a_tls_connection_with_close_notify) {
  echo_server s;
  // The idle timeout is the server's reason to close (long enough for the
  // echo below on a loaded machine).
  ASSERT_TRUE(s.start({.args = with_tls({"--idle-timeout", "2s"})}));
  tls_client c = connect(s);
  ASSERT_EQ(c.hello().rfind("connected", 0), 0u) << c.stderr_text();
  EXPECT_EQ(c.echo(10), "echo ok 10");
  EXPECT_EQ(c.wait_end(), "close_notify") << c.stderr_text();
}

TEST_F(echo_tls, sigterm_drains_tls_clients_and_exits_0) {
  echo_server s;
  ASSERT_TRUE(s.start({.args = with_tls({"--drain-timeout", "3s"})}));
  tls_client c = connect(s);
  ASSERT_EQ(c.hello().rfind("connected", 0), 0u) << c.stderr_text();
  EXPECT_EQ(c.echo(10), "echo ok 10");
  s.signal(SIGTERM);
  ASSERT_TRUE(wait_for_log(s, "draining"));
  EXPECT_EQ(c.echo(2000), "echo ok 2000") << "a draining server still answers";
  // At the drain deadline the handler is stopped: its socket closes with
  // close_notify all the same.
  EXPECT_EQ(c.wait_end(), "close_notify") << c.stderr_text();
  auto st = s.wait_exit();
  ASSERT_TRUE(st);
  EXPECT_TRUE(st->exited && st->code == 0) << st->to_string() << "\n" << s.stderr_text();
}

// -- certificate reload ---------------------------------------------------------------------------------------------

TEST_F(echo_tls, sighup_reload_is_seen_by_new_handshakes_while_old_connections_stay) {
  echo_server s;
  ASSERT_TRUE(s.start({.args = tls_args()}));
  tls_client old = connect(s);
  ASSERT_EQ(old.hello().rfind("connected TLSv1.3 echo-one", 0), 0u) << old.stderr_text();

  replace_file(d_ / "echo-two.pem", d_ / "server.pem");
  replace_file(d_ / "echo-two.key", d_ / "server.key");
  s.signal(SIGHUP);
  ASSERT_TRUE(wait_for_log(s, "certificate reloaded")) << s.stderr_text();
  EXPECT_EQ(count_lines(s.stderr_text(), "certificate reloaded"), 1u) << "one report line";

  tls_client fresh = connect(s);
  EXPECT_EQ(fresh.hello().rfind("connected TLSv1.3 echo-two", 0), 0u) << fresh.stderr_text();
  EXPECT_EQ(fresh.echo(3000), "echo ok 3000");
  EXPECT_EQ(old.echo(3000), "echo ok 3000") << "the connection made before the reload stays up";
  EXPECT_TRUE(s.alive());
}

TEST_F(echo_tls, a_reload_that_fails_keeps_the_certificate_in_use) {
  echo_server s;
  ASSERT_TRUE(s.start({.args = tls_args()}));
  std::ofstream(d_ / "broken.pem") << "not a certificate\n";
  replace_file(d_ / "broken.pem", d_ / "server.pem");
  s.signal(SIGHUP);
  ASSERT_TRUE(wait_for_log(s, "reload failed")) << s.stderr_text();
  tls_client c = connect(s);
  EXPECT_EQ(c.hello().rfind("connected TLSv1.3 echo-one", 0), 0u) << c.stderr_text();
  EXPECT_EQ(c.echo(10), "echo ok 10");
}

TEST_F(echo_tls, sighup_without_tls_is_a_line_not_an_exit) {
  echo_server s;
  ASSERT_TRUE(s.start({}));
  s.signal(SIGHUP);
  ASSERT_TRUE(wait_for_log(s, "no TLS certificate to reload")) << s.stderr_text();
  client c = client::connect(s.port());
  EXPECT_EQ(round_trip(c, "still here"), "still here");
}

// -- startup errors ------------------------------------------------------------------------------------------------

TEST_F(echo_tls, tls_settings_that_do_not_load_are_one_line_and_a_non_zero_exit) {
  std::ofstream(d_ / "empty.pem") << "";
  struct bad {
    std::vector<std::string> args;
    std::vector<std::string> needles;
  };
  const std::vector<bad> cases = {
      {{"--tls-cert", (d_ / "server.pem").string()}, {"tls.key", "missing"}},
      {{"--tls-cert", (d_ / "empty.pem").string(), "--tls-key", (d_ / "server.key").string()}, {"tls", "empty.pem"}},
      {{"--tls-cert", (d_ / "server.pem").string(), "--tls-key", (d_ / "echo-two.key").string()},
       {"tls", "server.pem"}},
      {{"--tls-cert", (d_ / "server.pem").string(), "--tls-key", (d_ / "nowhere.key").string()},
       {"tls", "nowhere.key"}},
  };
  for (const bad& b : cases) {
    run_result r = run_to_exit({.args = b.args});
    ASSERT_TRUE(r.status);
    EXPECT_TRUE(r.status->exited && r.status->code != 0) << r.status->to_string();
    EXPECT_EQ(count_lines(r.err), 1u) << r.err;
    for (const auto& n : b.needles) {
      EXPECT_NE(r.err.find(n), std::string::npos) << "'" << n << "' missing from: " << r.err;
    }
    EXPECT_EQ(r.out.find("listening on"), std::string::npos);
  }
}

}  // namespace
}  // namespace otpnet::echo_test
