// File: otpnet/gen_tcp/buffer.hpp
//
// `buffer`: received bytes handed to a process without copying. A port
// reads into a reference-counted chunk; each frame is a `buffer` viewing
// part of it, and sending a buffer back writes straight from the chunk.
// Chunks return to a per-thread pool when the last view goes, so a
// connection that is idle holds none; the pool gives the pages of chunks it
// did not need for a while back to the kernel (after a burst). The count is atomic: buffers may
// travel to processes on other schedulers.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace otpnet::gen_tcp {

class buffer;

namespace detail {

/// A block of bytes shared by the buffers that view it.
struct chunk {
  std::atomic<std::uint32_t> refs{1};
  std::uint32_t capacity = 0;
  std::byte* data() noexcept { return reinterpret_cast<std::byte*>(this + 1); }
};

/// A chunk of at least `capacity` bytes (from the pool when it fits),
/// holding `refs` references: a port takes some ahead, to hand out views
/// without an atomic operation per view.
chunk* chunk_alloc(std::size_t capacity, std::uint32_t refs = 1);
/// Drops `n` references; the last returns the chunk to the pool.
void chunk_release(chunk* c, std::uint32_t n = 1) noexcept;
inline void chunk_retain(chunk* c) noexcept { c->refs.fetch_add(1, std::memory_order_relaxed); }
inline void chunk_release_if(chunk* c) noexcept {
  if (c != nullptr) {
    chunk_release(c);
  }
}

/// Whether the `n` bytes (1, 2 or 4) just before `b` in its chunk are
/// `prefix`; if they are, `b` grows to start at them. A port's send uses it
/// for a frame's header: a frame sent back as it came finds its own header
/// in front of it, and goes out with it as one piece of memory. The bytes in
/// front of a view never change while it lives: a port only appends to a
/// chunk, and moves what it holds only when no view of the chunk is out.
bool absorb_prefix(buffer& b, const std::byte* prefix, std::size_t n) noexcept;
/// Whether `next` starts where `b` ends, in the same chunk; if it does, `b`
/// grows to cover it too (`next` keeps its own reference).
bool absorb_next(buffer& b, const buffer& next) noexcept;
/// A view of `len` bytes at `off` in `c` that takes over one reference the
/// caller holds (no atomic operation).
buffer adopt_view(chunk* c, std::uint32_t off, std::uint32_t len) noexcept;
/// Empties `b` without dropping its reference, which the caller now holds.
void forget_view(buffer& b) noexcept;
/// Empties `b`, dropping its reference and `extra` more that its holder
/// kept for the same chunk, in one atomic operation.
void release_view(buffer& b, std::uint32_t extra) noexcept;

/// The calling thread's pool of read chunks: warm ones (their pages in
/// memory) and cold ones (their pages given back to the kernel after a
/// quiet period). For tests and inspection.
struct chunk_pool_counts {
  std::size_t warm = 0;
  std::size_t cold = 0;
};
chunk_pool_counts pool_counts() noexcept;
/// Warm chunks a pool keeps however long they go unused.
inline constexpr std::size_t pool_steady_chunks = 16;

/// The size of the chunks a port reads into (an io_uring receive buffer's:
/// one completion fits one chunk).
inline constexpr std::size_t read_chunk_size = std::size_t{16} * 1024;

}  // namespace detail

/// An immutable view of bytes kept alive by a shared chunk.
class buffer {
 public:
  buffer() noexcept = default;
  /// A view of `len` bytes at `off` in `c`; takes one reference.
  buffer(detail::chunk* c, std::uint32_t off, std::uint32_t len) noexcept : c_(c), off_(off), len_(len) {
    detail::chunk_retain(c_);
  }
  /// A copy of `bytes` in a chunk of its own.
  static buffer copy_of(std::span<const std::byte> bytes);
  static buffer copy_of(std::string_view s) { return copy_of(std::as_bytes(std::span(s.data(), s.size()))); }

  buffer(const buffer& o) noexcept : c_(o.c_), off_(o.off_), len_(o.len_) {
    if (c_ != nullptr) {
      detail::chunk_retain(c_);
    }
  }
  buffer(buffer&& o) noexcept
      : c_(std::exchange(o.c_, nullptr)), off_(std::exchange(o.off_, 0)), len_(std::exchange(o.len_, 0)) {}
  buffer& operator=(buffer o) noexcept {
    swap(o);
    return *this;
  }
  ~buffer() {
    if (c_ != nullptr) {
      detail::chunk_release(c_);
    }
  }
  void swap(buffer& o) noexcept {
    std::swap(c_, o.c_);
    std::swap(off_, o.off_);
    std::swap(len_, o.len_);
  }

  const std::byte* data() const noexcept { return c_ != nullptr ? c_->data() + off_ : nullptr; }
  std::size_t size() const noexcept { return len_; }
  bool empty() const noexcept { return len_ == 0; }
  std::span<const std::byte> bytes() const noexcept { return {data(), size()}; }
  std::string_view view() const noexcept { return {reinterpret_cast<const char*>(data()), size()}; }
  std::string str() const { return std::string(view()); }
  /// A view of part of this one (sharing the chunk).
  buffer sub(std::size_t off, std::size_t len) const noexcept {
    return c_ != nullptr ? buffer(c_, off_ + static_cast<std::uint32_t>(off), static_cast<std::uint32_t>(len))
                         : buffer();
  }
  friend bool operator==(const buffer& a, const buffer& b) noexcept { return a.view() == b.view(); }

 private:
  friend bool detail::absorb_prefix(buffer& b, const std::byte* prefix, std::size_t n) noexcept;
  friend bool detail::absorb_next(buffer& b, const buffer& next) noexcept;
  friend buffer detail::adopt_view(detail::chunk* c, std::uint32_t off, std::uint32_t len) noexcept;
  friend void detail::forget_view(buffer& b) noexcept;
  friend void detail::release_view(buffer& b, std::uint32_t extra) noexcept;
  struct adopt_tag {};
  buffer(adopt_tag, detail::chunk* c, std::uint32_t off, std::uint32_t len) noexcept : c_(c), off_(off), len_(len) {}

  detail::chunk* c_ = nullptr;
  std::uint32_t off_ = 0;
  std::uint32_t len_ = 0;
};

namespace detail {

inline bool absorb_prefix(buffer& b, const std::byte* prefix, std::size_t n) noexcept {
  if (b.c_ == nullptr || b.off_ < n) {
    return false;
  }
  const std::byte* at = b.c_->data() + b.off_ - n;
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
    b.off_ -= static_cast<std::uint32_t>(n);
    b.len_ += static_cast<std::uint32_t>(n);
  }
  return same;
}

inline bool absorb_next(buffer& b, const buffer& next) noexcept {
  if (b.c_ == nullptr || b.c_ != next.c_ || b.off_ + b.len_ != next.off_) {
    return false;
  }
  b.len_ += next.len_;
  return true;
}

inline buffer adopt_view(chunk* c, std::uint32_t off, std::uint32_t len) noexcept {
  return buffer(buffer::adopt_tag{}, c, off, len);
}

inline void forget_view(buffer& b) noexcept {
  b.c_ = nullptr;
  b.off_ = b.len_ = 0;
}

inline void release_view(buffer& b, std::uint32_t extra) noexcept {
  if (b.c_ != nullptr) {
    chunk_release(b.c_, 1 + extra);
    forget_view(b);
  }
}

}  // namespace detail

}  // namespace otpnet::gen_tcp
