// File: tests/support/alloc_hooks.hpp
//
// A test program that links otpnet_alloc_hooks (tests/support/CMakeLists.txt)
// has its global operator new and delete replaced, with malloc and free
// underneath as the sanitizers expect, and two hooks:
//   - allocations larger than a threshold are counted, with the largest
//     (gen_tcp: a long line costs a few buffers, not one per byte; a length
//     header alone never makes a port allocate what it announces);
//   - inside a failing_allocations scope every allocation made by that
//     thread fails (reactor: a container that cannot grow must give a named
//     error, never lose work).
#pragma once

#include <cstddef>

namespace otpnet::test {

/// While alive, every allocation made by this thread fails (operator new
/// throws std::bad_alloc, its nothrow forms return null). Counts them.
class failing_allocations {
 public:
  failing_allocations() noexcept;
  /// The first `allowed` allocations go ahead; every one after fails.
  explicit failing_allocations(std::size_t allowed) noexcept;
  ~failing_allocations();
  failing_allocations(const failing_allocations&) = delete;
  failing_allocations& operator=(const failing_allocations&) = delete;

  /// Allocations refused so far.
  std::size_t refused() const noexcept;
};

/// From now on, count the allocations of more than `bytes` (by default
/// none is counted).
void count_allocations_above(std::size_t bytes) noexcept;
/// How many were counted so far, and the largest since
/// reset_largest_allocation().
std::size_t large_allocations() noexcept;
std::size_t largest_allocation() noexcept;
void reset_largest_allocation() noexcept;

}  // namespace otpnet::test
