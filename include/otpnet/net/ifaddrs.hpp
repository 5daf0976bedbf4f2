// File: otpnet/net/ifaddrs.hpp
//
// `getifaddrs()`: the addresses of this machine's network interfaces, as
// OTP's net:getifaddrs/0,1. One entry per (interface, address): an interface
// with an IPv4 address, two IPv6 addresses and a link layer gives four. A
// filter keeps one family and/or the interfaces that have given flags.
#pragma once

#include <otpnet/base/result.hpp>
#include <otpnet/net/if_flags.hpp>
#include <otpnet/net/sockaddr_value.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace otpnet::net {

/// The address families getifaddrs can be filtered on.
enum class if_family {
  any,     ///< every entry, also those without an address (OTP's `all`).
  ip,      ///< AF_INET and AF_INET6 (OTP's `default`).
  inet,    ///< AF_INET only.
  inet6,   ///< AF_INET6 only.
  packet,  ///< AF_PACKET only: the link layer of each interface.
};

/// Which entries getifaddrs keeps: those of `family` whose interface has every
/// flag of `flags`. The default keeps everything.
struct ifaddrs_filter {
  if_family family = if_family::any;
  if_flags flags = if_flags::none;
};

/// One address of one interface.
struct ifaddrs_entry {
  std::string name;  ///< The interface name, e.g. "lo", "eth0".
  if_flags flags = if_flags::none;
  /// The address: AF_INET, AF_INET6, or AF_PACKET (the link layer, with the
  /// hardware address). Absent for an interface that has none.
  std::optional<sockaddr_value> addr;
  /// The netmask of `addr` (255.0.0.0 for 127.0.0.1), where it has one.
  std::optional<sockaddr_value> netmask;
  /// The broadcast address, present only when `flags` has `broadcast`.
  std::optional<sockaddr_value> broadaddr;
  /// The peer address, present only when `flags` has `pointtopoint`.
  std::optional<sockaddr_value> dstaddr;
  /// The interface's hardware (link-layer) address, taken from its AF_PACKET
  /// entry and copied onto each of its entries, so that an inet filter still
  /// sees it; `hwaddr_to_string` prints it. Empty when no link-layer
  /// address is reported for the interface.
  std::vector<std::uint8_t> hwaddr;
};

/// The interface addresses of this machine that pass `filter`, in the order
/// libc reports them (on Linux: the AF_PACKET entries, then the addresses).
/// @threadsafe
/// Errors: the errno reason of getifaddrs(3): `enomem`, `emfile`/`enfile`
/// (it opens a netlink socket), `enobufs`, `eacces`.
[[nodiscard]] result<std::vector<ifaddrs_entry>> getifaddrs(const ifaddrs_filter& filter = {});

}  // namespace otpnet::net
