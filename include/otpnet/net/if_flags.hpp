// File: otpnet/net/if_flags.hpp
//
// `if_flags`: the flags of a network interface (Linux's IFF_* bits) as a
// typed bitmask, with OTP's names for them ("up", "broadcast", "loopback",
// "pointtopoint", "running", "multicast", ...). The enum and its names come
// from one X-macro list, so a flag is added in exactly one place.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

// X(name, bit): every interface flag Linux defines, in bit order. The names
// are OTP's where OTP has one; the last three exist only in <linux/if.h>,
// whose values are fixed by the kernel ABI.
#define OTPNET_NET_IF_FLAGS(X) \
  X(up, 0x1) \
  X(broadcast, 0x2) \
  X(debug, 0x4) \
  X(loopback, 0x8) \
  X(pointtopoint, 0x10) \
  X(notrailers, 0x20) \
  X(running, 0x40) \
  X(noarp, 0x80) \
  X(promisc, 0x100) \
  X(allmulti, 0x200) \
  X(master, 0x400) \
  X(slave, 0x800) \
  X(multicast, 0x1000) \
  X(portsel, 0x2000) \
  X(automedia, 0x4000) \
  X(dynamic, 0x8000) \
  X(lower_up, 0x10000) \
  X(dormant, 0x20000) \
  X(echo, 0x40000)

namespace otpnet::net {

/// A set of interface flags; values equal the kernel's IFF_* bits, so
/// `static_cast<if_flags>(ifa_flags)` converts. Combine with `|`, test with
/// `has()`.
enum class if_flags : std::uint32_t {
  none = 0,
#define OTPNET_X(name, bit) name = (bit),
  OTPNET_NET_IF_FLAGS(OTPNET_X)
#undef OTPNET_X
};

constexpr if_flags operator|(if_flags a, if_flags b) noexcept {
  return static_cast<if_flags>(static_cast<std::uint32_t>(a) | static_cast<std::uint32_t>(b));
}

constexpr if_flags operator&(if_flags a, if_flags b) noexcept {
  return static_cast<if_flags>(static_cast<std::uint32_t>(a) & static_cast<std::uint32_t>(b));
}

constexpr if_flags& operator|=(if_flags& a, if_flags b) noexcept { return a = a | b; }

/// True when every flag of `required` is set in `set` (so `none` is always had).
constexpr bool has(if_flags set, if_flags required) noexcept { return (set & required) == required; }

/// The OTP name of a single flag ("up", "loopback", ...); "unknown" for a value
/// that is not exactly one known flag.
std::string_view flag_name(if_flags flag) noexcept;

/// The names of the flags set, in bit order: up|loopback|running gives
/// {"up", "loopback", "running"}. Bits Linux does not define are left out.
std::vector<std::string_view> flag_names(if_flags set);

/// The names joined by commas, e.g. "up,loopback,running"; "" for none.
std::string to_string(if_flags set);

}  // namespace otpnet::net
