// File: gen_tcp/alloc_count.test.cpp
//
// Replaces the global operator new and delete of the test program, to count
// the allocations larger than a pooled read chunk (a port's buffer growing
// for a long frame) and to record the largest. Tests use the counts to show
// that a long line costs a few buffers, not one per byte, and that a length
// header alone never makes the port allocate what it announces.
#include "gen_tcp/harness.test.hpp"

#include <atomic>
#include <cstdlib>
#include <new>

namespace otpnet::gen_tcp::test {
namespace {

constexpr std::size_t large = gen_tcp::detail::read_chunk_size + 64;
std::atomic<std::size_t> large_count{0};
std::atomic<std::size_t> largest{0};

void note(std::size_t n) noexcept {
  if (n > large) {
    large_count.fetch_add(1, std::memory_order_relaxed);
    std::size_t seen = largest.load(std::memory_order_relaxed);
    while (n > seen && !largest.compare_exchange_weak(seen, n, std::memory_order_relaxed)) {
    }
  }
}

void* allocate(std::size_t n) noexcept {
  note(n);
  return std::malloc(n == 0 ? 1 : n);
}

void* allocate_or_throw(std::size_t n) {
  if (void* p = allocate(n)) {
    return p;
  }
  throw std::bad_alloc();
}

void* allocate_aligned(std::size_t n, std::align_val_t a) noexcept {
  note(n);
  auto align = static_cast<std::size_t>(a);
  return std::aligned_alloc(align, (n + align - 1) / align * align);
}

void* allocate_aligned_or_throw(std::size_t n, std::align_val_t a) {
  if (void* p = allocate_aligned(n, a)) {
    return p;
  }
  throw std::bad_alloc();
}

}  // namespace

std::size_t large_allocations() noexcept { return large_count.load(std::memory_order_relaxed); }
std::size_t largest_allocation() noexcept { return largest.load(std::memory_order_relaxed); }
void reset_largest_allocation() noexcept { largest.store(0, std::memory_order_relaxed); }

}  // namespace otpnet::gen_tcp::test

// NOLINTBEGIN(misc-new-delete-overloads): every replaceable global form, so
// that all of them agree (malloc and free underneath, as sanitizers check).
namespace t = otpnet::gen_tcp::test;
void* operator new(std::size_t n) { return t::allocate_or_throw(n); }
void* operator new[](std::size_t n) { return t::allocate_or_throw(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return t::allocate(n); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return t::allocate(n); }
void* operator new(std::size_t n, std::align_val_t a) { return t::allocate_aligned_or_throw(n, a); }
void* operator new[](std::size_t n, std::align_val_t a) { return t::allocate_aligned_or_throw(n, a); }
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return t::allocate_aligned(n, a);
}
void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return t::allocate_aligned(n, a);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
// NOLINTEND(misc-new-delete-overloads)
