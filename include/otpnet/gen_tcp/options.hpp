// File: otpnet/gen_tcp/options.hpp
//
// gen_tcp's socket options (inet's): active mode, framing, flow control
// and TCP settings. `options` lists what to set (every field optional, so
// setopts changes only what it names); `effective_options` is what a
// socket has. See docs/gen_tcp.md for each option beside its inet twin.
#pragma once

#include <otpnet/gen_tcp/packet.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>

namespace otpnet::gen_tcp {

/// inet's {active, false | once | N | true}.
struct active_mode {
  enum class kind : std::uint8_t { passive, once, count, always };
  kind k = kind::always;
  /// For `count`: how many messages to add (1..32767; a negative value
  /// subtracts, as inet's {active, N} does).
  int n = 0;
  friend bool operator==(const active_mode&, const active_mode&) = default;
};

inline constexpr active_mode passive{active_mode::kind::passive, 0};
inline constexpr active_mode once{active_mode::kind::once, 0};
inline constexpr active_mode always{active_mode::kind::always, 0};
/// {active, N}.
constexpr active_mode active_n(int n) noexcept { return {active_mode::kind::count, n}; }

/// Options to set; unset fields keep their value (or the default).
struct options {
  std::optional<active_mode> active;
  std::optional<packet_type> packet;
  /// Largest frame body accepted; larger gives tcp_error{emsgsize} and a
  /// close (0: no limit).
  std::optional<std::uint32_t> packet_size;
  std::optional<char> line_delimiter;
  std::optional<std::uint32_t> line_length;
  /// Send queue bounds in bytes: above high, senders are told busy and
  /// reading from the peer pauses; below low, both resume.
  std::optional<std::size_t> high_watermark;
  std::optional<std::size_t> low_watermark;
  /// A send queue that makes no progress for this long fails with
  /// tcp_error{timeout} (0: never).
  std::optional<std::chrono::milliseconds> send_timeout;
  std::optional<bool> send_timeout_close;
  /// false: a peer's shutdown(write) leaves the socket open for sending.
  std::optional<bool> exit_on_close;
  /// true: sends made during a scheduler turn go out together at its end
  /// (one writev), as inet's delay_send.
  std::optional<bool> delay_send;
  std::optional<bool> nodelay;
  std::optional<bool> keepalive;
  std::optional<int> recbuf;
  std::optional<int> sndbuf;
  /// listen only.
  std::optional<int> backlog;
  std::optional<bool> reuseaddr;
  std::optional<bool> reuseport;
  /// listen only, IPv6 addresses: true takes IPv6 clients only, so that an
  /// IPv4 socket may listen on the same port (inet's ipv6_v6only). Unset:
  /// the system's default (dual-stack on Linux).
  std::optional<bool> ipv6_v6only;
};

/// The kernel-level options a new connection starts with: the system's
/// defaults, or what its listen socket carries (Linux copies nodelay,
/// keepalive and the buffer sizes to each connection it accepts). A port
/// sets only the options its effective_options want otherwise.
struct socket_defaults {
  bool nodelay = false;
  bool keepalive = false;
  int recbuf = 0;  // 0: the kernel's
  int sndbuf = 0;
};

/// Every option with its value.
struct effective_options {
  active_mode active = always;
  packet_type packet = packet_type::raw;
  std::uint32_t packet_size = 0;
  char line_delimiter = '\n';
  std::uint32_t line_length = 0;
  std::size_t high_watermark = std::size_t{64} * 1024;
  std::size_t low_watermark = std::size_t{32} * 1024;
  std::chrono::milliseconds send_timeout{0};
  bool send_timeout_close = false;
  bool exit_on_close = true;
  bool delay_send = false;
  bool nodelay = false;
  bool keepalive = false;
  int recbuf = 0;  // 0: the kernel's
  int sndbuf = 0;
  int backlog = 1024;
  bool reuseaddr = true;
  bool reuseport = false;
  std::optional<bool> ipv6_v6only;  // unset: the system's default

  /// This with `o` applied. Errors: `invalid` (low above high, a count
  /// outside -32767..32767).
  bool apply(const options& o) noexcept;
  frame_spec spec() const noexcept { return {packet, packet_size, line_delimiter, line_length}; }
  friend bool operator==(const effective_options&, const effective_options&) = default;
};

}  // namespace otpnet::gen_tcp
