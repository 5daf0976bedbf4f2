// File: integration/echo_process.hpp (tests only)
//
// Drives otpnet-echo as a real program, for the integration and fault
// tests:
//   - `echo_server`: starts the binary (its path is the compile definition
//     OTPNET_ECHO_BINARY) with posix_spawn on 127.0.0.1 port 0 and
//     --port-file, waits (bounded) for the port, keeps its stdout and
//     stderr in files, sends it signals, waits for its exit with a bound,
//     and in any case kills it (SIGKILL, by pid) and reaps it when the
//     guard goes out of scope, so that a failed test leaves no process;
//   - `run_to_exit`: runs it to completion (startup errors, --print-config);
//   - `client`: a POSIX client socket with bounded waits and the {packet, N}
//     framing of the echo server;
//   - `cpu_ticks`: utime + stime of a process, from /proc/PID/stat.
// The environment of the child is this process's minus every OTPNET_*
// variable, plus what a test sets, so that the caller's shell cannot change
// a test.
#pragma once

#include <gtest/gtest.h>

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

extern char** environ;

namespace otpnet::echo_test {

using namespace std::chrono_literals;
using std::chrono::milliseconds;

/// The bound for anything that must happen (generous: sanitizer builds,
/// a loaded machine).
inline constexpr milliseconds must = 20000ms;
/// The window in which something must NOT happen (a bounded negative check).
inline constexpr milliseconds quiet = 300ms;

inline std::string echo_binary() { return OTPNET_ECHO_BINARY; }

inline std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

/// Lines of `text` that contain `needle`.
inline std::size_t count_lines(const std::string& text, std::string_view needle) {
  std::size_t n = 0;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    n += line.find(needle) != std::string::npos;
  }
  return n;
}
inline std::size_t count_lines(const std::string& text) {
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

/// A fresh directory under the system's temporary directory, removed with
/// everything in it when destroyed.
class temp_dir {
 public:
  temp_dir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "otpnet-echo-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) != nullptr) {
      path_ = tmpl;
    }
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const std::filesystem::path& path() const noexcept { return path_; }
  std::filesystem::path operator/(std::string_view name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

/// How a test starts the server.
struct launch {
  std::vector<std::string> args;
  /// OTPNET_* variables (or others) for the child.
  std::map<std::string, std::string> env;
  /// Run under `sh -c 'ulimit -n N; exec otpnet-echo ...'` (0: no limit).
  int fd_limit = 0;
  /// Add --bind 127.0.0.1 --port 0 --port-file (off for tests of the
  /// configuration that want their own).
  bool loopback_port0 = true;
};

/// A waited-for child: how it ended.
struct exit_status {
  bool exited = false;  ///< ended by exit(), else by a signal
  int code = -1;        ///< exit code, or the signal number
  std::string to_string() const { return exited ? "exit " + std::to_string(code) : "signal " + std::to_string(code); }
};

inline exit_status decode(int status) {
  if (WIFEXITED(status)) {
    return {true, WEXITSTATUS(status)};
  }
  return {false, WIFSIGNALED(status) ? WTERMSIG(status) : -1};
}

/// The child environment: ours without OTPNET_*, plus `extra`.
inline std::vector<std::string> child_environment(const std::map<std::string, std::string>& extra) {
  std::vector<std::string> out;
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::string_view(*e).rfind("OTPNET_", 0) != 0) {
      out.emplace_back(*e);
    }
  }
  for (const auto& [k, v] : extra) {
    out.push_back(k + "=" + v);
  }
  return out;
}

/// otpnet-echo running as a child process. Never leaves it behind.
class echo_server {
 public:
  echo_server() = default;
  echo_server(const echo_server&) = delete;
  echo_server& operator=(const echo_server&) = delete;
  ~echo_server() { kill_now(); }

