// File: tools/loadgen/frames.hpp
//
// What otpnet-loadgen puts on the wire and how it checks what comes back.
//
// A frame is a payload of `size` bytes in one of three framings:
//   packet2  a 2-byte big-endian length, then the payload (Erlang {packet,2})
//   line     the payload, then '\n' (the payload never holds a '\n')
//   raw      the payload alone; frames are cut every `size` bytes
// The payload of frame `seq` on connection `conn` is printable ASCII: 16 hex
// digits of `seq`, then bytes drawn from a generator seeded by (conn, seq),
// both cut to `size`. An echo that reorders, repeats, drops, truncates or
// corrupts anything, or mixes up connections, fails the comparison.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace otpnet::tools::loadgen {

enum class framing : std::uint8_t { packet2, line, raw };

constexpr std::string_view to_string(framing f) noexcept {
  switch (f) {
    case framing::packet2:
      return "packet2";
    case framing::line:
      return "line";
    case framing::raw:
      return "raw";
  }
  return "unknown";
}

/// Bytes a frame of `size` payload bytes takes on the wire.
constexpr std::size_t frame_length(framing f, std::size_t size) noexcept {
  switch (f) {
    case framing::packet2:
      return size + 2;
    case framing::line:
      return size + 1;
    case framing::raw:
      return size;
  }
  return size;
}

/// Writes the payload of frame (conn, seq) to `out` (`size` bytes).
inline void make_payload(std::uint64_t conn, std::uint64_t seq, std::byte* out, std::size_t size) noexcept {
  static constexpr char hex[] = "0123456789abcdef";
  std::size_t i = 0;
  for (; i < size && i < 16; ++i) {
    out[i] = static_cast<std::byte>(hex[(seq >> (60 - 4 * i)) & 0xf]);
  }
  // splitmix64 over (conn, seq): a different stream per frame.
  std::uint64_t state = (conn * 0x9E3779B97F4A7C15ull) ^ (seq + 0x632BE59BD9B4E019ull);
  while (i < size) {
    state += 0x9E3779B97F4A7C15ull;
    std::uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    for (int b = 0; b < 8 && i < size; ++b, ++i, z >>= 8) {
      // 94 printable characters, '!' to '~': never '\n'.
      out[i] = static_cast<std::byte>('!' + (z & 0xff) % 94);
    }
  }
}

/// Writes frame (conn, seq) to `out`, which has frame_length(f, size) bytes.
inline void make_frame(framing f, std::uint64_t conn, std::uint64_t seq, std::byte* out, std::size_t size) noexcept {
  switch (f) {
    case framing::packet2:
      out[0] = static_cast<std::byte>((size >> 8) & 0xff);
      out[1] = static_cast<std::byte>(size & 0xff);
      make_payload(conn, seq, out + 2, size);
      return;
    case framing::line:
      make_payload(conn, seq, out, size);
      out[size] = std::byte{'\n'};
      return;
    case framing::raw:
      make_payload(conn, seq, out, size);
      return;
  }
}

/// What `next_frame` found at the front of a receive buffer.
struct frame_scan {
  enum class kind : std::uint8_t {
    incomplete,  ///< more bytes are needed
    frame,       ///< a frame of the expected length: `payload`, `consumed`
    bad_length,  ///< the header or terminator disagrees with the size sent
  } what = kind::incomplete;
  const std::byte* payload = nullptr;
  std::size_t consumed = 0;
  std::size_t found_length = 0;  ///< the length the header announced (bad_length)
};

/// Cuts the next frame from `buf` (`len` bytes) when frames of `size`
/// payload bytes are expected.
inline frame_scan next_frame(framing f, const std::byte* buf, std::size_t len, std::size_t size) noexcept {
  frame_scan s;
  const std::size_t need = frame_length(f, size);
  switch (f) {
    case framing::packet2:
      if (len < 2) {
        return s;
      }
      s.found_length = (std::to_integer<std::size_t>(buf[0]) << 8) | std::to_integer<std::size_t>(buf[1]);
      if (s.found_length != size) {
        s.what = frame_scan::kind::bad_length;
        return s;
      }
      break;
    case framing::line:
      if (len < need) {
        // A newline too early is an error as soon as it is seen.
        if (std::memchr(buf, '\n', len) != nullptr) {
          s.what = frame_scan::kind::bad_length;
          s.found_length = static_cast<std::size_t>(static_cast<const std::byte*>(std::memchr(buf, '\n', len)) - buf);
        }
        return s;
      }
      if (buf[size] != std::byte{'\n'} || std::memchr(buf, '\n', size) != nullptr) {
        s.what = frame_scan::kind::bad_length;
        const void* nl = std::memchr(buf, '\n', need);
        s.found_length = nl != nullptr ? static_cast<std::size_t>(static_cast<const std::byte*>(nl) - buf) : need;
        return s;
      }
      break;
    case framing::raw:
      break;
  }
  if (len < need) {
    return s;
  }
  s.what = frame_scan::kind::frame;
  s.payload = f == framing::packet2 ? buf + 2 : buf;
  s.consumed = need;
  return s;
}

}  // namespace otpnet::tools::loadgen
