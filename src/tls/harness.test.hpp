// File: tls/harness.test.hpp (tests only)
//
// What the tls test files share:
//   - `tls_test`, a fixture that starts the runtime (two schedulers), gives
//     the test thread a mailbox, a fresh PKI (pki.test.hpp) and captures
//     the report lines (spdlog);
//   - a TLS echo server the ranch way: an acceptor process accepts on a
//     gen_tcp listener and hands each socket to a new handler process
//     (controlling_process, before a byte is read), which runs the TLS
//     handshake and then echoes;
//   - an otpnet TLS client process (connect, connect_handshake);
//   - both report what they see to the test thread as `ev`s, and run
//     commands (`cmd`, `acmd`) as their socket's owner;
//   - raw peers from the test thread (plaintext, garbage, silence) and
//     subprocesses (openssl s_client, python3) with a bounded run time.
// Everything is over 127.0.0.1 at a port the kernel chose.
#pragma once

#include <otpnet/gen_tcp/gen_tcp.hpp>
#include <otpnet/runtime/mailbox.hpp>
#include <otpnet/runtime/process.hpp>
#include <otpnet/runtime/receive.hpp>
#include <otpnet/runtime/runtime.hpp>
#include <otpnet/runtime/socket_io.hpp>
#include <otpnet/socket/io.hpp>
#include <otpnet/socket/option.hpp>
#include <otpnet/tls/context.hpp>
#include <otpnet/tls/error.hpp>
#include <otpnet/tls/handshake.hpp>
#include <otpnet/tls/info.hpp>
#include <otpnet/tls/limits.hpp>
#include <otpnet/tls/session.hpp>

#include "support/loopback.hpp"
#include "tls/pki.test.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace otpnet::tls::test {

using namespace std::chrono_literals;
namespace so = otpnet::socket;
using std::chrono::milliseconds;

/// The bound for anything that must happen (generous: sanitizer builds).
inline constexpr milliseconds must = 10000ms;

// -- frames ----------------------------------------------------------------------------------

inline std::string frame2(std::string_view body) {
  std::string f;
  f.push_back(static_cast<char>((body.size() >> 8) & 0xff));
  f.push_back(static_cast<char>(body.size() & 0xff));
  f.append(body);
  return f;
}

// -- events and commands ----------------------------------------------------------------------

/// What a server handler or a client saw, sent to the test thread.
struct ev {
  /// server_ok, server_failed, client_ok, client_failed, connect_failed,
  /// ssl, tcp, closed, error, passive, reply
  std::string kind;
  pid from;
  std::string data;
  errc reason = errc::ok;
  std::string detail;  ///< last_error() after a failed handshake
  connection_info info;
  gen_tcp::socket sock;
};

/// A command run by the owner process; its answer comes back as ev "reply".
struct cmd {
  std::function<std::string(const gen_tcp::socket&)> fn;
};
/// The same for a command that waits.
struct acmd {
  std::function<task<std::string>(gen_tcp::socket)> fn;
};
/// Ends an owner process (closing its socket with it).
struct stop_cmd {};
/// The acceptor's hand-off of a socket to its handler.
struct take {
  gen_tcp::socket sock;
};

template <class T>
std::string outcome(const result<T>& r) {
  return r ? std::string("ok") : std::string(err_name(r.error()));
}

