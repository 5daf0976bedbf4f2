#include "otpnet/reactor/event_loop.hpp"

#include <otpnet/reactor/backend_selector.hpp>

#include "internal/syscall.hpp"
#include "support/alloc_hooks.hpp"
#include "support/fds.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

// The loop, stepped: every test drives it with poll_once(false) or
// run_until_idle(), never by sleeping. The suite runs once per available
// backend. Teardown checks that no descriptor or registration leaked.

namespace otpnet::reactor {
namespace {

using namespace std::chrono_literals;
using std::chrono::milliseconds;

// Records every readiness it gets; `hook` runs after recording.
struct recorder final : io_handler {
  struct entry {
    std::uint64_t token;
    readiness ready;
  };
  std::vector<entry> events;
  std::function<void(std::uint64_t, readiness)> hook;
  void on_io(std::uint64_t token, readiness r) noexcept override {
    events.push_back({token, r});
    if (hook) {
      hook(token, r);
    }
  }
};

// Records receive completions (result and bytes).
struct recv_recorder final : io_handler {
  std::vector<std::pair<std::int32_t, std::string>> done;
  std::vector<bool> more_flags;
  void on_io(std::uint64_t, readiness) noexcept override {}
  void on_recv(std::uint64_t token, std::int32_t result, const std::byte* data, bool more) noexcept override {
    EXPECT_EQ(token, 42u);
    std::string bytes;
    if (result > 0) {
      bytes.assign(reinterpret_cast<const char*>(data), static_cast<std::size_t>(result));
    }
    done.emplace_back(result, std::move(bytes));
    more_flags.push_back(more);
  }
};

struct timer_recorder final : timer_handler {
  std::vector<std::uint64_t> fired;
  void on_timer(std::uint64_t token) noexcept override { fired.push_back(token); }
};

class event_loop_test : public ::testing::TestWithParam<std::string_view> {
 protected:
  void SetUp() override {
    fds_before_ = otpnet::test::open_fds();
    loop_options opts;
    opts.backend = GetParam();
    opts.clock = [this] {
      ++clock_reads_;
      return clock_;
    };
    auto l = event_loop::create(std::move(opts));
    ASSERT_TRUE(l) << err_name(l.error());
    loop_ = std::move(*l);
  }

  void TearDown() override {
    if (loop_) {
      EXPECT_EQ(loop_->watched_count(), 0u) << "registration leaked";
    }
    for (int fd : std::exchange(fds_, {})) {
      (void)internal::sys_once([fd] { return ::close(fd); });
    }
    loop_.reset();
    EXPECT_EQ(otpnet::test::open_fds(), fds_before_) << "descriptor leaked";
  }

  // -- stepping ---------------------------------------------------------------

  turn_stats poll_once() {
    auto r = loop_->poll_once(false);
    EXPECT_TRUE(r) << err_name(r.error());
    return r ? *r : turn_stats{};
  }

  // Turns without waiting until one does nothing and nothing is pending.
  std::size_t run_until_idle(int max_turns = 10'000) {
    std::size_t total = 0;
    for (int i = 0; i < max_turns; ++i) {
      auto s = poll_once();
      total += s.total();
      if (s.total() == 0 && !loop_->has_pending_work()) {
        return total;
      }
    }
    ADD_FAILURE() << "loop not idle after " << max_turns << " turns";
    return total;
  }

  // -- descriptors --------------------------------------------------------------

  std::array<int, 2> socket_pair() {
    int sv[2] = {-1, -1};
    auto r = internal::sys([&] { return ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv); });
    EXPECT_TRUE(r);
    fds_.push_back(sv[0]);
    fds_.push_back(sv[1]);
    return {sv[0], sv[1]};
  }

