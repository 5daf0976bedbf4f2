// File: gen_tcp/harness.test.hpp (tests only)
//
// What the gen_tcp test files share:
//   - `tcp_test`, a fixture that starts the runtime (two schedulers), gives
//     the test thread a mailbox, and captures gen_tcp's report lines;
//   - `serve`, the body of an "owner" process: it reports every message its
//     socket sends it to the test thread as an `ev`, and runs commands (`cmd`,
//     `acmd`) as the socket's owner, so that a test drives setopts, recv,
//     controlling_process... from the right process and sees the result;
//   - `client`, the peer side as a raw socket of the socket layer, used from
//     the test thread (blocking calls, each with a bound);
//   - frame builders, FIONREAD, RSS, and `wait_until`, a bounded poll for a
//     condition that is not a message (bytes in a kernel queue).
// Everything is over 127.0.0.1 at a port the kernel chose.
#pragma once

#include <otpnet/gen_tcp/gen_tcp.hpp>
#include <otpnet/runtime/mailbox.hpp>
#include <otpnet/runtime/process.hpp>
#include <otpnet/runtime/receive.hpp>
#include <otpnet/runtime/runtime.hpp>
#include <otpnet/socket/io.hpp>
#include <otpnet/socket/option.hpp>

#include "support/alloc_hooks.hpp"
#include "support/loopback.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <sys/ioctl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace otpnet::gen_tcp::test {

using namespace std::chrono_literals;
namespace so = otpnet::socket;
using std::chrono::milliseconds;

/// The bound for anything that must happen (generous: sanitizer builds).
inline constexpr milliseconds must = 10000ms;
/// The window in which something must NOT happen (a bounded negative check).
inline constexpr milliseconds quiet = 100ms;

// -- frames ------------------------------------------------------------------------------

/// `body` with the length header of `p` in front (raw and line: as is).
inline std::string frame(packet_type p, std::string_view body) {
  std::string f;
  std::size_t h = header_size(p);
  for (std::size_t i = 0; i < h; ++i) {
    f.push_back(static_cast<char>((body.size() >> (8 * (h - 1 - i))) & 0xff));
  }
  f.append(body);
  return f;
}
inline std::string frame2(std::string_view body) { return frame(packet_type::u2, body); }

/// `n` bytes of a pattern that depends on `seed` (so misplaced bytes show).
inline std::string pattern(std::size_t n, unsigned seed = 0) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) {
    s[i] = static_cast<char>('a' + (i * 7 + seed * 13 + i / 251) % 26);
  }
  return s;
}

// -- events and commands -------------------------------------------------------------------

/// What an owner process saw, sent to the test thread.
struct ev {
  std::string kind;  ///< accepted, accept_failed, tcp, closed, error, passive, reply
  std::string data;  ///< the frame (tcp) or the command's answer (reply)
  errc reason = errc::ok;
  socket sock;  ///< with "accepted": the socket, for tests that pass it on
};

/// A command run by the owner process: its answer comes back as ev "reply".
struct cmd {
  std::function<std::string(const socket&)> fn;
};
/// The same for a command that waits (recv, drained, controlling_process).
struct acmd {
  std::function<task<std::string>(socket)> fn;
};
/// Ends an owner process (closing its socket with it).
struct stop_cmd {};
/// Gives a serving process the socket it now owns (after a hand-over).
struct given {
  socket sock;
};

/// The name of a result: "ok" or the error's name.
template <class T>
std::string outcome(const result<T>& r) {
  return r ? std::string("ok") : std::string(err_name(r.error()));
}

/// A command that receives in passive mode: the frame, or "error:<name>".
inline std::function<task<std::string>(socket)> recv_cmd(std::size_t length = 0, std::optional<milliseconds> t = must) {
  return [length, t](socket s) -> task<std::string> {
    auto r = co_await s.recv(length, t);
    co_return r ? r->str() : "error:" + std::string(err_name(r.error()));
  };
}

/// The owner loop: reports the socket's messages, runs commands.
inline task<void> serve(socket s, pid to) {
  for (;;) {
    message m = co_await receive_any();
    if (auto* d = m.get_if<tcp>()) {
      send(to, ev{"tcp", d->data.str()});
    } else if (m.is<tcp_closed>()) {
      send(to, ev{"closed"});
    } else if (auto* e = m.get_if<tcp_error>()) {
      send(to, ev{"error", {}, e->reason});
    } else if (m.is<tcp_passive>()) {
      send(to, ev{"passive"});
    } else if (auto* c = m.get_if<cmd>()) {
      send(to, ev{"reply", c->fn(s)});
    } else if (auto* a = m.get_if<acmd>()) {
      auto fn = std::move(a->fn);
      std::string r = co_await fn(s);
      send(to, ev{"reply", std::move(r)});
    } else if (auto* g = m.get_if<given>()) {
      s = g->sock;
      send(to, ev{"given"});
    } else if (m.is<stop_cmd>()) {
      co_return;
    }
  }
}

