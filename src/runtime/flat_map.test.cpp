// File: runtime/flat_map.test.cpp
//
// internal::flat_map (src/internal/flat_map.hpp, shared by the layers
// above the runtime) with the runtime's pids and refs as keys: lookups,
// removal keeping the other entries reachable whatever the order,
// growth and shrinking, and a long random run checked against std::map.
#include "internal/flat_map.hpp"

#include <otpnet/runtime/pid.hpp>

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <random>
#include <vector>

namespace otpnet::internal {
namespace {

TEST(flat_map, insert_find_erase) {
  flat_map<ref, pid> m;
  EXPECT_TRUE(m.empty());
  EXPECT_EQ(m.capacity(), 0U);
  EXPECT_EQ(m.find(ref(1)), nullptr);
  EXPECT_TRUE(m.insert(ref(1), pid(10, 1)));
  EXPECT_TRUE(m.insert(ref(2), pid(20, 1)));
  EXPECT_FALSE(m.insert(ref(1), pid(30, 1)));  // there already: unchanged
  ASSERT_NE(m.find(ref(1)), nullptr);
  EXPECT_EQ(*m.find(ref(1)), pid(10, 1));
  EXPECT_EQ(m.size(), 2U);
  EXPECT_FALSE(m.contains(ref{}));  // the free-slot key names nothing
  EXPECT_EQ(m.extract(ref(2)), std::optional(pid(20, 1)));
  EXPECT_FALSE(m.erase(ref(2)));
  EXPECT_TRUE(m.erase(ref(1)));
  EXPECT_TRUE(m.empty());
}

TEST(flat_map, set_slots_are_one_key) {
  static_assert(sizeof(flat_map<pid>::slot) == sizeof(pid));
  static_assert(sizeof(flat_map<ref, pid>::slot) == 16);
  flat_map<pid> s;
  EXPECT_TRUE(s.insert(pid(1, 1)));
  EXPECT_TRUE(s.contains(pid(1, 1)));
  EXPECT_FALSE(s.contains(pid(1, 2)));
}

TEST(flat_map, move_only_values) {
  flat_map<pid, std::unique_ptr<int>> m;
  ASSERT_TRUE(m.insert(pid(1, 1), std::make_unique<int>(7)));
  ASSERT_TRUE(m.insert(pid(2, 1)));
  EXPECT_EQ(*m.find(pid(2, 1)), nullptr);
  std::optional<std::unique_ptr<int>> v = m.extract(pid(1, 1));
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(**v, 7);
}

TEST(flat_map, grows_and_shrinks_with_its_entries) {
  flat_map<ref, pid> m;
  constexpr std::uint64_t n = 10000;
  for (std::uint64_t i = 1; i <= n; ++i) {
    ASSERT_TRUE(m.insert(ref(i), pid::from_value(i + 1)));
  }
  EXPECT_EQ(m.size(), n);
  EXPECT_EQ(m.capacity(), 16384U);  // at most 3/4 full
  std::size_t seen = 0;
  for (const auto& [r, p] : m) {
    EXPECT_EQ(p.value(), r.value() + 1);
    ++seen;
  }
  EXPECT_EQ(seen, n);
  for (std::uint64_t i = 1; i <= n; ++i) {
    ASSERT_TRUE(m.erase(ref(i))) << i;
    if (i % 1000 == 0) {
      for (std::uint64_t j = i + 1; j <= n; j += 97) {
        ASSERT_TRUE(m.contains(ref(j))) << j << " after erasing up to " << i;
      }
    }
  }
  EXPECT_TRUE(m.empty());
  EXPECT_LE(m.capacity(), 16U);  // the memory went back as it emptied
}

TEST(flat_map, random_run_matches_std_map) {
  flat_map<pid, std::uint64_t> m;
  std::map<std::uint64_t, std::uint64_t> model;
  std::mt19937_64 rng(42);
  // Keys from a small range: clusters form and wrap around the table's end,
  // and removals shift entries back across it.
  for (int step = 0; step < 200000; ++step) {
    std::uint64_t k = 1 + rng() % 3000;
    switch (rng() % 3) {
      case 0:
      case 1:
        EXPECT_EQ(m.insert(pid::from_value(k), k * 3), model.emplace(k, k * 3).second);
        break;
      default:
        EXPECT_EQ(m.erase(pid::from_value(k)), model.erase(k) == 1);
        break;
    }
    if (step % 10000 == 0) {
      ASSERT_EQ(m.size(), model.size());
      for (std::uint64_t q = 1; q <= 3000; ++q) {
        const std::uint64_t* v = m.find(pid::from_value(q));
        auto it = model.find(q);
        ASSERT_EQ(v != nullptr, it != model.end()) << q;
        if (v != nullptr) {
          EXPECT_EQ(*v, it->second);
        }
      }
    }
  }
  std::size_t seen = 0;
  for (const auto& s : m) {
    EXPECT_EQ(model.at(s.key.value()), s.value);
    ++seen;
  }
  EXPECT_EQ(seen, model.size());
  m.clear();
  EXPECT_TRUE(m.empty());
  EXPECT_EQ(m.capacity(), 0U);
}

}  // namespace
}  // namespace otpnet::internal
