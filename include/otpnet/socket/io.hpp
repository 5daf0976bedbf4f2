// File: otpnet/socket/io.hpp
//
// The calls of OTP's socket module that move connections and data: accept,
// connect, recv, recvfrom, send, sendto, and cancel. Each comes in the
// timeout forms of select.hpp:
//   f(s, ...)                      waits without limit (infinity)
//   f(s, ..., milliseconds)        fails with `timeout`, nothing consumed
//   f(s, ..., nowait)              async_result: ok, select or error
//   f(s, ..., select_handle)       the same, with the caller's handle
// Waiting forms block the calling thread; a process of the runtime uses the
// nowait forms through the runtime, which suspends only that process.
// Concurrent callers on one socket are served first come, first served.
// Sends add MSG_NOSIGNAL: a peer that went away gives `epipe`, never SIGPIPE.
#pragma once

#include <otpnet/base/result.hpp>
#include <otpnet/socket/address.hpp>
#include <otpnet/socket/select.hpp>
#include <otpnet/socket/socket.hpp>

#include <chrono>
#include <cstddef>
#include <span>

namespace otpnet::socket {

using std::chrono::milliseconds;

// -- accept ------------------------------------------------------------------

/// Accepts a connection; the new socket is non-blocking and close-on-exec,
/// with the registry setting of the listening socket. Errors: einval (not
/// listening), emfile/enfile/enobufs/enomem (out of resources),
/// econnaborted/eproto (a connection went away before it was accepted),
/// closed, timeout.
[[nodiscard]] result<socket> accept(const socket& ls);
[[nodiscard]] result<socket> accept(const socket& ls, milliseconds timeout);
[[nodiscard]] async_result<socket> accept(const socket& ls, nowait_t);
[[nodiscard]] async_result<socket> accept(const socket& ls, select_handle h);
/// The same, also filling `peer` with the address of the connection's other
/// end when one is accepted (from the accept itself: no getpeername call).
[[nodiscard]] async_result<socket> accept(const socket& ls, select_handle h, address& peer);

/// Wraps `fd`, a connection the kernel accepted from `ls` for someone else
/// (io_uring's multishot accept): the socket `accept` would have given, with
/// the same registry setting and owner, counted in `ls`'s counters. Takes
/// `fd` (closed on error). Errors: closed (`ls` was closed), enomem.
[[nodiscard]] result<socket> adopt_accepted(const socket& ls, int fd);

/// Counts, in `ls`'s counters, an accept that failed elsewhere.
void count_failed_accept(const socket& ls) noexcept;

// -- connect -----------------------------------------------------------------

/// Connects to `dest`. Errors: econnrefused, etimedout, enetunreach,
/// ehostunreach, eaddrnotavail, eisconn, ealready, closed, timeout (the
/// attempt is then abandoned: the socket is unusable, as in OTP).
[[nodiscard]] result<void> connect(const socket& s, const address& dest);
[[nodiscard]] result<void> connect(const socket& s, const address& dest, milliseconds timeout);
[[nodiscard]] async_result<void> connect(const socket& s, const address& dest, nowait_t);
[[nodiscard]] async_result<void> connect(const socket& s, const address& dest, select_handle h);
/// Finishes a connect whose select event arrived (reads SO_ERROR).
[[nodiscard]] result<void> connect(const socket& s);

// -- recv --------------------------------------------------------------------

/// Receives into `buf`: returns as soon as at least one byte (or one
/// datagram) is there, with the count. On a stream socket an orderly
/// shutdown by the peer gives `closed`. An empty `buf` returns 0 at once.
/// Errors: econnreset, etimedout, enotconn, closed, timeout.
[[nodiscard]] result<std::size_t> recv(const socket& s, std::span<std::byte> buf, int flags = 0);
[[nodiscard]] result<std::size_t> recv(const socket& s, std::span<std::byte> buf, int flags, milliseconds timeout);
[[nodiscard]] async_result<std::size_t> recv(const socket& s, std::span<std::byte> buf, int flags, nowait_t);
[[nodiscard]] async_result<std::size_t> recv(const socket& s, std::span<std::byte> buf, int flags, select_handle h);

/// The same without flags, as OTP's recv(S, Length, Timeout).
[[nodiscard]] inline result<std::size_t> recv(const socket& s, std::span<std::byte> buf, milliseconds timeout) {
  return recv(s, buf, 0, timeout);
}
[[nodiscard]] inline async_result<std::size_t> recv(const socket& s, std::span<std::byte> buf, nowait_t) {
  return recv(s, buf, 0, nowait);
}

/// What recvfrom returns: the byte count and the sender.
struct recvfrom_result {
  std::size_t size;
  address from;
};

[[nodiscard]] result<recvfrom_result> recvfrom(const socket& s, std::span<std::byte> buf, int flags = 0);
[[nodiscard]] result<recvfrom_result> recvfrom(const socket& s, std::span<std::byte> buf, int flags,
                                               milliseconds timeout);
[[nodiscard]] async_result<recvfrom_result> recvfrom(const socket& s, std::span<std::byte> buf, int flags, nowait_t);
[[nodiscard]] async_result<recvfrom_result> recvfrom(const socket& s, std::span<std::byte> buf, int flags,
                                                     select_handle h);

// -- send --------------------------------------------------------------------

/// Sends all of `data`; the waiting forms return data.size() once all is
/// written. A nowait send that would block returns select with
/// `select_info::progress` set to the bytes already written: repeat with
/// the rest after the event. Errors: epipe, econnreset, enotconn,
/// emsgsize (datagram too large), closed, timeout (progress is lost to the
/// caller's view only in the sense that some bytes may have been sent).
[[nodiscard]] result<std::size_t> send(const socket& s, std::span<const std::byte> data, int flags = 0);
[[nodiscard]] result<std::size_t> send(const socket& s, std::span<const std::byte> data, int flags,
                                       milliseconds timeout);
[[nodiscard]] async_result<std::size_t> send(const socket& s, std::span<const std::byte> data, int flags, nowait_t);
[[nodiscard]] async_result<std::size_t> send(const socket& s, std::span<const std::byte> data, int flags,
                                             select_handle h);

/// The same without flags.
[[nodiscard]] inline result<std::size_t> send(const socket& s, std::span<const std::byte> data, milliseconds timeout) {
  return send(s, data, 0, timeout);
}
[[nodiscard]] inline async_result<std::size_t> send(const socket& s, std::span<const std::byte> data, nowait_t) {
  return send(s, data, 0, nowait);
}

/// Sends one datagram (or stream data) to `dest`. Errors as send, plus
/// eisconn, edestaddrreq, eafnosupport.
[[nodiscard]] result<std::size_t> sendto(const socket& s, std::span<const std::byte> data, const address& dest,
                                         int flags = 0);
[[nodiscard]] result<std::size_t> sendto(const socket& s, std::span<const std::byte> data, const address& dest,
                                         int flags, milliseconds timeout);
[[nodiscard]] async_result<std::size_t> sendto(const socket& s, std::span<const std::byte> data, const address& dest,
                                               int flags, nowait_t);
[[nodiscard]] async_result<std::size_t> sendto(const socket& s, std::span<const std::byte> data, const address& dest,
                                               int flags, select_handle h);

// -- cancel ------------------------------------------------------------------

/// Withdraws a pending select. After `ok` no event for it is delivered.
/// Errors: `invalid` if it is not pending (its event was already delivered:
/// look for it in the sink), closed.
[[nodiscard]] result<void> cancel(const socket& s, const select_info& info);

}  // namespace otpnet::socket