/// Accepts one connection of `ls`, reports "accepted", then serves it.
inline proc accept_and_serve(listen_socket ls, pid to) {
  auto s = co_await accept(ls, must);
  if (!s) {
    send(to, ev{"accept_failed", {}, s.error()});
    co_return;
  }
  send(to, ev{"accepted", {}, errc::ok, *s});
  co_await serve(*s, to);
}

// -- the peer ------------------------------------------------------------------------------

/// The client side: a raw socket-layer socket used from the test thread.
struct client {
  so::socket s;

  static client connect(std::uint16_t port) {
    client c;
    auto s = so::open(so::domain::inet, so::type::stream, so::protocol::tcp);
    EXPECT_TRUE(s);
    if (s) {
      c.s = *s;
      auto r = so::connect(c.s, so::address::inet_loopback(port), must);
      EXPECT_TRUE(r) << format_error(r.error());
    }
    return c;
  }
  int fd() const { return s.native_handle(); }
  bool write(std::string_view data) const {
    auto r = so::send(s, otpnet::test::bytes(data), 0, must);
    EXPECT_TRUE(r) << format_error(r.error());
    return r.has_value();
  }
  /// Reads exactly `n` bytes (fewer if the connection ends or `t` passes).
  std::string read_exact(std::size_t n, milliseconds t = must) const {
    std::string out;
    std::vector<std::byte> buf(64 * 1024);
    while (out.size() < n) {
      auto r = so::recv(s, std::span(buf.data(), std::min(buf.size(), n - out.size())), 0, t);
      if (!r) {
        break;
      }
      out.append(reinterpret_cast<const char*>(buf.data()), *r);
    }
    return out;
  }
  /// Reads until the peer's end: what came before it, and how it ended
  /// (closed for an orderly end, econnreset, or timeout).
  std::pair<std::string, errc> read_to_end(milliseconds t = must) const {
    std::string out;
    std::vector<std::byte> buf(64 * 1024);
    for (;;) {
      auto r = so::recv(s, buf, 0, t);
      if (!r) {
        return {out, r.error()};
      }
      out.append(reinterpret_cast<const char*>(buf.data()), *r);
    }
  }
  void shutdown_write() const { EXPECT_TRUE(so::shutdown(s, so::shutdown_how::write)); }
  /// Closes with SO_LINGER {on, 0}: the peer gets a reset.
  void reset() const {
    EXPECT_TRUE(so::setopt(s, so::opt::socket::linger, so::linger{true, 0}));
    EXPECT_TRUE(so::close(s));
  }
  void close() const { (void)so::close(s); }
};

/// A thread joined when it goes out of scope, also when a failed ASSERT
/// leaves the test early (a joinable std::thread would terminate).
class scoped_thread {
 public:
  template <class F>
  explicit scoped_thread(F&& f) : t_(std::forward<F>(f)) {}
  scoped_thread(const scoped_thread&) = delete;
  scoped_thread& operator=(const scoped_thread&) = delete;
  ~scoped_thread() { join(); }
  void join() {
    if (t_.joinable()) {
      t_.join();
    }
  }

 private:
  std::thread t_;
};

// -- the kernel and the process --------------------------------------------------------------

/// Bytes waiting in a socket's kernel receive queue.
inline int fionread(int fd) {
  int n = -1;
  if (::ioctl(fd, FIONREAD, &n) != 0) {
    return -1;
  }
  return n;
}

/// This process's resident set, in bytes.
inline std::size_t rss_bytes() {
  std::size_t pages = 0;
  std::size_t resident = 0;
  if (std::FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%zu %zu", &pages, &resident) != 2) {
      resident = 0;
    }
    std::fclose(f);
  }
  return resident * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

/// Polls `pred` until it holds or `bound` passes: for conditions no
/// message announces, such as bytes reaching or leaving a kernel queue.
/// Spins (yielding) first, then polls every 100 microseconds.
template <class Pred>
bool wait_until(Pred pred, milliseconds bound = must) {
  auto end = std::chrono::steady_clock::now() + bound;
  for (int spins = 0; !pred(); ++spins) {
    if (std::chrono::steady_clock::now() > end) {
      return false;
    }
    if (spins < 200) {
      std::this_thread::yield();
    } else {
      std::this_thread::sleep_for(100us);
    }
  }
  return true;
}

// -- allocations (alloc_count.test.cpp replaces operator new) ---------------------------------

/// Allocations larger than a pooled read chunk: how many so far, and the
/// largest since reset_largest_allocation() (support/alloc_hooks.hpp).
using otpnet::test::large_allocations;
using otpnet::test::largest_allocation;
using otpnet::test::reset_largest_allocation;

// -- report lines ------------------------------------------------------------------------------

