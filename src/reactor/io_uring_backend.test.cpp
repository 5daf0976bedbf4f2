#include "otpnet/reactor/io_uring_backend.hpp"

#include <otpnet/reactor/backend_selector.hpp>

#include "internal/syscall.hpp"
#include "support/alloc_hooks.hpp"
#include "support/io_uring_seam.hpp"

#include <gtest/gtest.h>
#include <liburing.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <vector>

// io_uring specifics: what the kernel does to multishot polls and to the
// files they hold. The behaviour every backend shares is in
// backend.test.cpp. Skipped where the selector's probe found no io_uring.

namespace otpnet::reactor {

namespace {

using namespace std::chrono_literals;
using seam = io_uring_backend_testing;

class io_uring_backend_test : public ::testing::Test {
 protected:
  void SetUp() override {
    auto known = backend_selector::known();
    for (const auto& b : known) {
      if (b.name == "io_uring" && !b.available) {
        GTEST_SKIP() << b.note;
      }
    }
  }

  void TearDown() override {
    for (int fd : fds_) {
      (void)internal::sys_once([fd] { return ::close(fd); });
    }
  }

  static std::unique_ptr<io_uring_backend> make(const io_uring_options& ring = {}, std::size_t max_events = 64) {
    auto b = io_uring_backend::create(backend_options{.max_events = max_events}, ring);
    EXPECT_TRUE(b) << err_name(b.error());
    return b ? std::move(*b) : nullptr;
  }

  std::array<int, 2> socket_pair() {
    int sv[2] = {-1, -1};
    auto r = internal::sys([&] { return ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv); });
    EXPECT_TRUE(r);
    fds_.push_back(sv[0]);
    fds_.push_back(sv[1]);
    return {sv[0], sv[1]};
  }

  // A socket pair whose first end `b` watches under `token`: {that end,
  // its peer}.
  std::array<int, 2> watched_pair(backend& b, std::uint64_t token, interest i) {
    auto pair = socket_pair();
    auto r = b.add(pair[0], token, i);
    EXPECT_TRUE(r) << err_name(r.error());
    return pair;
  }

  /// `count` pairs watched for reading under tokens 0 to count - 1, their
  /// polls made (nothing to report yet).
  std::vector<std::array<int, 2>> watched_pairs(backend& b, int count) {
    std::vector<std::array<int, 2>> pairs;
    pairs.reserve(static_cast<std::size_t>(count));
    for (int i = 0; i < count; ++i) {
      pairs.push_back(watched_pair(b, static_cast<std::uint64_t>(i), interest::read));
    }
    EXPECT_TRUE(poll_all(b).empty());
    return pairs;
  }

  /// Writes to `peer` and polls `b` from another thread while this one
  /// sleeps (joining it): the events reported there. With `no_room`, that
  /// thread's first poll (which re-arms its polls there) finds the
  /// submission ring refusing entries, and a second one waits.
  std::size_t poll_from_another_thread(io_uring_backend& b, int peer, bool no_room) {
    std::size_t got = 0;
    std::thread other([&] {
      std::array<io_event, 4> out;
      std::size_t first = 0;
      if (no_room) {
        seam::refuse_entries(b, true);
        auto n = b.poll(out, 0ms);  // re-arms here, without room
        seam::refuse_entries(b, false);
        first = n ? *n : 0;
      }
      put(peer);
      auto n = b.poll(out, 5000ms);
      got = first + (n ? *n : 0);
    });
    other.join();
    return got;
  }

  void close_fd(int fd) {
    (void)internal::sys_once([fd] { return ::close(fd); });
    std::erase(fds_, fd);
  }

  static void put(int fd) {
    auto r = internal::sys([&] { return ::send(fd, "x", 1, MSG_NOSIGNAL); });
    ASSERT_TRUE(r);
  }

  static void drain(int fd) {
    std::array<char, 256> buf;
    while (internal::sys([&] { return ::recv(fd, buf.data(), buf.size(), 0); }).value_or(0) > 0) {
    }
  }

  // Polls without waiting until a poll returns nothing; the events seen
  // (their bytes no longer valid), in order.
  static std::vector<io_event> poll_all_events(backend& b) {
    std::vector<io_event> events;
    std::array<io_event, 64> out;
    for (int turn = 0; turn < 64; ++turn) {
      auto n = b.poll(out, 0ms);
      EXPECT_TRUE(n);
      if (!n || *n == 0) {
        break;
      }
      events.insert(events.end(), out.begin(), out.begin() + static_cast<std::ptrdiff_t>(*n));
    }
    return events;
  }

  // The same, tokens only.
  static std::vector<std::uint64_t> poll_all(backend& b) {
    std::vector<std::uint64_t> tokens;
    for (const io_event& ev : poll_all_events(b)) {
      tokens.push_back(ev.token);
    }
    return tokens;
  }

  // The event of kind `k` for `token` among the first `n` of `out`, or null.
  template <std::size_t N>
  static const io_event* find_event(const std::array<io_event, N>& out, std::size_t n, std::uint64_t token,
                                    event_kind k) {
    for (std::size_t i = 0; i < n && i < N; ++i) {
      if (out[i].kind == k && out[i].token == token) {
        return &out[i];
      }
    }
    return nullptr;
  }

  // The bytes a receive's completion brought (none for a result <= 0).
  static std::string bytes_of(const io_event& ev) {
    return ev.result > 0 ? std::string(reinterpret_cast<const char*>(ev.data), static_cast<std::size_t>(ev.result))
                         : std::string();
  }

  // Polls (waiting up to a second each time, at most 20 times) until an
  // event of kind `k` for `token` comes; it (its bytes valid until the next
  // poll), or nothing.
  static std::optional<io_event> await_event(backend& b, std::uint64_t token, event_kind k) {
    std::array<io_event, 64> out;
    for (int turn = 0; turn < 20; ++turn) {
      auto n = b.poll(out, 1000ms);
      EXPECT_TRUE(n);
      if (!n) {
        break;
      }
      if (const io_event* ev = find_event(out, *n, token, k)) {
        return *ev;
      }
    }
    return std::nullopt;
  }

  // Whether the peer of a closed socket has seen it go (a hang-up: the end
  // of file, or a reset when unread data was dropped), waiting at most `wait`.
  static bool peer_sees_close(int peer, std::chrono::milliseconds wait) {
    pollfd p{peer, POLLRDHUP, 0};
    auto r = internal::sys_once([&] { return ::poll(&p, 1, static_cast<int>(wait.count())); });
    return r && *r == 1 && (p.revents & (POLLHUP | POLLRDHUP)) != 0;
  }

  // Starts a multishot receive on `fd` and has its first completion bring
  // the peer's "first", the receive going on.
  static void start_stream(backend& b, int fd, int peer, std::uint64_t token) {
    ASSERT_TRUE(b.submit_recv_multishot(fd));
    put(peer, "first");
    auto r = await_event(b, token, event_kind::recv);
    ASSERT_TRUE(r);
    EXPECT_EQ(bytes_of(*r), "first");
    ASSERT_TRUE(r->more);
  }

  // Removes `fd`, then checks that nothing more is reported for `token`
  // and that bytes sent afterwards stay in the socket.
  static void expect_removed_and_quiet(backend& b, int fd, int peer, std::uint64_t token) {
    ASSERT_TRUE(b.remove(fd));
    (void)poll_all(b);  // the cancellation goes with this poll
    put(peer, "after");
    for (const io_event& ev : poll_all_events(b)) {
      EXPECT_NE(ev.token, token) << "an event for a removed descriptor";
    }
    std::string got(16, '\0');
    auto n = internal::sys([&] { return ::recv(fd, got.data(), got.size(), MSG_DONTWAIT); });
    got.resize(n ? static_cast<std::size_t>(*n) : 0);
    EXPECT_EQ(got, "after");
  }

  // Receive completions: polls (waiting up to a second each time, at most
  // 20 times) until one for `token` comes; its result and bytes.
  struct recv_result {
    bool seen = false;
    std::int32_t result = 0;
    std::string bytes;
  };
  static recv_result await_recv(backend& b, std::uint64_t token) {
    auto ev = await_event(b, token, event_kind::recv);
    if (!ev) {
      return {};
    }
    return {true, ev->result, bytes_of(*ev)};
  }

  // Polls without waiting, at most `max` times, calling `before()` ahead
  // of each poll, until the receive of `token` completes: the poll that
  // brought it (1 for the first; 0 when none did) and what it brought.
  struct polled_recv {
    int poll = 0;
    recv_result r;
  };
  template <class Before>
  static polled_recv poll_now_until_recv(backend& b, std::uint64_t token, int max, Before before) {
    std::array<io_event, 16> out;
    for (int poll = 1; poll <= max; ++poll) {
      before();
      auto n = b.poll(out, 0ms);
      EXPECT_TRUE(n) << err_name(n.error());
      if (!n) {
        break;
      }
      if (const io_event* ev = find_event(out, *n, token, event_kind::recv)) {
        return {poll, {true, ev->result, bytes_of(*ev)}};
      }
    }
    return {};
  }

  // The result of the send of `token` once it completes (see await_event).
  static std::optional<std::int32_t> await_send(backend& b, std::uint64_t token) {
    auto ev = await_event(b, token, event_kind::send);
    return ev ? std::optional<std::int32_t>(ev->result) : std::nullopt;
  }

  // A receive of `fd` that finds the peer's "ping" and leaves the socket
  // empty, then the next receive, which is parked (no entry yet); whether
  // both went as expected.
  static bool park_a_receive(backend& b, int fd, int peer, std::uint64_t token) {
    EXPECT_TRUE(b.submit_recv(fd));
    put(peer, "ping");
    auto r = await_recv(b, token);
    EXPECT_TRUE(r.seen);
    EXPECT_EQ(r.bytes, "ping");
    auto parked = b.submit_recv(fd);
    EXPECT_TRUE(parked);
    return r.seen && r.bytes == "ping" && parked;
  }

