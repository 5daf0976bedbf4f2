#include "otpnet/net/addrinfo.hpp"

#include <gtest/gtest.h>

#include <netinet/in.h>
#include <unistd.h>

#include <set>
#include <string>

namespace otpnet::net {
namespace {

// Whether this machine can bind [::1]: only then is resolving "::1" for
// AF_INET6 with AI_ADDRCONFIG meaningful. Raw calls: the test must not
// depend on the socket layer.
bool has_ipv6_loopback() {
  int fd = ::socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return false;
  }
  ::sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_addr = in6addr_loopback;
  bool ok = ::bind(fd, reinterpret_cast<const ::sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

// Port of a named TCP service from the services database, 0 when it has none.
std::uint16_t service_port(const char* name) {
  const ::servent* s = ::getservbyname(name, "tcp");
  return s != nullptr ? ntohs(static_cast<std::uint16_t>(s->s_port)) : 0;
}

const addrinfo_hints tcp4{.family = AF_INET, .socktype = SOCK_STREAM};

TEST(addrinfo, localhost_resolves_to_loopback) {
  auto r = getaddrinfo("localhost", "80", tcp4);
  ASSERT_TRUE(r) << err_name(r.error());
  ASSERT_FALSE(r->empty());
  bool loopback = false;
  for (const auto& e : *r) {
    EXPECT_EQ(e.family, AF_INET);
    EXPECT_EQ(e.socktype, SOCK_STREAM);
    EXPECT_EQ(e.protocol, IPPROTO_TCP);
    EXPECT_EQ(e.addr.family(), AF_INET);
    EXPECT_EQ(e.addr.port(), 80);
    loopback = loopback || e.addr.to_string() == "127.0.0.1:80";
  }
  EXPECT_TRUE(loopback) << r->front().addr.to_string();
}

TEST(addrinfo, numeric_ipv4_gives_one_entry_per_socktype) {
  auto r = getaddrinfo("127.0.0.1", "8080",
                       {.family = AF_INET, .socktype = SOCK_DGRAM, .flags = AI_NUMERICHOST | AI_NUMERICSERV});
  ASSERT_TRUE(r) << err_name(r.error());
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ(r->front().socktype, SOCK_DGRAM);
  EXPECT_EQ(r->front().protocol, IPPROTO_UDP);
  EXPECT_EQ(r->front().addr.to_string(), "127.0.0.1:8080");
  EXPECT_EQ(r->front().addr.size(), sizeof(::sockaddr_in));
}

TEST(addrinfo, without_socktype_every_socktype_comes_back) {
  auto r = getaddrinfo("127.0.0.1", "80", {.flags = AI_NUMERICHOST});
  ASSERT_TRUE(r) << err_name(r.error());
  std::set<int> socktypes;
  for (const auto& e : *r) {
    socktypes.insert(e.socktype);
  }
  EXPECT_TRUE(socktypes.count(SOCK_STREAM));
  EXPECT_TRUE(socktypes.count(SOCK_DGRAM));
}

TEST(addrinfo, numeric_ipv6_loopback) {
  if (!has_ipv6_loopback()) {
    GTEST_SKIP() << "this machine cannot bind [::1]: no IPv6 loopback";
  }
  auto r = getaddrinfo("::1", "443", {.family = AF_INET6, .socktype = SOCK_STREAM, .flags = AI_NUMERICHOST});
  ASSERT_TRUE(r) << err_name(r.error());
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ(r->front().family, AF_INET6);
  EXPECT_EQ(r->front().addr.to_string(), "[::1]:443");
  EXPECT_EQ(r->front().addr.size(), sizeof(::sockaddr_in6));
}

TEST(addrinfo, v4mapped_turns_ipv4_into_ipv6) {
  auto r = getaddrinfo("127.0.0.1", "80", {.family = AF_INET6, .socktype = SOCK_STREAM, .flags = AI_V4MAPPED | AI_ALL});
  ASSERT_TRUE(r) << err_name(r.error());
  ASSERT_FALSE(r->empty());
  EXPECT_EQ(r->front().family, AF_INET6);
  EXPECT_EQ(r->front().addr.to_string(), "[::ffff:127.0.0.1]:80");
}

TEST(addrinfo, addrconfig_still_resolves_loopback_literal) {
  auto r = getaddrinfo("127.0.0.1", "80", {.family = AF_INET, .socktype = SOCK_STREAM, .flags = AI_ADDRCONFIG});
  ASSERT_TRUE(r) << err_name(r.error());
  EXPECT_EQ(r->front().addr.to_string(), "127.0.0.1:80");
}

TEST(addrinfo, canonname_on_the_first_entry) {
  auto r = getaddrinfo("localhost", std::nullopt, {.family = AF_INET, .flags = AI_CANONNAME});
  ASSERT_TRUE(r) << err_name(r.error());
  ASSERT_FALSE(r->empty());
  EXPECT_FALSE(r->front().canonname.empty());
  EXPECT_EQ(r->front().addr.port(), 0);
  for (std::size_t i = 1; i < r->size(); ++i) {
    EXPECT_EQ((*r)[i].canonname, "");
  }
}

TEST(addrinfo, no_host_gives_loopback_or_wildcard_with_passive) {
  auto active = getaddrinfo(std::nullopt, "8080", tcp4);
  ASSERT_TRUE(active) << err_name(active.error());
  EXPECT_EQ(active->front().addr.to_string(), "127.0.0.1:8080");
  auto passive = getaddrinfo(std::nullopt, "8080", {.family = AF_INET, .socktype = SOCK_STREAM, .flags = AI_PASSIVE});
  ASSERT_TRUE(passive) << err_name(passive.error());
  EXPECT_EQ(passive->front().addr.to_string(), "0.0.0.0:8080");
}

TEST(addrinfo, named_service_gives_its_port) {
  std::uint16_t http = service_port("http");
  if (http == 0) {
    GTEST_SKIP() << "the services database (/etc/services) has no tcp entry for http";
  }
  auto r = getaddrinfo("127.0.0.1", "http", tcp4);
  ASSERT_TRUE(r) << err_name(r.error());
  EXPECT_EQ(http, 80);
  EXPECT_EQ(r->front().addr.port(), 80);
}

TEST(addrinfo, numericserv_refuses_a_service_name) {
  auto r = getaddrinfo("127.0.0.1", "http", {.family = AF_INET, .socktype = SOCK_STREAM, .flags = AI_NUMERICSERV});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), errc::eai_noname) << err_name(r.error());
}

TEST(addrinfo, unknown_service_is_eai_service) {
  auto r = getaddrinfo("127.0.0.1", "no-such-service-otpnet", tcp4);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), errc::eai_service) << err_name(r.error());
}