/// Keeps every line logged through spdlog (gen_tcp's reports), and passes
/// them on to the sinks that were there.
class capture_sink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit capture_sink(std::vector<spdlog::sink_ptr> next) : next_(std::move(next)) {}
  std::vector<std::string> lines() {
    std::lock_guard lock(mutex_);
    return lines_;
  }
  bool saw(std::string_view needle) {
    std::lock_guard lock(mutex_);
    for (const auto& l : lines_) {
      if (l.find(needle) != std::string::npos) {
        return true;
      }
    }
    return false;
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

// -- the fixture -------------------------------------------------------------------------------

class tcp_test : public ::testing::Test {
 protected:
  void SetUp() override {
    // Swapped while no other thread logs: before the runtime starts.
    previous_logger_ = spdlog::default_logger();
    reports_ = std::make_shared<capture_sink>(previous_logger_->sinks());
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("gen_tcp_test", reports_));
    ASSERT_TRUE(runtime::start({.schedulers = 2}));
    mb_.emplace();
  }
  void TearDown() override {
    mb_.reset();
    runtime::stop();
    spdlog::set_default_logger(previous_logger_);
  }

  mailbox& mb() { return *mb_; }
  pid me() const { return mb_->self(); }
  /// Stops the runtime now (the test's mailbox goes first); TearDown's stop
  /// is then a no-op.
  void stop_runtime(milliseconds grace) {
    mb_.reset();
    runtime::stop(grace);
  }
  capture_sink& reports() { return *reports_; }

  /// Listens on 127.0.0.1:0 with `o`.
  static listen_socket listen_lo(const options& o = {}) {
    auto ls = listen(so::address::inet_loopback(0), o);
    EXPECT_TRUE(ls) << format_error(ls.error());
    return ls ? *ls : listen_socket{};
  }

  /// Spawns an owner that accepts one connection of `ls` and reports to
  /// `to` (the test's mailbox by default).
  pid spawn_owner(const listen_socket& ls, int scheduler = -1, pid to = {}) {
    pid target = to ? to : me();
    return spawn_opt({.scheduler = scheduler}, [ls, target]() -> proc { return accept_and_serve(ls, target); }).first;
  }

  /// Listens with `o`, connects a client and has an owner accept it.
  struct conn {
    listen_socket ls;
    client c;
    pid owner;
    socket sock;  ///< the server side (a copy, for fd and non-owner calls)
    int fd = -1;  ///< its descriptor
  };
  conn open_conn(const options& o, int scheduler = -1) {
    conn k;
    k.ls = listen_lo(o);
    k.owner = spawn_owner(k.ls, scheduler);
    k.c = client::connect(k.ls.port);
    ev a = next();
    EXPECT_EQ(a.kind, "accepted");
    k.sock = a.sock;
    k.fd = k.sock.raw().native_handle();
    return k;
  }

  /// Spawns a process that serves whatever socket it is `given` later.
  pid spawn_server(int scheduler = -1, pid to = {}) {
    pid target = to ? to : me();
    return spawn_opt({.scheduler = scheduler}, [target]() -> proc { co_await serve(socket{}, target); }).first;
  }

  /// The next event in `box` (kind "none" if nothing within `t`).
  static ev next_in(mailbox& box, milliseconds t = must) {
    auto e = box.receive<ev>(t, [](const ev& x) { return x.kind != "reply"; });
    return e ? std::move(*e) : ev{"none"};
  }
  ev next(milliseconds t = must) { return next_in(mb(), t); }

  /// Checks that no event arrives within `quiet`.
  void expect_quiet(mailbox& box) {
    auto e = box.receive<ev>(quiet, [](const ev& x) { return x.kind != "reply"; });
    EXPECT_FALSE(e) << "unexpected event: " << e->kind << " " << e->data.substr(0, 64) << " " << err_name(e->reason);
  }
  void expect_quiet() { expect_quiet(mb()); }

  /// Runs `fn` in `owner` (as the socket's owner) and returns its answer.
  std::string call(pid owner, std::function<std::string(const socket&)> fn, mailbox* box = nullptr) {
    mailbox& b = box != nullptr ? *box : mb();
    send(owner, cmd{std::move(fn)});
    auto r = b.receive<ev>(must, [](const ev& x) { return x.kind == "reply"; });
    return r ? r->data : std::string("no reply");
  }
  std::string acall(pid owner, std::function<task<std::string>(socket)> fn, mailbox* box = nullptr) {
    mailbox& b = box != nullptr ? *box : mb();
    send(owner, acmd{std::move(fn)});
    auto r = b.receive<ev>(must, [](const ev& x) { return x.kind == "reply"; });
    return r ? r->data : std::string("no reply");
  }
  std::string setopts(pid owner, const options& o) {
    return call(owner, [o](const socket& s) { return outcome(s.setopts(o)); });
  }

 private:
  std::shared_ptr<spdlog::logger> previous_logger_;
  std::shared_ptr<capture_sink> reports_;
  std::optional<mailbox> mb_;
};

}  // namespace otpnet::gen_tcp::test
