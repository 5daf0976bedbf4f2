// File: behaviours/id_tables.test.cpp
//
// internal::id_set / id_map (src/internal/id_tables.hpp: Abseil's flat
// tables keyed by pids and refs, for a supervisor's dynamic children and a
// listener's handlers): entries found by id, and shrink_if_sparse giving
// back the memory of a burst once its entries have gone, without losing
// the ones left.
#include "internal/id_tables.hpp"

#include <otpnet/runtime/pid.hpp>

#include <gtest/gtest.h>

#include <cstdint>

namespace otpnet::internal {
namespace {

TEST(id_tables, find_by_id) {
  id_map<ref, pid> m;
  EXPECT_TRUE(m.emplace(ref(1), pid(10, 1)).second);
  EXPECT_FALSE(m.emplace(ref(1), pid(30, 1)).second);  // there already: unchanged
  ASSERT_TRUE(m.contains(ref(1)));
  EXPECT_EQ(m.at(ref(1)), pid(10, 1));
  EXPECT_EQ(m.erase(ref(1)), 1U);
  EXPECT_EQ(m.erase(ref(1)), 0U);
  id_set<pid> s;
  s.insert(pid(1, 1));
  EXPECT_TRUE(s.contains(pid(1, 1)));
  EXPECT_FALSE(s.contains(pid(1, 2)));
}

TEST(id_tables, a_burst_gone_gives_its_memory_back_and_keeps_the_rest) {
  id_map<ref, pid> m;
  constexpr std::uint64_t n = 10000;
  for (std::uint64_t i = 1; i <= n; ++i) {
    m.emplace(ref(i), pid(i, 1));
  }
  const std::size_t full = m.capacity();
  EXPECT_GE(full, n);
  // Connections end in any order; each removal is followed by the check.
  for (std::uint64_t i = 1; i <= n; ++i) {
    if (i % 100 != 0) {
      m.erase(ref(i));
      shrink_if_sparse(m);
    }
  }
  EXPECT_EQ(m.size(), n / 100);
  EXPECT_LT(m.capacity(), full / 8);  // shrunk
  for (std::uint64_t i = 100; i <= n; i += 100) {
    ASSERT_TRUE(m.contains(ref(i))) << i;
    EXPECT_EQ(m.at(ref(i)), pid(i, 1));
  }
}

TEST(id_tables, a_small_or_full_table_is_left_as_it_is) {
  id_set<pid> s;
  for (std::uint64_t i = 1; i <= 40; ++i) {
    s.insert(pid(i, 1));
  }
  const std::size_t small = s.capacity();
  for (std::uint64_t i = 2; i <= 40; ++i) {
    s.erase(pid(i, 1));
  }
  shrink_if_sparse(s);
  EXPECT_EQ(s.capacity(), small);  // a few groups: not worth a rebuild
  id_set<pid> big;
  for (std::uint64_t i = 1; i <= 1000; ++i) {
    big.insert(pid(i, 1));
  }
  const std::size_t cap = big.capacity();
  shrink_if_sparse(big);
  EXPECT_EQ(big.capacity(), cap);
}

// Abseil's tables are left corrupt by a std::bad_alloc while they grow:
// their allocator ends the program with a report instead (the BEAM's way).
TEST(id_tables_death, memory_that_cannot_be_had_ends_the_program_with_a_report) {
  table_allocator<std::uint64_t> a;
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
  // (The sanitizers' allocators end the program themselves on a request this
  // large, unless told allocator_may_return_null.)
  volatile std::size_t huge = std::size_t{1} << 58;  // 2 EiB: refused (volatile: not a constant to the compiler)
  EXPECT_DEATH((void)a.allocate(huge), "otpnet: out of memory: a runtime table could not grow");
#endif
  volatile std::size_t overflow = std::size_t(-1) / 2;  // more bytes than a size_t holds
  EXPECT_DEATH((void)a.allocate(overflow), "out of memory");
  std::uint64_t* p = a.allocate(4);  // and memory that can be had is had
  ASSERT_NE(p, nullptr);
  p[3] = 7;
  a.deallocate(p, 4);
}

}  // namespace
}  // namespace otpnet::internal