  /// A non-blocking listen socket on 127.0.0.1 (kernel's port; `a` gets
  /// its address), closed at the end; -1 if it could not be made.
  int listen_loopback(sockaddr_in& a) {
    int ls = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    EXPECT_GE(ls, 0);
    if (ls < 0) {
      return -1;
    }
    fds_.push_back(ls);
    a = sockaddr_in{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(ls, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(ls, 16) != 0 ||
        ::getsockname(ls, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      ADD_FAILURE() << "no listen socket on 127.0.0.1";
      return -1;
    }
    return ls;
  }

  void close_fd(int fd) {
    std::erase(fds_, fd);
    (void)internal::sys_once([fd] { return ::close(fd); });
  }

  static void put(int fd, std::string_view bytes) {
    auto r = internal::sys([&] { return ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL); });
    ASSERT_TRUE(r);
  }

  // Reads until eagain (contract point 2); the bytes read.
  static std::size_t drain(int fd) {
    std::array<char, 4096> buf;
    std::size_t total = 0;
    for (;;) {
      auto r = internal::sys([&] { return ::recv(fd, buf.data(), buf.size(), 0); });
      if (!r) {
        EXPECT_EQ(r.error(), errc::eagain);
        return total;
      }
      if (*r == 0) {
        return total;
      }
      total += static_cast<std::size_t>(*r);
    }
  }

  // Sends until eagain; the bytes sent.
  static std::size_t fill(int fd) {
    std::array<char, 4096> buf{};
    std::size_t total = 0;
    for (;;) {
      auto r = internal::sys([&] { return ::send(fd, buf.data(), buf.size(), MSG_NOSIGNAL); });
      if (!r) {
        EXPECT_EQ(r.error(), errc::eagain);
        return total;
      }
      total += static_cast<std::size_t>(*r);
    }
  }

  static void assert_would_block(int fd) {
    char c;
    auto r = internal::sys([&] { return ::recv(fd, &c, 1, 0); });
    ASSERT_FALSE(r) << "read " << *r << " bytes";
    EXPECT_EQ(r.error(), errc::eagain);
  }

  // Steps until `h` has seen `n` events, tolerating spurious empty turns.
  void expect_events(const recorder& h, std::size_t n, int max_turns = 100) {
    for (int i = 0; i < max_turns && h.events.size() < n; ++i) {
      poll_once();
    }
    EXPECT_EQ(h.events.size(), n);
  }

  void expect_no_events(const recorder& h) {
    std::size_t before = h.events.size();
    run_until_idle();
    EXPECT_EQ(h.events.size(), before);
  }

  std::unique_ptr<event_loop> loop_;
  event_loop::time_point clock_{std::chrono::hours(24)};
  int clock_reads_ = 0;
  std::vector<int> fds_;
  int fds_before_ = 0;
};

// -- readiness --------------------------------------------------------------------

TEST_P(event_loop_test, edge_triggered_readiness_once_per_edge) {
  auto [a, b] = socket_pair();
  recorder h;
  ASSERT_TRUE(loop_->add(a, interest::read, h, 9));
  EXPECT_EQ(loop_->watched_count(), 1u);
  expect_no_events(h);

  put(b, "one");
  expect_events(h, 1);
  EXPECT_EQ(h.events[0].token, 9u);
  EXPECT_TRUE(h.events[0].ready.readable);
  expect_no_events(h);  // not drained, but no new edge

  EXPECT_EQ(drain(a), 3u);
  assert_would_block(a);
  expect_no_events(h);

  put(b, "two");  // after draining: a new edge
  expect_events(h, 2);
  EXPECT_EQ(drain(a), 3u);
  ASSERT_TRUE(loop_->remove(a));
}

TEST_P(event_loop_test, read_and_write_reported_in_one_event) {
  auto [a, b] = socket_pair();
  put(b, "x");
  recorder h;
  ASSERT_TRUE(loop_->add(a, interest::read_write, h, 1));
  expect_events(h, 1);
  EXPECT_TRUE(h.events[0].ready.readable);
  EXPECT_TRUE(h.events[0].ready.writable);
  expect_no_events(h);
  ASSERT_TRUE(loop_->remove(a));
}

TEST_P(event_loop_test, write_edge_returns_when_the_peer_reads) {
  auto [a, b] = socket_pair();
  recorder h;
  ASSERT_TRUE(loop_->add(a, interest::read_write, h, 1));
  expect_events(h, 1);  // writable at registration
  EXPECT_GT(fill(a), 0u);
  expect_no_events(h);
  EXPECT_GT(drain(b), 0u);
  expect_events(h, 2);
  EXPECT_TRUE(h.events[1].ready.writable);
  ASSERT_TRUE(loop_->remove(a));
}

TEST_P(event_loop_test, peer_close_wakes_the_reader) {
  auto [a, b] = socket_pair();
  recorder h;
  ASSERT_TRUE(loop_->add(a, interest::read, h, 1));
  close_fd(b);
  expect_events(h, 1);
  EXPECT_TRUE(h.events[0].ready.readable);
  EXPECT_TRUE(h.events[0].ready.hangup);
  EXPECT_EQ(drain(a), 0u);  // end of file: the call tells the truth
  ASSERT_TRUE(loop_->remove(a));
}

// A completion backend hands the bytes of a queued receive to on_recv, with
// the registration's token; a removal drops what was in flight.
TEST_P(event_loop_test, submitted_recv_completes_to_the_handler) {
  auto [a, b] = socket_pair();
  recv_recorder h;
  ASSERT_TRUE(loop_->add(a, interest::write, h, 42));
  if (!loop_->supports_recv()) {
    EXPECT_EQ(loop_->submit_recv(a).error(), errc::unsupported);
    ASSERT_TRUE(loop_->remove(a));
    return;  // a readiness backend: nothing more to check
  }
  EXPECT_EQ(loop_->submit_recv(a + 1000).error(), errc::enoent);
  ASSERT_TRUE(loop_->submit_recv(a));
  ASSERT_TRUE(internal::sys([fd = b] { return ::send(fd, "ping", 4, MSG_NOSIGNAL); }));
  for (int i = 0; i < 50 && h.done.empty(); ++i) {
    ASSERT_TRUE(loop_->run_once(std::chrono::milliseconds(100)));
  }
  ASSERT_EQ(h.done.size(), 1u);
  EXPECT_EQ(h.done[0].first, 4);
  EXPECT_EQ(h.done[0].second, "ping");
  ASSERT_TRUE(loop_->submit_recv(a));
  ASSERT_TRUE(loop_->remove(a));
  ASSERT_TRUE(internal::sys([fd = b] { return ::send(fd, "late", 4, MSG_NOSIGNAL); }));
  run_until_idle();
  EXPECT_EQ(h.done.size(), 1u);
}

// A multishot receive hands each batch of bytes to on_recv with `more`
// set, staying in flight; cancel_recv ends it with a last completion whose
// `more` is false, after which bytes stay in the kernel.
TEST_P(event_loop_test, multishot_recv_goes_on_until_cancelled) {
  auto [a, b] = socket_pair();
  recv_recorder h;
  ASSERT_TRUE(loop_->add(a, interest::write, h, 42));
  if (!loop_->supports_recv_multishot()) {
    EXPECT_EQ(loop_->submit_recv_multishot(a).error(), errc::unsupported);
    ASSERT_TRUE(loop_->remove(a));
    return;  // a readiness backend: nothing more to check
  }
  EXPECT_EQ(loop_->submit_recv_multishot(a + 1000).error(), errc::enoent);
  ASSERT_TRUE(loop_->submit_recv_multishot(a));
  EXPECT_EQ(loop_->submit_recv(a).error(), errc::ealready);  // one receive at a time, of either kind
  std::string want;
  for (int i = 0; i < 3; ++i) {
    std::string piece = "piece" + std::to_string(i);
    want += piece;
    ASSERT_TRUE(internal::sys([fd = b, &piece] { return ::send(fd, piece.data(), piece.size(), MSG_NOSIGNAL); }));
    std::size_t before = h.done.size();
    for (int j = 0; j < 50 && h.done.size() == before; ++j) {
      ASSERT_TRUE(loop_->run_once(std::chrono::milliseconds(100)));
    }
    ASSERT_EQ(h.done.size(), before + 1) << "no completion for piece " << i;
  }
  std::string got;
  for (std::size_t i = 0; i < h.done.size(); ++i) {
    got += h.done[i].second;
    EXPECT_TRUE(h.more_flags[i]) << "completion " << i << " ended the receive";
  }
  EXPECT_EQ(got, want);
  ASSERT_TRUE(loop_->cancel_recv(a));
  for (int j = 0; j < 50 && h.more_flags.back(); ++j) {
    ASSERT_TRUE(loop_->run_once(std::chrono::milliseconds(100)));
  }
  ASSERT_FALSE(h.more_flags.back()) << "the cancelled receive never ended";
  EXPECT_EQ(h.done.back().first, -ECANCELED);
  std::size_t ended_at = h.done.size();
  ASSERT_TRUE(internal::sys([fd = b] { return ::send(fd, "after", 5, MSG_NOSIGNAL); }));
  run_until_idle();
  EXPECT_EQ(h.done.size(), ended_at) << "a receive completed after its last completion";
  char buf[16];
  EXPECT_EQ(::recv(a, buf, sizeof buf, MSG_DONTWAIT), 5) << "the bytes after the end stay in the kernel";
  ASSERT_TRUE(loop_->remove(a));
}

// A multishot receive's handler that ends it while one of several of its
// completions in one batch is dispatched: cancel_recv_now gives the rest of
// the batch's first, in order, then the backend's, and on_recv gets none of
// them afterwards. (A socket pair's bytes reach the receive as each send
// returns, on this thread: three sends, three completions in one batch.)
struct ending_recorder final : io_handler {
  event_loop* loop = nullptr;
  int fd = -1;
  std::string bytes;         // in the order received
  int taken_with_bytes = 0;  // completions cancel_recv_now returned with bytes
  int after_end = 0;         // on_recv calls once the receive had ended
  bool ended = false;
  void on_io(std::uint64_t, readiness) noexcept override {}
  void on_recv(std::uint64_t, std::int32_t result, const std::byte* data, bool more) noexcept override {
    if (ended) {
      ++after_end;
      return;
    }
    if (result > 0) {
      bytes.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(result));
    }
    for (bool going = more; going;) {
      auto ev = loop->cancel_recv_now(fd);
      if (!ev) {
        ADD_FAILURE() << "cancel_recv_now: " << err_name(ev.error());
        break;
      }
      if (ev->result > 0) {
        bytes.append(reinterpret_cast<const char*>(ev->data), static_cast<std::size_t>(ev->result));
        ++taken_with_bytes;
      }
      going = ev->more;
    }
    ended = true;
  }
};

TEST_P(event_loop_test, cancel_recv_now_in_a_multishot_handler_takes_the_rest_of_the_batch_first) {
  auto [a, b] = socket_pair();
  ending_recorder h;
  h.loop = loop_.get();
  h.fd = a;
  ASSERT_TRUE(loop_->add(a, interest::write, h, 42));
  if (!loop_->supports_recv_multishot()) {
    ASSERT_TRUE(loop_->remove(a));
    return;  // a readiness backend: nothing more to check
  }
  ASSERT_TRUE(loop_->submit_recv_multishot(a));
  run_until_idle();  // submitted, waiting for bytes
  std::string sent;
  for (const char* piece : {"one;", "two;", "three;"}) {
    sent += piece;
    ASSERT_TRUE(internal::sys([fd = b, piece] { return ::send(fd, piece, std::strlen(piece), MSG_NOSIGNAL); }));
  }
  for (int j = 0; j < 50 && !h.ended; ++j) {
    ASSERT_TRUE(loop_->run_once(std::chrono::milliseconds(100)));
  }
  ASSERT_TRUE(h.ended);
  run_until_idle();
  EXPECT_EQ(h.after_end, 0) << "completions of the ended receive were dispatched after it ended";
  EXPECT_GE(h.taken_with_bytes, 1) << "the batch held one completion: nothing was taken out of it";
  char rest[64];
  auto left = ::recv(a, rest, sizeof rest, MSG_DONTWAIT);
  h.bytes.append(rest, left > 0 ? static_cast<std::size_t>(left) : 0);
  EXPECT_EQ(h.bytes, sent);
  ASSERT_TRUE(loop_->remove(a));
}

// Records send completions; `hook` runs after recording.
struct send_recorder final : io_handler {
  std::vector<std::pair<std::uint64_t, std::int32_t>> done;
  std::function<void(std::uint64_t)> hook;
  void on_io(std::uint64_t, readiness) noexcept override {}
  void on_send(std::uint64_t token, std::int32_t result) noexcept override {
    done.emplace_back(token, result);
    if (hook) {
      hook(token);
    }
  }
};

// A send goes with the loop's wait and completes to on_send. Two sends
// completed in one batch: the first handler takes the second's completion
// with cancel_send_now, whose on_send then never comes.
TEST_P(event_loop_test, submitted_send_completes_to_the_handler_or_to_cancel_send_now) {
  auto [a, pa] = socket_pair();
  auto [b, pb] = socket_pair();
  send_recorder h;
  ASSERT_TRUE(loop_->add(a, interest::write, h, 1));
  ASSERT_TRUE(loop_->add(b, interest::write, h, 2));
  std::string bytes = "reply";
  ::iovec iov{bytes.data(), bytes.size()};
  if (!loop_->supports_send()) {
    EXPECT_EQ(loop_->submit_send(a, &iov, 1).error(), errc::unsupported);
    ASSERT_TRUE(loop_->remove(a));
    ASSERT_TRUE(loop_->remove(b));
    return;  // a readiness backend: nothing more to check
  }
  run_until_idle();
  EXPECT_EQ(loop_->submit_send(a + 1000, &iov, 1).error(), errc::enoent);
  EXPECT_EQ(loop_->cancel_send_now(a).error(), errc::enoent);
  ASSERT_TRUE(loop_->submit_send(a, &iov, 1));
  ASSERT_TRUE(loop_->submit_send(b, &iov, 1));
  std::optional<io_event> taken;
  h.hook = [&](std::uint64_t token) {
    if (token == 1) {
      auto ev = loop_->cancel_send_now(b);
      ASSERT_TRUE(ev) << err_name(ev.error());
      taken = *ev;
    }
  };
  for (int i = 0; i < 50 && h.done.empty(); ++i) {
    ASSERT_TRUE(loop_->run_once(std::chrono::milliseconds(100)));
  }
  run_until_idle();
  ASSERT_EQ(h.done.size(), 1u) << "on_send came for a send that cancel_send_now answered";
  EXPECT_EQ(h.done[0], std::make_pair(std::uint64_t{1}, std::int32_t{5}));
  ASSERT_TRUE(taken);
  EXPECT_EQ(taken->kind, event_kind::send);
  EXPECT_EQ(taken->token, 2u);
  EXPECT_EQ(taken->result, 5);
  std::array<char, 16> buf{};
  EXPECT_EQ(::recv(pa, buf.data(), buf.size(), 0), 5);
  EXPECT_EQ(::recv(pb, buf.data(), buf.size(), 0), 5);
  ASSERT_TRUE(loop_->remove(a));
  ASSERT_TRUE(loop_->remove(b));
}

// Records accepted descriptors (and closes them).
struct accept_recorder final : io_handler {
  std::vector<std::int32_t> results;
  bool ended = false;
  void on_io(std::uint64_t, readiness) noexcept override {}
  void on_accept(std::uint64_t, std::int32_t result, bool more) noexcept override {
    results.push_back(result);
    ended = ended || !more;
    if (result >= 0) {
      (void)internal::sys_once([result] { return ::close(result); });
    }
  }
};

// A completion backend accepts by itself: each connection reaches on_accept
// with its descriptor; cancel_accept ends it (ECANCELED, no more).
TEST_P(event_loop_test, submitted_accept_hands_connections_to_the_handler) {
  sockaddr_in a{};
  int ls = listen_loopback(a);
  ASSERT_GE(ls, 0);
  accept_recorder h;
  ASSERT_TRUE(loop_->add(ls, interest::none, h, 5));
  if (!loop_->supports_accept()) {
    EXPECT_EQ(loop_->submit_accept(ls).error(), errc::unsupported);
    ASSERT_TRUE(loop_->remove(ls));
    return;  // a readiness backend: nothing more to check
  }
  ASSERT_TRUE(loop_->submit_accept(ls));
  for (int i = 0; i < 2; ++i) {
    int c = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(c, 0);
    fds_.push_back(c);
    ASSERT_EQ(::connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  }
  for (int i = 0; i < 50 && h.results.size() < 2; ++i) {
    ASSERT_TRUE(loop_->run_once(std::chrono::milliseconds(100)));
  }
  ASSERT_EQ(h.results.size(), 2u);
  EXPECT_GE(h.results[0], 0);
  EXPECT_GE(h.results[1], 0);
  EXPECT_FALSE(h.ended);
  ASSERT_TRUE(loop_->cancel_accept(ls));
  for (int i = 0; i < 50 && !h.ended; ++i) {
    ASSERT_TRUE(loop_->run_once(std::chrono::milliseconds(100)));
  }
  ASSERT_TRUE(h.ended);
  EXPECT_EQ(h.results.back(), -ECANCELED);
  ASSERT_TRUE(loop_->remove(ls));
}

// Connections the kernel accepted for a registration removed earlier in
// the same batch are closed, not dropped with their events (they leaked:
// the clients waited, connected, for ever).
TEST_P(event_loop_test, accepts_after_a_remove_in_the_same_batch_are_closed) {
  sockaddr_in a{};
  int ls = listen_loopback(a);
  ASSERT_GE(ls, 0);
  struct remover final : io_handler {
    event_loop* loop = nullptr;
    int ls = -1;
    int calls = 0;
    void on_io(std::uint64_t, readiness) noexcept override {}
    void on_accept(std::uint64_t, std::int32_t result, bool) noexcept override {
      ++calls;
      if (result >= 0) {
        (void)internal::sys_once([result] { return ::close(result); });
      }
      (void)loop->remove(ls);
    }
  } h;
  h.loop = loop_.get();
  h.ls = ls;
  ASSERT_TRUE(loop_->add(ls, interest::none, h, 5));
  if (!loop_->supports_accept()) {
    ASSERT_TRUE(loop_->remove(ls));
    GTEST_SKIP() << "a readiness backend accepts nothing by itself";
  }
  ASSERT_TRUE(loop_->submit_accept(ls));
  std::vector<int> clients;
  for (int i = 0; i < 3; ++i) {
    int c = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(c, 0);
    fds_.push_back(c);
    clients.push_back(c);
    ASSERT_EQ(::connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  }
  for (int i = 0; i < 50 && h.calls == 0; ++i) {
    ASSERT_TRUE(loop_->run_once(std::chrono::milliseconds(100)));
  }
  ASSERT_EQ(h.calls, 1) << "the handler is called for none after its remove";
  // The listen socket closes too (clients still in its backlog are reset);
  // the loop runs on, so that the backend closes what the kernel accepted
  // after the remove. Every client then sees its end (or a reset), none
  // waits: a connection dropped with its event stayed open for ever.
  fds_.erase(std::find(fds_.begin(), fds_.end(), ls));
  (void)internal::sys_once([ls] { return ::close(ls); });
  std::vector<bool> ended(clients.size(), false);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::count(ended.begin(), ended.end(), true) < static_cast<std::ptrdiff_t>(clients.size()) &&
         std::chrono::steady_clock::now() < deadline) {
    ASSERT_TRUE(loop_->run_once(std::chrono::milliseconds(10)));
    for (std::size_t i = 0; i < clients.size(); ++i) {
      pollfd p{clients[i], POLLIN, 0};
      ended[i] = ended[i] || ::poll(&p, 1, 0) == 1;
    }
  }
  for (std::size_t i = 0; i < clients.size(); ++i) {
    EXPECT_TRUE(ended[i]) << "client " << i << ": its accepted connection was never closed";
  }
}

TEST_P(event_loop_test, modify_arms_a_new_direction) {
  auto [a, b] = socket_pair();
  recorder h;
  ASSERT_TRUE(loop_->add(a, interest::read, h, 1));
  expect_no_events(h);
  ASSERT_TRUE(loop_->modify(a, interest::read_write));
  expect_events(h, 1);
  EXPECT_TRUE(h.events[0].ready.writable);
  ASSERT_TRUE(loop_->remove(a));
}

// -- deregistration -------------------------------------------------------------------

TEST_P(event_loop_test, remove_inside_a_batch_suppresses_the_rest) {
  auto [a1, b1] = socket_pair();
  auto [a2, b2] = socket_pair();
  recorder h;
  int removed = -1;
  h.hook = [&](std::uint64_t token, readiness) {
    int other = token == 1 ? a2 : a1;
    if (removed < 0) {
      ASSERT_TRUE(loop_->remove(other));
      removed = other;
    }
  };
  ASSERT_TRUE(loop_->add(a1, interest::read, h, 1));
  ASSERT_TRUE(loop_->add(a2, interest::read, h, 2));
  put(b1, "x");
  put(b2, "x");
  auto s = poll_once();  // both are ready in the same batch
  EXPECT_EQ(s.io, 1u);
  ASSERT_EQ(h.events.size(), 1u);
  expect_no_events(h);
  ASSERT_TRUE(loop_->remove(removed == a1 ? a2 : a1));
}

TEST_P(event_loop_test, remove_and_add_again_inside_a_batch_drops_the_stale_event) {
  auto [a1, b1] = socket_pair();
  auto [a2, b2] = socket_pair();
  recorder first;
  recorder second;
  first.hook = [&](std::uint64_t token, readiness) {
    int other = token == 1 ? a2 : a1;
    if (first.events.size() == 1) {
      ASSERT_TRUE(loop_->remove(other));
      ASSERT_TRUE(loop_->add(other, interest::read, second, 100));
    }
  };
  ASSERT_TRUE(loop_->add(a1, interest::read, first, 1));
  ASSERT_TRUE(loop_->add(a2, interest::read, first, 2));
  put(b1, "x");
  put(b2, "x");
  EXPECT_EQ(poll_once().io, 1u);
  EXPECT_EQ(first.events.size(), 1u);
  // The new registration sees the data still pending, under its own token.
  expect_events(second, 1);
  EXPECT_EQ(second.events[0].token, 100u);
  EXPECT_EQ(first.events.size(), 1u);
  ASSERT_TRUE(loop_->remove(a1));
  ASSERT_TRUE(loop_->remove(a2));
}

TEST_P(event_loop_test, registration_errors) {
  auto [a, b] = socket_pair();
  recorder h;
  EXPECT_EQ(loop_->add(-1, interest::read, h, 0).error(), errc::ebadf);
  ASSERT_TRUE(loop_->add(a, interest::read, h, 0));
  EXPECT_EQ(loop_->add(a, interest::read, h, 0).error(), errc::eexist);
  EXPECT_EQ(loop_->modify(b, interest::read).error(), errc::enoent);
  EXPECT_EQ(loop_->remove(b).error(), errc::enoent);
  EXPECT_EQ(loop_->remove(12345).error(), errc::enoent);
  ASSERT_TRUE(loop_->remove(a));
  EXPECT_EQ(loop_->watched_count(), 0u);
}

// The loop's table of registrations grows to the highest descriptor added.
// When it cannot, add fails with enomem (its callers are noexcept: an
// exception would end the program), nothing is registered, and the same
// descriptor can be added once memory is back.
TEST_P(event_loop_test, add_reports_enomem_when_its_table_cannot_grow) {
  auto [a, b] = socket_pair();
  // Above every descriptor the loop has seen (its wake-up, the ring's).
  auto high = internal::sys([fd = a] { return ::fcntl(fd, F_DUPFD_CLOEXEC, 200); });
  ASSERT_TRUE(high) << err_name(high.error());
  fds_.push_back(*high);
  recorder h;
  result<void> added = ok();
  std::size_t refused = 0;
  {
    otpnet::test::failing_allocations no_memory;
    added = loop_->add(*high, interest::read, h, 7);
    refused = no_memory.refused();
  }
  ASSERT_FALSE(added);
  EXPECT_EQ(added.error(), errc::enomem);
  EXPECT_GT(refused, 0u);
  EXPECT_EQ(loop_->modify(*high, interest::read).error(), errc::enoent);
  EXPECT_EQ(loop_->watched_count(), 0u);
  ASSERT_TRUE(loop_->add(*high, interest::read, h, 7));
  put(b, "x");
  expect_events(h, 1);
  ASSERT_TRUE(loop_->remove(*high));
}

TEST_P(event_loop_test, remove_after_close_forgets_the_registration) {
  auto [a, b] = socket_pair();
  recorder h;
  ASSERT_TRUE(loop_->add(a, interest::read, h, 0));
  close_fd(a);
  // epoll has dropped the watch with the descriptor: ebadf. io_uring's poll
  // held the file open: the removal cancels it and succeeds.
  auto r = loop_->remove(a);
  if (GetParam() == "epoll") {
    EXPECT_EQ(r.error(), errc::ebadf);
  } else {
    EXPECT_TRUE(r || r.error() == errc::ebadf) << err_name(r.error());
  }
  EXPECT_EQ(loop_->watched_count(), 0u);
}

TEST_P(event_loop_test, remove_before_close_then_close_ends_the_watch) {
  auto [a, b] = socket_pair();
  recorder h;
  ASSERT_TRUE(loop_->add(a, interest::read, h, 1));
  ASSERT_TRUE(loop_->remove_before_close(a));
  EXPECT_EQ(loop_->watched_count(), 0u);
  EXPECT_EQ(loop_->remove_before_close(a).error(), errc::enoent);
  close_fd(a);
  close_fd(b);
  // The number comes back with a new socket, watched afresh: only its
  // handler hears of it.
  auto [c, d] = socket_pair();
  recorder h2;
  ASSERT_TRUE(loop_->add(c, interest::read, h2, 2));
  put(d, "x");
  expect_events(h2, 1);
  EXPECT_EQ(h2.events[0].token, 2u);
  expect_no_events(h);
  ASSERT_TRUE(loop_->remove(c));
}

// The hazard remove_before_close accepts: a dup keeps the open file alive,
// so the kernel keeps watching it (epoll). What changes on it is reported
// under the old token and dropped; no handler hears of it, and the loop
// does not spin (edge-triggered: one event per change, then idle).
TEST_P(event_loop_test, a_file_kept_open_by_a_dup_after_remove_before_close_reaches_no_handler) {
  auto [a, b] = socket_pair();
  int dup = ::fcntl(a, F_DUPFD_CLOEXEC, 0);
  ASSERT_GE(dup, 0);
  fds_.push_back(dup);
  recorder h;
  ASSERT_TRUE(loop_->add(a, interest::read_write, h, 1));
  expect_events(h, 1);  // writable at registration
  ASSERT_TRUE(loop_->remove_before_close(a));
  close_fd(a);
  put(b, "one");
  expect_no_events(h);
  put(b, "two");
  expect_no_events(h);
  EXPECT_EQ(drain(dup), 6u);
  // The file comes back under the same number: the loop takes over the
  // watch the kernel kept (epoll: eexist, then modify) under a new token.
  ASSERT_EQ(::dup2(dup, a), a);
  fds_.push_back(a);
  recorder h2;
  ASSERT_TRUE(loop_->add(a, interest::read, h2, 2));
  put(b, "three");
  expect_events(h2, 1);
  EXPECT_EQ(h2.events[0].token, 2u);
  EXPECT_TRUE(h2.events[0].ready.readable);
  EXPECT_EQ(h.events.size(), 1u);
  ASSERT_TRUE(loop_->remove(a));
}

// -- timers ---------------------------------------------------------------------------

TEST_P(event_loop_test, timers_fire_in_order_on_the_injected_clock) {
  timer_recorder t;
  loop_->start_timer(30ms, t, 3);
  loop_->start_timer(10ms, t, 1);
  loop_->start_timer(20ms, t, 2);
  EXPECT_FALSE(loop_->has_pending_work());
  run_until_idle();
  EXPECT_TRUE(t.fired.empty());
  clock_ += 20ms;
  EXPECT_TRUE(loop_->has_pending_work());
  EXPECT_EQ(poll_once().timers, 2u);
  clock_ += 1h;
  run_until_idle();
  EXPECT_EQ(t.fired, (std::vector<std::uint64_t>{1, 2, 3}));
  EXPECT_EQ(loop_->timer_count(), 0u);
}

/// The counter `name` of `loop`, read as another thread would.
std::uint64_t counter_of(const event_loop& loop, std::string_view name) {
  std::vector<counter_reading> all;
  loop.read_counters(all);
  for (const auto& c : all) {
    if (c.name == name) {
      return c.value;
    }
  }
  ADD_FAILURE() << "no counter " << name;
  return 0;
}

// The loop counts its turns and what they did, as turn_stats reports them,
// and its backend counts its own work after the loop's counters.
TEST_P(event_loop_test, counters_add_up_what_the_turns_did) {
  std::vector<counter_reading> first;
  loop_->read_counters(first);
  ASSERT_GE(first.size(), 4u);
  EXPECT_EQ(first[0].name, "turns");
  EXPECT_EQ(first[1].name, "io_calls");
  EXPECT_EQ(first[2].name, "timers_fired");
  EXPECT_EQ(first[3].name, "tasks_run");
  EXPECT_GT(first.size(), 4u) << "the backend's counters follow";
  std::uint64_t turns = counter_of(*loop_, "turns");

  auto [a, b] = socket_pair();
  recorder h;
  ASSERT_TRUE(loop_->add(a, interest::read, h, 9));
  timer_recorder t;
  loop_->start_timer(10ms, t, 1);
  loop_->post([] {});
  loop_->post([] {});
  put(b, "x");
  std::size_t io = 0;
  std::size_t tasks = 0;
  int turns_made = 0;
  clock_ += 1h;
  for (int k = 0; k < 20 && (t.fired.empty() || h.events.empty() || tasks < 2); ++k) {
    turn_stats s = poll_once();
    io += s.io;
    tasks += s.posted;
    ++turns_made;
  }
  EXPECT_EQ(counter_of(*loop_, "turns"), turns + static_cast<std::uint64_t>(turns_made));
  EXPECT_GE(counter_of(*loop_, "io_calls"), io);
  EXPECT_GE(io, 1u);
  EXPECT_EQ(counter_of(*loop_, "timers_fired"), 1u);
  EXPECT_EQ(counter_of(*loop_, "tasks_run"), 2u);
  if (GetParam() == "epoll") {
    EXPECT_GE(counter_of(*loop_, "waits"), static_cast<std::uint64_t>(turns_made));
    EXPECT_GE(counter_of(*loop_, "events"), 1u);
    EXPECT_GE(counter_of(*loop_, "ctls"), 1u) << "the add";
  } else {
    EXPECT_GE(counter_of(*loop_, "submits"), 1u);
  }
  EXPECT_EQ(drain(a), 1u);
  ASSERT_TRUE(loop_->remove(a));
}

TEST_P(event_loop_test, cancel_and_read_timer) {
  timer_recorder t;
  auto h = loop_->start_timer(100ms, t, 1);
  clock_ += 40ms;
  EXPECT_EQ(loop_->read_timer(h), milliseconds(60));
  EXPECT_EQ(loop_->cancel_timer(h), milliseconds(60));
  EXPECT_EQ(loop_->cancel_timer(h), std::nullopt);
  auto g = loop_->start_timer(10ms, t, 2);
  clock_ += 10ms;
  run_until_idle();
  EXPECT_EQ(t.fired, std::vector<std::uint64_t>{2});
  EXPECT_EQ(loop_->cancel_timer(g), std::nullopt);  // already fired
  EXPECT_EQ(loop_->read_timer(g), std::nullopt);
}

TEST_P(event_loop_test, disarm_timer_reads_no_clock) {
  timer_recorder t;
  auto h = loop_->start_timer(100ms, t, 1);
  EXPECT_EQ(loop_->timer_count(), 1u);
  int reads = clock_reads_;
  EXPECT_TRUE(loop_->disarm_timer(h));
  EXPECT_FALSE(loop_->disarm_timer(h));  // stale
  EXPECT_EQ(clock_reads_, reads);
  EXPECT_EQ(loop_->cancel_timer(h), std::nullopt);
  EXPECT_EQ(loop_->timer_count(), 0u);
  clock_ += 1h;
  run_until_idle();
  EXPECT_TRUE(t.fired.empty());
}

TEST_P(event_loop_test, timers_per_turn_are_bounded) {
  timer_recorder t;
  for (std::uint64_t i = 0; i < 5000; ++i) {
    loop_->start_timer(1ms, t, i);
  }
  clock_ += 1ms;
  auto s = poll_once();
  EXPECT_EQ(s.timers, loop_options{}.max_timers_per_turn);
  run_until_idle();
  EXPECT_EQ(t.fired.size(), 5000u);
}

// -- posted tasks and cross-thread signaling -------------------------------------------

TEST_P(event_loop_test, post_from_the_owner_runs_next_turn_without_a_wake) {
  int ran = 0;
  loop_->post([&] { ++ran; });
  EXPECT_TRUE(loop_->has_pending_work());
  auto s = poll_once();
  EXPECT_EQ(s.posted, 1u);
  EXPECT_FALSE(s.woken);
  EXPECT_EQ(ran, 1);
}

// A loop whose thread is ending (a runtime's scheduler after its last
// turn): close_posts runs what was accepted, tasks those post included, and
// try_post refuses from then on, from the owner or another thread, so that
// a caller waiting for its task's effect is not left waiting for ever.
TEST_P(event_loop_test, close_posts_runs_what_was_accepted_and_refuses_the_rest) {
  std::vector<std::string> ran;
  EXPECT_TRUE(loop_->try_post([&] {
    ran.emplace_back("first");
    loop_->post([&] { ran.emplace_back("posted by the first"); });
  }));
  std::thread other([&] { EXPECT_TRUE(loop_->try_post([&] { ran.emplace_back("from another thread"); })); });
  other.join();
  loop_->close_posts();
  EXPECT_EQ(ran, (std::vector<std::string>{"first", "from another thread", "posted by the first"}));
  EXPECT_FALSE(loop_->has_pending_work());
  auto kept = std::make_shared<int>(0);
  bool refused_here = !loop_->try_post([&ran, kept] { ran.emplace_back("late"); });
  bool refused_there = false;
  std::thread late([&] { refused_there = !loop_->try_post([&ran, kept] { ran.emplace_back("late there"); }); });
  late.join();
  EXPECT_TRUE(refused_here);
  EXPECT_TRUE(refused_there);
  EXPECT_EQ(kept.use_count(), 1) << "a refused task was kept";
  EXPECT_FALSE(loop_->has_pending_work());
  EXPECT_EQ(ran.size(), 3u);
}

TEST_P(event_loop_test, posted_work_per_turn_is_bounded_and_io_is_not_starved) {
  const std::size_t budget = loop_options{}.max_posted_per_turn;
  std::size_t runs = 0;
  std::function<void(int)> spawn = [&](int left) {
    loop_->post([&, left] {
      ++runs;
      if (left > 0) {
        spawn(left - 1);  // re-posts itself
      }
    });
  };
  for (int i = 0; i < 10'000; ++i) {
    spawn(2);
  }
  auto [a, b] = socket_pair();
  recorder h;
  ASSERT_TRUE(loop_->add(a, interest::read, h, 1));
  put(b, "x");
  auto s = poll_once();
  EXPECT_EQ(s.posted, budget);
  EXPECT_EQ(s.io, 1u);  // served despite 10 000 queued tasks
  for (int turn = 0; turn < 1000 && loop_->has_pending_work(); ++turn) {
    EXPECT_LE(poll_once().posted, budget);
  }
  EXPECT_EQ(runs, 30'000u);
  ASSERT_TRUE(loop_->remove(a));
}

TEST_P(event_loop_test, wake_from_another_thread_interrupts_a_blocking_poll) {
  std::atomic<bool> polling{false};
  std::thread waker([&] {
    while (!polling.load()) {
      std::this_thread::yield();
    }
    loop_->wake();
  });
  polling.store(true);
  // Bounded: a broken wake fails after 10 s instead of hanging. A turn may
  // end early, interrupted (see below): wait again until the deadline.
  auto deadline = std::chrono::steady_clock::now() + 10s;
  auto s = loop_->run_once(10s);
  while (s && !s->woken && std::chrono::steady_clock::now() < deadline) {
    s = loop_->run_once(10s);
  }
  waker.join();
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->woken);
}

TEST_P(event_loop_test, post_from_four_threads_runs_each_task_once_in_order) {
  constexpr int threads = 4;
  constexpr int per_thread = 10'000;
  std::vector<int> runs(threads * per_thread, 0);
  std::vector<int> last(threads, -1);
  bool in_order = true;
  std::vector<std::thread> posters;
  for (int t = 0; t < threads; ++t) {
    posters.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) {
        loop_->post([&, t, i] {
          ++runs[static_cast<std::size_t>(t * per_thread + i)];
          in_order = in_order && last[static_cast<std::size_t>(t)] == i - 1;
          last[static_cast<std::size_t>(t)] = i;
        });
      }
    });
  }
  std::size_t done = 0;
  while (done < runs.size()) {
    // A turn that waited the full 10 s and did nothing lost a wake-up. A
    // turn may also end early with nothing done: an interrupted wait (the
    // kernel's tear-down of an earlier io_uring interrupts this thread).
    auto t0 = std::chrono::steady_clock::now();
    auto s = loop_->run_once(10s);
    ASSERT_TRUE(s);
    ASSERT_TRUE(s->total() > 0 || s->woken || std::chrono::steady_clock::now() - t0 < 9s)
        << "lost wake-up after " << done << " tasks";
    done += s->posted;
  }
  for (auto& p : posters) {
    p.join();
  }
  run_until_idle();
  EXPECT_EQ(std::count(runs.begin(), runs.end(), 1), static_cast<std::ptrdiff_t>(runs.size()));
  EXPECT_TRUE(in_order);
}

