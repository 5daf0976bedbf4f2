// File: otpnet/socket/address.hpp
//
// `address`: a socket address as a value (OTP's sockaddr() map): inet and
// inet6 with port (and flowinfo/scope for v6), local paths, and Linux's
// abstract namespace. It owns a sockaddr_storage, so it can hold any family
// the kernel returns from accept/recvfrom/getsockname.
#pragma once

#include <otpnet/base/result.hpp>
#include <otpnet/socket/types.hpp>

#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace otpnet::socket {

/// A socket address of any family; default-constructed it is `unspec`.
class address {
 public:
  address() noexcept;

  /// 0.0.0.0:port, 127.0.0.1:port, or the given IPv4 address.
  static address inet_any(std::uint16_t port = 0) noexcept;
  static address inet_loopback(std::uint16_t port = 0) noexcept;
  static address inet(std::array<std::uint8_t, 4> ip, std::uint16_t port) noexcept;
  /// [::]:port, [::1]:port, or the given IPv6 address with scope id.
  static address inet6_any(std::uint16_t port = 0) noexcept;
  static address inet6_loopback(std::uint16_t port = 0) noexcept;
  static address inet6(const std::array<std::uint8_t, 16>& ip, std::uint16_t port, std::uint32_t scope_id = 0,
                       std::uint32_t flowinfo = 0) noexcept;
  /// A Unix-domain path. Fails with `enametoolong` past sun_path's size.
  static result<address> local(std::string_view path) noexcept;
  /// A name in Linux's abstract Unix namespace (no file; stored after a NUL).
  static result<address> abstract(std::string_view name) noexcept;
  /// Parses a numeric IPv4 or IPv6 literal ("127.0.0.1", "::1", "fe80::1%lo").
  /// Fails with `invalid` for anything else (names go through otpnet::net).
  static result<address> parse(std::string_view ip, std::uint16_t port) noexcept;
  /// Copies a kernel-provided address; `invalid` if len exceeds the storage.
  static result<address> from_native(const ::sockaddr* sa, ::socklen_t len) noexcept;

  domain family() const noexcept;
  /// The port of an inet/inet6 address, 0 for other families.
  std::uint16_t port() const noexcept;
  /// A copy with another port (inet/inet6); other families are returned as is.
  address with_port(std::uint16_t port) const noexcept;
  /// The path of a local address (for abstract ones: the name, without NUL).
  std::string path() const;
  bool is_abstract() const noexcept;
  /// "127.0.0.1:80", "[::1]:80", "/tmp/s", "@name" (abstract), "unspec".
  std::string to_string() const;

  /// The raw address for system calls.
  const ::sockaddr* native() const noexcept { return reinterpret_cast<const ::sockaddr*>(&ss_); }
  ::sockaddr* native() noexcept { return reinterpret_cast<::sockaddr*>(&ss_); }
  ::socklen_t size() const noexcept { return len_; }
  /// Sets the length after the kernel filled `native()` (accept, recvfrom).
  void resize(::socklen_t len) noexcept { len_ = len; }
  static constexpr ::socklen_t capacity() noexcept { return sizeof(::sockaddr_storage); }

  friend bool operator==(const address& a, const address& b) noexcept;

 private:
  ::sockaddr_storage ss_;
  ::socklen_t len_;
};

}  // namespace otpnet::socket
