#include "runtime/relations.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

namespace otpnet::internal {
namespace {

using kind = relations::kind;

std::vector<pid> of_kind(const relations& rel, kind k) {
  std::vector<pid> out;
  rel.each(k, [&](const relations::entry& e) { out.push_back(e.other); });
  return out;
}

TEST(relations, two_in_place_then_on_the_heap_and_back) {
  relations rel;
  rel.add_link(pid(1, 1));
  rel.add_watcher(ref(7), pid(2, 1));
  EXPECT_EQ(rel.heap_bytes(), 0u);     // a handler's link and the listener's monitor: no block
  rel.add_watcher(ref(8), pid(3, 1));  // the starter's monitor, for a moment
  EXPECT_GT(rel.heap_bytes(), 0u);
  EXPECT_EQ(of_kind(rel, kind::monitored_by), (std::vector<pid>{pid(2, 1), pid(3, 1)}));
  EXPECT_EQ(rel.erase_watcher(ref(8)), 1u);
  EXPECT_EQ(rel.heap_bytes(), 0u);
  EXPECT_TRUE(rel.linked(pid(1, 1)));
  EXPECT_EQ(of_kind(rel, kind::monitored_by), (std::vector<pid>{pid(2, 1)}));
}

TEST(relations, kinds_and_refs_are_kept_apart) {
  relations rel;
  rel.add_target(ref(5), pid(4, 2));
  rel.add_watcher(ref(5), pid(4, 2));
  rel.add_link(pid(4, 2));
  const relations::entry* t = rel.find_target(ref(5));
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->k(), kind::monitoring);
  EXPECT_EQ(t->r(), ref(5));
  EXPECT_EQ(rel.erase_watcher(ref(5)), 1u);
  t = rel.find_target(ref(5));
  ASSERT_NE(t, nullptr);
  t->other = pid{};  // demonitored, its down still to drop
  EXPECT_EQ(rel.find_target(ref(5))->other, pid{});
  rel.erase(rel.find_target(ref(5)));
  EXPECT_EQ(rel.find_target(ref(5)), nullptr);
  EXPECT_TRUE(rel.linked(pid(4, 2)));
}

TEST(relations, up_to_indexed_from_they_keep_their_order) {
  relations rel;
  std::vector<pid> want;
  for (std::uint32_t i = 1; i <= relations::indexed_from; ++i) {
    rel.add_link(pid(i, 1));
    want.push_back(pid(i, 1));
  }
  EXPECT_FALSE(rel.indexed());
  for (std::uint32_t i = 1; i <= relations::indexed_from; i += 2) {
    rel.erase_link(pid(i, 1));
  }
  std::erase_if(want, [](pid p) { return p.slot() % 2 == 1; });
  EXPECT_EQ(of_kind(rel, kind::link), want);
  for (std::uint32_t i = 2; i <= relations::indexed_from - 4; i += 2) {
    rel.erase_link(pid(i, 1));
  }
  EXPECT_EQ(of_kind(rel, kind::link),
            (std::vector<pid>{pid(relations::indexed_from - 2, 1), pid(relations::indexed_from, 1)}));
  EXPECT_EQ(rel.heap_bytes(), 0u);
}

std::vector<pid> sorted(std::vector<pid> v) {
  std::sort(v.begin(), v.end(), [](pid a, pid b) { return a.value() < b.value(); });
  return v;
}

// A supervisor's links to its children, a listener's monitors of its
// handlers: one per connection, found by key past indexed_from.
TEST(relations, many_are_indexed_and_found_by_key) {
  constexpr std::uint32_t n = 10'000;
  relations rel;
  std::vector<pid> links;
  std::vector<pid> targets;
  for (std::uint32_t i = 1; i <= n; ++i) {
    rel.add_link(pid(i, 3));
    links.push_back(pid(i, 3));
    if (i % 10 == 0) {
      rel.add_target(ref(i), pid(i, 4));  // the same numbers as links: kept apart by kind
      targets.push_back(pid(i, 4));
      rel.add_watcher(ref(i), pid(i, 5));
    }
  }
  ASSERT_TRUE(rel.indexed());
  EXPECT_EQ(rel.size(), n + 2 * n / 10);
  EXPECT_GT(rel.heap_bytes(), rel.size() * sizeof(relations::entry));
  EXPECT_TRUE(rel.linked(pid(1, 3)));
  EXPECT_TRUE(rel.linked(pid(n, 3)));
  EXPECT_FALSE(rel.linked(pid(n + 1, 3)));
  EXPECT_FALSE(rel.linked(pid(1, 4)));  // another generation of the slot
  EXPECT_EQ(sorted(of_kind(rel, kind::link)), links);
  EXPECT_EQ(sorted(of_kind(rel, kind::monitoring)), targets);

  const relations::entry* t = rel.find_target(ref(500));
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->other, pid(500, 4));
  EXPECT_EQ(t->k(), kind::monitoring);
  t->other = pid{};  // demonitored, its down still to drop
  EXPECT_EQ(rel.find_target(ref(500))->other, pid{});
  rel.erase(rel.find_target(ref(500)));
  EXPECT_EQ(rel.find_target(ref(500)), nullptr);
  EXPECT_EQ(rel.find_target(ref(501)), nullptr);
  EXPECT_EQ(rel.erase_watcher(ref(500)), 1u);
  EXPECT_EQ(rel.erase_watcher(ref(500)), 0u);
  EXPECT_NE(rel.find_target(ref(510)), nullptr);  // the others stay

