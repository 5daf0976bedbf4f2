// File: otpnet/socket/option.hpp
//
// Socket options, as OTP socket's setopt/getopt and their _native forms:
//   setopt(s, opt::tcp::nodelay, true)          typed by the option (primary)
//   getopt(s, opt::socket::rcvbuf)             -> result<int>
//   getopt(s, {"tcp", "nodelay"})              -> result<option_value>
//   setopt_native(s, SOL_SOCKET, SO_KEEPALIVE, 1)
// The constants are in option_list.hpp, the value types in option_types.hpp,
// and docs/socket-options.md lists them all. No call throws: a wrong value is
// `invalid`, an option this build lacks is `unsupported`, the rest is the
// kernel's answer, and any call on a closed socket is `closed`.
#pragma once

#include <otpnet/base/result.hpp>
#include <otpnet/socket/option_list.hpp>
#include <otpnet/socket/option_types.hpp>
#include <otpnet/socket/socket.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace otpnet::socket {

// -- dynamic access ------------------------------------------------------------

/// Every option otpnet knows, in the order of option_list.hpp (OTP's
/// option names; aliases such as ipv6 join_group are not repeated).
std::span<const option_desc> known_options() noexcept;

/// Finds an option by its OTP names, e.g. ("tcp", "nodelay"); also takes the
/// aliases {ipv6, join_group | leave_group}. Errors: invalid (no such option).
[[nodiscard]] result<option_desc> lookup_option(std::string_view level, std::string_view name) noexcept;
[[nodiscard]] inline result<option_desc> lookup_option(option_name n) noexcept {
  return lookup_option(n.level, n.name);
}

/// Sets option `o` to `v`. Errors: invalid (v is not of o.kind, is out of
/// o's range, or o is read-only), unsupported (not in this build), closed,
/// or the kernel's error (enoprotoopt, einval, eperm, ...). A descriptor
/// built by hand rather than found is passed to the kernel as it is.
[[nodiscard]] result<void> setopt(const socket& s, const option_desc& o, const option_value& v);

/// Reads option `o`; the value is of kind o.kind. Errors: invalid (o is
/// write-only), unsupported, closed, or the kernel's error.
[[nodiscard]] result<option_value> getopt(const socket& s, const option_desc& o);

/// lookup_option, then setopt / getopt. Errors: as those.
[[nodiscard]] result<void> setopt(const socket& s, option_name n, const option_value& v);
[[nodiscard]] result<option_value> getopt(const socket& s, option_name n);

// -- typed access --------------------------------------------------------------

/// Sets a typed option, e.g. setopt(s, opt::tcp::nodelay, true). Setting a
/// read-only option does not compile. Errors: as setopt(option_desc).
template <class T, option_access A>
requires(A != option_access::read_only)
    [[nodiscard]] result<void> setopt(const socket& s, const option<T, A>& o, const std::type_identity_t<T>& v) {
  return setopt(s, o.desc, option_value(std::in_place_type<T>, v));
}

/// Reads a typed option, e.g. getopt(s, opt::socket::rcvbuf) -> result<int>.
/// Reading a write-only option does not compile. Errors: as
/// getopt(option_desc).
template <class T, option_access A>
requires(A != option_access::write_only) [[nodiscard]] result<T> getopt(const socket& s, const option<T, A>& o) {
  auto v = getopt(s, o.desc);
  if (!v) {
    return fail(v.error());
  }
  if (auto* p = std::get_if<T>(&*v)) {
    return std::move(*p);
  }
  return fail(errc::invalid);
}

// -- native access -------------------------------------------------------------

/// How getopt_native decodes the option: as an int, as a boolean (an int,
/// non-zero is true), or as the raw bytes (at most `size`, <= 65536).
enum class native_kind : std::uint8_t { integer, boolean, binary };
struct native_type {
  native_kind kind = native_kind::integer;
  std::size_t size = 0;
  static constexpr native_type integer() noexcept { return {native_kind::integer, sizeof(int)}; }
  static constexpr native_type boolean() noexcept { return {native_kind::boolean, sizeof(int)}; }
  static constexpr native_type binary(std::size_t n) noexcept { return {native_kind::binary, n}; }
};

/// A native option value: an int, a boolean (passed as int 0/1) or bytes.
using native_value = std::variant<int, bool, std::vector<std::byte>>;

/// The largest binary getopt_native reads.
inline constexpr std::size_t max_native_size = 65536;

/// setsockopt(fd, level, name, value). Errors: closed, or the kernel's
/// error (enoprotoopt for an unknown name, einval for a bad value, ...).
[[nodiscard]] result<void> setopt_native(const socket& s, int level, int name, const native_value& v);

/// getsockopt(fd, level, name) decoded as `t`; a binary comes back with the
/// length the kernel returned. Errors: invalid (binary size above
/// max_native_size), closed, or the kernel's error.
[[nodiscard]] result<native_value> getopt_native(const socket& s, int level, int name, native_type t);

}  // namespace otpnet::socket
