// duration_histogram: which bucket a duration lands in (each bound is
// inclusive), the count and sum, snapshots that add, and recordings from
// two threads at once that are all counted.
#include <otpnet/base/duration_histogram.hpp>

#include <gtest/gtest.h>

#include <thread>

namespace otpnet {
namespace {

using namespace std::chrono_literals;

TEST(duration_histogram, each_bound_is_inclusive_and_what_is_above_the_last_is_counted_apart) {
  duration_histogram h;
  h.record(0ns);
  h.record(1us);          // the first bound: still the first bucket
  h.record(1001ns);       // above it: the second (up to 2.5 µs)
  h.record(3ms);          // (2.5 ms, 5 ms]
  h.record(1000s);        // the last bound
  h.record(1000s + 1ns);  // above every bound
  h.record(-5ns);         // a clock that went back: as 0
  auto s = h.read();
  EXPECT_EQ(s.count, 7U);
  EXPECT_EQ(h.count(), 7U);
  EXPECT_EQ(s.buckets[0], 3U) << "0, 1 µs and the negative one";
  EXPECT_EQ(s.buckets[1], 1U);
  EXPECT_EQ(s.buckets[duration_histogram::bucket_of(3'000'000)], 1U);
  EXPECT_EQ(duration_histogram::bounds_ns[duration_histogram::bucket_of(3'000'000)], 5'000'000U);
  EXPECT_EQ(s.buckets[duration_histogram::bucket_count - 2], 1U) << "1000 s: the last bound";
  EXPECT_EQ(s.buckets[duration_histogram::bucket_count - 1], 1U) << "above 1000 s";
  EXPECT_EQ(s.sum_ns, 1'000U + 1'001U + 3'000'000U + 2 * 1'000'000'000'000U + 1U);
  EXPECT_DOUBLE_EQ(s.sum_seconds(), static_cast<double>(s.sum_ns) / 1e9);
}

TEST(duration_histogram, snapshots_add_bucket_by_bucket) {
  duration_histogram a;
  duration_histogram b;
  a.record(20us);
  b.record(20us);
  b.record(2s);
  auto sum = a.read();
  sum += b.read();
  EXPECT_EQ(sum.count, 3U);
  EXPECT_EQ(sum.buckets[duration_histogram::bucket_of(20'000)], 2U);
  EXPECT_EQ(sum.buckets[duration_histogram::bucket_of(2'000'000'000)], 1U);
  EXPECT_EQ(sum.sum_ns, 2'000'040'000U);
}

TEST(duration_histogram, recordings_from_two_threads_at_once_are_all_counted) {
  duration_histogram h;
  constexpr int each = 100000;
  auto work = [&h](std::chrono::nanoseconds d) {
    for (int i = 0; i < each; ++i) {
      h.record(d);
    }
  };
  std::thread t1(work, 7us);
  std::thread t2(work, 70ms);
  t1.join();
  t2.join();
  auto s = h.read();
  EXPECT_EQ(s.count, 2U * each);
  EXPECT_EQ(s.buckets[duration_histogram::bucket_of(7'000)], std::uint64_t{each});
  EXPECT_EQ(s.buckets[duration_histogram::bucket_of(70'000'000)], std::uint64_t{each});
  EXPECT_EQ(s.sum_ns, std::uint64_t{each} * (7'000U + 70'000'000U));
}

}  // namespace
}  // namespace otpnet