TEST(addrinfo, numerichost_refuses_a_name) {
  auto r = getaddrinfo("localhost", "80", {.socktype = SOCK_STREAM, .flags = AI_NUMERICHOST});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), errc::eai_noname) << err_name(r.error());
}

TEST(addrinfo, unknown_host_is_a_resolver_error) {
  // .invalid never resolves (RFC 6761). Without a name server the resolver
  // may say "again" or "fail" instead of "no name"; all are answers.
  auto r = getaddrinfo("no-such-host.invalid", "80", tcp4);
  ASSERT_FALSE(r);
  const std::set<errc> expected{errc::eai_noname, errc::eai_again, errc::eai_fail, errc::eai_nodata};
  EXPECT_TRUE(expected.count(r.error())) << err_name(r.error());
}

TEST(addrinfo, neither_host_nor_service_is_eai_noname) {
  auto r = getaddrinfo(std::nullopt, std::nullopt);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), errc::eai_noname) << err_name(r.error());
}

TEST(addrinfo, bad_hints_are_named) {
  auto family = getaddrinfo("127.0.0.1", "80", {.family = 12345});
  ASSERT_FALSE(family);
  EXPECT_EQ(family.error(), errc::eai_family) << err_name(family.error());
  auto socktype = getaddrinfo("127.0.0.1", "80", {.socktype = 999});
  ASSERT_FALSE(socktype);
  EXPECT_EQ(socktype.error(), errc::eai_socktype) << err_name(socktype.error());
  auto flags = getaddrinfo("127.0.0.1", "80", {.flags = 0x40000000});
  ASSERT_FALSE(flags);
  EXPECT_EQ(flags.error(), errc::eai_badflags) << err_name(flags.error());
}

TEST(addrinfo, embedded_nul_is_invalid) {
  using namespace std::string_view_literals;
  auto host = getaddrinfo("127.0.0.1\0evil"sv, "80", tcp4);
  ASSERT_FALSE(host);
  EXPECT_EQ(host.error(), errc::invalid);
  auto service = getaddrinfo("127.0.0.1", "80\0"sv, tcp4);
  ASSERT_FALSE(service);
  EXPECT_EQ(service.error(), errc::invalid);
}

}  // namespace
}  // namespace otpnet::net