/// The owner loop of an established socket: reports its messages, echoes
/// what it gets (if `echo`), re-arms {active, once} (if `rearm`), closes
/// after `close_after` frames (if > 0), and runs commands.
inline task<void> serve(gen_tcp::socket s, pid to, bool echo, bool rearm, int close_after) {
  int frames = 0;
  for (;;) {
    message m = co_await receive_any();
    if (auto* d = m.get_if<gen_tcp::ssl>()) {
      send(to, ev{"ssl", self(), d->data.str()});
      if (echo) {
        (void)d->sock.send(d->data);
      }
      if (close_after > 0 && ++frames >= close_after) {
        (void)s.close();
        co_return;
      }
      if (rearm) {
        (void)d->sock.setopts({.active = gen_tcp::once});
      }
    } else if (auto* t = m.get_if<gen_tcp::tcp>()) {
      send(to, ev{"tcp", self(), t->data.str()});
    } else if (m.is<gen_tcp::ssl_closed>() || m.is<gen_tcp::tcp_closed>()) {
      send(to, ev{"closed", self()});
      co_return;
    } else if (auto* e = m.get_if<gen_tcp::ssl_error>()) {
      send(to, ev{"error", self(), {}, e->reason});
    } else if (m.is<gen_tcp::ssl_passive>()) {
      send(to, ev{"passive", self()});
    } else if (auto* c = m.get_if<cmd>()) {
      send(to, ev{"reply", self(), c->fn(s)});
    } else if (auto* a = m.get_if<acmd>()) {
      auto fn = std::move(a->fn);
      std::string r = co_await fn(s);
      send(to, ev{"reply", self(), std::move(r)});
    } else if (m.is<stop_cmd>()) {
      co_return;
    }
  }
}

/// Whether an owner re-arms {active, once} after each frame (decided from
/// the options, not from getopts: a frame may already have come and gone).
inline bool is_once(const gen_tcp::options& o) { return o.active && *o.active == gen_tcp::once; }

// -- the server ---------------------------------------------------------------------------------

struct server_setup {
  context ctx;
  milliseconds timeout = must;
  bool echo = true;
  int close_after = 0;
  bool rearm = true;  ///< set by start_server from the listen options
};

/// A connection's process: takes its socket from the acceptor, runs the
/// server handshake, then serves.
inline proc handler(server_setup s, pid to) {
  take t = co_await receive<take>();
  auto r = co_await handshake(t.sock, s.ctx, s.timeout);
  if (!r) {
    send(to, ev{"server_failed", self(), {}, r.error(), last_error()});
    co_return;
  }
  auto i = info(t.sock);
  send(to, ev{"server_ok", self(), {}, errc::ok, {}, i ? *i : connection_info{}, t.sock});
  co_await serve(t.sock, to, s.echo, s.rearm, s.close_after);
}

/// Accepts for ever; each socket goes to a new handler before any byte.
inline proc acceptor(gen_tcp::listen_socket ls, server_setup s, pid to) {
  for (;;) {
    auto a = co_await gen_tcp::accept(ls);
    if (!a) {
      send(to, ev{"accept_failed", self(), {}, a.error()});
      co_return;
    }
    pid h = spawn([s, to]() -> proc { return handler(s, to); });
    // A socket that failed meanwhile goes too: its handler reports it.
    (void)co_await a->controlling_process(h);
    send(h, take{*a});
  }
}

// -- the client ----------------------------------------------------------------------------------

struct client_setup {
  context ctx;
  std::string server_name;  ///< empty: the context's
  session resume;
  gen_tcp::options opts{.active = gen_tcp::once, .packet = gen_tcp::packet_type::u2};
  milliseconds timeout = must;
};

inline proc client_proc(std::uint16_t port, client_setup c, pid to) {
  auto s = co_await gen_tcp::connect(so::address::inet_loopback(port), c.opts, must);
  if (!s) {
    send(to, ev{"connect_failed", self(), {}, s.error()});
    co_return;
  }
  auto r = co_await connect_handshake(*s, c.ctx, c.timeout, c.server_name, c.resume);
  if (!r) {
    send(to, ev{"client_failed", self(), {}, r.error(), last_error()});
    co_return;
  }
  auto i = info(*s);
  send(to, ev{"client_ok", self(), {}, errc::ok, {}, i ? *i : connection_info{}, *s});
  co_await serve(*s, to, false, is_once(c.opts), 0);
}

// -- subprocesses ----------------------------------------------------------------------------------

