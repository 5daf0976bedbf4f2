// File: internal/syscall.hpp
//
// The one syscall funnel (STYLE rule 13). Every system call of the net,
// socket and reactor layers goes through `sys` or `sys_once`: they read errno
// immediately after a failed call and turn it into an otpnet::errc. No other
// file reads errno.
#pragma once

#include <otpnet/base/result.hpp>

#include <netdb.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <type_traits>

namespace otpnet::internal {

/// Calls `f()`; a return of -1 becomes the errno reason. EINTR is retried,
/// which is right for every call that has not yet had an effect when
/// interrupted (accept, recv, send, epoll_wait, ...).
template <class F>
[[nodiscard]] auto sys(F&& f) noexcept -> result<std::invoke_result_t<F&>> {
  for (;;) {
    auto r = f();
    if (r != -1) [[likely]] {
      return r;
    }
    int e = errno;
    if (e != EINTR) {
      return fail(from_errno(e));
    }
  }
}

/// Calls `f()` once; -1 becomes the errno reason, EINTR included. For calls
/// that must not be repeated after an interruption: close (the descriptor is
/// gone either way on Linux) and connect (EINTR means it goes on in the
/// background).
template <class F>
[[nodiscard]] auto sys_once(F&& f) noexcept -> result<std::invoke_result_t<F&>> {
  auto r = f();
  if (r != -1) [[likely]] {
    return r;
  }
  return fail(from_errno(errno));
}

/// recv, sendmsg and epoll_wait for the per-message paths, made without
/// glibc's wrappers. Those are thread cancellation points: in a process
/// with threads each call switches the thread to asynchronous cancellation
/// and back, two atomic compare-exchanges around the system call (about
/// 1 % of otpnet-echo's CPU in ping-pong). otpnet never cancels a thread,
/// so the plain system call does the same work, with the same results and
/// errno. Sanitizer builds keep the wrappers, which their runtimes
/// intercept: ASan checks the buffers, TSan takes the descriptors'
/// happens-before edges from them.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define OTPNET_LIBC_IO_WRAPPERS 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define OTPNET_LIBC_IO_WRAPPERS 1
#endif
#endif

inline ssize_t recv_nocancel(int fd, void* buf, std::size_t len, int flags) noexcept {
#ifdef OTPNET_LIBC_IO_WRAPPERS
  return ::recv(fd, buf, len, flags);
#else
  return ::syscall(SYS_recvfrom, fd, buf, len, flags, nullptr, nullptr);
#endif
}
inline ssize_t sendmsg_nocancel(int fd, const ::msghdr* m, int flags) noexcept {
#ifdef OTPNET_LIBC_IO_WRAPPERS
  return ::sendmsg(fd, m, flags);
#else
  return ::syscall(SYS_sendmsg, fd, m, flags);
#endif
}
inline int epoll_wait_nocancel(int epfd, ::epoll_event* events, int max, int timeout_ms) noexcept {
#ifdef OTPNET_LIBC_IO_WRAPPERS
  return ::epoll_wait(epfd, events, max, timeout_ms);
#else
  // (epoll_pwait with no signal mask is epoll_wait; x86_64 has both)
  return static_cast<int>(::syscall(SYS_epoll_pwait, epfd, events, max, timeout_ms, nullptr, std::size_t{8}));
#endif
}

/// The errno reason left by the last failed libc call that reports through
/// errno without returning -1 (getaddrinfo's EAI_SYSTEM, getifaddrs).
[[nodiscard]] inline errc last_errno() noexcept { return from_errno(errno); }

/// The reason of a resolver call (getaddrinfo, getnameinfo) that returned
/// `rc`. EAI_SYSTEM means "look at errno": that reason then, unless libc
/// left errno at 0, when the resolver's own code is all there is.
[[nodiscard]] inline errc resolver_error(int rc) noexcept {
  if (rc == EAI_SYSTEM) {
    errc e = last_errno();
    return e == errc::ok ? errc::eai_system : e;
  }
  return from_eai(rc);
}

}  // namespace otpnet::internal
