// File: gen_tcp/buffer.test.cpp
//
// Buffers and the per-thread chunk pool: views share a chunk, a released
// chunk is reused, a thread that is no scheduler's keeps only the steady
// count, and on a scheduler the pool gives the pages of the chunks a burst
// left back to the kernel after a quiet period (checked with mincore), then
// reuses those chunks before asking for new memory, and a pool that ends
// with cold chunks frees them. A chunk released on another thread than the
// one that took it goes to the releasing thread's pool. A view grows over
// the bytes in front of it or after it only when they are the ones asked.
#include <otpnet/gen_tcp/buffer.hpp>
#include <otpnet/runtime/mailbox.hpp>
#include <otpnet/runtime/process.hpp>
#include <otpnet/runtime/receive.hpp>
#include <otpnet/runtime/runtime.hpp>

#include "gen_tcp/buffer_access.hpp"

#include <gtest/gtest.h>

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <latch>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace otpnet::gen_tcp {
namespace {

using namespace std::chrono_literals;
namespace d = gen_tcp::detail;

const std::byte* chunk_of(const buffer& b) noexcept { return b.data() - sizeof(d::chunk); }

TEST(buffer, views_share_their_chunk) {
  buffer a = buffer::copy_of(std::string_view("hello world"));
  buffer w = a.sub(6, 5);
  EXPECT_EQ(w.view(), "world");
  EXPECT_EQ(chunk_of(a), w.data() - 6 - sizeof(d::chunk));
  a = buffer();
  EXPECT_EQ(w.view(), "world");  // the view keeps the chunk
}

// The port's send joins a frame to the header in front of it, and to the
// frame before it, only where the bytes are those it would send anyway.
TEST(buffer, a_view_absorbs_only_the_bytes_that_are_in_front_of_it) {
  const std::string h2_hi("\x00\x02hi", 4);
  const std::string h3_abc = std::string("\x00\x03", 2) + "abc";
  buffer all = buffer::copy_of(h2_hi + h3_abc);
  buffer hi = all.sub(2, 2);
  buffer abc = all.sub(6, 3);
  const std::array<std::byte, 2> h2{std::byte{0}, std::byte{2}};
  const std::array<std::byte, 2> h3{std::byte{0}, std::byte{3}};

  buffer other = abc;
  EXPECT_FALSE(d::absorb_prefix(other, h2.data(), 2));  // 00 03 is there
  EXPECT_EQ(other.view(), "abc");
  EXPECT_FALSE(d::absorb_prefix(all, h2.data(), 2));  // nothing in front of it
  EXPECT_EQ(all.size(), 9U);
  EXPECT_FALSE(d::absorb_prefix(other, h2.data(), 3));  // not a header's size

  ASSERT_TRUE(d::absorb_prefix(hi, h2.data(), 2));
  EXPECT_EQ(hi.view(), h2_hi);
  ASSERT_TRUE(d::absorb_prefix(abc, h3.data(), 2));
  EXPECT_FALSE(d::absorb_next(abc, hi));  // behind it, not after it
  ASSERT_TRUE(d::absorb_next(hi, abc));
  EXPECT_EQ(hi.view(), all.view());
  EXPECT_EQ(abc.view(), h3_abc);  // keeps its own view

  buffer elsewhere = buffer::copy_of(std::string_view("abc"));
  buffer first = all.sub(0, 4);
  EXPECT_FALSE(d::absorb_next(first, elsewhere));  // another chunk
  buffer none;
  EXPECT_FALSE(d::absorb_next(none, none));
  EXPECT_FALSE(d::absorb_prefix(none, h2.data(), 2));
}

TEST(buffer, a_released_chunk_comes_back_first) {
  const std::byte* first = nullptr;
  {
    buffer a = buffer::copy_of(std::string_view("x"));
    first = chunk_of(a);
  }
  buffer b = buffer::copy_of(std::string_view("y"));
  EXPECT_EQ(chunk_of(b), first);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(first) % 4096, 0U);  // whole pages, to give back
}

// A thread that is no scheduler's has no loop for the decay: its pool keeps
// the steady count and frees what comes back beyond it.
TEST(buffer, a_thread_without_a_scheduler_keeps_only_the_steady_chunks) {
  constexpr std::size_t burst = 64;
  std::vector<buffer> held;
  held.reserve(burst);
  for (std::size_t i = 0; i < burst; ++i) {
    held.push_back(buffer::copy_of(std::string_view("burst")));
  }
  held.clear();
  EXPECT_EQ(d::pool_counts().warm, d::pool_steady_chunks);
  EXPECT_EQ(d::pool_counts().cold, 0U);
}

// A frame read on one thread and dropped on another (a port's scheduler,
// a process on another scheduler): the last release, there, puts the chunk
// in that thread's pool (no lock: each pool is its thread's), which reuses
// it; the taking thread's pool is untouched. The pool's end with its thread
// frees it (LeakSanitizer would show it kept).
TEST(buffer, a_chunk_released_on_another_thread_goes_to_that_threads_pool) {
  buffer a = buffer::copy_of(std::string_view("cross"));
  const std::byte* at = chunk_of(a);
  std::size_t here_before = d::pool_counts().warm;
  d::chunk_pool_counts there_before{};
  d::chunk_pool_counts there_after{};
  const std::byte* reused = nullptr;
  std::string bytes;
  std::thread t([&] {
    there_before = d::pool_counts();
    a = buffer();  // the only reference: released on this thread
    there_after = d::pool_counts();
    buffer b = buffer::copy_of(std::string_view("again"));
    reused = chunk_of(b);
    bytes = std::string(b.view());
  });
  t.join();
  EXPECT_EQ(there_before.warm, 0U);
  EXPECT_EQ(there_after.warm, 1U);
  EXPECT_EQ(reused, at) << "the releasing thread did not reuse the chunk";
  EXPECT_EQ(bytes, "again");
  EXPECT_EQ(d::pool_counts().warm, here_before) << "the taking thread's pool changed";
}

// Views of one chunk dropped at once on two threads: the reference count
// lets exactly one of them release it, into its own pool. Mostly a check
// for ThreadSanitizer builds (the release path on two threads at once); in
// a plain build the two drops seldom overlap closely enough to show a
// broken count (a non-atomic decrement was not caught in 100 rounds).
TEST(buffer, views_dropped_at_once_on_two_threads_release_their_chunk_once) {
  for (int round = 0; round < 100; ++round) {
    buffer whole = buffer::copy_of(std::string_view("shared chunk"));
    std::array<buffer, 2> views{whole.sub(0, 6), whole.sub(7, 5)};
    whole = buffer();
    std::array<std::size_t, 2> pooled{};
    std::latch start(2);
    auto drop = [&](std::size_t i) {
      start.arrive_and_wait();
      views[i] = buffer();
      pooled[i] = d::pool_counts().warm;
    };
    std::thread t0(drop, 0);
    std::thread t1(drop, 1);
    t0.join();
    t1.join();
    ASSERT_EQ(pooled[0] + pooled[1], 1U) << "round " << round;
  }
}

/// How many of the chunks at `at` have a page in memory.
std::size_t resident(const std::vector<const std::byte*>& at) {
  std::size_t n = 0;
  for (const std::byte* c : at) {
    unsigned char v[(d::read_chunk_size + sizeof(d::chunk)) / 4096] = {};  // the whole pages
    if (::mincore(const_cast<std::byte*>(c), sizeof v * 4096, v) == 0 &&
        std::any_of(std::begin(v), std::end(v), [](unsigned char p) { return (p & 1) != 0; })) {
      ++n;
    }
  }
  return n;
}

// A scheduler's pool after a burst of 64 chunks: the chunks beyond the
// steady count go cold within a few decay periods (the process waits for
// that by polling the counts, a bounded number of times), their pages leave
// memory, and the next burst takes the same chunks again.
proc burst_then_quiet(pid to) {
  constexpr std::size_t burst = 64;
  std::vector<buffer> held;
  held.reserve(burst);
  for (std::size_t i = 0; i < burst; ++i) {
    held.push_back(buffer::copy_of(std::string_view("burst")));
  }
  std::vector<const std::byte*> at;
  at.reserve(burst);
  for (const buffer& b : held) {
    at.push_back(chunk_of(b));
  }
  held.clear();
  std::string verdict;
  if (d::pool_counts().warm < burst) {
    verdict = "the pool did not keep the burst's chunks";
  }
  for (int i = 0; i < 200 && verdict.empty(); ++i) {
    d::chunk_pool_counts c = d::pool_counts();
    if (c.warm <= d::pool_steady_chunks && c.cold >= burst - d::pool_steady_chunks) {
      break;
    }
    (void)co_await receive<int>(after(50ms));  // nothing comes: lets the loop's timers run
  }
  d::chunk_pool_counts c = d::pool_counts();
  if (verdict.empty() && (c.warm > d::pool_steady_chunks || c.cold < burst - d::pool_steady_chunks)) {
    verdict = "no decay: warm " + std::to_string(c.warm) + ", cold " + std::to_string(c.cold);
  }
  if (std::size_t r = resident(at); verdict.empty() && r > d::pool_steady_chunks) {
    verdict = std::to_string(r) + " chunks still in memory";
  }
  std::set<const std::byte*> known(at.begin(), at.end());
  // Half of them: the scheduler thread ends with cold chunks in its pool,
  // whose end gives them back (LeakSanitizer would show one it kept).
  for (std::size_t i = 0; i < burst / 2 && verdict.empty(); ++i) {
    held.push_back(buffer::copy_of(std::string_view("again")));
    if (known.count(chunk_of(held.back())) == 0) {
      verdict = "new memory while cold chunks were left";
    } else if (held.back().view() != "again") {
      verdict = "a cold chunk did not hold its bytes";
    }
  }
  send(to, verdict.empty() ? std::string("ok") : verdict);
}

TEST(buffer, the_pool_gives_back_what_a_burst_left) {
  ASSERT_TRUE(runtime::start({.schedulers = 1}));
  {
    mailbox mb;
    pid to = mb.self();
    spawn([to]() -> proc { return burst_then_quiet(to); });
    auto verdict = mb.receive<std::string>(30000ms);
    ASSERT_TRUE(verdict.has_value());
    EXPECT_EQ(*verdict, "ok");
  }
  runtime::stop();
}

}  // namespace
}  // namespace otpnet::gen_tcp