/// Runs `command` under sh with its run time bounded by `timeout`(1):
/// {its output (stdout and stderr), its exit status}.
inline std::pair<std::string, int> run(const std::string& command, int seconds = 20) {
  std::string line = "timeout " + std::to_string(seconds) + " " + command + " 2>&1";
  std::FILE* p = ::popen(line.c_str(), "r");
  if (p == nullptr) {
    return {"popen failed", -1};
  }
  std::string out;
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) {
    out.append(buf, n);
  }
  int status = ::pclose(p);
  return {out, WIFEXITED(status) ? WEXITSTATUS(status) : -1};
}

// -- report lines ------------------------------------------------------------------------------------

/// Keeps every line logged through spdlog, and passes them on.
class capture_sink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit capture_sink(std::vector<spdlog::sink_ptr> next) : next_(std::move(next)) {}
  /// How many lines hold every one of `needles`.
  std::size_t count(std::initializer_list<std::string_view> needles) {
    std::lock_guard lock(mutex_);
    std::size_t n = 0;
    for (const auto& l : lines_) {
      bool all = true;
      for (auto w : needles) {
        all = all && l.find(w) != std::string::npos;
      }
      n += all ? 1 : 0;
    }
    return n;
  }
  std::string all() {
    std::lock_guard lock(mutex_);
    std::string out;
    for (const auto& l : lines_) {
      out += l + "\n";
    }
    return out;
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    lines_.emplace_back(msg.payload.data(), msg.payload.size());
    for (auto& s : next_) {
      if (s->should_log(msg.level)) {
        s->log(msg);
      }
    }
  }
  void flush_() override {
    for (auto& s : next_) {
      s->flush();
    }
  }

 private:
  std::vector<spdlog::sink_ptr> next_;
  std::vector<std::string> lines_;
};

// -- the fixture ---------------------------------------------------------------------------------------

