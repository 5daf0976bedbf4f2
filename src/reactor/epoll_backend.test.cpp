#include "otpnet/reactor/epoll_backend.hpp"

#include "internal/syscall.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>

// epoll specifics; the behaviour every backend shares (refused files, socket
// errors included) is in backend.test.cpp, run for each backend.

namespace otpnet::reactor {
namespace {

using namespace std::chrono_literals;

TEST(epoll_backend, descriptor_is_cloexec_and_closed_with_the_backend) {
  int fd = -1;
  {
    auto b = epoll_backend::create();
    ASSERT_TRUE(b);
    fd = (*b)->native_handle();
    auto flags = internal::sys([fd] { return ::fcntl(fd, F_GETFD); });
    ASSERT_TRUE(flags);
    EXPECT_NE(*flags & FD_CLOEXEC, 0);
    EXPECT_EQ((*b)->name(), "epoll");
  }
  EXPECT_EQ(internal::sys([fd] { return ::fcntl(fd, F_GETFD); }).error(), errc::ebadf);
}

TEST(epoll_backend, capacity_is_at_least_one) {
  auto b = epoll_backend::create(backend_options{.max_events = 0});
  ASSERT_TRUE(b);
  EXPECT_EQ((*b)->capacity(), 1u);
}

// A readiness backend: callers receive after a readable event themselves.
TEST(epoll_backend, completes_no_receives) {
  auto b = epoll_backend::create();
  ASSERT_TRUE(b);
  EXPECT_FALSE((*b)->supports_recv());
  EXPECT_EQ((*b)->submit_recv(0).error(), errc::unsupported);
  EXPECT_EQ((*b)->cancel_recv(0).error(), errc::unsupported);
}

}  // namespace
}  // namespace otpnet::reactor
