#include <otpnet/socket/io.hpp>
#include <otpnet/socket/registry.hpp>
#include <otpnet/socket/socket.hpp>

#include "support/loopback.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

namespace otpnet::socket {
namespace {

using namespace std::chrono_literals;
using test::bytes;

bool has_ipv6() {
  auto s = open(domain::inet6, type::stream);
  return s && bind(*s, address::inet6_loopback(0)).has_value();
}

TEST(socket, opens_nonblocking_and_cloexec) {
  auto s = open(domain::inet, type::stream);
  ASSERT_TRUE(s);
  int fd = s->native_handle();
  ASSERT_GE(fd, 0);
  EXPECT_TRUE(::fcntl(fd, F_GETFL) & O_NONBLOCK);
  EXPECT_TRUE(::fcntl(fd, F_GETFD) & FD_CLOEXEC);
  EXPECT_FALSE(s->adopted());  // its own descriptor: nothing else shares the file
  auto i = info(*s);
  ASSERT_TRUE(i);
  EXPECT_EQ(i->dom, domain::inet);
  EXPECT_EQ(i->typ, type::stream);
  EXPECT_EQ(i->proto, protocol::tcp);  // what the kernel chose for default
}

TEST(socket, open_reports_named_errors) {
  auto bad = open(static_cast<domain>(12345), type::stream);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error(), errc::eafnosupport);
  auto badproto = open(domain::inet, type::stream, protocol::udp);
  ASSERT_FALSE(badproto);
  EXPECT_EQ(badproto.error(), errc::eprotonosupport);
}

TEST(socket, bind_port_zero_returns_the_chosen_port) {
  auto s = open(domain::inet, type::stream);
  ASSERT_TRUE(s);
  auto port = bind(*s, address::inet_loopback(0));
  ASSERT_TRUE(port);
  EXPECT_NE(*port, 0);
  auto name = sockname(*s);
  ASSERT_TRUE(name);
  EXPECT_EQ(name->port(), *port);
  EXPECT_EQ(name->to_string(), "127.0.0.1:" + std::to_string(*port));
}

TEST(socket, bind_any_and_in_use) {
  auto a = open(domain::inet, type::stream);
  ASSERT_TRUE(a);
  auto port = bind(*a, address::inet_any(0));
  ASSERT_TRUE(port);
  ASSERT_TRUE(listen(*a));
  auto b = open(domain::inet, type::stream);
  ASSERT_TRUE(b);
  auto again = bind(*b, address::inet_any(*port));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error(), errc::eaddrinuse);
}

TEST(socket, bind_bad_address_is_named) {
  auto s = open(domain::inet, type::stream);
  ASSERT_TRUE(s);
  // 192.0.2.1 (TEST-NET-1) is on no interface of this machine.
  auto r = bind(*s, address::inet({192, 0, 2, 1}, 0));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), errc::eaddrnotavail);
  auto wrong_family = bind(*s, address::inet6_loopback(0));
  ASSERT_FALSE(wrong_family);
  EXPECT_EQ(wrong_family.error(), errc::eafnosupport);
}

TEST(socket, ipv6_loopback_round_trip) {
  if (!has_ipv6()) {
    GTEST_SKIP() << "no IPv6 loopback on this machine";
  }
  auto l = open(domain::inet6, type::stream);
  ASSERT_TRUE(l);
  auto port = bind(*l, address::inet6_loopback(0));
  ASSERT_TRUE(port);
  ASSERT_TRUE(listen(*l));
  auto c = open(domain::inet6, type::stream);
  ASSERT_TRUE(c);
  ASSERT_TRUE(connect(*c, address::inet6_loopback(*port), 5000ms));
  auto a = accept(*l, 5000ms);
  ASSERT_TRUE(a);
  ASSERT_TRUE(send(*c, bytes("six"), 0, 5000ms));
  std::byte buf[8];
  auto n = recv(*a, buf, 0, 5000ms);
  ASSERT_TRUE(n);
  EXPECT_EQ(test::text({buf, *n}), "six");
  EXPECT_EQ(peername(*a)->to_string().substr(0, 6), "[::1]:");
}

TEST(socket, local_path_socket) {
  std::string path = "/tmp/otpnet-test-" + std::to_string(::getpid()) + ".sock";
  ::unlink(path.c_str());
  auto addr = address::local(path);
  ASSERT_TRUE(addr);
  auto l = open(domain::local, type::stream);
  ASSERT_TRUE(l);
  ASSERT_TRUE(bind(*l, *addr));
  ASSERT_TRUE(listen(*l));
  auto c = open(domain::local, type::stream);
  ASSERT_TRUE(c);
  ASSERT_TRUE(connect(*c, *addr, 5000ms));
  auto a = accept(*l, 5000ms);
  ASSERT_TRUE(a);
  EXPECT_EQ(sockname(*l)->path(), path);
  ASSERT_TRUE(send(*a, bytes("local"), 0, 5000ms));
  std::byte buf[16];
  auto n = recv(*c, buf, 0, 5000ms);
  ASSERT_TRUE(n);
  EXPECT_EQ(test::text({buf, *n}), "local");
  ::unlink(path.c_str());
}

