// File: internal/syscall.hpp
//
// The one syscall funnel (STYLE rule 13). Every system call of the net,
// socket and reactor layers goes through `sys` or `sys_once`: they read errno
// immediately after a failed call and turn it into an otpnet::errc. No other
// file reads errno.
#pragma once

#include <otpnet/base/result.hpp>

#include <cerrno>
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

/// The errno reason left by the last failed libc call that reports through
/// errno without returning -1 (getaddrinfo's EAI_SYSTEM, getifaddrs).
[[nodiscard]] inline errc last_errno() noexcept { return from_errno(errno); }

}  // namespace otpnet::internal
