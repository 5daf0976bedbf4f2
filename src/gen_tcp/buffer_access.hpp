// File: gen_tcp/buffer_access.hpp (private)
//
// What a port does to the views it hands out and queues, beyond what a
// buffer's users may: grow a view over the bytes around it, and move
// references between views and the port without an atomic operation per
// view. Each of these keeps a chunk's count right only as the port uses it
// (port.cpp), which is why they are not in the public header.
#pragma once

#include <otpnet/gen_tcp/buffer.hpp>

#include <cstddef>
#include <cstdint>

namespace otpnet::gen_tcp::detail {

struct buffer_access {
  static chunk*& chunk_of(buffer& b) noexcept { return b.c_; }
  static chunk* chunk_of(const buffer& b) noexcept { return b.c_; }
  static std::uint32_t& off(buffer& b) noexcept { return b.off_; }
  static std::uint32_t off(const buffer& b) noexcept { return b.off_; }
  static std::uint32_t& len(buffer& b) noexcept { return b.len_; }
  static buffer adopt(chunk* c, std::uint32_t off, std::uint32_t len) noexcept {
    return buffer(buffer::adopt_tag{}, c, off, len);
  }
};

/// Whether the `n` bytes (1, 2 or 4) just before `b` in its chunk are
/// `prefix`; if they are, `b` grows to start at them. A port's send uses it
/// for a frame's header: a frame sent back as it came finds its own header
/// in front of it, and goes out with it as one piece of memory. The bytes in
/// front of a view never change while it lives: a port only appends to a
/// chunk, and moves what it holds only when no view of the chunk is out.
inline bool absorb_prefix(buffer& b, const std::byte* prefix, std::size_t n) noexcept {
  chunk* c = buffer_access::chunk_of(b);
  std::uint32_t& off = buffer_access::off(b);
  if (c == nullptr || off < n) {
    return false;
  }
  const std::byte* at = c->data() + off - n;
  // Byte by byte: the header was just written byte by byte, and a wider
  // load of it would wait for those stores to reach the cache.
  bool same = false;
  switch (n) {
    case 1:
      same = at[0] == prefix[0];
      break;
    case 2:
      same = at[0] == prefix[0] && at[1] == prefix[1];
      break;
    case 4:
      same = at[0] == prefix[0] && at[1] == prefix[1] && at[2] == prefix[2] && at[3] == prefix[3];
      break;
    default:
      return false;
  }
  if (same) {
    off -= static_cast<std::uint32_t>(n);
    buffer_access::len(b) += static_cast<std::uint32_t>(n);
  }
  return same;
}

/// Whether `next` starts where `b` ends, in the same chunk; if it does, `b`
/// grows to cover it too (`next` keeps its own reference).
inline bool absorb_next(buffer& b, const buffer& next) noexcept {
  chunk* c = buffer_access::chunk_of(b);
  if (c == nullptr || c != buffer_access::chunk_of(next) ||
      buffer_access::off(b) + buffer_access::len(b) != buffer_access::off(next)) {
    return false;
  }
  buffer_access::len(b) += static_cast<std::uint32_t>(next.size());
  return true;
}

/// A view of `len` bytes at `off` in `c` that takes over one reference the
/// caller holds (no atomic operation).
inline buffer adopt_view(chunk* c, std::uint32_t off, std::uint32_t len) noexcept {
  return buffer_access::adopt(c, off, len);
}

/// Empties `b` without dropping its reference, which the caller now holds.
inline void forget_view(buffer& b) noexcept {
  buffer_access::chunk_of(b) = nullptr;
  buffer_access::off(b) = 0;
  buffer_access::len(b) = 0;
}

/// Empties `b`, dropping its reference and `extra` more that its holder
/// kept for the same chunk, in one atomic operation.
inline void release_view(buffer& b, std::uint32_t extra) noexcept {
  if (chunk* c = buffer_access::chunk_of(b)) {
    chunk_release(c, 1 + extra);
    forget_view(b);
  }
}

}  // namespace otpnet::gen_tcp::detail
