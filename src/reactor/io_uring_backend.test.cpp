#include "otpnet/reactor/io_uring_backend.hpp"

#include <otpnet/reactor/backend_selector.hpp>

#include "internal/syscall.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <thread>
#include <vector>

// io_uring specifics: what the kernel does to multishot polls and to the
// files they hold. The behaviour every backend shares is in
// backend.test.cpp. Skipped where the selector's probe found no io_uring.

namespace otpnet::reactor {
namespace {

using namespace std::chrono_literals;

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

  // Polls without waiting until a poll returns nothing; tokens seen, in order.
  static std::vector<std::uint64_t> poll_all(backend& b) {
    std::vector<std::uint64_t> tokens;
    std::array<io_event, 64> out;
    for (int turn = 0; turn < 64; ++turn) {
      auto n = b.poll(out, 0ms);
      EXPECT_TRUE(n);
      if (!n || *n == 0) {
        break;
      }
      for (std::size_t i = 0; i < *n; ++i) {
        tokens.push_back(out[i].token);
      }
    }
    return tokens;
  }

  // Whether the peer of a closed socket has seen it go (a hang-up: the end
  // of file, or a reset when unread data was dropped), waiting at most `wait`.
  static bool peer_sees_close(int peer, std::chrono::milliseconds wait) {
    pollfd p{peer, POLLRDHUP, 0};
    auto r = internal::sys_once([&] { return ::poll(&p, 1, static_cast<int>(wait.count())); });
    return r && *r == 1 && (p.revents & (POLLHUP | POLLRDHUP)) != 0;
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
  std::vector<std::array<int, 2>> pairs;
  for (int i = 0; i < count; ++i) {
    pairs.push_back(socket_pair());
    ASSERT_TRUE(b->add(pairs.back()[0], static_cast<std::uint64_t>(i), interest::read));
  }
  EXPECT_TRUE(poll_all(*b).empty());
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

// The kernel's poll request holds the open file: a socket closed before
// its removal is not shut until the removal reaches the kernel, at the
// next poll. Contract point 6 (remove, then close) avoids the delay.
TEST_F(io_uring_backend_test, remove_after_close_releases_the_file_at_the_next_poll) {
  auto b = make();
  ASSERT_TRUE(b);
  auto [a, peer] = socket_pair();
  ASSERT_TRUE(b->add(a, 1, interest::read));
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
  auto [a, peer] = socket_pair();
  ASSERT_TRUE(b->add(a, 1, interest::read));
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
  auto [a, peer] = socket_pair();
  ASSERT_TRUE(b->add(a, 7, interest::read));
  EXPECT_TRUE(poll_all(*b).empty());  // armed by this thread
  std::size_t got = 0;
  std::thread other([&] {
    put(peer);
    std::array<io_event, 4> out;
    auto n = b->poll(out, 5000ms);
    if (n) {
      got = *n;
    }
  });
  other.join();  // this thread sleeps meanwhile
  EXPECT_EQ(got, 1u);
  ASSERT_TRUE(b->remove(a));
}

// One submission per poll: adding and removing queue requests; only a poll
// (or a full submission ring) enters the kernel.
TEST_F(io_uring_backend_test, requests_are_batched_until_the_poll) {
  auto b = make();
  ASSERT_TRUE(b);
  std::vector<int> ends;
  for (int i = 0; i < 8; ++i) {
    auto [a, peer] = socket_pair();
    ASSERT_TRUE(b->add(a, static_cast<std::uint64_t>(i), interest::read));
    ends.push_back(a);
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

}  // namespace
}  // namespace otpnet::reactor
