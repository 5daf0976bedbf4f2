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

/// Reaches into a buffer's view, for the port only (gen_tcp/buffer_access.hpp).
struct buffer_access;

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
  friend struct detail::buffer_access;
  struct adopt_tag {};
  buffer(adopt_tag, detail::chunk* c, std::uint32_t off, std::uint32_t len) noexcept : c_(c), off_(off), len_(len) {}

  detail::chunk* c_ = nullptr;
  std::uint32_t off_ = 0;
  std::uint32_t len_ = 0;
};

}  // namespace otpnet::gen_tcp
