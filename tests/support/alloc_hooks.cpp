// File: tests/support/alloc_hooks.cpp
//
// The replacement of the global operator new and delete for the test
// programs that link otpnet_alloc_hooks (alloc_hooks.hpp says what the hooks
// are for). The object is linked in because those programs call its hooks.
#include "support/alloc_hooks.hpp"

#include <atomic>
#include <cstdlib>
#include <limits>
#include <new>

namespace otpnet::test {
namespace {

thread_local bool failing = false;
thread_local std::size_t allowed_left = 0;  // while failing: those that still go ahead
thread_local std::size_t refused_count = 0;
std::atomic<std::size_t> count_above{std::numeric_limits<std::size_t>::max()};
std::atomic<std::size_t> large_count{0};
std::atomic<std::size_t> largest{0};

// Whether this allocation goes ahead; counts it when it is a large one.
bool admit(std::size_t n) noexcept {
  if (failing) {
    if (allowed_left == 0) {
      ++refused_count;
      return false;
    }
    --allowed_left;
  }
  if (n > count_above.load(std::memory_order_relaxed)) {
    large_count.fetch_add(1, std::memory_order_relaxed);
    std::size_t seen = largest.load(std::memory_order_relaxed);
    while (n > seen && !largest.compare_exchange_weak(seen, n, std::memory_order_relaxed)) {
    }
  }
  return true;
}

void* allocate(std::size_t n) noexcept { return admit(n) ? std::malloc(n == 0 ? 1 : n) : nullptr; }

void* allocate_or_throw(std::size_t n) {
  if (void* p = allocate(n)) {
    return p;
  }
  throw std::bad_alloc();
}

void* allocate_aligned(std::size_t n, std::align_val_t a) noexcept {
  if (!admit(n)) {
    return nullptr;
  }
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

failing_allocations::failing_allocations() noexcept : failing_allocations(0) {}

failing_allocations::failing_allocations(std::size_t allowed) noexcept {
  failing = true;
  allowed_left = allowed;
  refused_count = 0;
}

failing_allocations::~failing_allocations() { failing = false; }

std::size_t failing_allocations::refused() const noexcept { return refused_count; }

void count_allocations_above(std::size_t bytes) noexcept { count_above.store(bytes, std::memory_order_relaxed); }
std::size_t large_allocations() noexcept { return large_count.load(std::memory_order_relaxed); }
std::size_t largest_allocation() noexcept { return largest.load(std::memory_order_relaxed); }
void reset_largest_allocation() noexcept { largest.store(0, std::memory_order_relaxed); }

}  // namespace otpnet::test

// NOLINTBEGIN(misc-new-delete-overloads): every replaceable global form, so
// that all of them agree.
namespace t = otpnet::test;
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
