#include "otpnet/net/if_flags.hpp"

#include <gtest/gtest.h>

#include <net/if.h>

#include <set>

namespace otpnet::net {
namespace {

using names = std::vector<std::string_view>;

TEST(if_flags, values_are_the_kernel_bits) {
  EXPECT_EQ(static_cast<if_flags>(IFF_UP | IFF_LOOPBACK), if_flags::up | if_flags::loopback);
  EXPECT_EQ(static_cast<unsigned>(if_flags::multicast), static_cast<unsigned>(IFF_MULTICAST));
}

TEST(if_flags, names_follow_otp_in_bit_order) {
  EXPECT_EQ(flag_names(if_flags::running | if_flags::up | if_flags::loopback), (names{"up", "loopback", "running"}));
  EXPECT_EQ(flag_names(if_flags::broadcast | if_flags::pointtopoint | if_flags::multicast),
            (names{"broadcast", "pointtopoint", "multicast"}));
  EXPECT_EQ(flag_names(if_flags::none), names{});
}

TEST(if_flags, unknown_bits_are_left_out) {
  EXPECT_EQ(flag_names(static_cast<if_flags>(0x80000000u | IFF_UP)), names{"up"});
  EXPECT_EQ(flag_name(static_cast<if_flags>(0x80000000u)), "unknown");
  EXPECT_EQ(flag_name(if_flags::up | if_flags::running), "unknown");
}

TEST(if_flags, to_string_joins_with_commas) {
  EXPECT_EQ(to_string(if_flags::up | if_flags::loopback | if_flags::running | if_flags::lower_up),
            "up,loopback,running,lower_up");
  EXPECT_EQ(to_string(if_flags::none), "");
}

TEST(if_flags, has_requires_every_flag) {
  auto f = if_flags::up | if_flags::loopback;
  EXPECT_TRUE(has(f, if_flags::up));
  EXPECT_TRUE(has(f, if_flags::up | if_flags::loopback));
  EXPECT_FALSE(has(f, if_flags::up | if_flags::running));
  EXPECT_TRUE(has(f, if_flags::none));
  f |= if_flags::running;
  EXPECT_TRUE(has(f, if_flags::up | if_flags::running));
}

TEST(if_flags, every_name_is_unique) {
  std::set<std::string_view> seen;
#define OTPNET_X(name, bit) EXPECT_TRUE(seen.insert(flag_name(if_flags::name)).second) << #name;
  OTPNET_NET_IF_FLAGS(OTPNET_X)
#undef OTPNET_X
  EXPECT_EQ(seen.size(), 19u);
  EXPECT_FALSE(seen.count("unknown"));
}

}  // namespace
}  // namespace otpnet::net
