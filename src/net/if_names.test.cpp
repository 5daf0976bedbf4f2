#include "otpnet/net/if_names.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

namespace otpnet::net {
namespace {

TEST(if_names, lists_lo_with_unique_indices) {
  auto r = if_names();
  ASSERT_TRUE(r) << err_name(r.error());
  std::set<unsigned> indices;
  for (const auto& e : *r) {
    EXPECT_GT(e.index, 0u);
    EXPECT_FALSE(e.name.empty());
    EXPECT_TRUE(indices.insert(e.index).second) << e.name;
  }
  auto lo = std::find_if(r->begin(), r->end(), [](const if_name_entry& e) { return e.name == "lo"; });
  EXPECT_NE(lo, r->end());
}

TEST(if_names, lo_round_trips_through_its_index) {
  auto index = if_name2index("lo");
  ASSERT_TRUE(index) << err_name(index.error());
  EXPECT_GT(*index, 0u);
  auto name = if_index2name(*index);
  ASSERT_TRUE(name) << err_name(name.error());
  EXPECT_EQ(*name, "lo");
  auto all = if_names();
  ASSERT_TRUE(all);
  EXPECT_NE(std::find(all->begin(), all->end(), if_name_entry{*index, "lo"}), all->end());
}

TEST(if_names, every_listed_interface_round_trips) {
  auto all = if_names();
  ASSERT_TRUE(all) << err_name(all.error());
  for (const auto& e : *all) {
    EXPECT_EQ(if_name2index(e.name), e.index) << e.name;
    EXPECT_EQ(if_index2name(e.index), e.name) << e.index;
  }
}

TEST(if_names, unknown_name_is_enodev) {
  auto r = if_name2index("nosuchif0");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), errc::enodev) << err_name(r.error());
}

TEST(if_names, malformed_name_is_invalid) {
  using namespace std::string_view_literals;
  for (std::string_view bad : {""sv, "an-interface-name-too-long"sv, "lo\0x"sv}) {
    auto r = if_name2index(bad);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), errc::invalid) << err_name(r.error());
  }
}

TEST(if_names, unknown_index_is_enxio) {
  auto all = if_names();
  ASSERT_TRUE(all);
  unsigned unused = 1;
  for (const auto& e : *all) {
    unused = std::max(unused, e.index + 1);
  }
  for (unsigned index : {0u, unused}) {
    auto r = if_index2name(index);
    ASSERT_FALSE(r) << index;
    EXPECT_EQ(r.error(), errc::enxio) << err_name(r.error());
  }
}

}  // namespace
}  // namespace otpnet::net
