// File: otpnet/net/if_names.hpp
//
// The interface name <-> index maps, as OTP's net:if_names/0,
// net:if_name2index/1 and net:if_index2name/1. Indices are what IPv6 scope
// ids, IP_MULTICAST_IF/IPV6_MULTICAST_IF and SO_BINDTOIFINDEX take.
#pragma once

#include <otpnet/base/result.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace otpnet::net {

/// One interface: its index (1 and up) and name.
struct if_name_entry {
  unsigned index = 0;
  std::string name;

  friend bool operator==(const if_name_entry&, const if_name_entry&) = default;
};

/// Every interface of this machine with its index, in the kernel's order.
/// @threadsafe
/// Errors: the errno reason of if_nameindex(3): `enobufs`, `enomem`,
/// `emfile`/`enfile` (it opens a socket).
[[nodiscard]] result<std::vector<if_name_entry>> if_names();

/// The index of the interface called `name`, e.g. 1 for "lo".
/// @threadsafe
/// Errors:
/// - `enodev`: no interface has that name (the kernel's answer).
/// - `invalid`: `name` cannot name an interface (empty, IF_NAMESIZE bytes or
///   longer, or containing a NUL byte); no system call is made.
/// - `emfile`/`enfile`: no descriptor for the socket the lookup needs.
[[nodiscard]] result<unsigned> if_name2index(std::string_view name);

/// The name of the interface with index `index`, e.g. "lo" for 1.
/// @threadsafe
/// Errors:
/// - `enxio`: no interface has that index, 0 included (the kernel's answer).
/// - `emfile`/`enfile`: no descriptor for the socket the lookup needs.
[[nodiscard]] result<std::string> if_index2name(unsigned index);

}  // namespace otpnet::net