  // One poll that may wait up to 3 s: whether it brings the receive of
  // `token`, with how long it waited when it does not.
  static ::testing::AssertionResult one_poll_brings_recv(backend& b, std::uint64_t token) {
    std::array<io_event, 16> out;
    auto t0 = std::chrono::steady_clock::now();
    auto n = b.poll(out, 3000ms);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
    if (!n) {
      return ::testing::AssertionFailure() << "poll failed: " << err_name(n.error());
    }
    if (find_event(out, *n, token, event_kind::recv) != nullptr) {
      return ::testing::AssertionSuccess();
    }
    return ::testing::AssertionFailure() << "poll waited " << ms << " ms with bytes pending behind a parked receive";
  }

  static void put(int fd, const std::string& bytes) {
    auto r = internal::sys([&] { return ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL); });
    ASSERT_TRUE(r);
    ASSERT_EQ(static_cast<std::size_t>(*r), bytes.size());
  }

  // A listening TCP socket on 127.0.0.1 and its port.
  std::pair<int, std::uint16_t> listener() {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    EXPECT_GE(fd, 0);
    fds_.push_back(fd);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(fd, 64), 0);
    socklen_t len = sizeof a;
    EXPECT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len), 0);
    return {fd, ntohs(a.sin_port)};
  }

  // A client connected to 127.0.0.1:port (the kernel completes the
  // handshake into the listen backlog).
  int connect_to(std::uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    EXPECT_GE(fd, 0);
    fds_.push_back(fd);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    return fd;
  }

  // Polls (up to a second each time, at most 20 times) until `count`
  // accept events came or one ended the accept; their events.
  static std::vector<io_event> await_accepts(backend& b, std::size_t count) {
    std::vector<io_event> got;
    std::array<io_event, 64> out;
    for (int turn = 0; turn < 20 && got.size() < count; ++turn) {
      auto n = b.poll(out, 1000ms);
      EXPECT_TRUE(n);
      if (!n) {
        break;
      }
      for (std::size_t i = 0; i < *n; ++i) {
        if (out[i].kind == event_kind::accept) {
          got.push_back(out[i]);
          if (!out[i].more) {
            return got;
          }
        }
      }
    }
    return got;
  }

  std::vector<int> fds_;
};

TEST_F(io_uring_backend_test, ring_descriptor_is_cloexec_and_closed_with_the_backend) {
  int fd = -1;
  {
    auto b = make();
    ASSERT_TRUE(b);
    fd = b->native_handle();
    auto flags = internal::sys([fd] { return ::fcntl(fd, F_GETFD); });
    ASSERT_TRUE(flags);
    EXPECT_NE(*flags & FD_CLOEXEC, 0);
    EXPECT_EQ(b->name(), "io_uring");
  }
  EXPECT_EQ(internal::sys([fd] { return ::fcntl(fd, F_GETFD); }).error(), errc::ebadf);
}

TEST_F(io_uring_backend_test, capacity_is_at_least_one) {
  auto b = make({}, 0);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->capacity(), 1u);
}

// A completion ring of 4 entries and 16 descriptors made ready at once: the
// kernel cannot post every multishot completion and ends those polls (a
// completion without IORING_CQE_F_MORE, kept in its overflow list). Each
// is still reported, the backend re-arms them, and the next edges arrive
// without the caller doing anything.
TEST_F(io_uring_backend_test, multishot_ended_by_the_kernel_is_re_armed) {
  auto b = make({.sq_entries = 2, .cq_entries = 4});
  ASSERT_TRUE(b);
  constexpr int count = 16;
  auto pairs = watched_pairs(*b, count);
  for (int round = 0; round < 3; ++round) {
    for (auto& p : pairs) {
      put(p[1]);
    }
    auto tokens = poll_all(*b);
    std::vector<int> seen(count, 0);
    for (auto t : tokens) {
      ASSERT_LT(t, static_cast<std::uint64_t>(count));
      ++seen[t];
    }
    for (int i = 0; i < count; ++i) {
      EXPECT_GE(seen[static_cast<std::size_t>(i)], 1) << "round " << round << ", descriptor " << i;
    }
    for (auto& p : pairs) {
      drain(p[0]);
    }
  }
  EXPECT_GT(b->stats().rearms, 0u) << "the kernel never ended a multishot poll: the ring did not overflow";
  for (auto& p : pairs) {
    ASSERT_TRUE(b->remove(p[0]));
  }
}

// The same, while the submission ring has no room for the re-arms: they
// are queued by a later poll, not dropped (a dropped one left its
// descriptor without edges for good: slot_failed, nothing reported).
TEST_F(io_uring_backend_test, a_re_arm_the_ring_has_no_room_for_is_made_by_a_later_poll) {
  auto b = make({.sq_entries = 2, .cq_entries = 4});
  ASSERT_TRUE(b);
  constexpr int count = 16;
  auto pairs = watched_pairs(*b, count);
  for (auto& p : pairs) {
    put(p[1]);
  }
  // The kernel ends some polls (the completion ring overflows); their
  // re-arms find no room and wait.
  seam::refuse_entries(*b, true);
  std::vector<int> seen(count, 0);
  std::array<io_event, 64> out;
  for (int i = 0; i < 8; ++i) {
    auto n = b->poll(out, 0ms);
    ASSERT_TRUE(n) << err_name(n.error());
    for (std::size_t k = 0; k < *n; ++k) {
      ++seen[out[k].token];
    }
  }
  seam::refuse_entries(*b, false);
  ASSERT_GT(b->stats().deferred_polls, 0u) << "no multishot poll was ended while the ring refused entries";
  for (auto t : poll_all(*b)) {
    ++seen[t];
  }
  for (int i = 0; i < count; ++i) {
    EXPECT_GE(seen[static_cast<std::size_t>(i)], 1) << "descriptor " << i;
  }
  // The next edges arrive on every descriptor.
  for (int round = 0; round < 2; ++round) {
    for (auto& p : pairs) {
      drain(p[0]);
    }
    for (auto& p : pairs) {
      put(p[1]);
    }
    std::vector<int> again(count, 0);
    for (int pass = 0; pass < 50 && std::count(again.begin(), again.end(), 0) > 0; ++pass) {
      for (auto t : poll_all(*b)) {
        ++again[t];
      }
    }
    for (int i = 0; i < count; ++i) {
      EXPECT_GE(again[static_cast<std::size_t>(i)], 1) << "round " << round << ", descriptor " << i;
    }
  }
  for (auto& p : pairs) {
    ASSERT_TRUE(b->remove(p[0]));
  }
}

// A modify that finds no room in the ring holds: the old request's cancel
// and the new poll are queued by the next poll (it answered ebusy and left
// the descriptor unwatched), and the edge of the new interest arrives. A
// poll that may wait does not sleep while a re-arm still waits for room.
TEST_F(io_uring_backend_test, a_modify_the_ring_has_no_room_for_is_completed_by_the_next_poll) {
  auto b = make();
  ASSERT_TRUE(b);
  auto [a, peer] = watched_pair(*b, 3, interest::read);
  EXPECT_TRUE(poll_all(*b).empty());
  seam::refuse_entries(*b, true);
  auto changed = b->modify(a, 4, interest::read_write);
  seam::refuse_entries(*b, false);
  ASSERT_TRUE(changed) << err_name(changed.error());
  EXPECT_GE(b->stats().deferred_polls, 1u);
  EXPECT_GE(b->stats().deferred_cancels, 1u);
  std::array<io_event, 4> out;
  auto n = b->poll(out, 5000ms);  // writable at once: the new request reports it
  ASSERT_TRUE(n) << err_name(n.error());
  ASSERT_EQ(*n, 1u);
  EXPECT_EQ(out[0].token, 4u);
  EXPECT_TRUE(out[0].ready.writable);
  ASSERT_TRUE(b->remove(a));
}

// The kernel's poll request holds the open file: a socket closed before
// its removal is not shut until the removal reaches the kernel, at the
// next poll. Contract point 6 (remove, then close) avoids the delay.
TEST_F(io_uring_backend_test, remove_after_close_releases_the_file_at_the_next_poll) {
  auto b = make();
  ASSERT_TRUE(b);
  auto [a, peer] = watched_pair(*b, 1, interest::read);
  EXPECT_TRUE(poll_all(*b).empty());
  close_fd(a);
  EXPECT_FALSE(peer_sees_close(peer, 0ms));  // still held by the poll request
  ASSERT_TRUE(b->remove(a));
  EXPECT_TRUE(poll_all(*b).empty());
  EXPECT_TRUE(peer_sees_close(peer, 5000ms));
}

// Remove, then close, with an edge in flight: nothing is reported, the
// stale completions are counted, and the peer sees the close.
TEST_F(io_uring_backend_test, remove_with_a_completion_in_flight_drops_it) {
  auto b = make();
  ASSERT_TRUE(b);
  auto [a, peer] = watched_pair(*b, 1, interest::read);
  EXPECT_TRUE(poll_all(*b).empty());
  put(peer);
  ASSERT_TRUE(b->remove(a));
  close_fd(a);
  EXPECT_TRUE(poll_all(*b).empty());
  EXPECT_GE(b->stats().stale, 1u);  // at least the cancelled request's last completion
  EXPECT_TRUE(peer_sees_close(peer, 5000ms));
}

// Requests belong to the thread that submitted them. A backend moved to a
// thread other than the one that armed its polls (while that one sleeps)
// still reports, because it re-arms them from the new thread.
TEST_F(io_uring_backend_test, polling_from_another_thread_re_arms_there) {
  auto b = make();
  ASSERT_TRUE(b);
  auto [a, peer] = watched_pair(*b, 7, interest::read);
  EXPECT_TRUE(poll_all(*b).empty());  // armed by this thread
  EXPECT_EQ(poll_from_another_thread(*b, peer, false), 1u);
  ASSERT_TRUE(b->remove(a));
}