  /// Spawns the server; with `wait_for_port` (the default), returns only
  /// once it listens (port() is then set) or it failed (check ok()).
  bool start(const launch& l, bool wait_for_port = true) {
    port_file_ = dir_ / "port";
    std::vector<std::string> argv;
    if (l.fd_limit > 0) {
      argv = {"/bin/sh", "-c", "ulimit -n " + std::to_string(l.fd_limit) + " && exec \"$0\" \"$@\"", echo_binary()};
    } else {
      argv = {echo_binary()};
    }
    if (l.loopback_port0) {
      for (const char* a : {"--bind", "127.0.0.1", "--port", "0", "--port-file"}) {
        argv.emplace_back(a);
      }
      argv.push_back(port_file_.string());
    }
    argv.insert(argv.end(), l.args.begin(), l.args.end());
    std::vector<std::string> envs = child_environment(l.env);

    std::vector<char*> av;
    for (auto& a : argv) {
      av.push_back(a.data());
    }
    av.push_back(nullptr);
    std::vector<char*> ev;
    for (auto& e : envs) {
      ev.push_back(e.data());
    }
    ev.push_back(nullptr);

    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    std::string out = (dir_ / "stdout").string();
    std::string err = (dir_ / "stderr").string();
    posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&fa, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    // The child must not inherit a blocked SIGTERM/SIGINT, nor this
    // process's ignored signals.
    posix_spawnattr_t at;
    posix_spawnattr_init(&at);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&at, &none);
    sigset_t deflt;
    sigemptyset(&deflt);
    sigaddset(&deflt, SIGTERM);
    sigaddset(&deflt, SIGINT);
    sigaddset(&deflt, SIGPIPE);
    posix_spawnattr_setsigdefault(&at, &deflt);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    int rc = ::posix_spawn(&pid_, av[0], &fa, &at, av.data(), ev.data());
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    if (rc != 0) {
      pid_ = -1;
      ADD_FAILURE() << "posix_spawn " << av[0] << ": " << std::strerror(rc);
      return false;
    }
    return wait_for_port ? wait_port() : true;
  }

  /// Waits (bounded) until the server wrote its port file; false if it
  /// ended first or the bound passed (the reason is a test failure).
  bool wait_port(milliseconds bound = must) {
    auto end = std::chrono::steady_clock::now() + bound;
    while (std::chrono::steady_clock::now() < end) {
      std::string text = read_file(port_file_);
      if (!text.empty() && text.back() == '\n') {
        port_ = static_cast<std::uint16_t>(std::stoul(text));
        return port_ != 0;
      }
      if (poll_exit()) {
        ADD_FAILURE() << "otpnet-echo ended before listening (" << status_->to_string() << "): " << stderr_text();
        return false;
      }
      std::this_thread::sleep_for(5ms);
    }
    ADD_FAILURE() << "otpnet-echo did not write its port file within " << bound.count() << " ms: " << stderr_text();
    return false;
  }

  pid_t pid() const noexcept { return pid_; }
  std::uint16_t port() const noexcept { return port_; }
  bool ok() const noexcept { return port_ != 0; }

  /// Sends `sig` (by pid) if the child has not been reaped.
  void signal(int sig) const {
    if (pid_ > 0 && !status_) {
      ::kill(pid_, sig);
    }
  }

  /// True once the child has ended (reaping it).
  bool poll_exit() {
    if (status_) {
      return true;
    }
    if (pid_ <= 0) {
      return false;
    }
    int st = 0;
    pid_t r = ::waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
      status_ = decode(st);
      return true;
    }
    return false;
  }
  bool alive() { return pid_ > 0 && !poll_exit(); }

  /// Waits up to `bound` for the child to end: how it ended, or nothing.
  std::optional<exit_status> wait_exit(milliseconds bound = must) {
    auto end = std::chrono::steady_clock::now() + bound;
    while (!poll_exit()) {
      if (std::chrono::steady_clock::now() > end) {
        return std::nullopt;
      }
      std::this_thread::sleep_for(5ms);
    }
    return status_;
  }

  std::string stderr_text() const { return read_file(dir_ / "stderr"); }
  std::string stdout_text() const { return read_file(dir_ / "stdout"); }
  const temp_dir& dir() const noexcept { return dir_; }

  /// SIGKILL and reap (no-op once reaped).
  void kill_now() {
    if (pid_ > 0 && !status_) {
      ::kill(pid_, SIGKILL);
      int st = 0;
      while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
      }
      status_ = decode(st);
    }
  }

 private:
  temp_dir dir_;
  std::filesystem::path port_file_;
  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
  std::optional<exit_status> status_;
};

