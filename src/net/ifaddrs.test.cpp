#include "otpnet/net/ifaddrs.hpp"

#include <gtest/gtest.h>

#include <sys/socket.h>

#include <algorithm>

namespace otpnet::net {
namespace {

int family_of(const ifaddrs_entry& e) { return e.addr ? e.addr->family() : AF_UNSPEC; }

TEST(ifaddrs, loopback_is_up_with_127_0_0_1_slash_8) {
  auto r = getifaddrs();
  ASSERT_TRUE(r) << err_name(r.error());
  auto lo = std::find_if(r->begin(), r->end(),
                         [](const ifaddrs_entry& e) { return e.name == "lo" && family_of(e) == AF_INET; });
  ASSERT_NE(lo, r->end()) << "no IPv4 entry for lo";
  EXPECT_TRUE(has(lo->flags, if_flags::up | if_flags::loopback)) << to_string(lo->flags);
  EXPECT_EQ(lo->addr->ip_string(), "127.0.0.1");
  ASSERT_TRUE(lo->netmask);
  EXPECT_EQ(lo->netmask->ip_string(), "255.0.0.0");
  EXPECT_FALSE(lo->broadaddr);
  EXPECT_FALSE(lo->dstaddr);
}

TEST(ifaddrs, family_filter_keeps_only_that_family) {
  for (auto [want, family] : {std::pair{if_family::inet, AF_INET}, std::pair{if_family::inet6, AF_INET6},
                              std::pair{if_family::packet, AF_PACKET}}) {
    auto r = getifaddrs({.family = want});
    ASSERT_TRUE(r) << err_name(r.error());
    for (const auto& e : *r) {
      EXPECT_EQ(family_of(e), family) << e.name;
    }
  }
  auto inet = getifaddrs({.family = if_family::inet});
  ASSERT_TRUE(inet);
  EXPECT_FALSE(inet->empty());
}

TEST(ifaddrs, ip_filter_is_inet_and_inet6) {
  auto all = getifaddrs();
  auto ip = getifaddrs({.family = if_family::ip});
  ASSERT_TRUE(all && ip);
  auto expected = std::count_if(all->begin(), all->end(), [](const ifaddrs_entry& e) {
    return family_of(e) == AF_INET || family_of(e) == AF_INET6;
  });
  EXPECT_EQ(static_cast<std::ptrdiff_t>(ip->size()), expected);
}

TEST(ifaddrs, flags_filter_requires_every_flag) {
  auto r = getifaddrs({.flags = if_flags::up | if_flags::loopback});
  ASSERT_TRUE(r) << err_name(r.error());
  EXPECT_FALSE(r->empty());
  for (const auto& e : *r) {
    EXPECT_TRUE(has(e.flags, if_flags::up | if_flags::loopback)) << e.name << ": " << to_string(e.flags);
  }
  auto lo = std::find_if(r->begin(), r->end(), [](const ifaddrs_entry& e) { return e.name == "lo"; });
  EXPECT_NE(lo, r->end());
}

TEST(ifaddrs, broadcast_and_peer_addresses_follow_the_flags) {
  auto r = getifaddrs();
  ASSERT_TRUE(r) << err_name(r.error());
  for (const auto& e : *r) {
    if (e.broadaddr) {
      EXPECT_TRUE(has(e.flags, if_flags::broadcast)) << e.name;
    }
    if (e.dstaddr) {
      EXPECT_TRUE(has(e.flags, if_flags::pointtopoint)) << e.name;
    }
    EXPECT_FALSE(e.broadaddr && e.dstaddr) << e.name;
    if (e.addr && e.netmask) {
      EXPECT_EQ(e.netmask->family(), e.addr->family()) << e.name;
    }
  }
}

TEST(ifaddrs, hardware_address_comes_from_the_packet_entry) {
  auto packet = getifaddrs({.family = if_family::packet});
  ASSERT_TRUE(packet) << err_name(packet.error());
  if (packet->empty()) {
    GTEST_SKIP() << "this system reports no AF_PACKET entries, hence no hardware addresses";
  }
  auto lo = std::find_if(packet->begin(), packet->end(), [](const ifaddrs_entry& e) { return e.name == "lo"; });
  ASSERT_NE(lo, packet->end());
  EXPECT_EQ(lo->addr->to_string(), hwaddr_to_string(lo->hwaddr));
  // lo's link layer is Ethernet-shaped, all zero.
  EXPECT_EQ(lo->hwaddr, std::vector<std::uint8_t>(6, 0));
  auto inet = getifaddrs({.family = if_family::inet, .flags = if_flags::loopback});
  ASSERT_TRUE(inet);
  for (const auto& e : *inet) {
    if (e.name == "lo") {
      EXPECT_EQ(e.hwaddr, lo->hwaddr) << "the inet entry carries the interface's hardware address";
    }
  }
}

}  // namespace
}  // namespace otpnet::net