// The same while the submission ring has no room: the new thread's first
// poll cannot queue the re-arm, and a later one does (it was dropped, and
// the slot kept the old thread's request). The counter tells the deferral:
// the edge alone could come through the old thread, whose sleep this
// kernel interrupts to run its task work.
TEST_F(io_uring_backend_test, a_re_arm_for_another_thread_the_ring_has_no_room_for_is_made_later) {
  auto b = make();
  ASSERT_TRUE(b);
  auto [a, peer] = watched_pair(*b, 7, interest::read);
  EXPECT_TRUE(poll_all(*b).empty());  // armed by this thread
  std::size_t got = poll_from_another_thread(*b, peer, true);
  EXPECT_GE(b->stats().deferred_polls, 1u);
  EXPECT_EQ(got, 1u);
  ASSERT_TRUE(b->remove(a));
}

// One submission per poll: adding and removing queue requests; only a poll
// (or a full submission ring) enters the kernel.
TEST_F(io_uring_backend_test, requests_are_batched_until_the_poll) {
  auto b = make();
  ASSERT_TRUE(b);
  std::vector<int> ends;
  ends.reserve(8);
  for (int i = 0; i < 8; ++i) {
    ends.push_back(watched_pair(*b, static_cast<std::uint64_t>(i), interest::read)[0]);
  }
  EXPECT_EQ(b->stats().submits, 0u);
  std::array<io_event, 8> out;
  ASSERT_TRUE(b->poll(out, 0ms));
  EXPECT_EQ(b->stats().submits, 1u);
  for (int a : ends) {
    ASSERT_TRUE(b->remove(a));
  }
  EXPECT_EQ(b->stats().submits, 1u);
}

// -- receives into provided buffers ---------------------------------------------------

TEST_F(io_uring_backend_test, recv_waits_for_bytes_then_completes_with_them) {
  auto b = make();
  ASSERT_TRUE(b);
  ASSERT_TRUE(b->supports_recv());
  auto [a, peer] = watched_pair(*b, 7, interest::write);
  ASSERT_TRUE(b->submit_recv(a));
  // Nothing to read yet: the receive stays in the kernel.
  for (std::uint64_t t : poll_all(*b)) {
    EXPECT_EQ(t, 7u);  // the initial writable edge only
  }
  put(peer, "hello");
  auto r = await_recv(*b, 7);
  ASSERT_TRUE(r.seen);
  EXPECT_EQ(r.result, 5);
  EXPECT_EQ(r.bytes, "hello");
  EXPECT_EQ(b->stats().recvs, 1u);
  ASSERT_TRUE(b->remove(a));
}

TEST_F(io_uring_backend_test, recv_of_bytes_already_there_completes_at_the_next_poll) {
  auto b = make();
  ASSERT_TRUE(b);
  auto [a, peer] = watched_pair(*b, 3, interest::write);
  put(peer, "queued before");
  ASSERT_TRUE(b->submit_recv(a));
  auto r = await_recv(*b, 3);
  ASSERT_TRUE(r.seen);
  EXPECT_EQ(r.bytes, "queued before");
  ASSERT_TRUE(b->remove(a));
}

TEST_F(io_uring_backend_test, recv_reports_the_end_of_the_stream_as_zero) {
  auto b = make();
  ASSERT_TRUE(b);
  auto [a, peer] = watched_pair(*b, 4, interest::write);
  ASSERT_TRUE(b->submit_recv(a));
  ASSERT_TRUE(internal::sys([p = peer] { return ::shutdown(p, SHUT_WR); }));
  auto r = await_recv(*b, 4);
  ASSERT_TRUE(r.seen);
  EXPECT_EQ(r.result, 0);
  ASSERT_TRUE(b->remove(a));
}

TEST_F(io_uring_backend_test, one_recv_at_a_time_and_only_on_watched_descriptors) {
  auto b = make();
  ASSERT_TRUE(b);
  auto [a, peer] = socket_pair();
  EXPECT_EQ(b->submit_recv(a).error(), errc::enoent);
  EXPECT_EQ(b->cancel_recv(a).error(), errc::enoent);
  ASSERT_TRUE(b->add(a, 1, interest::write));
  EXPECT_EQ(b->cancel_recv(a).error(), errc::enoent);  // none in flight
  ASSERT_TRUE(b->submit_recv(a));
  EXPECT_EQ(b->submit_recv(a).error(), errc::ealready);
  ASSERT_TRUE(b->remove(a));
}

TEST_F(io_uring_backend_test, cancelled_recv_completes_once_with_ecanceled_and_can_be_queued_again) {
  auto b = make();
  ASSERT_TRUE(b);
  auto [a, peer] = watched_pair(*b, 5, interest::write);
  ASSERT_TRUE(b->submit_recv(a));
  (void)poll_all(*b);  // in the kernel now, waiting
  ASSERT_TRUE(b->cancel_recv(a));
  auto r = await_recv(*b, 5);
  ASSERT_TRUE(r.seen);
  EXPECT_EQ(r.result, -ECANCELED);
  ASSERT_TRUE(b->submit_recv(a));
  put(peer, "after");
  r = await_recv(*b, 5);
  ASSERT_TRUE(r.seen);
  EXPECT_EQ(r.bytes, "after");
  ASSERT_TRUE(b->remove(a));
}

// modify changes the readiness request only: the receive in flight stays
// and its bytes are not taken for stale.
TEST_F(io_uring_backend_test, modify_keeps_the_recv_in_flight) {
  auto b = make();
  ASSERT_TRUE(b);
  auto [a, peer] = watched_pair(*b, 6, interest::write);
  ASSERT_TRUE(b->submit_recv(a));
  (void)poll_all(*b);
  ASSERT_TRUE(b->modify(a, 6, interest::read_write));
  put(peer, "kept");
  auto r = await_recv(*b, 6);
  ASSERT_TRUE(r.seen);
  EXPECT_EQ(r.bytes, "kept");
  ASSERT_TRUE(b->remove(a));
}

// A receive in flight holds the file as a poll does: remove cancels it, so
// the peer sees the close, and nothing is reported for it afterwards.
TEST_F(io_uring_backend_test, remove_cancels_the_recv_and_releases_the_file) {
  auto b = make();
  ASSERT_TRUE(b);
  auto [a, peer] = watched_pair(*b, 8, interest::write);
  ASSERT_TRUE(b->submit_recv(a));
  (void)poll_all(*b);
  ASSERT_TRUE(b->remove(a));
  close_fd(a);
  EXPECT_TRUE(poll_all(*b).empty());
  EXPECT_TRUE(peer_sees_close(peer, 5000ms));
}

// A receive queued and removed before any poll, its descriptor closed and
// the number taken by a new socket: the receive was made a no-op in the
// submission ring at the removal, so the new socket keeps its bytes.
// (Submitted at the next poll, the receive would name the new socket and
// take them: a connection whose first bytes vanished.)
TEST_F(io_uring_backend_test, a_receive_never_reads_the_socket_that_reuses_its_number) {
  auto b = make();
  ASSERT_TRUE(b);
  auto [a, peer] = watched_pair(*b, 4, interest::write);
  ASSERT_TRUE(b->submit_recv(a));  // still in the submission ring
  ASSERT_TRUE(b->remove(a));
  close_fd(a);
  auto [mine, theirs] = socket_pair();
  if (theirs == a) {
    std::swap(mine, theirs);
  }
  if (mine != a) {
    ASSERT_EQ(::dup3(mine, a, O_CLOEXEC), a);  // the new socket under the old number
    fds_.push_back(a);
    close_fd(mine);
  }
  put(theirs, "mine");
  (void)poll_all(*b);
  EXPECT_EQ(b->stats().voided, 1u);  // never reached the kernel
  int unread = -1;
  ASSERT_EQ(::ioctl(a, FIONREAD, &unread), 0);
  EXPECT_EQ(unread, 4) << "the old receive took the new socket's bytes";
}

// Two buffers, three sockets with bytes: the kernel ends the third receive
// with ENOBUFS. The buffers go back to the kernel at the next poll, after
// which the third receive, queued again, gets its bytes.
TEST_F(io_uring_backend_test, recv_without_a_free_buffer_ends_with_enobufs_until_buffers_come_back) {
  auto b = make({.recv_buffers = 2, .recv_buffer_size = 64});
  ASSERT_TRUE(b);
  ASSERT_TRUE(b->supports_recv());
  std::vector<std::array<int, 2>> pairs;
  for (std::uint64_t i = 0; i < 3; ++i) {
    pairs.push_back(watched_pair(*b, i, interest::write));
    put(pairs.back()[1], "bytes " + std::to_string(i));
    ASSERT_TRUE(b->submit_recv(pairs.back()[0]));
  }
  std::array<io_event, 16> out;
  std::vector<std::int32_t> results(3, 1);
  std::vector<std::string> got(3);
  int completed = 0;
  for (int turn = 0; turn < 20 && completed < 3; ++turn) {
    auto n = b->poll(out, 1000ms);
    ASSERT_TRUE(n);
    for (std::size_t i = 0; i < *n; ++i) {
      if (out[i].kind == event_kind::recv) {
        results[out[i].token] = out[i].result;
        got[out[i].token] = bytes_of(out[i]);
        ++completed;
      }
    }
  }
  ASSERT_EQ(completed, 3);
  std::size_t starved = 3;
  for (std::size_t i = 0; i < 3; ++i) {
    if (results[i] == -ENOBUFS) {
      starved = i;
    } else {
      EXPECT_EQ(got[i], "bytes " + std::to_string(i));
    }
  }
  ASSERT_LT(starved, 3u) << "every receive found a buffer";
  EXPECT_EQ(b->stats().enobufs, 1u);
  ASSERT_TRUE(b->submit_recv(pairs[starved][0]));
  auto r = await_recv(*b, starved);
  ASSERT_TRUE(r.seen);
  EXPECT_EQ(r.bytes, "bytes " + std::to_string(starved));
  for (auto& p : pairs) {
    ASSERT_TRUE(b->remove(p[0]));
  }
}