/// What a run to completion gave.
struct run_result {
  std::optional<exit_status> status;  ///< nothing: it did not end in time (killed)
  std::string out;
  std::string err;
};

/// Runs otpnet-echo with `l` until it ends (bounded; killed after).
inline run_result run_to_exit(const launch& l, milliseconds bound = must) {
  echo_server s;
  run_result r;
  if (!s.start(l, false)) {
    return r;
  }
  r.status = s.wait_exit(bound);
  r.out = s.stdout_text();
  r.err = s.stderr_text();
  return r;
}

// -- the client ------------------------------------------------------------------------------------

/// A client socket of the test: non-blocking underneath, every wait bounded.
class client {
 public:
  client() = default;
  client(client&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  client& operator=(client&& o) noexcept {
    if (this != &o) {
      close();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  client(const client&) = delete;
  client& operator=(const client&) = delete;
  ~client() { close(); }

  /// Connects to 127.0.0.1:port (completes once the kernel queued it,
  /// accepted or not). An empty client on failure.
  static client connect(std::uint16_t port, milliseconds t = must) {
    client c;
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      return c;
    }
    c.fd_ = fd;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
      return c;
    }
    if (errno != EINPROGRESS || !c.wait(POLLOUT, std::chrono::steady_clock::now() + t)) {
      c.close();
      return c;
    }
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
      c.close();
    }
    return c;
  }

  explicit operator bool() const noexcept { return fd_ >= 0; }
  int fd() const noexcept { return fd_; }

  bool write(std::string_view data, milliseconds t = must) const {
    auto end = std::chrono::steady_clock::now() + t;
    while (!data.empty()) {
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n > 0) {
        data.remove_prefix(static_cast<std::size_t>(n));
        continue;
      }
      if (n < 0 && errno != EAGAIN && errno != EINTR) {
        return false;
      }
      if (!wait(POLLOUT, end)) {
        return false;
      }
    }
    return true;
  }

  /// Exactly `n` bytes, or fewer if the connection ends or `t` passes.
  std::string read_exact(std::size_t n, milliseconds t = must) const {
    std::string out;
    out.reserve(n);
    auto end = std::chrono::steady_clock::now() + t;
    char buf[65536];
    while (out.size() < n) {
      ssize_t r = ::recv(fd_, buf, std::min(sizeof buf, n - out.size()), 0);
      if (r > 0) {
        out.append(buf, static_cast<std::size_t>(r));
        continue;
      }
      if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
        break;
      }
      if (!wait(POLLIN, end)) {
        break;
      }
    }
    return out;
  }

  /// How the connection stands as the client sees it within `t`: "eof",
  /// "reset", "open" (nothing came), or "data" (bytes came; consumed).
  std::string end_state(milliseconds t = must) const {
    auto end = std::chrono::steady_clock::now() + t;
    char buf[4096];
    for (;;) {
      ssize_t r = ::recv(fd_, buf, sizeof buf, 0);
      if (r == 0) {
        return "eof";
      }
      if (r > 0) {
        return "data";
      }
      if (errno == ECONNRESET) {
        return "reset";
      }
      if (errno != EAGAIN && errno != EINTR) {
        return std::string("error ") + std::strerror(errno);
      }
      if (!wait(POLLIN, end)) {
        return "open";
      }
    }
  }
  bool closed_by_server(milliseconds t = must) const {
    std::string s = end_state(t);
    return s == "eof" || s == "reset";
  }

  /// Half-closes: the server reads an end after what was sent; a write
  /// under way in another thread fails (EPIPE) instead of waiting.
  void shutdown_write() const { (void)::shutdown(fd_, SHUT_WR); }

  /// Closes with SO_LINGER {on, 0}: the server sees a reset.
  void reset() {
    linger l{1, 0};
    (void)::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    close();
  }
  void close() {
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }

  bool wait(short events, std::chrono::steady_clock::time_point end) const {
    for (;;) {
      auto left = std::chrono::duration_cast<milliseconds>(end - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        return false;
      }
      pollfd pfd{fd_, events, 0};
      int r = ::poll(&pfd, 1, static_cast<int>(left.count()));
      if (r == 1) {
        return true;
      }
      if (r < 0 && errno != EINTR) {
        return false;
      }
    }
  }

 private:
  int fd_ = -1;
};