class tls_test : public ::testing::Test {
 protected:
  void SetUp() override {
    previous_logger_ = spdlog::default_logger();
    reports_ = std::make_shared<capture_sink>(previous_logger_->sinks());
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("tls_test", reports_));
    ASSERT_TRUE(runtime::start({.schedulers = 2}));
    mb_.emplace();
  }
  void TearDown() override {
    mb_.reset();
    runtime::stop();
    spdlog::set_default_logger(previous_logger_);
    set_handshake_limit(default_handshake_limit);
  }

  mailbox& mb() { return *mb_; }
  pid me() const { return mb_->self(); }
  capture_sink& reports() { return *reports_; }
  pki& certs() { return pki_; }

  /// A server context for `cert` (CN "server" under the test CA by default).
  context server_ctx(server_options o = {}) {
    if (o.cert.cert_file.empty()) {
      o.cert = certs().issue("server", "server");
    }
    auto c = context::server(std::move(o));
    EXPECT_TRUE(c) << err_name(c.error()) << ": " << last_error();
    return c ? *c : context{};
  }
  /// A client context trusting the test CA, expecting "localhost".
  context client_ctx(client_options o = {}) {
    if (o.ca_file.empty()) {
      o.ca_file = certs().ca_file();
    }
    if (o.server_name.empty()) {
      o.server_name = "localhost";
    }
    auto c = context::client(std::move(o));
    EXPECT_TRUE(c) << err_name(c.error()) << ": " << last_error();
    return c ? *c : context{};
  }

  /// Listens on 127.0.0.1:0 with `o` and starts the acceptor: the port.
  std::uint16_t start_server(server_setup s,
                             gen_tcp::options o = {.active = gen_tcp::once, .packet = gen_tcp::packet_type::u2}) {
    auto ls = gen_tcp::listen(so::address::inet_loopback(0), o);
    EXPECT_TRUE(ls) << format_error(ls.error());
    if (!ls) {
      return 0;
    }
    s.rearm = is_once(o);
    spawn([ls = *ls, s, to = me()]() -> proc { return acceptor(ls, s, to); });
    return ls->port;
  }

  pid start_client(std::uint16_t port, const client_setup& c) {
    return spawn([port, c, to = me()]() -> proc { return client_proc(port, c, to); });
  }

  /// The next event satisfying `pred` (kind "none" if nothing within `t`).
  template <class Pred>
  ev next_if(Pred pred, milliseconds t = must) {
    auto e = mb().receive<ev>(t, pred);
    return e ? std::move(*e) : ev{"none"};
  }
  /// The next event of one of these kinds.
  ev next(std::initializer_list<std::string_view> kinds, milliseconds t = must) {
    std::vector<std::string> ks(kinds.begin(), kinds.end());
    return next_if([ks](const ev& e) { return std::find(ks.begin(), ks.end(), e.kind) != ks.end(); }, t);
  }
  /// The next event from `who` (not a reply).
  ev next_from(pid who, milliseconds t = must) {
    return next_if([who](const ev& e) { return e.from == who && e.kind != "reply"; }, t);
  }

  /// Runs `fn` in `owner` as its socket's owner; its answer.
  std::string call(pid owner, std::function<std::string(const gen_tcp::socket&)> fn) {
    send(owner, cmd{std::move(fn)});
    auto r = mb().receive<ev>(must, [owner](const ev& x) { return x.kind == "reply" && x.from == owner; });
    return r ? r->data : std::string("no reply");
  }
  /// Sends a frame from `owner` and waits for the echo (as an ssl event).
  std::string echo(pid owner, const std::string& body) {
    std::string sent = call(owner, [body](const gen_tcp::socket& s) { return outcome(s.send(body)); });
    if (sent != "ok") {
      return "send: " + sent;
    }
    ev e = next_if([owner](const ev& x) { return x.from == owner && x.kind != "reply"; });
    return e.kind == "ssl" ? e.data : e.kind + ":" + std::string(err_name(e.reason));
  }
  /// The connection info seen by `owner`.
  connection_info info_of(pid owner) {
    auto box = std::make_shared<connection_info>();
    std::string r = call(owner, [box](const gen_tcp::socket& s) {
      auto i = info(s);
      if (i) {
        *box = *i;
      }
      return outcome(i);
    });
    EXPECT_EQ(r, "ok");
    return *box;
  }

  /// A server and a client that completed their handshakes: {server
  /// handler, client}.
  std::pair<pid, pid> connect_pair(std::uint16_t port, const client_setup& c) {
    pid cl = start_client(port, c);
    ev cok = next_if([cl](const ev& e) { return e.from == cl; });
    EXPECT_EQ(cok.kind, "client_ok") << err_name(cok.reason) << " " << cok.detail;
    ev sok = next({"server_ok", "server_failed"});
    EXPECT_EQ(sok.kind, "server_ok") << err_name(sok.reason) << " " << sok.detail;
    return {sok.from, cl};
  }

 private:
  std::shared_ptr<spdlog::logger> previous_logger_;
  std::shared_ptr<capture_sink> reports_;
  std::optional<mailbox> mb_;
  pki pki_;
};

// -- raw peers -------------------------------------------------------------------------------------

/// A plain TCP peer used from the test thread.
struct raw_peer {
  so::socket s;

  static raw_peer connect(std::uint16_t port) {
    raw_peer c;
    auto s = so::open(so::domain::inet, so::type::stream, so::protocol::tcp);
    EXPECT_TRUE(s);
    if (s) {
      c.s = *s;
      auto r = so::connect(c.s, so::address::inet_loopback(port), must);
      EXPECT_TRUE(r) << format_error(r.error());
    }
    return c;
  }
  bool write(std::string_view data) const {
    auto r = so::send(s, otpnet::test::bytes(data), 0, must);
    return r.has_value();
  }
  /// Reads until the peer's end: {what came, how it ended}.
  std::pair<std::string, errc> read_to_end(milliseconds t = must) const {
    std::string out;
    std::vector<std::byte> buf(std::size_t{16} * 1024);
    for (;;) {
      auto r = so::recv(s, buf, 0, t);
      if (!r) {
        return {out, r.error()};
      }
      if (*r == 0) {
        return {out, errc::closed};
      }
      out.append(reinterpret_cast<const char*>(buf.data()), *r);
    }
  }
  void close() const { (void)so::close(s); }
};

}  // namespace otpnet::tls::test