// Two buffers serve any number of receives, one after another: each goes
// back to the kernel at the next poll. A receive takes at most a buffer's
// size; the rest waits for the next one.
TEST_F(io_uring_backend_test, buffers_are_reused_and_bound_each_receive) {
  auto b = make({.recv_buffers = 2, .recv_buffer_size = 8});
  ASSERT_TRUE(b);
  auto [a, peer] = watched_pair(*b, 9, interest::write);
  std::string sent;
  std::string received;
  for (int i = 0; i < 200; ++i) {
    std::string chunk = "frame-" + std::to_string(i) + ";";
    put(peer, chunk);
    sent += chunk;
    while (received.size() < sent.size()) {
      ASSERT_TRUE(b->submit_recv(a));
      auto r = await_recv(*b, 9);
      ASSERT_TRUE(r.seen);
      ASSERT_GT(r.result, 0);
      ASSERT_LE(r.result, 8);
      received += r.bytes;
    }
  }
  EXPECT_EQ(received, sent);
  EXPECT_EQ(b->stats().enobufs, 0u);
  ASSERT_TRUE(b->remove(a));
}

// cancel_recv_now answers at once: the bytes that came first, or ECANCELED;
// completions of other descriptors posted meanwhile still come by poll.
TEST_F(io_uring_backend_test, cancel_recv_now_returns_the_bytes_that_came_first) {
  auto b = make();
  ASSERT_TRUE(b);
  auto [a, peer] = watched_pair(*b, 1, interest::write);
  auto [c, other] = watched_pair(*b, 2, interest::write);
  ASSERT_TRUE(b->submit_recv(a));
  ASSERT_TRUE(b->submit_recv(c));
  (void)poll_all(*b);  // both wait in the kernel
  put(peer, "first");
  put(other, "second");
  auto now = b->cancel_recv_now(a);
  ASSERT_TRUE(now) << err_name(now.error());
  EXPECT_EQ(now->kind, event_kind::recv);
  EXPECT_EQ(now->token, 1u);
  ASSERT_EQ(now->result, 5);
  EXPECT_EQ(bytes_of(*now), "first");
  EXPECT_EQ(b->cancel_recv_now(a).error(), errc::enoent);  // answered: none in flight
  // c's completion was set aside: a poll that may wait 20 s returns it at
  // once (it used to wait the whole timeout, with the ring empty).
  auto before = std::chrono::steady_clock::now();
  std::array<io_event, 8> out;
  auto n = b->poll(out, 20000ms);
  ASSERT_TRUE(n);
  EXPECT_LT(std::chrono::steady_clock::now() - before, 10000ms) << "the poll waited with completions at hand";
  ASSERT_GE(*n, 1u);
  const io_event* second = find_event(out, *n, 2, event_kind::recv);
  EXPECT_TRUE(second != nullptr && second->result == 6 && bytes_of(*second) == "second");
  // Nothing came for a: ECANCELED, and no later poll reports it.
  ASSERT_TRUE(b->submit_recv(a));
  (void)poll_all(*b);
  now = b->cancel_recv_now(a);
  ASSERT_TRUE(now);
  EXPECT_EQ(now->result, -ECANCELED);
  put(peer, "later");
  for (std::uint64_t t : poll_all(*b)) {
    EXPECT_NE(t, 1u) << "a cancelled receive was reported";
  }
  ASSERT_TRUE(b->remove(a));
  ASSERT_TRUE(b->remove(c));
}

// Submitted but not yet sent to the kernel: cancel_recv_now submits it
// first, and bytes already there are what it returns.
TEST_F(io_uring_backend_test, cancel_recv_now_of_a_receive_not_yet_submitted) {
  auto b = make();
  ASSERT_TRUE(b);
  auto [a, peer] = watched_pair(*b, 1, interest::write);
  put(peer, "there");
  ASSERT_TRUE(b->submit_recv(a));
  auto now = b->cancel_recv_now(a);
  ASSERT_TRUE(now);
  ASSERT_EQ(now->result, 5);
  EXPECT_EQ(bytes_of(*now), "there");
  ASSERT_TRUE(b->remove(a));
}

// -- multishot receives ----------------------------------------------------------------------

// What `fd` has to read now (at most 64 KiB).
std::string read_now(int fd) {
  std::string got(65536, '\0');
  auto r = internal::sys([&] { return ::recv(fd, got.data(), got.size(), 0); });
  got.resize(r ? static_cast<std::size_t>(*r) : 0);
  return got;
}

// The receive events for `token` among `events`: their bytes (valid only
// until the next poll: taken at once by the callers below) and flags.
struct recv_seen {
  std::string bytes;
  std::vector<std::int32_t> results;
  std::vector<bool> more;
};

// One request, many completions: each batch of bytes in a buffer of its own
// (at most a buffer's size), in order, `more` set, with no new submission;
// the end of the stream ends it.
TEST_F(io_uring_backend_test, multishot_recv_reports_each_batch_in_order_until_the_end_of_the_stream) {
  auto b = make({.recv_buffers = 16, .recv_buffer_size = 8, .stream_buffers = 16});
  ASSERT_TRUE(b);
  ASSERT_TRUE(b->supports_recv_multishot());
  auto [a, peer] = watched_pair(*b, 6, interest::write);
  ASSERT_TRUE(b->submit_recv_multishot(a));
  EXPECT_EQ(b->submit_recv(a).error(), errc::ealready);
  EXPECT_EQ(b->submit_recv_multishot(a).error(), errc::ealready);
  std::string sent;
  recv_seen seen;
  std::array<io_event, 64> out;
  for (int round = 0; round < 3; ++round) {
    std::string chunk = "round " + std::to_string(round) + " of the stream;";  // more than 8 bytes
    put(peer, chunk);
    sent += chunk;
    for (int turn = 0; turn < 40 && seen.bytes.size() < sent.size(); ++turn) {
      auto n = b->poll(out, 1000ms);
      ASSERT_TRUE(n);
      for (std::size_t i = 0; i < *n; ++i) {
        if (out[i].kind == event_kind::recv) {
          ASSERT_EQ(out[i].token, 6u);
          ASSERT_GT(out[i].result, 0);
          EXPECT_LE(out[i].result, 8);
          EXPECT_TRUE(out[i].more) << "a completion ended the multishot receive";
          seen.bytes += bytes_of(out[i]);
        }
      }
    }
    ASSERT_EQ(seen.bytes, sent);
  }
  EXPECT_EQ(b->stats().recvs, 1u);
  EXPECT_EQ(b->stats().recv_multishots, 1u);
  EXPECT_GE(b->stats().recv_more, sent.size() / 8);
  ASSERT_TRUE(internal::sys([p = peer] { return ::shutdown(p, SHUT_WR); }));
  auto r = await_event(*b, 6, event_kind::recv);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->result, 0);
  EXPECT_FALSE(r->more);
  ASSERT_TRUE(b->submit_recv(a)) << "the ended receive still counted as in flight";
  ASSERT_TRUE(b->remove(a));
}

// With every stream buffer taken the kernel ends the multishot receive
// (ENOBUFS, `more` false) having lost nothing: the rest is read by the next
// receive once the buffers are back. The buffers of single-shot receives
// are not the stream's: another socket's receive still finds one.
TEST_F(io_uring_backend_test, multishot_recv_out_of_buffers_ends_with_enobufs_and_loses_nothing) {
  auto b = make({.recv_buffers = 2, .recv_buffer_size = 8, .stream_buffers = 2});
  ASSERT_TRUE(b);
  auto [a, peer] = watched_pair(*b, 2, interest::write);
  auto [c, other] = watched_pair(*b, 3, interest::write);
  ASSERT_TRUE(b->submit_recv(c));
  std::string sent;
  for (int i = 0; i < 8; ++i) {
    sent += "bytes" + std::to_string(i) + ";";
  }
  put(peer, sent);
  ASSERT_TRUE(b->submit_recv_multishot(a));
  std::string got;
  bool ended = false;
  std::array<io_event, 64> out;
  for (int turn = 0; turn < 40 && !ended; ++turn) {
    auto n = b->poll(out, 1000ms);
    ASSERT_TRUE(n);
    for (std::size_t i = 0; i < *n; ++i) {
      if (out[i].kind == event_kind::recv) {
        got += bytes_of(out[i]);
        if (!out[i].more) {
          ended = true;
          EXPECT_EQ(out[i].result, -ENOBUFS);
        }
      }
    }
  }
  ASSERT_TRUE(ended);
  EXPECT_EQ(got.size(), 16u) << "two buffers of 8 bytes, then none";
  EXPECT_EQ(b->stats().enobufs, 1u);
  put(other, "request");
  auto single = await_recv(*b, 3);
  ASSERT_TRUE(single.seen);
  EXPECT_EQ(single.bytes, "request") << "the stream took the single-shot receives' buffers";
  while (got.size() < sent.size()) {
    ASSERT_TRUE(b->submit_recv(a));
    auto r = await_recv(*b, 2);
    ASSERT_TRUE(r.seen);
    ASSERT_GT(r.result, 0);
    got += r.bytes;
  }
  EXPECT_EQ(got, sent);
  ASSERT_TRUE(b->remove(a));
  ASSERT_TRUE(b->remove(c));
}

