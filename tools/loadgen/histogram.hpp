// File: tools/loadgen/histogram.hpp
//
// `histogram`: a log-linear latency histogram in the manner of HdrHistogram,
// fixed in size and allocation-free once built. Values (nanoseconds) below
// 2^sub_bits are counted exactly; above, every power of two [2^k, 2^(k+1))
// is split into 2^(sub_bits-1) equal sub-buckets, so a reported value is
// within 2^-(sub_bits-1) (0.8 % with sub_bits = 8) of the recorded one.
// Values above `max_trackable` are counted in the last bucket; the exact
// maximum and the sum are kept on the side.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>

namespace otpnet::tools::loadgen {

class histogram {
 public:
  static constexpr unsigned sub_bits = 8;                     // 256 exact values, then 128 per octave
  static constexpr std::uint64_t sub_count = 1u << sub_bits;  // 256
  static constexpr std::uint64_t half_count = sub_count / 2;  // 128 sub-buckets per octave
  static constexpr unsigned max_magnitude = 40;               // up to 2^40 ns (about 18 minutes)
  static constexpr std::uint64_t max_trackable = (std::uint64_t{1} << max_magnitude) - 1;
  static constexpr std::size_t bucket_count = sub_count + (max_magnitude - sub_bits) * half_count;

  /// Counts one value.
  void record(std::uint64_t v) noexcept {
    max_ = std::max(max_, v);
    min_ = std::min(min_, v);
    sum_ += v;
    ++total_;
    ++counts_[index_of(std::min(v, max_trackable))];
  }

  /// Adds every count of `o` (merging the histograms of several threads).
  void merge(const histogram& o) noexcept {
    for (std::size_t i = 0; i < bucket_count; ++i) {
      counts_[i] += o.counts_[i];
    }
    total_ += o.total_;
    sum_ += o.sum_;
    max_ = std::max(max_, o.max_);
    min_ = std::min(min_, o.min_);
  }

  void reset() noexcept { *this = histogram{}; }

  std::uint64_t count() const noexcept { return total_; }
  std::uint64_t max() const noexcept { return total_ == 0 ? 0 : max_; }
  std::uint64_t min() const noexcept { return total_ == 0 ? 0 : min_; }
  double mean() const noexcept { return total_ == 0 ? 0.0 : static_cast<double>(sum_) / static_cast<double>(total_); }

  /// The value at quantile `q` in [0, 1]: the highest value of the bucket
  /// holding the ceil(q * count)-th smallest value (never above the exact
  /// maximum). 0 when empty.
  std::uint64_t quantile(double q) const noexcept {
    if (total_ == 0) {
      return 0;
    }
    q = std::clamp(q, 0.0, 1.0);
    auto rank = static_cast<std::uint64_t>(q * static_cast<double>(total_) + 0.999999);
    rank = std::clamp<std::uint64_t>(rank, 1, total_);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < bucket_count; ++i) {
      seen += counts_[i];
      if (seen >= rank) {
        return std::min(highest_in(i), max_);
      }
    }
    return max_;
  }

  /// The bucket a value falls in.
  static constexpr std::size_t index_of(std::uint64_t v) noexcept {
    if (v < sub_count) {
      return static_cast<std::size_t>(v);
    }
    // v has bit_width w > sub_bits: keep its top sub_bits bits.
    const unsigned shift = static_cast<unsigned>(std::bit_width(v)) - sub_bits;
    const std::uint64_t top = v >> shift;  // in [half_count, sub_count)
    return static_cast<std::size_t>(sub_count + (shift - 1) * half_count + (top - half_count));
  }

  /// The lowest and highest value counted in bucket `i`.
  static constexpr std::uint64_t lowest_in(std::size_t i) noexcept {
    if (i < sub_count) {
      return i;
    }
    const std::uint64_t j = i - sub_count;
    const std::uint64_t shift = j / half_count + 1;
    return (half_count + j % half_count) << shift;
  }
  static constexpr std::uint64_t highest_in(std::size_t i) noexcept {
    if (i < sub_count) {
      return i;
    }
    const std::uint64_t shift = (i - sub_count) / half_count + 1;
    return lowest_in(i) + (std::uint64_t{1} << shift) - 1;
  }

 private:
  std::array<std::uint64_t, bucket_count> counts_{};
  std::uint64_t total_ = 0;
  std::uint64_t sum_ = 0;
  std::uint64_t max_ = 0;
  std::uint64_t min_ = UINT64_MAX;
};

// The layout, checked at compile time: buckets are contiguous and cover
// every value up to max_trackable.
static_assert(histogram::index_of(255) == 255);
static_assert(histogram::index_of(256) == 256);
static_assert(histogram::lowest_in(histogram::index_of(256)) == 256);
static_assert(histogram::highest_in(histogram::index_of(257)) == 257);
static_assert(histogram::index_of(511) + 1 == histogram::index_of(512));
static_assert(histogram::lowest_in(histogram::index_of(1000)) <= 1000);
static_assert(histogram::highest_in(histogram::index_of(1000)) >= 1000);
static_assert(histogram::highest_in(histogram::index_of(histogram::max_trackable)) == histogram::max_trackable);
static_assert(histogram::index_of(histogram::max_trackable) == histogram::bucket_count - 1);

}  // namespace otpnet::tools::loadgen
