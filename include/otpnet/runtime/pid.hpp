// File: otpnet/runtime/pid.hpp
//
// `pid`: the identity of a process, and `ref`: a unique reference (OTP's
// make_ref). A pid names a slot of the process table and the generation the
// slot had when the process was spawned, so a pid of a dead process never
// names a later process that reuses its slot.
#pragma once

#include <compare>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace otpnet {

/// A process identifier; default-constructed it names no process.
class pid {
 public:
  constexpr pid() noexcept = default;
  constexpr pid(std::uint32_t slot, std::uint32_t generation) noexcept
      : v_((static_cast<std::uint64_t>(generation) << 32) | slot) {}

  static constexpr pid from_value(std::uint64_t v) noexcept {
    pid p;
    p.v_ = v;
    return p;
  }
  constexpr std::uint64_t value() const noexcept { return v_; }
  constexpr std::uint32_t slot() const noexcept { return static_cast<std::uint32_t>(v_); }
  constexpr std::uint32_t generation() const noexcept { return static_cast<std::uint32_t>(v_ >> 32); }
  constexpr explicit operator bool() const noexcept { return v_ != 0; }

  /// "<0.SLOT.GEN>", in the spirit of the BEAM's "<0.84.0>".
  std::string to_string() const;
  /// The pid to_string() wrote, with or without its angle brackets
  /// ("<0.12.1>", "0.12.1", erlang:list_to_pid's form); nothing for any
  /// other text, or for the null pid.
  static std::optional<pid> parse(std::string_view text) noexcept;

  friend constexpr auto operator<=>(pid, pid) noexcept = default;  // NOLINT(modernize-use-nullptr)

 private:
  std::uint64_t v_ = 0;
};

/// A unique reference: monitors, calls and timers are named by one.
class ref {
 public:
  constexpr ref() noexcept = default;
  constexpr explicit ref(std::uint64_t v) noexcept : v_(v) {}
  constexpr std::uint64_t value() const noexcept { return v_; }
  constexpr explicit operator bool() const noexcept { return v_ != 0; }
  std::string to_string() const;
  friend constexpr auto operator<=>(ref, ref) noexcept = default;  // NOLINT(modernize-use-nullptr)

 private:
  std::uint64_t v_ = 0;
};

/// A fresh reference, unique in this OS process. @threadsafe
ref make_ref() noexcept;

}  // namespace otpnet

template <>
struct std::hash<otpnet::pid> {
  std::size_t operator()(otpnet::pid p) const noexcept { return std::hash<std::uint64_t>{}(p.value()); }
};
template <>
struct std::hash<otpnet::ref> {
  std::size_t operator()(otpnet::ref r) const noexcept { return std::hash<std::uint64_t>{}(r.value()); }
};
