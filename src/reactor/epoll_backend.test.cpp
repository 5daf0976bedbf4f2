#include "otpnet/reactor/epoll_backend.hpp"

#include "internal/syscall.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cstdio>

// epoll specifics; the behaviour every backend shares is in backend.test.cpp.

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

TEST(epoll_backend, regular_files_are_refused_with_eperm) {
  auto b = epoll_backend::create();
  ASSERT_TRUE(b);
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  EXPECT_EQ((*b)->add(::fileno(f), 0, interest::read).error(), errc::eperm);
  std::fclose(f);
}

// A refused connect on loopback: EPOLLERR, reported as an error with both
// directions ready (contract point 4). The port is one the kernel chose and
// that was closed again, never a fixed one.
TEST(epoll_backend, socket_error_marks_both_directions) {
  auto b = epoll_backend::create();
  ASSERT_TRUE(b);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  auto probe = internal::sys([] { return ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0); });
  ASSERT_TRUE(probe);
  ASSERT_TRUE(internal::sys([&] { return ::bind(*probe, reinterpret_cast<sockaddr*>(&addr), len); }));
  ASSERT_TRUE(internal::sys([&] { return ::getsockname(*probe, reinterpret_cast<sockaddr*>(&addr), &len); }));
  (void)internal::sys_once([&] { return ::close(*probe); });

  auto s = internal::sys([] { return ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0); });
  ASSERT_TRUE(s);
  auto c = internal::sys_once([&] { return ::connect(*s, reinterpret_cast<sockaddr*>(&addr), len); });
  if (c || c.error() == errc::einprogress) {
    ASSERT_TRUE((*b)->add(*s, 5, interest::read_write));
    std::array<io_event, 4> out;
    auto n = (*b)->poll(out, 5000ms);
    ASSERT_TRUE(n);
    ASSERT_EQ(*n, 1u);
    EXPECT_EQ(out[0].token, 5u);
    EXPECT_TRUE(out[0].ready.error);
    EXPECT_TRUE(out[0].ready.readable);
    EXPECT_TRUE(out[0].ready.writable);
    ASSERT_TRUE((*b)->remove(*s));
  } else {
    EXPECT_EQ(c.error(), errc::econnrefused);  // refused at once: nothing to poll
  }
  (void)internal::sys_once([&] { return ::close(*s); });
}

}  // namespace
}  // namespace otpnet::reactor
