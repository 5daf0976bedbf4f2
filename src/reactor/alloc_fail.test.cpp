// File: reactor/alloc_fail.test.cpp
//
// Replaces the global operator new and delete of the reactor test program
// (malloc and free underneath, as the sanitizers expect): allocations fail
// on a thread inside a `failing_allocations` scope, and only there.
#include "reactor/alloc_fail.test.hpp"

#include <cstdlib>
#include <new>

namespace otpnet::reactor::test {
namespace {

thread_local bool failing = false;
thread_local std::size_t refused_count = 0;

void* allocate(std::size_t n) noexcept {
  if (failing) {
    ++refused_count;
    return nullptr;
  }
  return std::malloc(n == 0 ? 1 : n);
}

void* allocate_or_throw(std::size_t n) {
  if (void* p = allocate(n)) {
    return p;
  }
  throw std::bad_alloc();
}

void* allocate_aligned(std::size_t n, std::align_val_t a) noexcept {
  if (failing) {
    ++refused_count;
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

failing_allocations::failing_allocations() noexcept {
  failing = true;
  refused_count = 0;
}

failing_allocations::~failing_allocations() { failing = false; }

std::size_t failing_allocations::refused() const noexcept { return refused_count; }

}  // namespace otpnet::reactor::test

// NOLINTBEGIN(misc-new-delete-overloads): every replaceable global form, so
// that all of them agree.
namespace t = otpnet::reactor::test;
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
