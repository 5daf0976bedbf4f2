#include "runtime/relations.hpp"

#include <gtest/gtest.h>

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
  relations::entry* t = rel.find_target(ref(5));
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

TEST(relations, many_keep_their_order) {
  relations rel;
  std::vector<pid> want;
  for (std::uint32_t i = 1; i <= 100; ++i) {
    rel.add_link(pid(i, 1));
    want.push_back(pid(i, 1));
  }
  for (std::uint32_t i = 1; i <= 100; i += 2) {
    rel.erase_link(pid(i, 1));
  }
  std::erase_if(want, [](pid p) { return p.slot() % 2 == 1; });
  EXPECT_EQ(of_kind(rel, kind::link), want);
  for (std::uint32_t i = 2; i <= 96; i += 2) {
    rel.erase_link(pid(i, 1));
  }
  EXPECT_EQ(of_kind(rel, kind::link), (std::vector<pid>{pid(98, 1), pid(100, 1)}));
  EXPECT_EQ(rel.heap_bytes(), 0u);
}

}  // namespace
}  // namespace otpnet::internal
