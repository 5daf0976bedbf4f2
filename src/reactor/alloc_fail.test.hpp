// File: reactor/alloc_fail.test.hpp
//
// The reactor test program replaces the global operator new (alloc_fail.test.cpp)
// so that a test can make allocations fail on its own thread: memory
// exhaustion in a container that grows, which the reactor must report as a
// named error or survive, never lose work over.
#pragma once

#include <cstddef>

namespace otpnet::reactor::test {

/// While alive, every allocation made by this thread fails (operator new
/// throws std::bad_alloc, its nothrow forms return null). Counts them.
class failing_allocations {
 public:
  failing_allocations() noexcept;
  ~failing_allocations();
  failing_allocations(const failing_allocations&) = delete;
  failing_allocations& operator=(const failing_allocations&) = delete;

  /// Allocations refused so far.
  std::size_t refused() const noexcept;
};

}  // namespace otpnet::reactor::test
