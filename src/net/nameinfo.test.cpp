#include "otpnet/net/nameinfo.hpp"

#include <otpnet/net/addrinfo.hpp>

#include "net/addresses.test.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <set>

namespace otpnet::net {
namespace {

using test::v4;

sockaddr_value v6_loopback(std::uint16_t port) {
  ::sockaddr_in6 in6{};
  in6.sin6_family = AF_INET6;
  in6.sin6_port = htons(port);
  in6.sin6_addr = in6addr_loopback;
  return *sockaddr_value::from_native(reinterpret_cast<const ::sockaddr*>(&in6), sizeof in6);
}

// A service's name in the services database, "" when it has none.
std::string service_name(std::uint16_t port, const char* proto) {
  const ::servent* s = ::getservbyport(htons(port), proto);
  return s != nullptr ? s->s_name : "";
}

const std::set<errc> resolver_failures{errc::eai_noname, errc::eai_again, errc::eai_fail, errc::eai_nodata};

TEST(nameinfo, numeric_ipv4) {
  auto r = getnameinfo(v4("127.0.0.1", 80), NI_NUMERICHOST | NI_NUMERICSERV);
  ASSERT_TRUE(r) << err_name(r.error());
  EXPECT_EQ(r->host, "127.0.0.1");
  EXPECT_EQ(r->service, "80");
}

TEST(nameinfo, numeric_ipv6) {
  auto r = getnameinfo(v6_loopback(443), NI_NUMERICHOST | NI_NUMERICSERV);
  ASSERT_TRUE(r) << err_name(r.error());
  EXPECT_EQ(r->host, "::1");
  EXPECT_EQ(r->service, "443");
}

TEST(nameinfo, loopback_name_resolves_back_to_loopback) {
  auto r = getnameinfo(v4("127.0.0.1", 80), NI_NAMEREQD);
  ASSERT_TRUE(r) << err_name(r.error());
  EXPECT_NE(r->host, "127.0.0.1");
  auto back = getaddrinfo(r->host, std::nullopt, {.family = AF_INET, .socktype = SOCK_STREAM});
  ASSERT_TRUE(back) << r->host << ": " << err_name(back.error());
  EXPECT_EQ(back->front().addr.ip_string(), "127.0.0.1");
  std::string http = service_name(80, "tcp");
  EXPECT_EQ(r->service, http.empty() ? "80" : http);
}

TEST(nameinfo, dgram_looks_up_the_udp_service) {
  // Port 514 is "shell" over TCP but "syslog" over UDP.
  std::string tcp = service_name(514, "tcp");
  std::string udp = service_name(514, "udp");
  if (tcp.empty() || udp.empty() || tcp == udp) {
    GTEST_SKIP() << "the services database does not name port 514 differently for tcp and udp";
  }
  auto stream = getnameinfo(v4("127.0.0.1", 514), NI_NUMERICHOST);
  auto dgram = getnameinfo(v4("127.0.0.1", 514), NI_NUMERICHOST | NI_DGRAM);
  ASSERT_TRUE(stream && dgram);
  EXPECT_EQ(stream->service, tcp);
  EXPECT_EQ(dgram->service, udp);
}

TEST(nameinfo, nofqdn_gives_the_short_name) {
  auto full = getnameinfo(v4("127.0.0.1", 0));
  auto short_name = getnameinfo(v4("127.0.0.1", 0), NI_NOFQDN);
  ASSERT_TRUE(full && short_name);
  EXPECT_EQ(short_name->host, full->host.substr(0, full->host.find('.')));
}

TEST(nameinfo, namereqd_fails_for_an_address_without_name) {
  // 198.51.100.7 is TEST-NET-2 (RFC 5737): no name anywhere, and without a
  // name server the resolver may also answer "again" or "fail".
  auto without = getnameinfo(v4("198.51.100.7", 80), NI_NUMERICSERV);
  ASSERT_TRUE(without) << err_name(without.error());
  EXPECT_EQ(without->host, "198.51.100.7");
  auto r = getnameinfo(v4("198.51.100.7", 80), NI_NAMEREQD);
  ASSERT_FALSE(r);
  EXPECT_TRUE(resolver_failures.count(r.error())) << err_name(r.error());
}

TEST(nameinfo, empty_address_is_eai_family) {
  auto r = getnameinfo(sockaddr_value{});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), errc::eai_family) << err_name(r.error());
}

TEST(nameinfo, unknown_flags_are_eai_badflags) {
  auto r = getnameinfo(v4("127.0.0.1", 80), 0x40000000);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), errc::eai_badflags) << err_name(r.error());
}

}  // namespace
}  // namespace otpnet::net
