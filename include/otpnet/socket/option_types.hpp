// File: otpnet/socket/option_types.hpp
//
// The vocabulary of socket options: the levels of OTP's {Level, Name}
// option names, the values an option can hold (one `option_value` variant,
// whose alternatives are listed by `value_kind`), the descriptor of an
// option (`option_desc`: level, OTP name, native level and name, value kind,
// access, accepted range) and the typed handle `option<T, Access>` that the
// constants of option_list.hpp are. The calls are in option.hpp.
#pragma once

#include <otpnet/base/errc.hpp>
#include <otpnet/socket/types.hpp>

#include <array>
#include <chrono>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>

namespace otpnet::socket {

// -- levels and access -------------------------------------------------------

/// The level of an option as OTP names it; `otp` holds otpnet's own
/// per-socket settings, the others map to SOL_SOCKET and IPPROTO_*.
enum class option_level : std::uint8_t { otp, socket, ip, ipv6, tcp, udp };

/// The OTP name of a level: "otp", "socket", "ip", "ipv6", "tcp", "udp".
constexpr std::string_view to_string(option_level l) noexcept {
  constexpr std::string_view names[] = {"otp", "socket", "ip", "ipv6", "tcp", "udp"};
  auto i = static_cast<std::size_t>(l);
  return i < std::size(names) ? names[i] : std::string_view("unknown");
}

/// Whether an option can be read (getopt), written (setopt) or both.
enum class option_access : std::uint8_t { read_write, read_only, write_only };

// -- values ------------------------------------------------------------------

/// An IPv4 address in network order, e.g. {127, 0, 0, 1}.
using ipv4_address = std::array<std::uint8_t, 4>;
/// An IPv6 address in network order.
using ipv6_address = std::array<std::uint8_t, 16>;

/// {socket, linger}: when `on`, close waits up to `seconds` for unsent data.
struct linger {
  bool on = false;
  int seconds = 0;
  friend bool operator==(const linger&, const linger&) = default;
};

/// {ip, add_membership | drop_membership}: a multicast group and the local
/// address of the interface to join it on ({0,0,0,0}: the kernel chooses).
struct ip_mreq {
  ipv4_address multiaddr{};
  ipv4_address interface {};
  friend bool operator==(const ip_mreq&, const ip_mreq&) = default;
};

/// {ipv6, add_membership | drop_membership}: a multicast group and the
/// index of the interface to join it on (0: the kernel chooses).
struct ipv6_mreq {
  ipv6_address multiaddr{};
  unsigned interface = 0;
  friend bool operator==(const ipv6_mreq&, const ipv6_mreq&) = default;
};

/// The TCP connection states of Linux (tcp_info's tcpi_state).
enum class tcp_state : std::uint8_t {
  established = 1,
  syn_sent,
  syn_recv,
  fin_wait1,
  fin_wait2,
  time_wait,
  close,
  close_wait,
  last_ack,
  listen,
  closing,
  new_syn_recv,
};

/// The lowercase name of a TCP state, e.g. "established"; "unknown" otherwise.
std::string_view to_string(tcp_state s) noexcept;

/// {tcp, info}: a subset of Linux's struct tcp_info.
struct tcp_info {
  tcp_state state = tcp_state::close;
  std::uint32_t rtt_us = 0;     ///< smoothed round-trip time
  std::uint32_t rttvar_us = 0;  ///< its mean deviation
  std::uint32_t snd_cwnd = 0;   ///< congestion window, in segments
  std::uint32_t total_retrans = 0;
  friend bool operator==(const tcp_info&, const tcp_info&) = default;
};

/// The value of any option, for the dynamic API. Alternatives are in the
/// order of `value_kind`: `kind_of(v)` is the kind `v` holds.
using option_value = std::variant<bool, int, std::uint64_t, std::string, linger, std::chrono::milliseconds,
                                  ipv4_address, ip_mreq, ipv6_mreq, domain, type, protocol, errc, tcp_info>;

/// The kinds of option values; each names the alternative of option_value at
/// its position (`boolean` is bool, `integer` int, `error` errc, ...).
enum class value_kind : std::uint8_t {
  boolean,
  integer,
  uint64,
  string,
  linger,
  milliseconds,
  ipv4_address,
  ip_mreq,
  ipv6_mreq,
  domain,
  type,
  protocol,
  error,
  tcp_info,
};

/// The name of a kind, e.g. "boolean", "linger".
std::string_view to_string(value_kind k) noexcept;

/// The kind of value `v` holds.
inline value_kind kind_of(const option_value& v) noexcept { return static_cast<value_kind>(v.index()); }

namespace detail {
template <class T, class Variant>
struct alternative_index;
template <class T, class... Ts>
struct alternative_index<T, std::variant<Ts...>> {
  static constexpr std::size_t value = [] {
    constexpr bool same[] = {std::is_same_v<T, Ts>...};
    std::size_t i = 0;
    while (i < sizeof...(Ts) && !same[i]) {
      ++i;
    }
    return i;
  }();
  static_assert(value < sizeof...(Ts), "not a type an option value can have");
};
}  // namespace detail

/// The value_kind of the C++ type T (a compile error for other types).
template <class T>
inline constexpr value_kind kind_for = static_cast<value_kind>(detail::alternative_index<T, option_value>::value);

// -- descriptors -------------------------------------------------------------

/// What otpnet knows of one option. For the `otp` level, `native_level` is -1
/// and `native_name` an otpnet-internal id; for the others they are the
/// arguments of setsockopt, and `native_name` is -1 when this build's headers
/// lack the constant (the option is then `unsupported`). Integer values must
/// lie in [min, max]; for a string option, `max` is its longest length.
struct option_desc {
  option_level level = option_level::socket;
  std::string_view name;
  int native_level = -1;
  int native_name = -1;
  value_kind kind = value_kind::integer;
  option_access access = option_access::read_write;
  int min = INT_MIN;
  int max = INT_MAX;

  /// True when this build has the option's constant.
  constexpr bool defined() const noexcept { return native_name >= 0; }
  constexpr bool readable() const noexcept { return access != option_access::write_only; }
  constexpr bool writable() const noexcept { return access != option_access::read_only; }
};

/// An option named by strings, as OTP's {Level, Name}: {"tcp", "nodelay"}.
struct option_name {
  std::string_view level;
  std::string_view name;
  friend bool operator==(const option_name&, const option_name&) = default;
};

/// A typed option: the constants of option_list.hpp. T is the type of its
/// value; `Access` lets the compiler refuse setopt on a read-only option and
/// getopt on a write-only one.
template <class T, option_access Access = option_access::read_write>
struct option {
  using value_type = T;
  static constexpr option_access access = Access;
  option_desc desc;
  /// The {level, name} of the option as strings.
  constexpr option_name name() const noexcept { return {to_string(desc.level), desc.name}; }
};

namespace detail {
/// Builds a typed option; used by option_list.hpp.
template <class T, option_access Access = option_access::read_write>
constexpr option<T, Access> make_option(option_level level, std::string_view name, int native_level, int native_name,
                                        int min = INT_MIN, int max = INT_MAX) noexcept {
  return {option_desc{level, name, native_level, native_name, kind_for<T>, Access, min, max}};
}
}  // namespace detail

}  // namespace otpnet::socket