// A completion ring too small for what one read of the socket brings: the
// kernel ends the multishot receive (its last completion, kept in the
// overflow list, has bytes and no `more`) rather than lose one. Every byte
// comes once and in order, and the next receive reads on from there.
TEST_F(io_uring_backend_test, multishot_recv_ended_by_a_full_completion_ring_loses_nothing) {
  auto b = make({.sq_entries = 2, .cq_entries = 4, .recv_buffers = 2, .recv_buffer_size = 8, .stream_buffers = 64});
  ASSERT_TRUE(b);
  auto [a, peer] = watched_pair(*b, 4, interest::write);
  ASSERT_TRUE(b->submit_recv_multishot(a));
  (void)poll_all(*b);  // it waits in the kernel
  std::string sent;
  for (int i = 0; i < 24; ++i) {
    sent += "part-" + std::to_string(i % 10) + ";";  // 7 bytes: pieces cut across the 8-byte buffers
  }
  put(peer, sent);  // one write: the receive's retry fills buffer after buffer at once
  std::string got;
  int ended_with_bytes = 0;
  std::array<io_event, 64> out;
  for (int turn = 0; turn < 200 && got.size() < sent.size(); ++turn) {
    auto n = b->poll(out, 1000ms);
    ASSERT_TRUE(n);
    for (std::size_t i = 0; i < *n; ++i) {
      if (out[i].kind != event_kind::recv) {
        continue;
      }
      ASSERT_EQ(out[i].token, 4u);
      ASSERT_GT(out[i].result, 0) << "an error or end instead of bytes";
      got += bytes_of(out[i]);
      if (!out[i].more) {
        ++ended_with_bytes;
        ASSERT_TRUE(b->submit_recv_multishot(a)) << "the ended receive still counted as in flight";
      }
    }
  }
  EXPECT_EQ(got, sent);
  ASSERT_TRUE(b->remove(a));
  if (ended_with_bytes == 0) {
    GTEST_SKIP() << "this kernel kept the receive going past a full completion ring (overflow): no end to test";
  }
}

// No stream buffers: no multishot receives; single-shot ones as before.
TEST_F(io_uring_backend_test, no_stream_buffers_means_no_multishot_receives) {
  auto b = make({.stream_buffers = 0});
  ASSERT_TRUE(b);
  EXPECT_TRUE(b->supports_recv());
  EXPECT_FALSE(b->supports_recv_multishot());
  auto [a, peer] = watched_pair(*b, 4, interest::write);
  EXPECT_EQ(b->submit_recv_multishot(a).error(), errc::unsupported);
  ASSERT_TRUE(b->remove(a));
}

// A kernel that refuses multishot receives (EINVAL at the first completion;
// the backend probes for them only through synchronous cancellation, of the
// same release): the receive ends as interrupted, having taken nothing;
// the backend makes no more of them and says so; a single-shot receive then
// takes the bytes that were waiting.
TEST_F(io_uring_backend_test, multishot_recv_refused_by_the_kernel_turns_them_off_and_loses_nothing) {
  auto b = make();
  ASSERT_TRUE(b);
  seam::refuse_multishot(*b, true);
  auto [a, peer] = watched_pair(*b, 5, interest::write);
  put(peer, "waiting");
  ASSERT_TRUE(b->submit_recv_multishot(a));
  auto r = await_event(*b, 5, event_kind::recv);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->result, -EINTR);
  EXPECT_FALSE(r->more);
  EXPECT_EQ(r->data, nullptr);
  EXPECT_EQ(b->stats().multishot_refused, 1u);
  EXPECT_FALSE(b->supports_recv_multishot());
  EXPECT_EQ(b->submit_recv_multishot(a).error(), errc::unsupported);
  ASSERT_TRUE(b->submit_recv(a));
  auto single = await_recv(*b, 5);
  ASSERT_TRUE(single.seen);
  EXPECT_EQ(single.bytes, "waiting");
  ASSERT_TRUE(b->remove(a));
}

// A multishot receive that cancel_recv_now cannot end (the kernel does not
// answer the cancellation) stays in flight and is reported as an error;
// remove still ends it, and nothing more comes for it.
TEST_F(io_uring_backend_test, cancel_recv_now_that_cannot_end_a_multishot_recv_fails_and_remove_ends_it) {
  auto b = make();
  ASSERT_TRUE(b);
  auto [a, peer] = watched_pair(*b, 7, interest::write);
  ASSERT_NO_FATAL_FAILURE(start_stream(*b, a, peer, 7));
  seam::fail_sync_cancels(*b, true);
  auto now = b->cancel_recv_now(a);
  ASSERT_FALSE(now);
  EXPECT_EQ(now.error(), errc::eio);
  EXPECT_EQ(b->submit_recv(a).error(), errc::ealready) << "the receive that could not be ended no longer counts";
  seam::fail_sync_cancels(*b, false);
  expect_removed_and_quiet(*b, a, peer, 7);
}

// cancel_recv_now of a multishot receive: every completion, one per call, in
// order, `more` set on all but the last; what the kernel had not taken stays
// in the socket. Together they are the stream as sent. Also when another
// descriptor's cancel_recv_now set some of them aside first.
TEST_F(io_uring_backend_test, cancel_recv_now_of_a_multishot_recv_returns_every_completion_in_order) {
  for (bool other_first : {false, true}) {
    SCOPED_TRACE(other_first ? "another descriptor's cancel first" : "alone");
    auto b = make({.recv_buffers = 64, .recv_buffer_size = 8, .stream_buffers = 64});
    ASSERT_TRUE(b);
    auto [a, peer] = watched_pair(*b, 1, interest::write);
    auto [c, other] = watched_pair(*b, 2, interest::write);
    ASSERT_TRUE(b->submit_recv_multishot(a));
    ASSERT_TRUE(b->submit_recv(c));
    (void)poll_all(*b);  // both wait in the kernel
    std::string sent;
    for (int i = 0; i < 6; ++i) {
      sent += "part" + std::to_string(i) + "!";
    }
    put(peer, sent);
    put(other, "other");
    if (other_first) {
      auto now = b->cancel_recv_now(c);
      ASSERT_TRUE(now) << err_name(now.error());
      EXPECT_EQ(bytes_of(*now), "other");
    }
    std::string got;
    int calls = 0;
    for (;; ++calls) {
      ASSERT_LT(calls, 64) << "the multishot receive never ended";
      auto now = b->cancel_recv_now(a);
      ASSERT_TRUE(now) << err_name(now.error());
      ASSERT_EQ(now->kind, event_kind::recv);
      got += bytes_of(*now);
      if (!now->more) {
        EXPECT_TRUE(now->result == -ECANCELED || now->result > 0) << now->result;
        break;
      }
      EXPECT_GT(now->result, 0);
    }
    EXPECT_EQ(b->cancel_recv_now(a).error(), errc::enoent);  // ended: none in flight
    // The bytes were there before the cancellation: the kernel took them
    // (in 8-byte buffers) as it let the cancellation through.
    EXPECT_GE(got.size(), 8u) << "no completion brought bytes: nothing was checked for order";
    got += read_now(a);
    EXPECT_EQ(got, sent);
    std::vector<io_event> later = poll_all_events(*b);
    bool c_seen = other_first;
    for (const io_event& ev : later) {
      EXPECT_FALSE(ev.kind == event_kind::recv && ev.token == 1u) << "a completion of the ended receive came by poll";
      c_seen = c_seen || (ev.kind == event_kind::recv && ev.token == 2u && ev.result == 5);
    }
    EXPECT_TRUE(c_seen) << "the other descriptor's completion was lost";
    ASSERT_TRUE(b->remove(a));
    ASSERT_TRUE(b->remove(c));
  }
}

// remove ends a multishot receive: nothing more is reported for it, and
// bytes sent afterwards stay in the socket.
TEST_F(io_uring_backend_test, remove_ends_a_multishot_recv) {
  auto b = make();
  ASSERT_TRUE(b);
  auto [a, peer] = watched_pair(*b, 3, interest::write);
  ASSERT_NO_FATAL_FAILURE(start_stream(*b, a, peer, 3));
  expect_removed_and_quiet(*b, a, peer, 3);
}

// -- sends -----------------------------------------------------------------------------------

TEST_F(io_uring_backend_test, a_send_is_made_with_the_wait_and_reports_its_count) {
  auto b = make();
  ASSERT_TRUE(b);
  ASSERT_TRUE(b->supports_send());
  auto [a, peer] = watched_pair(*b, 4, interest::write);
  (void)poll_all(*b);  // the initial writable edge
  std::string head = "he";
  std::string tail = "llo";
  std::array<::iovec, 2> iov{::iovec{head.data(), head.size()}, ::iovec{tail.data(), tail.size()}};
  ASSERT_TRUE(b->submit_send(a, iov.data(), iov.size()));
  EXPECT_EQ(b->submit_send(a, iov.data(), iov.size()).error(), errc::ealready);
  // The array is the backend's now: the caller may reuse its own.
  iov = {};
  EXPECT_EQ(read_now(peer), "") << "sent before the poll";
  std::uint64_t submits = b->stats().submits;
  auto sent = await_send(*b, 4);
  ASSERT_TRUE(sent);
  EXPECT_EQ(*sent, 5);
  EXPECT_EQ(b->stats().submits, submits + 1) << "the send and the wait in one system call";
  EXPECT_EQ(read_now(peer), "hello");
  EXPECT_EQ(b->stats().sends, 1u);
  ASSERT_TRUE(b->remove(a));
  iov[0] = ::iovec{head.data(), head.size()};
  EXPECT_EQ(b->submit_send(a, iov.data(), 1).error(), errc::enoent);
}

// A send never waits in the kernel: to a peer that does not read, it
// completes at once with what the socket took, then with EAGAIN.
TEST_F(io_uring_backend_test, a_send_to_a_full_socket_completes_at_once_with_eagain) {
  auto b = make();
  ASSERT_TRUE(b);
  auto [a, peer] = watched_pair(*b, 5, interest::write);
  std::string block(65536, 'x');
  ::iovec iov{block.data(), block.size()};
  std::size_t total = 0;
  std::int32_t last = 0;
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(b->submit_send(a, &iov, 1));
    auto before = std::chrono::steady_clock::now();
    auto sent = await_send(*b, 5);
    ASSERT_TRUE(sent);
    EXPECT_LT(std::chrono::steady_clock::now() - before, 5000ms) << "the send waited in the kernel";
    last = *sent;
    if (last < 0) {
      break;
    }
    total += static_cast<std::size_t>(last);
  }
  EXPECT_EQ(last, -EAGAIN);
  EXPECT_GT(total, 0u);
  // Every byte the counts reported is there, in order.
  std::size_t got = 0;
  for (std::string chunk = read_now(peer); !chunk.empty(); chunk = read_now(peer)) {
    EXPECT_EQ(chunk.find_first_not_of('x'), std::string::npos);
    got += chunk.size();
  }
  EXPECT_EQ(got, total);
  ASSERT_TRUE(b->remove(a));
}