  for (std::uint32_t i = 1; i <= n; i += 2) {
    rel.erase_link(pid(i, 3));
  }
  std::erase_if(links, [](pid p) { return p.slot() % 2 == 1; });
  EXPECT_EQ(sorted(of_kind(rel, kind::link)), links);
  EXPECT_FALSE(rel.linked(pid(1, 3)));
  EXPECT_TRUE(rel.linked(pid(2, 3)));
}

TEST(relations, the_indexed_form_shrinks_and_goes_back_in_place) {
  relations rel;
  for (std::uint32_t i = 1; i <= 1000; ++i) {
    rel.add_link(pid(i, 1));
  }
  ASSERT_TRUE(rel.indexed());
  std::size_t full = rel.heap_bytes();
  for (std::uint32_t i = 1; i <= 990; ++i) {
    rel.erase_link(pid(i, 1));
  }
  EXPECT_TRUE(rel.indexed());
  EXPECT_LT(rel.heap_bytes() * 8, full);  // rebuilt smaller: a burst's memory given back
  for (std::uint32_t i = 991; i <= 998; ++i) {
    rel.erase_link(pid(i, 1));
  }
  EXPECT_FALSE(rel.indexed());
  EXPECT_EQ(rel.heap_bytes(), 0u);
  EXPECT_EQ(sorted(of_kind(rel, kind::link)), (std::vector<pid>{pid(999, 1), pid(1000, 1)}));
  rel.add_watcher(ref(1), pid(7, 1));  // and grows again from there
  EXPECT_EQ(rel.size(), 3u);
  EXPECT_EQ(rel.erase_watcher(ref(1)), 1u);
  EXPECT_TRUE(rel.linked(pid(999, 1)));
}

// Every way back in place, with monitors (and a demonitored one) carried
// across both switches.
TEST(relations, monitors_cross_both_switches_with_their_state) {
  relations rel;
  rel.add_target(ref(1), pid(1, 9));
  rel.find_target(ref(1))->other = pid{};  // demonitored in the array, its down still to drop
  rel.add_watcher(ref(2), pid(2, 9));
  for (std::uint32_t i = 10; i < 10 + relations::indexed_from; ++i) {
    rel.add_watcher(ref(i), pid(i, 9));
  }
  ASSERT_TRUE(rel.indexed());
  ASSERT_NE(rel.find_target(ref(1)), nullptr);
  EXPECT_EQ(rel.find_target(ref(1))->other, pid{});  // carried into the tables
  EXPECT_FALSE(rel.linked(pid(2, 9)));               // a watcher is not a link
  std::vector<pid> watchers = sorted(of_kind(rel, kind::monitored_by));
  ASSERT_EQ(watchers.size(), relations::indexed_from + 1);
  EXPECT_EQ(watchers.front(), pid(2, 9));
  for (std::uint32_t i = 10; i < 10 + relations::indexed_from; ++i) {
    EXPECT_EQ(rel.erase_watcher(ref(i)), 1u);
  }
  EXPECT_FALSE(rel.indexed());  // back by erase_watcher, two left
  EXPECT_EQ(rel.heap_bytes(), 0u);
  ASSERT_NE(rel.find_target(ref(1)), nullptr);
  EXPECT_EQ(rel.find_target(ref(1))->other, pid{});  // and back out
  EXPECT_EQ(of_kind(rel, kind::monitored_by), (std::vector<pid>{pid(2, 9)}));

  for (std::uint32_t i = 10; i < 10 + relations::indexed_from; ++i) {
    rel.add_target(ref(i), pid(i, 9));
  }
  ASSERT_TRUE(rel.indexed());
  for (std::uint32_t i = 10; i < 10 + relations::indexed_from; ++i) {
    rel.erase(rel.find_target(ref(i)));
  }
  EXPECT_FALSE(rel.indexed());  // back by erase(find_target)
  EXPECT_EQ(rel.size(), 2u);
  EXPECT_NE(rel.find_target(ref(1)), nullptr);
  EXPECT_EQ(rel.erase_watcher(ref(2)), 1u);
}

// The array may hold a link twice (a link signal for one already there);
// the tables hold it once: one erase_link removes it in both forms.
TEST(relations, a_link_held_twice_is_one_in_the_tables) {
  relations rel;
  rel.add_link(pid(1, 1));
  rel.add_link(pid(1, 1));
  for (std::uint32_t i = 2; i < relations::indexed_from; ++i) {
    rel.add_link(pid(i, 1));
  }
  EXPECT_FALSE(rel.indexed());
  EXPECT_EQ(rel.size(), relations::indexed_from);
  rel.add_link(pid(100, 1));
  ASSERT_TRUE(rel.indexed());
  EXPECT_EQ(rel.size(), relations::indexed_from);  // the duplicate dropped
  rel.erase_link(pid(1, 1));
  EXPECT_FALSE(rel.linked(pid(1, 1)));
  EXPECT_EQ(rel.size(), relations::indexed_from - 1);
  EXPECT_EQ(of_kind(rel, kind::link).size(), relations::indexed_from - 1);
}

}  // namespace
}  // namespace otpnet::internal
