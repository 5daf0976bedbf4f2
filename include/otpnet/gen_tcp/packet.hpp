// File: otpnet/gen_tcp/packet.hpp
//
// Framing (inet's `packet` option): how a byte stream is cut into the
// messages a process receives, and how what it sends is framed.
//   raw    whatever arrived (packet 0)
//   u1 u2 u4  a 1-, 2- or 4-byte big-endian length, then that many bytes
//   line   up to and including `line_delimiter`
// The decoder is a pure function over the bytes buffered so far, so that
// framing can change at any time without losing a byte, and so that it can
// be fuzzed on its own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace otpnet::gen_tcp {

enum class packet_type : std::uint8_t { raw, u1, u2, u4, line };

/// "raw", "1", "2", "4", "line".
std::string_view to_string(packet_type p) noexcept;
/// Parses those names (and "0" for raw); false if unknown.
bool parse_packet_type(std::string_view s, packet_type& out) noexcept;
/// The header size of a length-prefixed type (0 for raw and line).
constexpr std::size_t header_size(packet_type p) noexcept {
  switch (p) {
    case packet_type::u1:
      return 1;
    case packet_type::u2:
      return 2;
    case packet_type::u4:
      return 4;
    default:
      return 0;
  }
}

/// What the decoder needs to know.
struct frame_spec {
  packet_type type = packet_type::raw;
  /// Largest body accepted (0: no limit besides the type's own).
  std::uint32_t packet_size = 0;
  char line_delimiter = '\n';
  /// line: a line longer than this is delivered in parts of this size
  /// (0: never split; then packet_size bounds it).
  std::uint32_t line_length = 0;
};

/// The outcome of looking at the buffered bytes.
struct decoded {
  enum class status : std::uint8_t {
    need_more,  ///< no complete frame: `need` bytes in all would do (0: unknown)
    frame,      ///< a frame: skip `header`, then `body` bytes
    too_big,    ///< the frame exceeds packet_size (emsgsize)
  };
  status st = status::need_more;
  std::size_t header = 0;
  std::size_t body = 0;
  std::size_t need = 0;
};

/// Looks for the first frame in `buf`. `scanned`, for line framing only:
/// the first `scanned` bytes of `buf` are known to hold no delimiter (an
/// earlier call over them answered need_more), so the search starts after
/// them: a long line that arrives in many reads is searched once, not once
/// per read. Other framings ignore it.
decoded decode(const frame_spec& spec, std::span<const std::byte> buf, std::size_t scanned = 0) noexcept;

/// Writes the length header for a body of `len` bytes into `out` (at least
/// 4 bytes) and returns its size; 0 for raw and line. False-y (returns
/// SIZE_MAX) if `len` does not fit the header.
std::size_t encode_header(packet_type p, std::size_t len, std::byte* out) noexcept;

}  // namespace otpnet::gen_tcp