// Sends above 2 KiB go as SENDMSG: the iovec array is the backend's copy,
// the bytes the caller's; many between two submissions (more than the
// submission ring holds) all go, each in order.
TEST_F(io_uring_backend_test, large_sends_of_several_buffers_go_whole_and_in_order) {
  auto b = make(io_uring_options{.sq_entries = 4});
  ASSERT_TRUE(b);
  constexpr int pairs = 10;
  std::vector<std::array<int, 2>> fds;
  std::vector<std::array<std::string, 3>> parts;
  for (int i = 0; i < pairs; ++i) {
    fds.push_back(watched_pair(*b, 100 + static_cast<std::uint64_t>(i), interest::write));
    parts.push_back({std::string(1000, static_cast<char>('a' + i)), std::string(1500, static_cast<char>('A' + i)),
                     std::string(700, static_cast<char>('0' + i))});
  }
  (void)poll_all(*b);
  for (int i = 0; i < pairs; ++i) {
    auto& p = parts[static_cast<std::size_t>(i)];
    std::array<::iovec, 3> iov{::iovec{p[0].data(), p[0].size()}, ::iovec{p[1].data(), p[1].size()},
                               ::iovec{p[2].data(), p[2].size()}};
    ASSERT_TRUE(b->submit_send(fds[static_cast<std::size_t>(i)][0], iov.data(), iov.size()));
    iov = {};  // the caller's array may go at once
  }
  std::vector<std::int32_t> results(pairs, 0);
  std::array<io_event, 64> out;
  for (int turn = 0; turn < 20 && std::count(results.begin(), results.end(), 0) > 0; ++turn) {
    auto n = b->poll(out, 1000ms);
    ASSERT_TRUE(n);
    for (std::size_t k = 0; k < *n; ++k) {
      if (out[k].kind == event_kind::send) {
        results[out[k].token - 100] = out[k].result;
      }
    }
  }
  for (int i = 0; i < pairs; ++i) {
    auto& p = parts[static_cast<std::size_t>(i)];
    EXPECT_EQ(results[static_cast<std::size_t>(i)], 3200) << "pair " << i;
    std::string got = read_now(fds[static_cast<std::size_t>(i)][1]);
    EXPECT_TRUE(got == p[0] + p[1] + p[2]) << "pair " << i << ": " << got.size() << " bytes, not in order";
    ASSERT_TRUE(b->remove(fds[static_cast<std::size_t>(i)][0]));
  }
}

TEST_F(io_uring_backend_test, remove_makes_a_send_that_has_not_left_a_no_op) {
  auto b = make();
  ASSERT_TRUE(b);
  auto [a, peer] = watched_pair(*b, 6, interest::write);
  (void)poll_all(*b);
  std::string small = "never";
  std::string large(4096, 'n');
  ::iovec iov{small.data(), small.size()};
  ASSERT_TRUE(b->submit_send(a, &iov, 1));
  auto [c, other] = watched_pair(*b, 7, interest::write);
  ::iovec big{large.data(), large.size()};
  ASSERT_TRUE(b->submit_send(c, &big, 1));
  ASSERT_TRUE(b->remove(a));
  ASSERT_TRUE(b->remove(c));
  small = "XXXXX";  // the caller's buffers may go once removed
  large.assign(4096, 'X');
  for (std::uint64_t t : poll_all(*b)) {
    EXPECT_NE(t, 6u);
  }
  EXPECT_EQ(b->stats().voided, 2u);
  EXPECT_EQ(read_now(peer), "");
  EXPECT_EQ(read_now(other), "");
}

TEST_F(io_uring_backend_test, cancel_send_now_of_a_send_not_yet_submitted_sends_nothing) {
  auto b = make();
  ASSERT_TRUE(b);
  auto [a, peer] = watched_pair(*b, 8, interest::write);
  (void)poll_all(*b);
  std::string bytes = "not yet";
  ::iovec iov{bytes.data(), bytes.size()};
  ASSERT_TRUE(b->submit_send(a, &iov, 1));
  auto now = b->cancel_send_now(a);
  ASSERT_TRUE(now) << err_name(now.error());
  EXPECT_EQ(now->kind, event_kind::send);
  EXPECT_EQ(now->token, 8u);
  EXPECT_EQ(now->result, -ECANCELED);
  EXPECT_EQ(b->cancel_send_now(a).error(), errc::enoent);
  for (const io_event& ev : poll_all_events(*b)) {
    EXPECT_NE(ev.kind, event_kind::send) << "a cancelled send was reported";
  }
  EXPECT_EQ(read_now(peer), "");
  // Queued again, it goes.
  ASSERT_TRUE(b->submit_send(a, &iov, 1));
  auto sent = await_send(*b, 8);
  ASSERT_TRUE(sent);
  EXPECT_EQ(*sent, 7);
  EXPECT_EQ(read_now(peer), "not yet");
  ASSERT_TRUE(b->remove(a));
}

// A send the kernel took early (the submission ring was full) is done: its
// count is the answer, and other completions wait for the next poll.
TEST_F(io_uring_backend_test, cancel_send_now_of_a_send_made_returns_its_count) {
  auto b = make(io_uring_options{.sq_entries = 2});
  ASSERT_TRUE(b);
  auto [a, peer] = watched_pair(*b, 1, interest::write);
  auto [c, other] = watched_pair(*b, 2, interest::write);
  (void)poll_all(*b);
  std::string bytes = "made";
  ::iovec iov{bytes.data(), bytes.size()};
  ASSERT_TRUE(b->submit_send(a, &iov, 1));
  ASSERT_TRUE(b->submit_send(c, &iov, 1));
  ASSERT_TRUE(b->submit_recv(c));  // no room: the two sends leave now
  EXPECT_EQ(read_now(peer), "made");
  auto now = b->cancel_send_now(a);
  ASSERT_TRUE(now) << err_name(now.error());
  EXPECT_EQ(now->result, 4);
  // c's completion was set aside for the poll; a's is not reported again.
  auto c_sent = await_send(*b, 2);
  ASSERT_TRUE(c_sent);
  EXPECT_EQ(*c_sent, 4);
  for (const io_event& ev : poll_all_events(*b)) {
    EXPECT_FALSE(ev.kind == event_kind::send && ev.token == 1u) << "an answered send was reported again";
  }
  EXPECT_EQ(read_now(other), "made");
  ASSERT_TRUE(b->remove(a));
  ASSERT_TRUE(b->remove(c));
}

// -- receives parked behind a send ---------------------------------------------------------

// After a receive that left its socket empty, the next receive and a send
// queued in the same turn (an answer): the receive gets its entry when the
// send's completion is reaped, and is made by the poll after, so that the
// peer's reply, sent meanwhile, is there when the kernel reads the entry.
TEST_F(io_uring_backend_test, a_receive_queued_with_a_send_is_made_after_the_send) {
  auto b = make();
  ASSERT_TRUE(b);
  auto [a, peer] = watched_pair(*b, 9, interest::write);
  (void)poll_all(*b);
  ASSERT_TRUE(b->submit_recv(a));
  put(peer, "ping");
  auto r = await_recv(*b, 9);
  ASSERT_TRUE(r.seen);
  ASSERT_EQ(r.bytes, "ping");
  ASSERT_TRUE(b->submit_recv(a));
  EXPECT_EQ(b->submit_recv(a).error(), errc::ealready);  // in flight, if parked
  std::string answer = "pong";
  ::iovec iov{answer.data(), answer.size()};
  ASSERT_TRUE(b->submit_send(a, &iov, 1));
  auto sent = await_send(*b, 9);
  ASSERT_TRUE(sent);
  EXPECT_EQ(*sent, 4);
  EXPECT_EQ(b->stats().recvs_after_send, 1u);
  EXPECT_EQ(read_now(peer), "pong");
  put(peer, "ping again");
  r = await_recv(*b, 9);
  ASSERT_TRUE(r.seen);
  EXPECT_EQ(r.bytes, "ping again");
  EXPECT_EQ(b->stats().recvs, 2u);
  // With no send in the turn, the parked receive is made by the next poll,
  // and waits for bytes there.
  ASSERT_TRUE(b->submit_recv(a));
  (void)poll_all(*b);
  put(peer, "third");
  r = await_recv(*b, 9);
  ASSERT_TRUE(r.seen);
  EXPECT_EQ(r.bytes, "third");
  EXPECT_EQ(b->stats().recvs_after_send, 1u);
  ASSERT_TRUE(b->remove(a));
}

// Kept parked at most until its socket's first send has completed and one
// poll more, however much is sent: a socket that sends every turn still
// reads (here its bytes are there already, so the receive completes in the
// poll that makes it).
TEST_F(io_uring_backend_test, a_parked_receive_is_made_within_two_polls_of_the_send_it_waits_for) {
  auto b = make();
  ASSERT_TRUE(b);
  auto [a, peer] = watched_pair(*b, 3, interest::write);
  (void)poll_all(*b);
  ASSERT_TRUE(b->submit_recv(a));
  put(peer, "ping");
  auto r = await_recv(*b, 3);
  ASSERT_TRUE(r.seen);
  ASSERT_TRUE(b->submit_recv(a));  // parked
  put(peer, "next");
  std::string bytes = "x";
  ::iovec iov{bytes.data(), bytes.size()};
  auto got = poll_now_until_recv(*b, 3, 8, [&b, fd = a, &iov] {
    auto sent = b->submit_send(fd, &iov, 1);  // a send in every poll
    EXPECT_TRUE(sent || sent.error() == errc::ealready);
  });
  ASSERT_NE(got.poll, 0) << "no receive in 8 polls";
  EXPECT_EQ(got.r.result, 4);
  EXPECT_EQ(got.r.bytes, "next");
  EXPECT_LE(got.poll, 3) << "the send's poll, one poll held, the poll that makes it";
  EXPECT_EQ(b->stats().recvs_after_send, 1u);
  ASSERT_TRUE(b->remove(a));
}

