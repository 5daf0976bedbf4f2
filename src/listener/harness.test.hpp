// File: listener/harness.test.hpp (tests only)
//
// What the listener test files share:
//   - `listener_test`, a fixture that starts the runtime (two schedulers),
//     gives the test thread a mailbox, and keeps every log line and report
//     (the logger's line callback) so that a test can look for the
//     listener's reports;
//   - `peer`, the client side as a plain POSIX socket driven from the test
//     thread (every wait bounded with poll), so that it needs no runtime
//     service and keeps working while a test starves the process of
//     descriptors;
//   - `echo_handler`, a connection handler for tcp_listener (a gen_server:
//     socket_ready, then {active, once} echo), with knobs for the tests: a
//     number of starts to refuse, and handlers that ignore drain_notice;
//   - `start_tree`, the tutorial's tree around a tcp_listener: a top
//     supervisor (one_for_one) over the client supervisor
//     (simple_one_for_one of echo_handler) and the listener.
// Everything is over loopback at ports the kernel chose.
#pragma once

#include <otpnet/behaviours/gen_server.hpp>
#include <otpnet/behaviours/logger.hpp>
#include <otpnet/behaviours/supervisor.hpp>
#include <otpnet/behaviours/sync_wait.hpp>
#include <otpnet/gen_tcp/socket.hpp>
#include <otpnet/listener/connection.hpp>
#include <otpnet/listener/tcp_listener.hpp>
#include <otpnet/runtime/mailbox.hpp>
#include <otpnet/runtime/receive.hpp>
#include <otpnet/runtime/runtime.hpp>
#include <otpnet/socket/address.hpp>

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace otpnet::listener::test {

using namespace std::chrono_literals;
namespace so = otpnet::socket;
using std::chrono::milliseconds;

/// The bound for anything that must happen (generous: sanitizer builds).
inline constexpr milliseconds must = 10000ms;
/// The window in which something must NOT happen (a bounded negative check).
inline constexpr milliseconds quiet = 300ms;

// -- the peer ------------------------------------------------------------------------------

/// A client connection: a blocking-free POSIX socket, each wait bounded.
class peer {
 public:
  peer() = default;
  explicit peer(int fd) : fd_(fd) {}
  peer(peer&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  peer& operator=(peer&& o) noexcept {
    if (this != &o) {
      close();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  peer(const peer&) = delete;
  peer& operator=(const peer&) = delete;
  ~peer() { close(); }

  /// Connects to `a` (inet, inet6 or local). A connection the listener has
  /// not accepted yet still completes: the kernel queues it in the backlog.
  /// An empty peer if the connect fails (ECONNREFUSED once a port is gone).
  static peer connect(const so::address& a, milliseconds t = must) {
    int fd = ::socket(a.native()->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
      return peer();
    }
    peer p(fd);
    if (::connect(fd, a.native(), a.size()) == 0) {
      return p;
    }
    if (errno != EINPROGRESS) {
      return peer();
    }
    pollfd pfd{fd, POLLOUT, 0};
    if (::poll(&pfd, 1, static_cast<int>(t.count())) != 1) {
      return peer();
    }
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
      return peer();
    }
    return p;
  }
  static peer connect_port(std::uint16_t port, milliseconds t = must) {
    return connect(so::address::inet_loopback(port), t);
  }

  explicit operator bool() const noexcept { return fd_ >= 0; }
  int fd() const noexcept { return fd_; }

  /// Writes all of `data` (bounded by `t`).
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

  /// Reads exactly `n` bytes, or fewer if the connection ends or `t` passes.
  std::string read_exact(std::size_t n, milliseconds t = must) const {
    std::string out;
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

  /// How the connection ended as the client sees it, within `t`: "eof"
  /// (orderly close), "reset", "open" (still open after `t`: nothing came),
  /// or "data" (bytes came instead; they are consumed).
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
  /// True if the server closed (orderly or by reset) within `t`.
  bool closed_by_server(milliseconds t = must) const {
    std::string s = end_state(t);
    return s == "eof" || s == "reset";
  }

  /// Sends `msg` and reads the same number of bytes back (raw echo).
  std::string echo(std::string_view msg, milliseconds t = must) const {
    if (!write(msg, t)) {
      return "<write failed>";
    }
    return read_exact(msg.size(), t);
  }

  void close() {
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }

 private:
  bool wait(short events, std::chrono::steady_clock::time_point end) const {
    auto left = std::chrono::duration_cast<milliseconds>(end - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      return false;
    }
    pollfd pfd{fd_, events, 0};
    int r = ::poll(&pfd, 1, static_cast<int>(left.count()));
    return r == 1;
  }

  int fd_ = -1;
};

/// Polls `pred` until it holds or `bound` passes, for conditions no message
/// announces (a count in info(), a log line).
template <class Pred>
bool wait_until(Pred pred, milliseconds bound = must) {
  auto end = std::chrono::steady_clock::now() + bound;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > end) {
      return false;
    }
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

/// A path for a Unix-domain listen socket, unique to this test process.
inline std::string local_path(std::string_view tag) {
  return "/tmp/otpnet-lst-" + std::to_string(::getpid()) + "-" + std::string(tag) + ".sock";
}

// -- log lines -------------------------------------------------------------------------------

/// Every line the logger wrote (spdlog lines and behaviour reports).
class log_lines {
 public:
  void add(std::string_view l) {
    std::lock_guard lock(mu_);
    lines_.emplace_back(l);
  }
  /// Lines containing every one of `needles`.
  std::size_t count(std::initializer_list<std::string_view> needles) const {
    std::lock_guard lock(mu_);
    return static_cast<std::size_t>(std::count_if(lines_.begin(), lines_.end(), [&](const std::string& l) {
      return std::all_of(needles.begin(), needles.end(),
                         [&](std::string_view n) { return l.find(n) != std::string::npos; });
    }));
  }
  bool saw(std::initializer_list<std::string_view> needles) const { return count(needles) > 0; }
  std::string dump() const {
    std::lock_guard lock(mu_);
    std::string out;
    for (const auto& l : lines_) {
      out += l + "\n";
    }
    return out;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> lines_;
};

// -- the handler -----------------------------------------------------------------------------

/// Knobs of echo_handler, set by a test before the connections come.
struct handler_knobs {
  /// Starts to refuse (init stops with "refused by the test"), counted down.
  std::atomic<int> refuse_starts{0};
  /// Starts that decline (init returns ignore), counted down.
  std::atomic<int> ignore_starts{0};
  /// Handlers started so far.
  std::atomic<int> started{0};
  /// Starts whose handler is ended (killed, and its end awaited) after its
  /// start returned and before the listener hands it the socket, counted down.
  std::atomic<int> end_before_handoff{0};
  /// Starts held in the client supervisor until it is sent release_start
  /// (or `must` passes), counted down: the acceptor waits for its
  /// start_child meanwhile. `holding`: the supervisor holding one (a pid's
  /// value; 0: none).
  std::atomic<int> hold_starts{0};
  std::atomic<std::uint64_t> holding{0};
};

/// Ends a start held by knobs.hold_starts.
struct release_start {};

/// Takes one from a knob's count: whether it was above 0.
inline bool take_one(std::atomic<int>& k) {
  int left = k.load();
  while (left > 0 && !k.compare_exchange_weak(left, left - 1)) {
  }
  return left > 0;
}
inline handler_knobs knobs;

/// A connection handler: takes the connection on socket_ready, then echoes
/// each chunk with {active, once}. The payload "crash!" makes it throw;
/// "stubborn" (echoed) makes it ignore drain_notice, so that a drain has
/// to stop it at the deadline.
struct echo_handler : gen_server::behaviour<echo_handler> {
  using infos = type_list<socket_ready, gen_tcp::tcp, gen_tcp::tcp_closed, gen_tcp::tcp_error, drain_notice>;

  init_return init() {
    if (take_one(knobs.refuse_starts)) {
      return stop(exit_reason::other("refused by the test"));
    }
    if (take_one(knobs.ignore_starts)) {
      return ignore();
    }
    ++knobs.started;
    return ok();
  }
  cast_return handle_info(socket_ready&& r) {
    auto s = r.conn.take();
    if (!s) {
      return stop(exit_reason::other("take: " + format_error(s.error())));
    }
    sock_ = *s;
    (void)sock_.setopts({.active = gen_tcp::once});
    return noreply();
  }
  cast_return handle_info(gen_tcp::tcp&& d) {
    if (d.data.str() == "crash!") {
      throw std::runtime_error("handler crashed on purpose");
    }
    stubborn_ = stubborn_ || d.data.str() == "stubborn";
    (void)sock_.send(d.data);
    (void)sock_.setopts({.active = gen_tcp::once});
    return noreply();
  }
  cast_return handle_info(gen_tcp::tcp_closed&&) { return stop(); }
  cast_return handle_info(gen_tcp::tcp_error&& e) {
    return stop(exit_reason::other("socket error: " + std::string(err_name(e.reason))));
  }
  cast_return handle_info(drain_notice&&) {
    if (stubborn_) {
      return noreply();
    }
    return stop();
  }
  void terminate(const exit_reason&) {
    if (sock_) {
      (void)sock_.close();
    }
  }

 private:
  gen_tcp::socket sock_;
  bool stubborn_ = false;
};

// -- the fixture -----------------------------------------------------------------------------

class listener_test : public ::testing::Test {
 protected:
  void SetUp() override {
    knobs.refuse_starts = 0;
    knobs.ignore_starts = 0;
    knobs.started = 0;
    knobs.end_before_handoff = 0;
    knobs.hold_starts = 0;
    knobs.holding = 0;
    ASSERT_TRUE(logger::configure(
        {.level = log_level::info, .sink = logger::line_callback([l = &lines_](std::string_view s) { l->add(s); })}));
    ASSERT_TRUE(runtime::start({.schedulers = 2}));
    mb_.emplace();
  }
  void TearDown() override {
    mb_.reset();
    runtime::stop();
    logger::reset();
    if (HasFailure()) {
      std::cerr << "-- log lines --\n" << lines_.dump();
    }
  }

  mailbox& mb() { return *mb_; }
  log_lines& lines() { return lines_; }

  /// The tree: top (one_for_one) -> [clients (simple_one_for_one of
  /// echo_handler), listener]. The listener is registered as "lst". With
  /// `client_sups` N > 0, clients is N supervisors, clients_0 ..., one
  /// per acceptor on its scheduler (client_sup_specs), whose handlers
  /// start on their supervisor's scheduler.
  /// Returns the bound port of the first address (0 if the start failed).
  start_result start_tree(listener_options o, std::size_t client_sups = 0) {
    child_spec handler;
    handler.id = "echo_handler";
    handler.start = [near = client_sups != 0]() -> task<start_result> {
      if (take_one(knobs.hold_starts)) {
        knobs.holding = self().value();
        (void)co_await receive<release_start>(after(must));
        knobs.holding = 0;
      }
      start_options so;
      so.scheduler = near ? caller_scheduler : least_loaded_scheduler;
      start_result r = co_await gen_server::start_link<echo_handler>(std::move(so));
      if (r.is_ok() && take_one(knobs.end_before_handoff)) {
        // In the client supervisor, before its start_child answers.
        ref m = monitor(r.id());
        exit(r.id(), exit_reason::kill());
        (void)co_await receive<down_msg>([m](const down_msg& d) { return d.monitor == m; }, after(5000ms));
      }
      co_return r;
    };
    handler.restart = restart_type::temporary;
    handler.shutdown = 2000ms;

    o.registered_name = "lst";
    const supervisor::flags client_flags{.intensity = 5, .period = 60s};  // made simple_one_for_one
    std::vector<child_spec> children;
    if (client_sups == 0) {
      o.client_sup = server_ref("clients");
      children.push_back(client_sup_spec("clients", handler, client_flags));
    } else {
      o.client_sups = client_sup_refs("clients", client_sups);
      children = client_sup_specs("clients", handler, client_flags, client_sups);
    }
    child_spec lst;
    lst.id = "listener";
    lst.start = [o]() { return listener::start_link(o); };
    lst.shutdown = 2000ms;
    children.push_back(lst);

    start_options top;
    top.name = "top";
    return sync_wait(supervisor::start({.strategy = supervisor::restart_strategy::one_for_one, .intensity = 0},
                                       std::move(children), std::move(top)));
  }

  /// The listener's info (an empty one if the call fails).
  /// One answer of listener::info: an acceptor that has not answered
  /// within the listener's wait counts as unanswered, its figures missing.
  static listener_info info_once() {
    auto i = sync_wait(listener::info("lst"));
    EXPECT_TRUE(i) << (i ? "" : i.error().to_string());
    return i ? *i : listener_info{};
  }
  /// The first answer in which every acceptor answered (bounded in time): a
  /// loaded machine can keep an acceptor from answering within the wait.
  static listener_info info() {
    auto until = std::chrono::steady_clock::now() + must;
    listener_info i = info_once();
    while (i.unanswered_acceptors != 0 && std::chrono::steady_clock::now() < until) {
      i = info_once();
    }
    return i;
  }
  static std::uint16_t first_port() {
    auto i = info();
    return i.ports.empty() ? 0 : i.ports.front().port;
  }

  /// Listener options for a raw-echo listener on 127.0.0.1:0.
  static listener_options raw_options(std::size_t max_connections = 0) {
    listener_options o;
    o.name = "t";
    o.addresses = {so::address::inet_loopback(0)};
    o.socket_options = {.active = gen_tcp::passive, .packet = gen_tcp::packet_type::raw};
    o.max_connections = max_connections;
    return o;
  }

 private:
  log_lines lines_;
  std::optional<mailbox> mb_;
};

}  // namespace otpnet::listener::test
