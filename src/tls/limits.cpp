#include <otpnet/tls/limits.hpp>

#include "tls/handshake_slot.hpp"

#include <atomic>

namespace otpnet::tls {

namespace {

std::atomic<std::size_t> limit{default_handshake_limit};
std::atomic<std::size_t> in_progress{0};

}  // namespace

void set_handshake_limit(std::size_t n) noexcept { limit.store(n, std::memory_order_relaxed); }
std::size_t handshake_limit() noexcept { return limit.load(std::memory_order_relaxed); }
std::size_t handshakes_in_progress() noexcept { return in_progress.load(std::memory_order_relaxed); }

namespace internal {

handshake_slot handshake_slot::try_acquire() noexcept {
  std::size_t now = in_progress.load(std::memory_order_relaxed);
  do {
    if (now >= limit.load(std::memory_order_relaxed)) {
      return {};
    }
  } while (!in_progress.compare_exchange_weak(now, now + 1, std::memory_order_relaxed));
  return handshake_slot(true);
}

void handshake_slot::release() noexcept {
  if (std::exchange(held_, false)) {
    in_progress.fetch_sub(1, std::memory_order_relaxed);
  }
}

}  // namespace internal

}  // namespace otpnet::tls