// A parked receive has no entry: cancelled (now or not), removed, or left
// behind a send that is cancelled, it reads nothing, and bytes stay in the
// socket for whatever reads next.
TEST_F(io_uring_backend_test, a_parked_receive_ends_without_reading) {
  auto b = make();
  ASSERT_TRUE(b);
  auto sockets = socket_pair();
  int a = sockets[0];
  int peer = sockets[1];
  ASSERT_TRUE(b->add(a, 2, interest::write));
  (void)poll_all(*b);
  auto short_recv = [&](const std::string& bytes) {
    ASSERT_TRUE(b->submit_recv(a));
    put(peer, bytes);
    auto r = await_recv(*b, 2);
    ASSERT_TRUE(r.seen);
    EXPECT_EQ(r.bytes, bytes);
  };
  auto unread = [&] {
    int n = -1;
    EXPECT_EQ(::ioctl(a, FIONREAD, &n), 0);
    return n;
  };
  short_recv("one");
  ASSERT_TRUE(b->submit_recv(a));  // parked
  put(peer, "stay");
  auto now = b->cancel_recv_now(a);
  ASSERT_TRUE(now) << err_name(now.error());
  EXPECT_EQ(now->kind, event_kind::recv);
  EXPECT_EQ(now->token, 2u);
  EXPECT_EQ(now->result, -ECANCELED);
  EXPECT_EQ(b->cancel_recv_now(a).error(), errc::enoent);
  for (const io_event& ev : poll_all_events(*b)) {
    EXPECT_NE(ev.kind, event_kind::recv) << "a cancelled receive was reported";
  }
  EXPECT_EQ(unread(), 4);
  drain(a);

  short_recv("two");
  ASSERT_TRUE(b->submit_recv(a));  // parked
  put(peer, "kept");
  ASSERT_TRUE(b->cancel_recv(a));
  auto r = await_recv(*b, 2);
  ASSERT_TRUE(r.seen);
  EXPECT_EQ(r.result, -ECANCELED);
  EXPECT_EQ(unread(), 4);
  drain(a);

  // Behind a send cancelled before it left: the receive is made by the
  // next poll.
  short_recv("three");
  ASSERT_TRUE(b->submit_recv(a));  // parked
  std::string bytes = "never";
  ::iovec iov{bytes.data(), bytes.size()};
  ASSERT_TRUE(b->submit_send(a, &iov, 1));
  auto cancelled = b->cancel_send_now(a);
  ASSERT_TRUE(cancelled);
  EXPECT_EQ(cancelled->result, -ECANCELED);
  put(peer, "four");
  r = await_recv(*b, 2);
  ASSERT_TRUE(r.seen);
  EXPECT_EQ(r.bytes, "four");
  EXPECT_EQ(read_now(peer), "");

  std::uint64_t voided = b->stats().voided;
  ASSERT_TRUE(b->submit_recv(a));  // parked
  ASSERT_TRUE(b->remove(a));
  put(peer, "left");
  EXPECT_TRUE(poll_all(*b).empty());
  EXPECT_EQ(b->stats().voided, voided);  // nothing to void: it had no entry
  EXPECT_EQ(unread(), 4);
}

// A receive held for a poll that was expected not to wait (another
// socket's send was queued) gets its entry before that poll waits, when
// the send was cancelled before it left: the poll returns the bytes that
// come, not its timeout (review: it waited out the timeout, forever with
// none).
TEST_F(io_uring_backend_test, a_held_receive_gets_its_entry_before_a_wait_when_the_expected_send_was_cancelled) {
  auto b = make();
  ASSERT_TRUE(b);
  auto [a, peer] = watched_pair(*b, 9, interest::none);
  auto [y, ypeer] = watched_pair(*b, 10, interest::none);
  (void)poll_all(*b);
  ASSERT_TRUE(park_a_receive(*b, a, peer, 9));
  std::string answer = "pong";
  ::iovec iov{answer.data(), answer.size()};
  ASSERT_TRUE(b->submit_send(a, &iov, 1));
  ASSERT_TRUE(await_send(*b, 9));  // answered
  // Another socket's send, queued and cancelled before it left: voided.
  std::string other = "bye";
  ::iovec iov2{other.data(), other.size()};
  ASSERT_TRUE(b->submit_send(y, &iov2, 1));
  auto c = b->cancel_send_now(y);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->result, -ECANCELED);
  put(peer, "next");
  EXPECT_TRUE(one_poll_brings_recv(*b, 9));
  ASSERT_TRUE(b->remove(a));
  ASSERT_TRUE(b->remove(y));
}

// A receive parked behind its socket's send that is cancelled before it
// left gets its entry at the next poll, which then returns the bytes.
TEST_F(io_uring_backend_test, a_receive_parked_behind_a_cancelled_send_is_made_at_the_next_poll) {
  auto b = make();
  ASSERT_TRUE(b);
  auto [a, peer] = watched_pair(*b, 9, interest::none);
  (void)poll_all(*b);
  ASSERT_TRUE(park_a_receive(*b, a, peer, 9));
  std::string bytes = "never";
  ::iovec iov{bytes.data(), bytes.size()};
  ASSERT_TRUE(b->submit_send(a, &iov, 1));
  ASSERT_TRUE(b->cancel_send_now(a));
  put(peer, "four");
  EXPECT_TRUE(one_poll_brings_recv(*b, 9));
  ASSERT_TRUE(b->remove(a));
}

// A parked receive whose entry the ring refuses when a poll makes it (full,
// and the kernel taking no more) ends as interrupted: EINTR, nothing taken,
// reported by that poll, and its owner queues another. Also when memory is
// short then: the room for that completion was kept when it parked. (Review:
// the fallback allocated, and out of memory the receive was dropped without
// a completion; its owner, waiting for one, never read the socket again.)
TEST_F(io_uring_backend_test, a_parked_receive_the_ring_refuses_ends_as_interrupted_even_out_of_memory) {
  auto b = make();
  ASSERT_TRUE(b);
  auto [a, peer] = watched_pair(*b, 9, interest::none);
  (void)poll_all(*b);
  ASSERT_TRUE(park_a_receive(*b, a, peer, 9));
  put(peer, "next");
  std::array<io_event, 16> out;
  result<std::size_t> n = std::size_t{0};
  std::size_t refused = 0;
  seam::refuse_entries(*b, true);
  {
    otpnet::test::failing_allocations no_memory;
    n = b->poll(out, 0ms);
    refused = no_memory.refused();
  }
  seam::refuse_entries(*b, false);
  ASSERT_TRUE(n) << err_name(n.error());
  EXPECT_EQ(refused, 0u) << "the poll allocated";
  const io_event* ended = find_event(out, *n, 9, event_kind::recv);
  ASSERT_TRUE(ended != nullptr) << "the receive ended without a completion";
  EXPECT_EQ(ended->result, -EINTR);
  ASSERT_TRUE(b->submit_recv(a));
  auto r = await_recv(*b, 9);
  ASSERT_TRUE(r.seen);
  EXPECT_EQ(r.bytes, "next");
  ASSERT_TRUE(b->remove(a));
}

// A parked receive has no entry, so ending it asks nothing of the kernel:
// cancel_recv (once or twice) and then remove queue no entry. (Review:
// remove after cancel_recv queued an IORING_OP_ASYNC_CANCEL of a request
// that never existed.) Registered for no direction, so that remove has no
// poll request of its own to cancel.
TEST_F(io_uring_backend_test, cancel_recv_then_remove_of_a_parked_receive_queue_nothing_for_the_kernel) {
  auto b = make();
  ASSERT_TRUE(b);
  auto [a, peer] = watched_pair(*b, 9, interest::none);
  (void)poll_all(*b);
  ASSERT_TRUE(park_a_receive(*b, a, peer, 9));
  ASSERT_EQ(seam::queued_entries(*b), 0u);
  ASSERT_TRUE(b->cancel_recv(a));
  EXPECT_EQ(seam::queued_entries(*b), 0u);
  ASSERT_TRUE(b->remove(a));
  EXPECT_EQ(seam::queued_entries(*b), 0u) << "a cancellation of a receive that had no entry";
  EXPECT_TRUE(poll_all(*b).empty());

  // Cancelled twice, then cancelled now: it ends once, with ECANCELED.
  ASSERT_TRUE(b->add(a, 10, interest::none));
  ASSERT_TRUE(b->submit_recv(a));
  put(peer, "ping");
  auto r = await_recv(*b, 10);
  ASSERT_TRUE(r.seen);
  ASSERT_TRUE(b->submit_recv(a));  // parked
  ASSERT_TRUE(b->cancel_recv(a));
  ASSERT_TRUE(b->cancel_recv(a));
  EXPECT_EQ(seam::queued_entries(*b), 0u);
  auto now = b->cancel_recv_now(a);
  ASSERT_TRUE(now) << err_name(now.error());
  EXPECT_EQ(now->result, -ECANCELED);
  for (const io_event& ev : poll_all_events(*b)) {
    EXPECT_NE(ev.kind, event_kind::recv) << "the receive ended twice";
  }
  ASSERT_TRUE(b->remove(a));
}

