// File: otpnet/base/relaxed_counter.hpp
//
// A counter written by one thread at a time and read by any: a relaxed
// atomic updated with a load and a store, so that the writer pays no locked
// instruction and a reader never sees a torn value. Exact with one writer,
// approximate (never torn) if two write at once. The socket layer's info()
// counters and the reactor's loop and backend counters are these.
#pragma once

#include <atomic>
#include <cstdint>

namespace otpnet {

class relaxed_counter {
 public:
  relaxed_counter() = default;
  relaxed_counter(const relaxed_counter&) = delete;
  relaxed_counter& operator=(const relaxed_counter&) = delete;

  void add(std::uint64_t n) noexcept { v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  relaxed_counter& operator++() noexcept {
    add(1);
    return *this;
  }
  relaxed_counter& operator+=(std::uint64_t n) noexcept {
    add(n);
    return *this;
  }
  std::uint64_t get() const noexcept { return v_.load(std::memory_order_relaxed); }
  operator std::uint64_t() const noexcept { return get(); }  // NOLINT(google-explicit-constructor): reads as a number

 private:
  std::atomic<std::uint64_t> v_{0};
};

}  // namespace otpnet