// -- framing ({packet, N} as the server speaks it) ----------------------------------------------------

/// `body` behind a big-endian length header of `header` bytes (0: raw).
inline std::string frame(std::string_view body, int header = 2) {
  std::string f;
  for (int i = header - 1; i >= 0; --i) {
    f.push_back(static_cast<char>((body.size() >> (8 * i)) & 0xff));
  }
  f.append(body);
  return f;
}

/// `n` bytes of a pattern that depends on `seed` (misplaced bytes show).
inline std::string pattern(std::size_t n, unsigned seed = 0) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) {
    s[i] = static_cast<char>('a' + (i * 7 + seed * 13 + i / 251) % 26);
  }
  return s;
}

/// Sends `body` as one frame and reads one frame back: its body, or
/// nothing if no whole frame came within `t`.
inline std::optional<std::string> round_trip(const client& c, std::string_view body, int header = 2,
                                             milliseconds t = must) {
  if (!c.write(frame(body, header), t)) {
    return std::nullopt;
  }
  std::string h = c.read_exact(static_cast<std::size_t>(header), t);
  if (h.size() != static_cast<std::size_t>(header)) {
    return std::nullopt;
  }
  std::size_t n = 0;
  for (unsigned char b : h) {
    n = (n << 8) | b;
  }
  std::string got = c.read_exact(n, t);
  if (got.size() != n) {
    return std::nullopt;
  }
  return got;
}

/// `n` clients connected to `port`, in order; fewer (with a test failure
/// for the first that could not connect) if one cannot.
inline std::vector<client> connect_clients(std::uint16_t port, int n) {
  std::vector<client> clients;
  for (int k = 0; k < n; ++k) {
    clients.push_back(client::connect(port));
    if (!clients.back()) {
      ADD_FAILURE() << "client " << k << " could not connect";
      clients.pop_back();
      break;
    }
  }
  return clients;
}

/// Reads one {packet, 2} frame: its body, or nothing within `t`.
inline std::optional<std::string> read_frame(const client& c, milliseconds t = must) {
  std::string h = c.read_exact(2, t);
  if (h.size() != 2) {
    return std::nullopt;
  }
  std::size_t n = (static_cast<unsigned char>(h[0]) << 8) | static_cast<unsigned char>(h[1]);
  std::string got = c.read_exact(n, t);
  if (got.size() != n) {
    return std::nullopt;
  }
  return got;
}

// -- the process from outside ------------------------------------------------------------------------

/// utime + stime of `pid` in clock ticks (fields 14 and 15 of
/// /proc/PID/stat), or -1.
inline long long cpu_ticks(pid_t pid) {
  std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  auto close_paren = stat.rfind(')');
  if (close_paren == std::string::npos) {
    return -1;
  }
  std::istringstream in(stat.substr(close_paren + 2));
  std::vector<std::string> f;
  for (std::string x; in >> x;) {
    f.push_back(x);
  }
  // f[0] is field 3 (state): utime is field 14, stime 15.
  if (f.size() < 13) {
    return -1;
  }
  return std::stoll(f[11]) + std::stoll(f[12]);
}

/// Descriptors open in `pid` (entries of /proc/PID/fd).
inline int open_fds(pid_t pid) {
  std::error_code ec;
  int n = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++n;
  }
  return n;
}

}  // namespace otpnet::echo_test