TEST(socket, abstract_namespace_socket) {
  auto addr = address::abstract("otpnet-test-" + std::to_string(::getpid()));
  ASSERT_TRUE(addr);
  EXPECT_TRUE(addr->is_abstract());
  auto l = open(domain::local, type::seqpacket);
  ASSERT_TRUE(l);
  ASSERT_TRUE(bind(*l, *addr));
  ASSERT_TRUE(listen(*l));
  auto name = sockname(*l);
  ASSERT_TRUE(name);
  EXPECT_EQ(*name, *addr);
  EXPECT_EQ(name->to_string(), "@otpnet-test-" + std::to_string(::getpid()));
  auto c = open(domain::local, type::seqpacket);
  ASSERT_TRUE(c);
  ASSERT_TRUE(connect(*c, *addr, 5000ms));
  auto a = accept(*l, 5000ms);
  ASSERT_TRUE(a);
  ASSERT_TRUE(send(*c, bytes("one"), 0, 5000ms));
  ASSERT_TRUE(send(*c, bytes("two"), 0, 5000ms));
  std::byte buf[16];
  auto n = recv(*a, buf, 0, 5000ms);  // seqpacket keeps record boundaries
  ASSERT_TRUE(n);
  EXPECT_EQ(test::text({buf, *n}), "one");
}

TEST(socket, udp_sendto_recvfrom) {
  auto a = open(domain::inet, type::dgram);
  auto b = open(domain::inet, type::dgram);
  ASSERT_TRUE(a && b);
  auto pa = bind(*a, address::inet_loopback(0));
  auto pb = bind(*b, address::inet_loopback(0));
  ASSERT_TRUE(pa && pb);
  ASSERT_TRUE(sendto(*a, bytes("datagram"), address::inet_loopback(*pb), 0, 5000ms));
  std::byte buf[64];
  auto r = recvfrom(*b, buf, 0, 5000ms);
  ASSERT_TRUE(r);
  EXPECT_EQ(test::text({buf, r->size}), "datagram");
  EXPECT_EQ(r->from.port(), *pa);
  // An empty datagram is a datagram, not a close.
  ASSERT_TRUE(sendto(*a, {}, address::inet_loopback(*pb), 0, 5000ms));
  auto empty = recvfrom(*b, buf, 0, 5000ms);
  ASSERT_TRUE(empty);
  EXPECT_EQ(empty->size, 0u);
}

TEST(socket, open_adopts_a_descriptor) {
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  auto dup = open(fds[0]);  // dup: the caller keeps fds[0]
  ASSERT_TRUE(dup);
  EXPECT_NE(dup->native_handle(), fds[0]);
  EXPECT_TRUE(::fcntl(dup->native_handle(), F_GETFL) & O_NONBLOCK);
  auto own = open(fds[1], {.dup = false});
  ASSERT_TRUE(own);
  EXPECT_EQ(own->native_handle(), fds[1]);
  // Both share their open file with a descriptor from outside (the dup's
  // with fds[0]; the caller may have copies of fds[1]).
  EXPECT_TRUE(dup->adopted());
  EXPECT_TRUE(own->adopted());
  EXPECT_FALSE(socket{}.adopted());
  EXPECT_EQ(info(*own)->dom, domain::local);
  EXPECT_TRUE(info(*own)->connected);
  ASSERT_TRUE(send(*own, bytes("hi"), 0, 5000ms));
  std::byte buf[4];
  auto n = recv(*dup, buf, 0, 5000ms);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 2u);
  ::close(fds[0]);
  auto bad = open(fds[0]);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error(), errc::ebadf);
  int file = ::open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
  auto notsock = open(file);
  ASSERT_FALSE(notsock);
  EXPECT_EQ(notsock.error(), errc::enotsock);
  ::close(file);
}

TEST(socket, close_twice_is_an_error_value) {
  auto s = open(domain::inet, type::stream);
  ASSERT_TRUE(s);
  ASSERT_TRUE(close(*s));
  auto again = close(*s);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error(), errc::closed);
  EXPECT_EQ(s->native_handle(), -1);
  EXPECT_FALSE(s->is_open());
  auto b = bind(*s, address::inet_loopback(0));
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error(), errc::closed);
  EXPECT_EQ(close(socket{}).error(), errc::closed);
}

TEST(socket, last_reference_closes_the_descriptor) {
  int before = test::open_fds();
  {
    auto s = open(domain::inet, type::stream);
    ASSERT_TRUE(s);
    socket copy = *s;
    EXPECT_EQ(test::open_fds(), before + 1);
  }
  EXPECT_EQ(test::open_fds(), before);
}

TEST(socket, shutdown_write_gives_peer_closed) {
  auto [c, a] = test::connected_pair();
  ASSERT_TRUE(shutdown(c, shutdown_how::write));
  std::byte buf[4];
  auto r = recv(a, buf, 0, 5000ms);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), errc::closed);
  // The other direction still works.
  ASSERT_TRUE(send(a, bytes("ok"), 0, 5000ms));
  auto n = recv(c, buf, 0, 5000ms);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 2u);
}

TEST(socket, listen_on_dgram_is_eopnotsupp) {
  auto s = open(domain::inet, type::dgram);
  ASSERT_TRUE(s);
  auto r = listen(*s);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), errc::eopnotsupp);
}

TEST(address, parses_and_prints) {
  auto v4 = address::parse("10.1.2.3", 80);
  ASSERT_TRUE(v4);
  EXPECT_EQ(v4->family(), domain::inet);
  EXPECT_EQ(v4->to_string(), "10.1.2.3:80");
  auto v6 = address::parse("::1", 443);
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->to_string(), "[::1]:443");
  EXPECT_EQ(v6->with_port(8).port(), 8);
  EXPECT_FALSE(address::parse("localhost", 1));
  EXPECT_FALSE(address::parse("", 1));
  EXPECT_FALSE(address::parse("fe80::1%no-such-if", 1));
  EXPECT_EQ(address::local(std::string(200, 'x')).error(), errc::enametoolong);
  EXPECT_EQ(address().to_string(), "unspec");
}

}  // namespace
}  // namespace otpnet::socket