// A receive parked on a descriptor that is removed leaves its listing
// behind until the next poll. When the number is reused before then (closed,
// a new socket under it, added, a receive parked anew), the stale listing
// must not act for the new registration's receive: acted on twice, that
// receive was held by the stale listing and made by its own in the same
// poll, so the hold-once was lost. Here the new receive is answered (its
// send taken before any poll), so the first poll that will not wait holds
// it, and the next makes it.
TEST_F(io_uring_backend_test, a_stale_parked_listing_of_a_reused_descriptor_number_is_dropped) {
  auto b = make();
  ASSERT_TRUE(b);
  auto [a, peer] = watched_pair(*b, 9, interest::none);
  auto [o, opeer] = watched_pair(*b, 12, interest::none);
  (void)poll_all(*b);
  ASSERT_TRUE(park_a_receive(*b, a, peer, 9));  // listed
  ASSERT_TRUE(b->remove(a));
  auto [c, cpeer] = socket_pair();
  ASSERT_EQ(::dup2(c, a), a);  // the old socket closes; its number names the new one
  close_fd(c);
  ASSERT_TRUE(b->add(a, 11, interest::none));
  // The new registration's first receive finds "one" at submission and
  // leaves the socket empty, so its next receive parks.
  ASSERT_TRUE(b->submit_recv(a));
  put(cpeer, "one");
  auto first = b->cancel_recv_now(a);
  ASSERT_TRUE(first) << err_name(first.error());
  ASSERT_EQ(first->result, 3);
  ASSERT_TRUE(b->submit_recv(a));  // parked: listed under the same number
  put(cpeer, "two");
  // Its answer leaves, submitted by another socket's cancel_recv_now, and
  // is taken by cancel_send_now: answered before any poll.
  std::string answer = "pong";
  ::iovec iov{answer.data(), answer.size()};
  ASSERT_TRUE(b->submit_send(a, &iov, 1));
  ASSERT_TRUE(b->submit_recv(o));
  ASSERT_TRUE(b->cancel_recv_now(o));
  auto sent = b->cancel_send_now(a);
  ASSERT_TRUE(sent) << err_name(sent.error());
  ASSERT_EQ(sent->result, 4);
  EXPECT_EQ(read_now(cpeer), "pong");
  auto made = poll_now_until_recv(*b, 11, 4, [] {});
  EXPECT_EQ(made.poll, 2) << "held through one poll that does not wait, made by the next";
  if (made.poll != 0) {
    EXPECT_EQ(made.r.result, 3);
  }
  ASSERT_TRUE(b->remove(a));
  ASSERT_TRUE(b->remove(o));
}

// The hold: a receive parked behind its socket's send, once that send has
// completed, is kept through one poll that will not wait (a zero timeout,
// or a poll that makes sends, whose completions end its wait at once) and
// made by the next. Its bytes are there already, so a receive made by a
// poll completes in that poll: the poll that reports it is the poll that
// made it.
TEST_F(io_uring_backend_test, an_answered_receive_is_held_through_one_poll_that_will_not_wait) {
  auto b = make();
  ASSERT_TRUE(b);
  auto [a, peer] = watched_pair(*b, 9, interest::none);
  auto [o, opeer] = watched_pair(*b, 12, interest::none);
  (void)poll_all(*b);
  std::array<io_event, 16> out;
  auto kinds_of_9 = [&](std::size_t n) {
    std::string kinds;
    for (std::size_t i = 0; i < n; ++i) {
      if (out[i].token == 9u) {
        kinds += out[i].kind == event_kind::recv ? "r" : out[i].kind == event_kind::send ? "s" : "?";
      }
    }
    return kinds;
  };
  std::string answer = "pong";
  ::iovec iov{answer.data(), answer.size()};

  // A zero timeout.
  ASSERT_TRUE(park_a_receive(*b, a, peer, 9));
  put(peer, "next");
  ASSERT_TRUE(b->submit_send(a, &iov, 1));
  auto n = b->poll(out, 0ms);  // makes the send: the receive is answered
  ASSERT_TRUE(n);
  EXPECT_EQ(kinds_of_9(*n), "s");
  n = b->poll(out, 0ms);  // will not wait: held
  ASSERT_TRUE(n);
  EXPECT_EQ(kinds_of_9(*n), "") << "made by a poll that would not wait";
  n = b->poll(out, 0ms);  // held once only
  ASSERT_TRUE(n);
  EXPECT_EQ(kinds_of_9(*n), "r");
  EXPECT_EQ(read_now(peer), "pong");

  // A poll that may wait but makes another socket's send.
  ASSERT_TRUE(b->submit_recv(a));  // parked ("next" left the socket empty)
  put(peer, "again");
  ASSERT_TRUE(b->submit_send(a, &iov, 1));
  n = b->poll(out, 0ms);
  ASSERT_TRUE(n);
  EXPECT_EQ(kinds_of_9(*n), "s");
  std::string other = "other";
  ::iovec iov2{other.data(), other.size()};
  ASSERT_TRUE(b->submit_send(o, &iov2, 1));
  n = b->poll(out, 1000ms);  // the send's completion ends it at once: held
  ASSERT_TRUE(n);
  EXPECT_EQ(kinds_of_9(*n), "") << "made by a poll that makes a send";
  EXPECT_EQ(read_now(opeer), "other");
  EXPECT_TRUE(one_poll_brings_recv(*b, 9));
  EXPECT_EQ(read_now(peer), "pong");
  EXPECT_EQ(b->stats().recvs_after_send, 2u);
  ASSERT_TRUE(b->remove(a));
  ASSERT_TRUE(b->remove(o));
}

// -- multishot accept ------------------------------------------------------------------

TEST_F(io_uring_backend_test, multishot_accept_reports_every_connection_with_its_descriptor) {
  auto b = make();
  ASSERT_TRUE(b);
  ASSERT_TRUE(b->supports_accept());
  auto [ls, port] = listener();
  ASSERT_TRUE(b->add(ls, 11, interest::read));
  ASSERT_TRUE(b->submit_accept(ls));
  EXPECT_EQ(b->submit_accept(ls).error(), errc::ealready);
  EXPECT_EQ(b->submit_recv(ls).error(), errc::ealready);
  std::vector<int> clients;
  clients.reserve(3);
  for (int i = 0; i < 3; ++i) {
    clients.push_back(connect_to(port));
  }
  auto got = await_accepts(*b, 3);
  ASSERT_EQ(got.size(), 3u);
  for (const io_event& ev : got) {
    EXPECT_EQ(ev.token, 11u);
    ASSERT_GE(ev.result, 0) << err_name(from_errno(-ev.result));
    EXPECT_TRUE(ev.more);
    fds_.push_back(ev.result);
    int flags = ::fcntl(ev.result, F_GETFL);
    EXPECT_NE(flags & O_NONBLOCK, 0);
    EXPECT_NE(::fcntl(ev.result, F_GETFD) & FD_CLOEXEC, 0);
    sockaddr_in peer{};
    socklen_t len = sizeof peer;
    EXPECT_EQ(::getpeername(ev.result, reinterpret_cast<sockaddr*>(&peer), &len), 0);
  }
  // One request, still going: the next connection comes too.
  clients.push_back(connect_to(port));
  got = await_accepts(*b, 1);
  ASSERT_EQ(got.size(), 1u);
  ASSERT_GE(got[0].result, 0);
  fds_.push_back(got[0].result);
  EXPECT_EQ(b->stats().accepts, 1u);
  ASSERT_TRUE(b->remove(ls));
}

TEST_F(io_uring_backend_test, cancelled_accept_ends_with_ecanceled_and_leaves_connections_in_the_backlog) {
  auto b = make();
  ASSERT_TRUE(b);
  auto [ls, port] = listener();
  ASSERT_TRUE(b->add(ls, 12, interest::read));
  EXPECT_EQ(b->cancel_accept(ls).error(), errc::enoent);
  ASSERT_TRUE(b->submit_accept(ls));
  (void)poll_all(*b);
  ASSERT_TRUE(b->cancel_accept(ls));
  auto got = await_accepts(*b, 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].result, -ECANCELED);
  EXPECT_FALSE(got[0].more);
  (void)connect_to(port);
  for (std::uint64_t t : poll_all(*b)) {
    (void)t;
  }
  // Not taken by the kernel: a plain accept finds it.
  int fd = -1;
  for (int i = 0; i < 100 && fd < 0; ++i) {
    fd = ::accept4(ls, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      pollfd p{ls, POLLIN, 0};
      (void)::poll(&p, 1, 50);
    }
  }
  ASSERT_GE(fd, 0);
  fds_.push_back(fd);
  // And it can start again.
  ASSERT_TRUE(b->submit_accept(ls));
  (void)connect_to(port);
  got = await_accepts(*b, 1);
  ASSERT_EQ(got.size(), 1u);
  ASSERT_GE(got[0].result, 0);
  fds_.push_back(got[0].result);
  ASSERT_TRUE(b->remove(ls));
}

TEST_F(io_uring_backend_test, remove_ends_the_accept_and_reports_nothing_more) {
  auto b = make();
  ASSERT_TRUE(b);
  auto [ls, port] = listener();
  ASSERT_TRUE(b->add(ls, 13, interest::read));
  ASSERT_TRUE(b->submit_accept(ls));
  (void)poll_all(*b);
  ASSERT_TRUE(b->remove(ls));
  (void)connect_to(port);
  EXPECT_TRUE(poll_all(*b).empty());
}

TEST_F(io_uring_backend_test, no_recv_buffers_means_readiness_only) {
  auto b = make({.recv_buffers = 0});
  ASSERT_TRUE(b);
  EXPECT_FALSE(b->supports_recv());
  auto [a, peer] = watched_pair(*b, 1, interest::read);
  EXPECT_EQ(b->submit_recv(a).error(), errc::unsupported);
  ASSERT_TRUE(b->remove(a));
}

}  // namespace
}  // namespace otpnet::reactor
