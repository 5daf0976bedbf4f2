#include "otpnet/net/sockaddr_value.hpp"

#include "net/addresses.test.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netpacket/packet.h>
#include <sys/un.h>

#include <array>
#include <cstddef>
#include <cstring>

namespace otpnet::net {
namespace {

using test::v4;

sockaddr_value v6(const char* ip, std::uint16_t port, std::uint32_t scope = 0) {
  ::sockaddr_in6 in6{};
  in6.sin6_family = AF_INET6;
  in6.sin6_port = htons(port);
  in6.sin6_scope_id = scope;
  EXPECT_EQ(::inet_pton(AF_INET6, ip, &in6.sin6_addr), 1);
  return *sockaddr_value::from_native(reinterpret_cast<const ::sockaddr*>(&in6), sizeof in6);
}

TEST(sockaddr_value, default_is_empty_and_unspec) {
  sockaddr_value v;
  EXPECT_EQ(v.family(), AF_UNSPEC);
  EXPECT_EQ(v.size(), 0u);
  EXPECT_EQ(v.port(), 0);
  EXPECT_EQ(v.ip_string(), "");
  EXPECT_EQ(v.to_string(), "unspec");
}

TEST(sockaddr_value, prints_inet_with_port) {
  auto v = v4("127.0.0.1", 80);
  EXPECT_EQ(v.family(), AF_INET);
  EXPECT_EQ(v.size(), sizeof(::sockaddr_in));
  EXPECT_EQ(v.port(), 80);
  EXPECT_EQ(v.ip_string(), "127.0.0.1");
  EXPECT_EQ(v.to_string(), "127.0.0.1:80");
}

TEST(sockaddr_value, prints_inet6_in_brackets_with_scope) {
  EXPECT_EQ(v6("::1", 80).to_string(), "[::1]:80");
  EXPECT_EQ(v6("::1", 80).port(), 80);
  EXPECT_EQ(v6("fe80::1", 443, 2).to_string(), "[fe80::1%2]:443");
  EXPECT_EQ(v6("fe80::1", 443, 2).ip_string(), "fe80::1%2");
}

TEST(sockaddr_value, prints_unix_paths_and_abstract_names) {
  ::sockaddr_un un{};
  un.sun_family = AF_UNIX;
  std::strcpy(un.sun_path, "/tmp/s");
  auto len = static_cast<::socklen_t>(offsetof(::sockaddr_un, sun_path) + 7);
  EXPECT_EQ(sockaddr_value::from_native(reinterpret_cast<const ::sockaddr*>(&un), len)->to_string(), "/tmp/s");
  std::memcpy(un.sun_path, "\0name", 5);
  len = static_cast<::socklen_t>(offsetof(::sockaddr_un, sun_path) + 5);
  EXPECT_EQ(sockaddr_value::from_native(reinterpret_cast<const ::sockaddr*>(&un), len)->to_string(), "@name");
}

TEST(sockaddr_value, prints_packet_as_hardware_address) {
  ::sockaddr_ll ll{};
  ll.sll_family = AF_PACKET;
  ll.sll_halen = 6;
  const std::array<unsigned char, 6> mac{0x02, 0x00, 0x5e, 0x10, 0xab, 0x01};
  std::memcpy(ll.sll_addr, mac.data(), mac.size());
  auto v = sockaddr_value::from_native(reinterpret_cast<const ::sockaddr*>(&ll), sizeof ll);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->to_string(), "02:00:5e:10:ab:01");
  EXPECT_EQ(v->port(), 0);
  EXPECT_EQ(v->ip_string(), "");
  ll.sll_halen = 0;
  EXPECT_EQ(sockaddr_value::from_native(reinterpret_cast<const ::sockaddr*>(&ll), sizeof ll)->to_string(), "packet");
}

TEST(sockaddr_value, hwaddr_to_string_formats_bytes) {
  const std::array<std::uint8_t, 3> b{0x00, 0xff, 0x0a};
  EXPECT_EQ(hwaddr_to_string(b), "00:ff:0a");
  EXPECT_EQ(hwaddr_to_string({}), "");
}

TEST(sockaddr_value, equality_compares_family_address_and_port) {
  EXPECT_EQ(v4("127.0.0.1", 80), v4("127.0.0.1", 80));
  EXPECT_NE(v4("127.0.0.1", 80), v4("127.0.0.1", 81));
  EXPECT_NE(v4("127.0.0.1", 80), v4("127.0.0.2", 80));
  EXPECT_NE(v4("127.0.0.1", 80), sockaddr_value{});
}

TEST(sockaddr_value, from_native_rejects_oversized_and_null) {
  ::sockaddr_in in{};
  auto too_long = static_cast<::socklen_t>(sizeof(::sockaddr_storage) + 1);
  auto r = sockaddr_value::from_native(reinterpret_cast<const ::sockaddr*>(&in), too_long);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), errc::invalid);
  auto n = sockaddr_value::from_native(nullptr, 4);
  ASSERT_FALSE(n);
  EXPECT_EQ(n.error(), errc::invalid);
  EXPECT_EQ(sockaddr_value::from_native(nullptr, 0)->family(), AF_UNSPEC);
}

TEST(sockaddr_value, truncated_inet_has_no_port_or_ip) {
  ::sockaddr_in in{};
  in.sin_family = AF_INET;
  in.sin_port = htons(80);
  auto v = sockaddr_value::from_native(reinterpret_cast<const ::sockaddr*>(&in), 4);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->family(), AF_INET);
  EXPECT_EQ(v->port(), 0);
  EXPECT_EQ(v->ip_string(), "");
  EXPECT_EQ(v->to_string(), "family 2");
}

}  // namespace
}  // namespace otpnet::net
