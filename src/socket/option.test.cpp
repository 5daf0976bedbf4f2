#include <otpnet/socket/io.hpp>
#include <otpnet/socket/option.hpp>
#include <otpnet/socket/registry.hpp>

#include <support/loopback.hpp>

#include <gtest/gtest.h>

#include <net/if.h>
#include <poll.h>

#include <algorithm>
#include <chrono>
#include <initializer_list>
#include <string>

namespace otpnet::socket {
namespace {

using otpnet::test::connected_pair;
using otpnet::test::listen_loopback;
using otpnet::test::open_ok;

/// IPv6 with a loopback address (a container can have the one without the
/// other).
bool have_ipv6() {
  auto s = open(domain::inet6, type::dgram);
  return s && bind(*s, address::inet6_loopback(0)).has_value() && close(*s);
}

/// Sets `v`, reads it back, expects it equal. A set refused with one of
/// `tolerated` (a privilege the test may lack) ends the check quietly.
template <class T, option_access A>
void round_trip(const socket& s, const option<T, A>& o, const T& v, std::initializer_list<errc> tolerated = {}) {
  auto r = setopt(s, o, v);
  if (!r && std::find(tolerated.begin(), tolerated.end(), r.error()) != tolerated.end()) {
    return;
  }
  ASSERT_TRUE(r) << o.desc.name << ": " << format_error(r.error());
  auto g = getopt(s, o);
  ASSERT_TRUE(g) << o.desc.name << ": " << format_error(g.error());
  EXPECT_TRUE(*g == v) << o.desc.name;
}

template <class T, option_access A>
void bool_round_trip(const socket& s, const option<T, A>& o, std::initializer_list<errc> tolerated = {}) {
  round_trip(s, o, true, tolerated);
  round_trip(s, o, false, tolerated);
}

template <class T, option_access A>
errc set_error(const socket& s, const option<T, A>& o, const std::type_identity_t<T>& v) {
  auto r = setopt(s, o, v);
  return r ? errc::ok : r.error();
}

template <class T, option_access A>
errc get_error(const socket& s, const option<T, A>& o) {
  auto r = getopt(s, o);
  return r ? errc::ok : r.error();
}

// -- compile-time access rules ---------------------------------------------------

template <class O, class V>
concept can_set = requires(const socket& s, const O& o, const V& v) {
  setopt(s, o, v);
};
template <class O>
concept can_get = requires(const socket& s, const O& o) {
  getopt(s, o);
};

static_assert(can_set<decltype(opt::tcp::nodelay), bool>);
static_assert(!can_set<decltype(opt::socket::acceptconn), bool>);
static_assert(!can_set<decltype(opt::otp::fd), int>);
static_assert(can_get<decltype(opt::socket::error)>);
static_assert(!can_get<decltype(opt::ip::add_membership)>);
static_assert(std::is_same_v<decltype(getopt(socket{}, opt::socket::linger)), result<linger>>);
static_assert(opt::tcp::nodelay.name() == option_name{"tcp", "nodelay"});

// -- socket level ----------------------------------------------------------------

TEST(option, socket_level_booleans_round_trip) {
  auto t = open_ok(domain::inet, type::stream);
  auto u = open_ok(domain::inet, type::dgram);
  for (const auto* o : {&opt::socket::reuseaddr, &opt::socket::reuseport, &opt::socket::keepalive,
                        &opt::socket::oobinline, &opt::socket::dontroute}) {
    bool_round_trip(t, *o);
  }
  bool_round_trip(u, opt::socket::broadcast);
  bool_round_trip(open_ok(domain::local, type::stream), opt::socket::passcred);
}

TEST(option, linger_round_trips_and_rejects_negative_seconds) {
  auto t = open_ok(domain::inet, type::stream);
  round_trip(t, opt::socket::linger, linger{true, 5});
  // Turned off, Linux keeps (and reports) the last seconds.
  ASSERT_TRUE(setopt(t, opt::socket::linger, linger{false, 0}));
  EXPECT_EQ(getopt(t, opt::socket::linger)->on, false);
  round_trip(t, opt::socket::linger, linger{true, 0});
  EXPECT_EQ(set_error(t, opt::socket::linger, linger{true, -1}), errc::invalid);
}

TEST(option, buffer_sizes_are_at_least_what_was_set) {
  auto t = open_ok(domain::inet, type::stream);
  for (const auto* o : {&opt::socket::rcvbuf, &opt::socket::sndbuf}) {
    ASSERT_TRUE(setopt(t, *o, 65536));
    auto g = getopt(t, *o);
    ASSERT_TRUE(g);
    EXPECT_GE(*g, 65536) << o->desc.name;  // Linux doubles it
    EXPECT_EQ(set_error(t, *o, -1), errc::invalid);
  }
}

TEST(option, integers_round_trip_and_reject_out_of_range) {
  auto t = open_ok(domain::inet, type::stream);
  round_trip(t, opt::socket::rcvlowat, 10);
  EXPECT_EQ(set_error(t, opt::socket::rcvlowat, -1), errc::invalid);
  round_trip(t, opt::socket::priority, 3);
  EXPECT_EQ(set_error(t, opt::socket::priority, -1), errc::invalid);
  round_trip(t, opt::socket::mark, 42, {errc::eperm});
  auto l = open_ok(domain::local, type::stream);
  round_trip(l, opt::socket::peek_off, 5);
  round_trip(l, opt::socket::peek_off, -1);
  EXPECT_EQ(set_error(l, opt::socket::peek_off, -2), errc::invalid);
}

TEST(option, bindtodevice_checks_the_name) {
  auto t = open_ok(domain::inet, type::stream);
  round_trip(t, opt::socket::bindtodevice, std::string("lo"), {errc::eperm});
  round_trip(t, opt::socket::bindtodevice, std::string(), {errc::eperm});
  EXPECT_EQ(set_error(t, opt::socket::bindtodevice, std::string(IFNAMSIZ, 'x')), errc::invalid);
  EXPECT_EQ(set_error(t, opt::socket::bindtodevice, std::string("l\0o", 3)), errc::invalid);
  errc e = set_error(t, opt::socket::bindtodevice, "nosuchdev0");
  EXPECT_TRUE(e == errc::enodev || e == errc::eperm) << err_name(e);
}

TEST(option, timeouts_round_trip_in_ms) {
  auto t = open_ok(domain::inet, type::stream);
  round_trip(t, opt::socket::rcvtimeo, std::chrono::milliseconds(1500));
  round_trip(t, opt::socket::sndtimeo, std::chrono::milliseconds(2000));
  round_trip(t, opt::socket::rcvtimeo, std::chrono::milliseconds(0));
  EXPECT_EQ(set_error(t, opt::socket::sndtimeo, std::chrono::milliseconds(-1)), errc::invalid);
}

TEST(option, read_only_socket_options_are_sane) {
  auto l = listen_loopback();
  auto t = open_ok(domain::inet, type::stream);
  EXPECT_EQ(getopt(t, opt::socket::acceptconn), false);
  EXPECT_EQ(getopt(l.sock, opt::socket::acceptconn), true);
  EXPECT_EQ(getopt(t, opt::socket::error), errc::ok);
  EXPECT_EQ(getopt(t, opt::socket::type), type::stream);
  EXPECT_EQ(getopt(t, opt::socket::domain), domain::inet);
  EXPECT_EQ(getopt(t, opt::socket::protocol), protocol::tcp);
  auto u = open_ok(domain::inet, type::dgram);
  EXPECT_EQ(getopt(u, opt::socket::type), type::dgram);
  EXPECT_EQ(getopt(u, opt::socket::protocol), protocol::udp);
}

TEST(option, error_reports_and_clears_a_pending_error) {
  // A datagram to a closed port comes back as ICMP port unreachable, which
  // a connected UDP socket keeps as its pending error.
  auto peer = open_ok(domain::inet, type::dgram);
  auto port = bind(peer, address::inet_loopback(0));
  ASSERT_TRUE(port);
  ASSERT_TRUE(close(peer));
  auto u = open_ok(domain::inet, type::dgram);
  ASSERT_TRUE(connect(u, address::inet_loopback(*port)));
  ASSERT_TRUE(send(u, otpnet::test::bytes("x")));
  ::pollfd p{u.native_handle(), 0, 0};  // POLLERR is always reported
  ASSERT_EQ(::poll(&p, 1, 5000), 1);
  EXPECT_EQ(getopt(u, opt::socket::error), errc::econnrefused);
  EXPECT_EQ(getopt(u, opt::socket::error), errc::ok);  // reading cleared it
}

// -- ip level --------------------------------------------------------------------

TEST(option, ip_level_round_trips) {
  auto u = open_ok(domain::inet, type::dgram);
  round_trip(u, opt::ip::tos, 0x10);
  round_trip(u, opt::ip::ttl, 42);
  round_trip(u, opt::ip::multicast_ttl, 5);
  round_trip(u, opt::ip::multicast_if, ipv4_address{127, 0, 0, 1});
  for (const auto* o : {&opt::ip::recvtos, &opt::ip::recvttl, &opt::ip::pktinfo, &opt::ip::multicast_loop,
                        &opt::ip::freebind, &opt::ip::recverr}) {
    bool_round_trip(u, *o);
  }
  bool_round_trip(u, opt::ip::transparent, {errc::eperm});
  EXPECT_EQ(set_error(u, opt::ip::tos, 256), errc::invalid);
  EXPECT_EQ(set_error(u, opt::ip::ttl, -2), errc::invalid);
  EXPECT_EQ(set_error(u, opt::ip::ttl, 0), errc::einval);  // in range for us, refused by the kernel
  // -1 restores the default.
  ASSERT_TRUE(setopt(u, opt::ip::ttl, -1));
  EXPECT_GT(getopt(u, opt::ip::ttl).value_or(0), 0);
}

TEST(option, nodefrag_is_for_raw_sockets) {
  auto u = open_ok(domain::inet, type::dgram);
  EXPECT_EQ(set_error(u, opt::ip::nodefrag, true), errc::enoprotoopt);
  auto r = open(domain::inet, type::raw, protocol::raw);
  if (!r) {
    GTEST_SKIP() << "no raw socket: " << err_name(r.error());
  }
  bool_round_trip(*r, opt::ip::nodefrag);
}

TEST(option, ip_multicast_membership) {
  auto u = open_ok(domain::inet, type::dgram);
  ip_mreq m{{224, 0, 0, 251}, {127, 0, 0, 1}};
  auto r = setopt(u, opt::ip::add_membership, m);
  if (!r) {
    GTEST_SKIP() << "no multicast on loopback: " << err_name(r.error());
  }
  EXPECT_EQ(set_error(u, opt::ip::add_membership, m), errc::eaddrinuse);
  EXPECT_TRUE(setopt(u, opt::ip::drop_membership, m));
  EXPECT_EQ(set_error(u, opt::ip::drop_membership, m), errc::eaddrnotavail);
  EXPECT_EQ(set_error(u, opt::ip::add_membership, ip_mreq{{10, 0, 0, 1}, {127, 0, 0, 1}}), errc::einval);
}

TEST(option, mtu_needs_a_connected_socket) {
  auto peer = open_ok(domain::inet, type::dgram);
  auto port = bind(peer, address::inet_loopback(0));
  ASSERT_TRUE(port);
  auto u = open_ok(domain::inet, type::dgram);
  EXPECT_EQ(get_error(u, opt::ip::mtu), errc::enotconn);
  ASSERT_TRUE(connect(u, address::inet_loopback(*port)));
  EXPECT_GE(getopt(u, opt::ip::mtu).value_or(0), 576);
}

// -- ipv6 level ------------------------------------------------------------------

TEST(option, ipv6_level_round_trips) {
  if (!have_ipv6()) {
    GTEST_SKIP() << "no IPv6 on this machine";
  }
  auto u = open_ok(domain::inet6, type::dgram);
  round_trip(u, opt::ipv6::unicast_hops, 10);
  round_trip(u, opt::ipv6::multicast_hops, 3);
  round_trip(u, opt::ipv6::tclass, 0x20);
  round_trip(u, opt::ipv6::multicast_if, static_cast<int>(::if_nametoindex("lo")));
  for (const auto* o : {&opt::ipv6::v6only, &opt::ipv6::multicast_loop, &opt::ipv6::recvpktinfo,
                        &opt::ipv6::recvhoplimit, &opt::ipv6::recvtclass, &opt::ipv6::hoplimit}) {
    bool_round_trip(u, *o);
  }
  EXPECT_EQ(set_error(u, opt::ipv6::unicast_hops, 256), errc::invalid);
  EXPECT_EQ(set_error(u, opt::ipv6::tclass, -2), errc::invalid);
  ASSERT_TRUE(setopt(u, opt::ipv6::unicast_hops, -1));
  EXPECT_GT(getopt(u, opt::ipv6::unicast_hops).value_or(0), 0);
}

TEST(option, ipv6_multicast_membership_and_mtu) {
  if (!have_ipv6()) {
    GTEST_SKIP() << "no IPv6 on this machine";
  }
  auto u = open_ok(domain::inet6, type::dgram);
  ipv6_mreq m{{0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xfb}, ::if_nametoindex("lo")};
  if (auto r = setopt(u, opt::ipv6::join_group, m); r) {
    EXPECT_TRUE(setopt(u, opt::ipv6::leave_group, m));
    EXPECT_FALSE(setopt(u, opt::ipv6::drop_membership, m));
  } else {
    EXPECT_NE(r.error(), errc::invalid);
  }
  EXPECT_EQ(get_error(u, opt::ipv6::mtu), errc::enotconn);
  auto peer = open_ok(domain::inet6, type::dgram);
  auto port = bind(peer, address::inet6_loopback(0));
  ASSERT_TRUE(port);
  ASSERT_TRUE(connect(u, address::inet6_loopback(*port)));
  EXPECT_GE(getopt(u, opt::ipv6::mtu).value_or(0), 1280);
}

// -- tcp level -------------------------------------------------------------------

TEST(option, tcp_level_round_trips) {
  auto t = open_ok(domain::inet, type::stream);
  for (const auto* o : {&opt::tcp::nodelay, &opt::tcp::cork, &opt::tcp::quickack}) {
    bool_round_trip(t, *o);
  }
  round_trip(t, opt::tcp::keepidle, 30);
  round_trip(t, opt::tcp::keepintvl, 5);
  round_trip(t, opt::tcp::keepcnt, 4);
  round_trip(t, opt::tcp::maxseg, 1000);
  round_trip(t, opt::tcp::user_timeout, 5000);
  // The kernel keeps it as a count of SYN-ACK retransmissions: 2^n - 1 s survive.
  round_trip(t, opt::tcp::defer_accept, 7);
  round_trip(t, opt::tcp::syncnt, 3);
  round_trip(t, opt::tcp::notsent_lowat, 16384);
  round_trip(t, opt::tcp::fastopen, 5);
  EXPECT_EQ(set_error(t, opt::tcp::keepidle, -1), errc::invalid);
  EXPECT_EQ(set_error(t, opt::tcp::keepidle, 0), errc::einval);
}

TEST(option, congestion_control_by_name) {
  auto t = open_ok(domain::inet, type::stream);
  round_trip(t, opt::tcp::congestion, std::string("reno"));  // always built in
  EXPECT_EQ(set_error(t, opt::tcp::congestion, "nosuchalgo"), errc::enoent);
  EXPECT_EQ(set_error(t, opt::tcp::congestion, std::string(16, 'x')), errc::invalid);
}

TEST(option, tcp_info_follows_the_connection) {
  auto l = listen_loopback();
  auto li = getopt(l.sock, opt::tcp::info);
  ASSERT_TRUE(li) << format_error(li.error());
  EXPECT_EQ(li->state, tcp_state::listen);
  auto [c, a] = connected_pair();
  auto ci = getopt(c, opt::tcp::info);
  ASSERT_TRUE(ci);
  EXPECT_EQ(ci->state, tcp_state::established);
  EXPECT_EQ(to_string(ci->state), "established");
  EXPECT_GT(ci->snd_cwnd, 0u);
}

// -- udp level -------------------------------------------------------------------

TEST(option, udp_level_round_trips) {
  auto u = open_ok(domain::inet, type::dgram);
  bool_round_trip(u, opt::udp::cork);
  round_trip(u, opt::udp::segment, 1200);
  round_trip(u, opt::udp::segment, 0);
  EXPECT_EQ(set_error(u, opt::udp::segment, 65536), errc::invalid);
}

// -- otp level -------------------------------------------------------------------

TEST(option, otp_level_identity_and_debug) {
  auto t = open_ok(domain::inet, type::stream);
  EXPECT_EQ(getopt(t, opt::otp::fd), t.native_handle());
  EXPECT_EQ(getopt(t, opt::otp::domain), domain::inet);
  EXPECT_EQ(getopt(t, opt::otp::type), type::stream);
  EXPECT_EQ(getopt(t, opt::otp::protocol), protocol::tcp);
  EXPECT_EQ(getopt(t, opt::otp::debug), false);
  bool_round_trip(t, opt::otp::debug);
  ASSERT_TRUE(setopt(t, opt::otp::debug, true));
  auto other = open_ok(domain::inet, type::stream);
  EXPECT_EQ(getopt(other, opt::otp::debug), false);
}

TEST(option, otp_owner_is_the_registry_owner) {
  auto t = open_ok(domain::inet, type::stream);
  round_trip(t, opt::otp::owner, std::uint64_t{42});
  EXPECT_EQ(info(t)->owner, 42u);
  auto mine = which_sockets(owned_by{42});
  EXPECT_NE(std::find(mine.begin(), mine.end(), t), mine.end());
}

TEST(option, otp_use_registry_adds_and_removes) {
  auto t = open_ok(domain::inet, type::stream);
  auto listed = [&] {
    auto all = which_sockets();
    return std::find(all.begin(), all.end(), t) != all.end();
  };
  bool initially = getopt(t, opt::otp::use_registry).value();
  EXPECT_EQ(initially, listed());
  round_trip(t, opt::otp::use_registry, false);
  EXPECT_FALSE(listed());
  EXPECT_FALSE(info(t)->use_registry);
  round_trip(t, opt::otp::use_registry, true);
  round_trip(t, opt::otp::use_registry, true);  // twice is once
  EXPECT_TRUE(listed());
  std::size_t n = number_of();
  ASSERT_TRUE(close(t));
  EXPECT_FALSE(listed());
  EXPECT_EQ(number_of(), n - 1);
  EXPECT_EQ(set_error(t, opt::otp::use_registry, true), errc::closed);
}

// -- closed sockets --------------------------------------------------------------

TEST(option, closed_socket_gives_closed) {
  auto t = open_ok(domain::inet, type::stream);
  ASSERT_TRUE(close(t));
  EXPECT_EQ(set_error(t, opt::tcp::nodelay, true), errc::closed);
  EXPECT_EQ(get_error(t, opt::socket::rcvbuf), errc::closed);
  EXPECT_EQ(get_error(t, opt::otp::fd), errc::closed);
  EXPECT_EQ(set_error(t, opt::otp::debug, true), errc::closed);
  socket none;
  EXPECT_EQ(get_error(none, opt::socket::type), errc::closed);
  EXPECT_EQ(set_error(none, opt::socket::reuseaddr, true), errc::closed);
}

}  // namespace
}  // namespace otpnet::socket
