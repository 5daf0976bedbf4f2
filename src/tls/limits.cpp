#include <otpnet/tls/limits.hpp>

#include "tls/handshake_slot.hpp"

#include <atomic>

namespace otpnet::tls {

namespace {

std::atomic<std::size_t> limit{default_handshake_limit};
std::atomic<std::size_t> in_progress{0};

std::atomic<std::uint64_t> succeeded{0};
std::atomic<std::uint64_t> timed_out{0};
std::atomic<std::uint64_t> refused{0};
std::atomic<std::uint64_t> failed{0};
std::atomic<std::uint64_t> cancelled{0};
duration_histogram took;

}  // namespace

void set_handshake_limit(std::size_t n) noexcept { limit.store(n, std::memory_order_relaxed); }
std::size_t handshake_limit() noexcept { return limit.load(std::memory_order_relaxed); }
std::size_t handshakes_in_progress() noexcept { return in_progress.load(std::memory_order_relaxed); }

handshake_counts handshake_statistics() noexcept {
  handshake_counts c;
  c.succeeded = succeeded.load(std::memory_order_relaxed);
  c.timed_out = timed_out.load(std::memory_order_relaxed);
  c.refused = refused.load(std::memory_order_relaxed);
  c.failed = failed.load(std::memory_order_relaxed);
  c.cancelled = cancelled.load(std::memory_order_relaxed);
  c.duration = took.read();
  return c;
}

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

void handshake_slot::end(errc outcome) noexcept {
  if (!held_) {
    if (outcome == errc::busy) {
      refused.fetch_add(1, std::memory_order_relaxed);
    }
    return;
  }
  switch (outcome) {
    case errc::ok:
      succeeded.fetch_add(1, std::memory_order_relaxed);
      took.record(std::chrono::steady_clock::now() - started_);
      break;
    case errc::timeout:
      timed_out.fetch_add(1, std::memory_order_relaxed);
      break;
    case errc::ecanceled:
      cancelled.fetch_add(1, std::memory_order_relaxed);
      break;
    default:
      failed.fetch_add(1, std::memory_order_relaxed);
      break;
  }
  release();
}

void handshake_slot::release() noexcept {
  if (std::exchange(held_, false)) {
    in_progress.fetch_sub(1, std::memory_order_relaxed);
  }
}

}  // namespace internal

}  // namespace otpnet::tls
