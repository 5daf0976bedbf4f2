#include "otpnet/reactor/timer_wheel.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <random>
#include <vector>

namespace otpnet::reactor {
namespace {

using namespace std::chrono_literals;
using std::chrono::milliseconds;
using time_point = timer_wheel::time_point;

// Injected time: the tests never sleep, they move this.
const time_point t0{std::chrono::hours(24)};

struct wheel_recorder final : timer_handler {
  std::vector<std::uint64_t> fired;
  std::function<void(std::uint64_t)> hook;
  void on_timer(std::uint64_t token) noexcept override {
    fired.push_back(token);
    if (hook) {
      hook(token);
    }
  }
};

TEST(timer_wheel, fires_in_deadline_order_fifo_among_equals) {
  timer_wheel w(t0);
  wheel_recorder r;
  w.insert(t0 + 30ms, r, 30);
  w.insert(t0 + 10ms, r, 10);
  w.insert(t0 + 5000ms, r, 5000);
  w.insert(t0 + 20ms, r, 20);
  w.insert(t0 + 10ms, r, 11);
  EXPECT_EQ(w.size(), 5u);
  EXPECT_EQ(w.advance(t0 + 10s), 5u);
  EXPECT_EQ(r.fired, (std::vector<std::uint64_t>{10, 11, 20, 30, 5000}));
  EXPECT_EQ(w.size(), 0u);
}

TEST(timer_wheel, never_fires_before_its_deadline) {
  timer_wheel w(t0);
  wheel_recorder r;
  w.insert(t0 + 50ms, r, 1);
  w.insert(t0 + 10ms + 300us, r, 2);  // rounded up to 11 ms
  EXPECT_EQ(w.advance(t0 + 10ms), 0u);
  EXPECT_EQ(w.advance(t0 + 10ms + 999us), 0u);
  EXPECT_EQ(w.advance(t0 + 11ms), 1u);
  EXPECT_EQ(w.advance(t0 + 49ms), 0u);
  EXPECT_EQ(w.advance(t0 + 50ms), 1u);
  EXPECT_EQ(r.fired, (std::vector<std::uint64_t>{2, 1}));
}

TEST(timer_wheel, past_deadline_fires_at_next_advance) {
  timer_wheel w(t0 + 1s);
  wheel_recorder r;
  w.insert(t0, r, 7);
  EXPECT_EQ(w.next_timeout(t0 + 1s), milliseconds(0));
  EXPECT_EQ(w.advance(t0 + 1s), 1u);
  EXPECT_EQ(r.fired, std::vector<std::uint64_t>{7});
}

TEST(timer_wheel, cancel_before_firing_reports_time_left) {
  timer_wheel w(t0);
  wheel_recorder r;
  auto h = w.insert(t0 + 100ms, r, 1);
  EXPECT_EQ(w.remaining(h, t0 + 40ms), milliseconds(60));
  EXPECT_EQ(w.cancel(h, t0 + 30ms), milliseconds(70));
  EXPECT_EQ(w.size(), 0u);
  EXPECT_EQ(w.advance(t0 + 1s), 0u);
  EXPECT_TRUE(r.fired.empty());
  EXPECT_EQ(w.cancel(h, t0 + 1s), std::nullopt);
  EXPECT_EQ(w.remaining(h, t0 + 1s), std::nullopt);
}

TEST(timer_wheel, cancel_after_firing_reports_not_found) {
  timer_wheel w(t0);
  wheel_recorder r;
  auto h = w.insert(t0 + 5ms, r, 1);
  EXPECT_EQ(w.advance(t0 + 5ms), 1u);
  EXPECT_EQ(w.cancel(h, t0 + 5ms), std::nullopt);
  EXPECT_EQ(w.remaining(h, t0 + 5ms), std::nullopt);
}

TEST(timer_wheel, due_but_unfired_timer_has_zero_left) {
  timer_wheel w(t0);
  wheel_recorder r;
  auto h = w.insert(t0 + 5ms, r, 1);
  EXPECT_EQ(w.remaining(h, t0 + 9ms), milliseconds(0));
  EXPECT_EQ(w.cancel(h, t0 + 9ms), milliseconds(0));
}

TEST(timer_wheel, disarm_removes_like_cancel_and_leaves_others) {
  timer_wheel w(t0);
  wheel_recorder r;
  auto a = w.insert(t0 + 10ms, r, 1);
  auto b = w.insert(t0 + 10ms, r, 2);
  EXPECT_TRUE(w.disarm(a));
  EXPECT_FALSE(w.disarm(a));
  EXPECT_FALSE(w.disarm(timer_handle{}));
  EXPECT_EQ(w.size(), 1u);
  EXPECT_EQ(w.advance(t0 + 10ms), 1u);
  EXPECT_EQ(r.fired, std::vector<std::uint64_t>{2});
  EXPECT_FALSE(w.disarm(b));  // fired
}

TEST(timer_wheel, stale_handle_cannot_touch_a_new_timer) {
  timer_wheel w(t0);
  wheel_recorder r;
  auto old = w.insert(t0 + 10ms, r, 1);
  ASSERT_TRUE(w.cancel(old, t0));
  auto fresh = w.insert(t0 + 20ms, r, 2);
  EXPECT_EQ(fresh.index, old.index);  // the record was reused...
  EXPECT_NE(fresh, old);              // ...under a new generation
  EXPECT_EQ(w.cancel(old, t0), std::nullopt);
  EXPECT_EQ(w.remaining(fresh, t0), milliseconds(20));
  EXPECT_EQ(w.cancel(timer_handle{}, t0), std::nullopt);
  EXPECT_EQ(w.cancel(timer_handle{12345, 1}, t0), std::nullopt);
  EXPECT_EQ(w.advance(t0 + 20ms), 1u);
  EXPECT_EQ(r.fired, std::vector<std::uint64_t>{2});
}

TEST(timer_wheel, insert_and_cancel_100k_reuses_the_pool) {
  timer_wheel w(t0);
  wheel_recorder r;
  std::vector<timer_handle> hs;
  hs.reserve(100'000);
  for (int round = 0; round < 2; ++round) {
    for (std::uint64_t i = 0; i < 100'000; ++i) {
      hs.push_back(w.insert(t0 + milliseconds(1 + i * 37 % 500'000), r, i));
    }
    EXPECT_EQ(w.size(), 100'000u);
    for (auto h : hs) {
      ASSERT_TRUE(w.cancel(h, t0));
    }
    hs.clear();
    EXPECT_EQ(w.size(), 0u);
    EXPECT_EQ(w.pool_size(), 100'000u);  // the second round allocated nothing
  }
  timer_wheel single(t0);
  for (int i = 0; i < 100'000; ++i) {
    ASSERT_TRUE(single.cancel(single.insert(t0 + 1h, r, 0), t0));
  }
  EXPECT_EQ(single.pool_size(), 1u);
  EXPECT_EQ(w.advance(t0 + 24h), 0u);
  EXPECT_TRUE(r.fired.empty());
}

TEST(timer_wheel, reserve_fills_the_pool_ahead) {
  timer_wheel w(t0);
  wheel_recorder r;
  w.reserve(64);
  EXPECT_EQ(w.pool_size(), 64u);
  for (int i = 0; i < 64; ++i) {
    w.insert(t0 + 1s, r, 0);
  }
  EXPECT_EQ(w.pool_size(), 64u);
}

// Each deadline on its own wheel, stepped to one millisecond before and then
// to the deadline: it sits at a different level each time, up to the far
// list beyond 2^36 ms.
TEST(timer_wheel, long_timeouts_across_levels_fire_exactly_on_time) {
  const std::vector<milliseconds> delays{
      1ms, 63ms, 64ms, 65ms,     4095ms,          4096ms,    4097ms,        262'143ms,     262'144ms,
      1h,  5h,   72h,  24h * 30, 24h * 49 + 17ms, 24h * 365, 24h * 365 * 3, 24h * 365 * 10};
  for (auto d : delays) {
    timer_wheel w(t0 + 123ms);  // an unaligned start
    wheel_recorder r;
    auto start = t0 + 123ms;
    auto h = w.insert(start + d, r, 1);
    EXPECT_EQ(w.remaining(h, start), d);
    // Stepping by next_timeout never overshoots and takes few steps.
    auto now = start;
    int steps = 0;
    while (r.fired.empty() && steps < 20) {
      auto next = w.next_timeout(now);
      ASSERT_TRUE(next) << d.count();
      now += *next;
      EXPECT_LE(now, start + d) << d.count();
      w.advance(now);
      ++steps;
    }
    EXPECT_EQ(r.fired.size(), 1u) << d.count();
    EXPECT_EQ(now, start + d) << d.count();
    // One step per level, plus one per 2^36 ms block crossed from the far list.
    auto far_blocks = static_cast<int>(d.count() >> (timer_wheel::levels * timer_wheel::level_bits));
    EXPECT_LE(steps, static_cast<int>(timer_wheel::levels) + 2 + far_blocks) << d.count();
  }
}

TEST(timer_wheel, a_late_advance_fires_everything_due_in_order) {
  timer_wheel w(t0);
  wheel_recorder r;
  const std::vector<milliseconds> delays{24h * 365 * 3, 72h, 1ms, 5h, 4096ms, 65ms, 24h * 30};
  for (std::size_t i = 0; i < delays.size(); ++i) {
    w.insert(t0 + delays[i], r, static_cast<std::uint64_t>(delays[i].count()));
  }
  EXPECT_EQ(w.advance(t0 + 24h * 365 * 4), delays.size());
  EXPECT_TRUE(std::is_sorted(r.fired.begin(), r.fired.end()));
}

// Random deadlines, random jumps of the clock, and timers armed between the
// jumps: every timer fires at the first advance at or past its deadline,
// never before, in deadline order and, among equal deadlines, in the order
// armed. Tokens are (deadline << 24 | arming sequence), so the fired tokens
// must be strictly increasing.
TEST(timer_wheel, random_deadlines_fire_on_time_and_in_order) {
  std::mt19937_64 rng(42);
  timer_wheel w(t0);
  std::vector<std::uint64_t> fired;
  struct : timer_handler {
    std::vector<std::uint64_t>* out;
    void on_timer(std::uint64_t token) noexcept override { out->push_back(token); }
  } h;
  h.out = &fired;
  std::uint64_t seq = 0;
  auto arm = [&](time_point now, std::uint64_t max_delay) {
    // Coarse deadlines, so that many are equal.
    auto d = (now - t0) + milliseconds(1 + rng() % max_delay / 1000 * 1000);
    auto ms = static_cast<std::uint64_t>(std::chrono::duration_cast<milliseconds>(d).count());
    w.insert(t0 + milliseconds(ms), h, ms << 24 | seq++);
  };
  for (int i = 0; i < 20'000; ++i) {
    arm(t0, 10'000'000);
  }
  time_point now = t0;
  for (int step = 0; step < 2'000 || w.size() > 0; ++step) {
    time_point prev = now;
    now += milliseconds(rng() % 100 * 1000);  // whole seconds: deadlines meet
    std::size_t before = fired.size();
    w.advance(now);
    for (std::size_t i = before; i < fired.size(); ++i) {
      auto deadline = t0 + milliseconds(fired[i] >> 24);
      ASSERT_LE(deadline, now);
      ASSERT_GT(deadline, prev);
    }
    if (step < 2'000) {
      for (int i = 0; i < 10; ++i) {
        arm(now, 5'000'000);
      }
    }
  }
  ASSERT_EQ(fired.size(), seq);
  EXPECT_TRUE(std::adjacent_find(fired.begin(), fired.end(), std::greater_equal<>()) == fired.end());
}

TEST(timer_wheel, budget_bounds_one_advance_and_keeps_order) {
  timer_wheel w(t0);
  wheel_recorder r;
  for (std::uint64_t i = 0; i < 10; ++i) {
    w.insert(t0 + milliseconds(1 + i), r, i);
  }
  EXPECT_EQ(w.advance(t0 + 1s, 3), 3u);
  EXPECT_EQ(w.next_timeout(t0 + 1s), milliseconds(0));
  EXPECT_EQ(w.advance(t0 + 1s, 3), 3u);
  EXPECT_EQ(w.advance(t0 + 1s), 4u);
  EXPECT_EQ(r.fired, (std::vector<std::uint64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  EXPECT_EQ(w.next_timeout(t0 + 1s), std::nullopt);
}

TEST(timer_wheel, handler_rearming_a_past_deadline_does_not_loop) {
  timer_wheel w(t0);
  wheel_recorder r;
  r.hook = [&](std::uint64_t t) { w.insert(t0, r, t + 1); };
  w.insert(t0 + 1ms, r, 0);
  EXPECT_EQ(w.advance(t0 + 1ms), 1u);
  EXPECT_EQ(w.next_timeout(t0 + 1ms), milliseconds(0));
  EXPECT_EQ(w.advance(t0 + 1ms), 1u);
  EXPECT_EQ(r.fired, (std::vector<std::uint64_t>{0, 1}));
}

TEST(timer_wheel, handler_may_cancel_a_timer_due_in_the_same_advance) {
  timer_wheel w(t0);
  wheel_recorder r;
  timer_handle second;
  std::optional<milliseconds> left;
  r.hook = [&](std::uint64_t t) {
    if (t == 1) {
      left = w.cancel(second, t0 + 5ms);
    }
  };
  w.insert(t0 + 5ms, r, 1);
  second = w.insert(t0 + 5ms, r, 2);
  w.insert(t0 + 6ms, r, 3);
  EXPECT_EQ(w.advance(t0 + 10ms), 2u);
  EXPECT_EQ(r.fired, (std::vector<std::uint64_t>{1, 3}));
  EXPECT_EQ(left, milliseconds(0));
}

TEST(timer_wheel, next_timeout_is_exact_at_the_finest_level) {
  timer_wheel w(t0);
  wheel_recorder r;
  EXPECT_EQ(w.next_timeout(t0), std::nullopt);
  w.insert(t0 + 10ms, r, 1);
  EXPECT_EQ(w.next_timeout(t0), milliseconds(10));
  EXPECT_EQ(w.next_timeout(t0 + 4ms), milliseconds(6));
  EXPECT_EQ(w.next_timeout(t0 + 1s), milliseconds(0));
}

TEST(timer_wheel, time_going_backwards_fires_nothing) {
  timer_wheel w(t0 + 1s);
  wheel_recorder r;
  w.insert(t0 + 2s, r, 1);
  EXPECT_EQ(w.advance(t0), 0u);
  EXPECT_EQ(w.advance(t0 + 2s), 1u);
}

}  // namespace
}  // namespace otpnet::reactor
