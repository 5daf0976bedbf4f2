// File: otpnet/base/duration_histogram.hpp
//
// `duration_histogram`: how long something took, counted in fixed buckets
// whose upper bounds step 1, 2.5, 5 through the decades from 1 µs to
// 1000 s (then +Inf), with the count and the sum. It is what a Prometheus
// histogram exposes (cumulative `le` buckets, `_sum`, `_count`), so the
// bounds are the same for every histogram and snapshots of several
// processes add up. Recording is a search over 28 bounds and three relaxed
// atomic additions: safe from any thread, meant for per-connection or
// per-handshake events, not per message. A reader takes a `snapshot`
// (plain numbers) from any thread; a recording in flight may be in its sum
// and not yet in its buckets, or the other way round, but every figure
// only grows.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace otpnet {

class duration_histogram {
 public:
  /// The buckets' upper bounds (inclusive), in nanoseconds: 1, 2.5, 5 µs,
  /// ..., 500 s, 1000 s. A last bucket counts what is above.
  static constexpr std::array<std::uint64_t, 28> bounds_ns = {
      1'000ULL,           2'500ULL,           5'000ULL,           10'000ULL,
      25'000ULL,          50'000ULL,          100'000ULL,         250'000ULL,
      500'000ULL,         1'000'000ULL,       2'500'000ULL,       5'000'000ULL,
      10'000'000ULL,      25'000'000ULL,      50'000'000ULL,      100'000'000ULL,
      250'000'000ULL,     500'000'000ULL,     1'000'000'000ULL,   2'500'000'000ULL,
      5'000'000'000ULL,   10'000'000'000ULL,  25'000'000'000ULL,  50'000'000'000ULL,
      100'000'000'000ULL, 250'000'000'000ULL, 500'000'000'000ULL, 1'000'000'000'000ULL};
  static constexpr std::size_t bucket_count = bounds_ns.size() + 1;

  /// What a histogram held when read: per-bucket counts (not cumulative),
  /// their total and the sum of the recorded durations.
  struct snapshot {
    std::array<std::uint64_t, bucket_count> buckets{};
    std::uint64_t count = 0;
    std::uint64_t sum_ns = 0;

    /// Adds `o` (the same bounds): a listener's acceptors, say.
    snapshot& operator+=(const snapshot& o) noexcept {
      for (std::size_t i = 0; i < bucket_count; ++i) {
        buckets[i] += o.buckets[i];
      }
      count += o.count;
      sum_ns += o.sum_ns;
      return *this;
    }
    double sum_seconds() const noexcept { return static_cast<double>(sum_ns) / 1e9; }
    friend bool operator==(const snapshot&, const snapshot&) = default;
  };

  duration_histogram() = default;
  duration_histogram(const duration_histogram&) = delete;
  duration_histogram& operator=(const duration_histogram&) = delete;

  /// The bucket `ns` falls in: the first whose bound is at or above it.
  static constexpr std::size_t bucket_of(std::uint64_t ns) noexcept {
    return static_cast<std::size_t>(std::lower_bound(bounds_ns.begin(), bounds_ns.end(), ns) - bounds_ns.begin());
  }

  /// Counts one duration (a negative one as 0). @threadsafe
  void record(std::chrono::nanoseconds d) noexcept {
    auto ns = static_cast<std::uint64_t>(std::max<std::chrono::nanoseconds::rep>(d.count(), 0));
    buckets_[bucket_of(ns)].fetch_add(1, std::memory_order_relaxed);
    sum_ns_.fetch_add(ns, std::memory_order_relaxed);
    count_.fetch_add(1, std::memory_order_relaxed);
  }

  /// @threadsafe
  snapshot read() const noexcept {
    snapshot s;
    for (std::size_t i = 0; i < bucket_count; ++i) {
      s.buckets[i] = buckets_[i].load(std::memory_order_relaxed);
      s.count += s.buckets[i];  // (the buckets' own total: consistent with them)
    }
    s.sum_ns = sum_ns_.load(std::memory_order_relaxed);
    return s;
  }

  /// Recordings so far. @threadsafe
  std::uint64_t count() const noexcept { return count_.load(std::memory_order_relaxed); }

 private:
  std::array<std::atomic<std::uint64_t>, bucket_count> buckets_{};
  std::atomic<std::uint64_t> sum_ns_{0};
  std::atomic<std::uint64_t> count_{0};
};

static_assert(duration_histogram::bucket_of(0) == 0);
static_assert(duration_histogram::bucket_of(1'000) == 0);
static_assert(duration_histogram::bucket_of(1'001) == 1);
static_assert(duration_histogram::bucket_of(1'000'000'000'001ULL) == duration_histogram::bucket_count - 1);
static_assert(std::is_sorted(duration_histogram::bounds_ns.begin(), duration_histogram::bounds_ns.end()));

}  // namespace otpnet