TEST_P(event_loop_test, stop_from_another_thread_ends_run) {
  std::atomic<bool> ran{false};
  loop_->post([&] { ran = true; });
  std::thread stopper([&] { loop_->stop(); });
  auto r = loop_->run();
  stopper.join();
  ASSERT_TRUE(r);
  run_until_idle();
  EXPECT_TRUE(ran);
  EXPECT_FALSE(loop_->has_pending_work());  // the stop request was consumed
}

TEST_P(event_loop_test, stop_is_consumed_by_one_turn) {
  loop_->stop();
  EXPECT_TRUE(loop_->has_pending_work());
  EXPECT_TRUE(poll_once().stopped);
  EXPECT_FALSE(loop_->has_pending_work());
  EXPECT_FALSE(poll_once().stopped);
  loop_->stop();
  EXPECT_TRUE(loop_->run());  // returns after one turn
}

TEST_P(event_loop_test, run_once_inside_a_turn_is_refused) {
  std::optional<errc> nested;
  loop_->post([&] {
    auto r = loop_->run_once(0ms);
    nested = r ? errc::ok : r.error();
  });
  run_until_idle();
  EXPECT_EQ(nested, errc::invalid);
}

TEST_P(event_loop_test, loop_can_be_handed_to_another_thread) {
  int ran = 0;
  loop_->post([&] { ++ran; });
  std::thread runner([&] {
    loop_->bind_to_current_thread();
    EXPECT_TRUE(loop_->in_owner_thread());
    EXPECT_TRUE(loop_->poll_once(false));
  });
  runner.join();
  loop_->bind_to_current_thread();
  EXPECT_EQ(ran, 1);
}

#ifndef NDEBUG
TEST_P(event_loop_test, affine_call_from_a_foreign_thread_aborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        std::thread t([&] { (void)loop_->poll_once(false); });
        t.join();
      },
      "does not own");
}
#endif

INSTANTIATE_TEST_SUITE_P(backends, event_loop_test, ::testing::ValuesIn(backend_selector::available()),
                         [](const auto& info) { return std::string(info.param); });

}  // namespace
}  // namespace otpnet::reactor
