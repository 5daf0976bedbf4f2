// File: otpnet/net/sockaddr_value.hpp
//
// `sockaddr_value`: a kernel socket address held by value (a sockaddr_storage
// and its length), as the net layer hands addresses out of getaddrinfo and
// getifaddrs and takes them into getnameinfo. It knows just enough to print
// itself, and `hwaddr_to_string` prints link-layer addresses. The socket
// layer, below net in the layer list, converts it into its own
// `socket::address` through `native()` and `size()`.
#pragma once

#include <otpnet/base/result.hpp>

#include <sys/socket.h>

#include <cstdint>
#include <span>
#include <string>

namespace otpnet::net {

/// A socket address of any family as a plain value; default-constructed it is
/// empty (`family() == AF_UNSPEC`, `size() == 0`). Bytes past `size()` are
/// always zero, so equality compares the meaningful bytes only.
class sockaddr_value {
 public:
  sockaddr_value() noexcept;

  /// Copies `len` bytes of a kernel-provided address.
  /// Errors: `invalid` when `sa` is null with a non-zero `len`, or when `len`
  /// exceeds sizeof(sockaddr_storage).
  static result<sockaddr_value> from_native(const ::sockaddr* sa, ::socklen_t len) noexcept;

  /// The address family (AF_INET, AF_INET6, AF_PACKET, ...); AF_UNSPEC when empty.
  int family() const noexcept;

  /// The port of an AF_INET/AF_INET6 address in host byte order; 0 otherwise.
  std::uint16_t port() const noexcept;

  /// The numeric address without the port: "127.0.0.1", "::1", "fe80::1%2"
  /// (the scope id of a link-local IPv6 address, when set, as a number).
  /// Empty for families other than AF_INET and AF_INET6.
  std::string ip_string() const;

  /// The address for humans and logs: "127.0.0.1:80", "[::1]:80",
  /// "/tmp/sock" or "@name" (AF_UNIX, abstract), "02:00:5e:10:00:01"
  /// (AF_PACKET: the link-layer address; "packet" without one), "unspec"
  /// when empty, and "family N" for anything else (a truncated inet address
  /// included).
  std::string to_string() const;

  /// The raw address for system calls.
  const ::sockaddr* native() const noexcept { return reinterpret_cast<const ::sockaddr*>(&storage_); }

  /// The length of the address in bytes (0 when empty).
  ::socklen_t size() const noexcept { return len_; }

  friend bool operator==(const sockaddr_value& a, const sockaddr_value& b) noexcept;

 private:
  ::sockaddr_storage storage_;
  ::socklen_t len_;
};

/// A hardware (link-layer) address as text: "02:00:5e:10:00:01"; "" for no
/// bytes.
std::string hwaddr_to_string(std::span<const std::uint8_t> hwaddr);

}  // namespace otpnet::net
