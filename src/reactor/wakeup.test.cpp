#include "otpnet/reactor/wakeup.hpp"

#include "internal/syscall.hpp"
#include "support/fds.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

namespace otpnet::reactor {
namespace {

bool readable(int fd) {
  pollfd p{fd, POLLIN, 0};
  auto r = internal::sys([&] { return ::poll(&p, 1, 0); });
  return r && *r == 1 && (p.revents & POLLIN) != 0;
}

TEST(wakeup, descriptor_is_nonblocking_and_cloexec) {
  auto w = wakeup::create();
  ASSERT_TRUE(w);
  auto fl = internal::sys([&] { return ::fcntl(w->fd(), F_GETFL); });
  auto fd = internal::sys([&] { return ::fcntl(w->fd(), F_GETFD); });
  ASSERT_TRUE(fl && fd);
  EXPECT_NE(*fl & O_NONBLOCK, 0);
  EXPECT_NE(*fd & FD_CLOEXEC, 0);
}

TEST(wakeup, wakes_are_coalesced_until_drained) {
  auto w = wakeup::create();
  ASSERT_TRUE(w);
  EXPECT_FALSE(readable(w->fd()));
  w->wake();
  w->wake();
  w->wake();
  EXPECT_TRUE(w->pending());
  ASSERT_TRUE(readable(w->fd()));
  // One write for three wakes: the counter reads 1.
  std::uint64_t count = 0;
  auto r = internal::sys([&] { return ::read(w->fd(), &count, sizeof count); });
  ASSERT_TRUE(r);
  EXPECT_EQ(count, 1u);
  EXPECT_TRUE(w->drain());
  EXPECT_FALSE(w->pending());
  EXPECT_FALSE(w->drain());
  w->wake();
  EXPECT_TRUE(readable(w->fd()));
  EXPECT_TRUE(w->drain());
  EXPECT_FALSE(readable(w->fd()));
}

TEST(wakeup, move_transfers_the_descriptor_without_leak) {
  auto before = otpnet::test::open_fds();
  {
    auto w = wakeup::create();
    ASSERT_TRUE(w);
    int fd = w->fd();
    wakeup moved(std::move(*w));
    EXPECT_EQ(moved.fd(), fd);
    EXPECT_EQ(otpnet::test::open_fds(), before + 1);
  }
  EXPECT_EQ(otpnet::test::open_fds(), before);
}

// The event loop's protocol under contention: producers publish, then wake;
// the consumer waits for readability, drains, then reads what was published.
// A lost wake leaves the consumer waiting with work outstanding: the bounded
// wait then fails the test instead of hanging it.
TEST(wakeup, concurrent_wakes_and_drains_lose_nothing) {
  auto w = wakeup::create();
  ASSERT_TRUE(w);
  constexpr int producers = 4;
  constexpr int per_producer = 20'000;
  std::atomic<int> published{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < producers; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < per_producer; ++i) {
        published.fetch_add(1, std::memory_order_release);
        w->wake();
      }
    });
  }
  int seen = 0;
  while (seen < producers * per_producer) {
    pollfd p{w->fd(), POLLIN, 0};
    auto r = internal::sys([&] { return ::poll(&p, 1, 10'000); });
    ASSERT_TRUE(r);
    ASSERT_EQ(*r, 1) << "lost wake-up: " << seen << " of " << producers * per_producer << " seen";
    w->drain();
    seen = published.load(std::memory_order_acquire);
  }
  for (auto& t : threads) {
    t.join();
  }
  w->drain();
  EXPECT_FALSE(readable(w->fd()));
  EXPECT_FALSE(w->pending());
}

}  // namespace
}  // namespace otpnet::reactor
