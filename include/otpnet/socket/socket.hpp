// File: otpnet/socket/socket.hpp
//
// `socket`: a BSD socket as a value, and its life cycle (OTP socket's open,
// bind, listen, shutdown, close, sockname, peername). A socket is a shared
// reference, like an OTP socket term: copies refer to the same descriptor,
// which is closed by `close` or when the last copy goes. Every descriptor is
// non-blocking and close-on-exec. The data calls are in io.hpp.
#pragma once

#include <otpnet/base/result.hpp>
#include <otpnet/socket/address.hpp>
#include <otpnet/socket/types.hpp>

#include <cstdint>
#include <memory>

namespace otpnet::socket {

namespace detail {
class socket_state;
}  // namespace detail

/// A reference to an open (or closed) socket; default-constructed it refers
/// to none, and every call on it fails with `closed`.
class socket {
 public:
  socket() noexcept = default;
  explicit socket(std::shared_ptr<detail::socket_state> s) noexcept : state_(std::move(s)) {}

  /// The descriptor, or -1 once closed. The socket still owns it.
  int native_handle() const noexcept;
  /// True when it refers to a socket that is not closed.
  bool is_open() const noexcept;
  /// True when it was made by `open(fd)` from a descriptor of the caller's
  /// (dup'ed or not): its open file may have other descriptors, which its
  /// close does not end. False for sockets made by `open` and `accept`
  /// (unless the program duplicates `native_handle()` itself).
  bool adopted() const noexcept;
  explicit operator bool() const noexcept { return is_open(); }

  friend bool operator==(const socket& a, const socket& b) noexcept { return a.state_ == b.state_; }

  /// The shared state (for the socket layer and for pollers).
  detail::socket_state* state() const noexcept { return state_.get(); }
  const std::shared_ptr<detail::socket_state>& shared_state() const noexcept { return state_; }

 private:
  std::shared_ptr<detail::socket_state> state_;
};

/// Options of `open`.
struct open_options {
  /// List the socket in the registry (which_sockets, number_of); by default
  /// the process-wide setting of `use_registry`.
  enum class registry_mode : std::uint8_t { default_, on, off } registry = registry_mode::default_;
  /// For open(fd): take a duplicate and leave `fd` to the caller (OTP's dup
  /// option, true by default), or adopt `fd` itself.
  bool dup = true;
  /// Opaque owner recorded in the registry (the runtime puts a pid here).
  std::uint64_t owner = 0;
};

/// Creates a socket. Errors: eafnosupport, eprotonosupport, einval (bad
/// type), emfile/enfile (out of descriptors), eacces, enobufs/enomem.
[[nodiscard]] result<socket> open(domain d, type t, protocol p = protocol::default_, const open_options& opts = {});

/// Wraps an existing socket descriptor; domain, type and protocol are read
/// back from the kernel. Errors: ebadf, enotsock, emfile (on dup).
[[nodiscard]] result<socket> open(int fd, const open_options& opts = {});

/// Binds to `a`; returns the bound port (0 for non-IP families), which is
/// how a caller learns the port the kernel chose for port 0.
/// Errors: eaddrinuse, eaddrnotavail, eacces, einval (already bound), closed.
[[nodiscard]] result<std::uint16_t> bind(const socket& s, const address& a);

/// Listens with the given backlog. Errors: eopnotsupp (not a stream or
/// seqpacket socket), eaddrinuse, closed.
[[nodiscard]] result<void> listen(const socket& s, int backlog = 1024);

/// Shuts down one or both directions. Errors: enotconn, closed.
[[nodiscard]] result<void> shutdown(const socket& s, shutdown_how how);

/// Closes the socket: every caller waiting on it is woken with `closed`, its
/// registry entry goes, and the descriptor is released as soon as no call on
/// another thread is still using it (its number is never reused under a
/// waiter). A second close fails with `closed`.
[[nodiscard]] result<void> close(const socket& s);

/// The local and the peer address. Errors: enotconn (peername), closed.
[[nodiscard]] result<address> sockname(const socket& s);
[[nodiscard]] result<address> peername(const socket& s);

}  // namespace otpnet::socket
