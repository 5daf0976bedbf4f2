// File: gen_tcp/options.test.cpp
//
// Options: inheritance from the listen socket (getopts on the accepted
// socket, and the kernel's view through getsockopt), options given to
// connect, setopts reaching the kernel, validation (an invalid setopts
// changes nothing and sends nothing), getstat counters, addresses, and the
// address families and names listen and connect take.
#include <otpnet/gen_tcp/options.hpp>

#include "gen_tcp/harness.test.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <string>

namespace otpnet::gen_tcp::test {
namespace {

using options_test = tcp_test;

int sockopt(int fd, int level, int name) {
  int v = -1;
  socklen_t len = sizeof v;
  if (::getsockopt(fd, level, name, &v, &len) != 0) {
    return -1;
  }
  return v;
}

std::string describe(const effective_options& o) {
  std::string s;
  s += "active=" + std::to_string(static_cast<int>(o.active.k)) + "/" + std::to_string(o.active.n);
  s += " packet=" + std::string(to_string(o.packet));
  s += " packet_size=" + std::to_string(o.packet_size);
  s += " delim=" + std::to_string(static_cast<int>(o.line_delimiter));
  s += " line_length=" + std::to_string(o.line_length);
  s += " high=" + std::to_string(o.high_watermark) + " low=" + std::to_string(o.low_watermark);
  s += " send_timeout=" + std::to_string(o.send_timeout.count());
  s += " send_timeout_close=" + std::to_string(o.send_timeout_close);
  s += " exit_on_close=" + std::to_string(o.exit_on_close);
  s += " delay_send=" + std::to_string(o.delay_send);
  s += " nodelay=" + std::to_string(o.nodelay) + " keepalive=" + std::to_string(o.keepalive);
  s += " recbuf=" + std::to_string(o.recbuf) + " sndbuf=" + std::to_string(o.sndbuf);
  return s;
}

TEST_F(options_test, an_accepted_socket_inherits_the_listen_options) {
  const options set{.active = active_n(7),
                    .packet = packet_type::u4,
                    .packet_size = 4096,
                    .line_delimiter = ';',
                    .line_length = 99,
                    .high_watermark = 300000,
                    .low_watermark = 100000,
                    .send_timeout = 1234ms,
                    .send_timeout_close = true,
                    .exit_on_close = false,
                    .delay_send = true,
                    .nodelay = true,
                    .keepalive = true,
                    .recbuf = 64 * 1024,
                    .sndbuf = 96 * 1024};
  effective_options want;
  ASSERT_TRUE(want.apply(set));
  auto k = open_conn(set);
  EXPECT_EQ(call(k.owner, [](const socket& s) { return s.getopts() ? describe(*s.getopts()) : "error"; }),
            describe(want));
  // The kernel's side of it, set on the listen socket and inherited by the
  // accepted one (no call per connection).
  EXPECT_TRUE(k.ls.carried.nodelay);
  EXPECT_TRUE(k.ls.carried.keepalive);
  EXPECT_EQ(k.ls.carried.recbuf, 64 * 1024);
  EXPECT_EQ(sockopt(k.fd, IPPROTO_TCP, TCP_NODELAY), 1);
  EXPECT_EQ(sockopt(k.fd, SOL_SOCKET, SO_KEEPALIVE), 1);
  EXPECT_GE(sockopt(k.fd, SOL_SOCKET, SO_RCVBUF), 64 * 1024);
  EXPECT_GE(sockopt(k.fd, SOL_SOCKET, SO_SNDBUF), 96 * 1024);
  // And the behaviour: {packet, 4}, {active, 7}.
  std::string burst;
  for (int i = 0; i < 8; ++i) {
    burst += frame(packet_type::u4, std::to_string(i));
  }
  ASSERT_TRUE(k.c.write(burst));
  for (int i = 0; i < 7; ++i) {
    EXPECT_EQ(next().data, std::to_string(i));
  }
  EXPECT_EQ(next().kind, "passive");
  expect_quiet();
}

// The listen socket carries what listen set; options changed in the
// listen_socket afterwards still reach each accepted connection.
TEST_F(options_test, options_changed_after_listen_reach_the_accepted_socket) {
  auto ls = listen_lo({.nodelay = true, .keepalive = false});
  ASSERT_TRUE(ls.carried.nodelay);
  ls.opts.nodelay = false;
  ls.opts.keepalive = true;
  spawn_owner(ls);
  client c = client::connect(ls.port);
  ev a = next();
  ASSERT_EQ(a.kind, "accepted");
  int fd = a.sock.raw().native_handle();
  EXPECT_EQ(sockopt(fd, IPPROTO_TCP, TCP_NODELAY), 0);
  EXPECT_EQ(sockopt(fd, SOL_SOCKET, SO_KEEPALIVE), 1);
}

TEST_F(options_test, defaults_are_inets) {
  auto k = open_conn({});
  effective_options d;
  EXPECT_EQ(call(k.owner, [](const socket& s) { return describe(*s.getopts()); }), describe(d));
  EXPECT_EQ(d.active, always);
  EXPECT_EQ(d.packet, packet_type::raw);
  EXPECT_TRUE(d.exit_on_close);
  EXPECT_EQ(sockopt(k.fd, IPPROTO_TCP, TCP_NODELAY), 0);
  EXPECT_EQ(sockopt(k.fd, SOL_SOCKET, SO_KEEPALIVE), 0);
}

TEST_F(options_test, connect_applies_its_options) {
  auto l = otpnet::test::listen_loopback();
  spawn([port = l.port, to = me()]() -> proc {
    auto s = co_await connect(so::address::inet_loopback(port),
                              {.active = passive, .packet = packet_type::u2, .nodelay = true, .keepalive = true});
    if (!s) {
      send(to, ev{"connect_failed", {}, s.error()});
      co_return;
    }
    send(to, ev{"connected", {}, errc::ok, *s});
    co_await serve(*s, to);
  });
  auto a = so::accept(l.sock, must);
  ASSERT_TRUE(a);
  ev e = next();
  ASSERT_EQ(e.kind, "connected");
  int fd = e.sock.raw().native_handle();
  EXPECT_EQ(sockopt(fd, IPPROTO_TCP, TCP_NODELAY), 1);
  EXPECT_EQ(sockopt(fd, SOL_SOCKET, SO_KEEPALIVE), 1);
  ASSERT_TRUE(so::send(*a, otpnet::test::bytes(frame2("framed")), 0, must));
  expect_quiet();  // passive
}

TEST_F(options_test, setopts_reaches_the_kernel) {
  auto k = open_conn({});
  EXPECT_EQ(setopts(k.owner, {.nodelay = true, .keepalive = true}), "ok");
  EXPECT_EQ(sockopt(k.fd, IPPROTO_TCP, TCP_NODELAY), 1);
  EXPECT_EQ(sockopt(k.fd, SOL_SOCKET, SO_KEEPALIVE), 1);
  EXPECT_EQ(setopts(k.owner, {.nodelay = false, .keepalive = false}), "ok");
  EXPECT_EQ(sockopt(k.fd, IPPROTO_TCP, TCP_NODELAY), 0);
  EXPECT_EQ(sockopt(k.fd, SOL_SOCKET, SO_KEEPALIVE), 0);
  EXPECT_EQ(setopts(k.owner, {.recbuf = 200 * 1024}), "ok");
  EXPECT_GE(sockopt(k.fd, SOL_SOCKET, SO_RCVBUF), 200 * 1024);
}

TEST_F(options_test, set_active_rearms_like_setopts_and_refuses_what_it_refuses) {
  auto k = open_conn({.active = passive, .packet = packet_type::line});
  auto set_active = [&](active_mode a) {
    return call(k.owner, [a](const socket& s) { return outcome(s.set_active(a)); });
  };
  EXPECT_EQ(set_active(active_n(40000)), "invalid");
  EXPECT_EQ(set_active(active_n(-40000)), "invalid");
  ASSERT_TRUE(k.c.write("a\nb\nc\n"));
  expect_quiet();  // still passive: the refused calls changed nothing
  EXPECT_EQ(set_active(once), "ok");
  EXPECT_EQ(next().data, "a\n");
  expect_quiet();
  EXPECT_EQ(set_active(active_n(2)), "ok");
  EXPECT_EQ(next().data, "b\n");
  EXPECT_EQ(next().data, "c\n");
  EXPECT_EQ(next().kind, "passive");
  EXPECT_EQ(call(k.owner,
                 [](const socket& s) {
                   return std::string(s.getopts()->active.k == active_mode::kind::passive ? "passive" : "active");
                 }),
            "passive");
}

TEST_F(options_test, an_invalid_setopts_changes_nothing_and_sends_nothing) {
  auto k = open_conn({.active = passive, .packet = packet_type::line});
  EXPECT_EQ(setopts(k.owner, {.active = active_n(3)}), "ok");
  std::string before = call(k.owner, [](const socket& s) { return describe(*s.getopts()); });
  // Each is invalid as a whole; none of its parts may take effect.
  EXPECT_EQ(setopts(k.owner, {.packet = packet_type::u2, .high_watermark = 10, .low_watermark = 20}), "invalid");
  EXPECT_EQ(setopts(k.owner, {.active = active_n(-3), .low_watermark = 1 << 30}), "invalid");
  EXPECT_EQ(setopts(k.owner, {.recbuf = -1}), "invalid");
  EXPECT_EQ(setopts(k.owner, {.send_timeout = -5ms}), "invalid");
  expect_quiet();  // in particular no tcp_passive from the refused active_n(-3)
  EXPECT_EQ(call(k.owner, [](const socket& s) { return describe(*s.getopts()); }), before);
  ASSERT_TRUE(k.c.write("a\nb\nc\nd\n"));
  EXPECT_EQ(next().data, "a\n");
  EXPECT_EQ(next().data, "b\n");
  EXPECT_EQ(next().data, "c\n");
  EXPECT_EQ(next().kind, "passive");
}

// Connections of one listener share one block of options (on a scheduler)
// until one changes them: the change is its own.
TEST_F(options_test, a_change_made_by_one_connection_leaves_its_siblings_alone) {
  auto ls = listen_lo({.packet = packet_type::line, .send_timeout = 700ms});
  auto getopts = [&](pid owner) { return call(owner, [](const socket& s) { return describe(*s.getopts()); }); };
  pid a = spawn_owner(ls, 0);
  client ca = client::connect(ls.port);
  ASSERT_EQ(next().kind, "accepted");
  pid b = spawn_owner(ls, 0);
  client cb = client::connect(ls.port);
  ASSERT_EQ(next().kind, "accepted");
  const std::string before = getopts(b);
  EXPECT_EQ(getopts(a), before);
  EXPECT_EQ(setopts(a, {.active = passive, .packet = packet_type::u2, .send_timeout = 0ms}), "ok");
  EXPECT_NE(getopts(a), before);
  EXPECT_EQ(getopts(b), before);
  ASSERT_TRUE(cb.write("x\ny\n"));
  EXPECT_EQ(next().data, "x\n");
  EXPECT_EQ(next().data, "y\n");
  ASSERT_TRUE(ca.write(frame2("framed")));
  expect_quiet();  // a is passive, b has nothing
  EXPECT_EQ(setopts(a, {.active = once}), "ok");
  EXPECT_EQ(next().data, "framed");
  // Back to the listener's options: equal again, whichever block holds them.
  EXPECT_EQ(setopts(a, {.active = always, .packet = packet_type::line, .send_timeout = 700ms}), "ok");
  EXPECT_EQ(getopts(a), before);
  EXPECT_EQ(getopts(b), before);
}

TEST_F(options_test, listen_refuses_invalid_options) {
  EXPECT_EQ(outcome(listen(so::address::inet_loopback(0), {.high_watermark = 10, .low_watermark = 20})), "invalid");
  EXPECT_EQ(outcome(listen(so::address::inet_loopback(0), {.active = active_n(40000)})), "invalid");
}

TEST_F(options_test, a_packet_type_that_names_none_is_refused) {
  effective_options o;
  EXPECT_FALSE(o.apply({.packet = static_cast<packet_type>(5)}));
  EXPECT_EQ(o.packet, packet_type::raw);  // unchanged
  EXPECT_TRUE(o.apply({.packet = packet_type::line}));
}

TEST_F(options_test, a_high_watermark_alone_brings_the_low_one_under_it) {
  effective_options o;
  ASSERT_TRUE(o.apply({.high_watermark = 8192}));
  EXPECT_EQ(o.high_watermark, 8192U);
  EXPECT_LE(o.low_watermark, o.high_watermark);
  ASSERT_TRUE(o.apply({.high_watermark = 1 << 20}));
  EXPECT_EQ(o.high_watermark, std::size_t{1} << 20);
  EXPECT_LE(o.low_watermark, o.high_watermark);
}

TEST_F(options_test, getstat_counts_frames_and_bytes) {
  auto k = open_conn({.active = always, .packet = packet_type::u2});
  ASSERT_TRUE(k.c.write(frame2("12345") + frame2("1234567890") + frame2("")));
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(next().kind, "tcp");
  }
  EXPECT_EQ(call(k.owner,
                 [](const socket& s) {
                   std::string a = outcome(s.send(std::string_view("abc")));
                   return a + "," + outcome(s.send(std::string_view("defghij")));
                 }),
            "ok,ok");
  EXPECT_EQ(k.c.read_exact(14), frame2("abc") + frame2("defghij"));
  EXPECT_EQ(call(k.owner,
                 [](const socket& s) {
                   auto st = s.getstat();
                   return "recv " + std::to_string(st->recv_cnt) + "/" + std::to_string(st->recv_max) + " send " +
                          std::to_string(st->send_cnt) + "/" + std::to_string(st->send_oct) + "/" +
                          std::to_string(st->send_max) + "/" + std::to_string(st->send_pend);
                 }),
            "recv 3/10 send 2/14/7/0");
}

// inet's recv_oct counts the bytes read from the socket, headers included,
// as send_oct counts the bytes written (headers included) here too.
TEST_F(options_test, getstat_recv_oct_counts_the_bytes_read_as_send_oct_counts_those_written) {
  auto k = open_conn({.active = always, .packet = packet_type::u2});
  ASSERT_TRUE(k.c.write(frame2("12345") + frame2("1234567890") + frame2("")));
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(next().kind, "tcp");
  }
  EXPECT_EQ(call(k.owner, [](const socket& s) { return std::to_string(s.getstat()->recv_oct); }), "21");
}

TEST_F(options_test, sockname_and_peername) {
  auto k = open_conn({});
  auto local = k.sock.sockname();
  auto peer = k.sock.peername();
  ASSERT_TRUE(local);
  ASSERT_TRUE(peer);
  EXPECT_EQ(local->port(), k.ls.port);
  auto client_local = so::sockname(k.c.s);
  ASSERT_TRUE(client_local);
  EXPECT_EQ(peer->port(), client_local->port());
}

TEST_F(options_test, accept_timeout_and_connect_refused) {
  auto ls = listen_lo({});
  spawn([ls, to = me()]() -> proc {
    auto s = co_await accept(ls, 20ms);
    send(to, ev{"accept", outcome(s)});
  });
  EXPECT_EQ(next().data, "timeout");
  // A port nothing listens on: the one just closed.
  auto l = otpnet::test::listen_loopback();
  std::uint16_t port = l.port;
  ASSERT_TRUE(so::close(l.sock));
  spawn([port, to = me()]() -> proc {
    auto s = co_await connect(so::address::inet_loopback(port), {}, must);
    send(to, ev{"connect", outcome(s)});
  });
  EXPECT_EQ(next().data, "econnrefused");
}

/// A process that connects to `host`:`port` and exchanges one line.
proc line_client(std::string host, std::uint16_t port, pid to) {
  auto s = co_await connect(host, port, {.active = passive, .packet = packet_type::line}, must);
  if (!s) {
    send(to, ev{"connect", outcome(s)});
    co_return;
  }
  (void)s->send(std::string_view("ping\n"));
  auto r = co_await s->recv(0, must);
  send(to, ev{"connect", r ? r->str() : outcome(r)});
}

/// Accepts one connection of `ls` and answers its first line.
proc line_server(listen_socket ls) {
  auto s = co_await accept(ls, must);
  if (!s) {
    co_return;
  }
  auto r = co_await s->recv(0, must);
  if (r) {
    (void)s->send("pong: " + r->str());
  }
  (void)co_await receive<stop_cmd>(after(must));
}

TEST_F(options_test, connect_by_name_ipv6_and_local_paths) {
  const options line{.active = passive, .packet = packet_type::line};
  // localhost, by name.
  {
    auto ls = listen_lo(line);
    spawn([ls]() -> proc { return line_server(ls); });
    spawn([port = ls.port, to = me()]() -> proc { return line_client("localhost", port, to); });
    EXPECT_EQ(next().data, "pong: ping\n");
  }
  // IPv6 loopback, as a literal.
  if (auto ls6 = listen(so::address::parse("::1", 0).value(), line)) {
    spawn([ls = *ls6]() -> proc { return line_server(ls); });
    spawn([port = ls6->port, to = me()]() -> proc { return line_client("::1", port, to); });
    EXPECT_EQ(next().data, "pong: ping\n");
  } else {
    GTEST_LOG_(INFO) << "no IPv6 loopback: " << err_name(ls6.error());
  }
  // A Unix stream socket.
  char dir[] = "/tmp/otpnet-gen-tcp-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  std::string path = std::string(dir) + "/sock";
  auto addr = so::address::local(path);
  ASSERT_TRUE(addr);
  auto lsu = listen(*addr, line);
  ASSERT_TRUE(lsu) << err_name(lsu.error());
  spawn([ls = *lsu]() -> proc { return line_server(ls); });
  spawn([a = *addr, to = me()]() -> proc {
    auto s = co_await connect(a, {.active = passive, .packet = packet_type::line}, must);
    if (!s) {
      send(to, ev{"connect", outcome(s)});
      co_return;
    }
    (void)s->send(std::string_view("ping\n"));
    auto r = co_await s->recv(0, must);
    send(to, ev{"connect", r ? r->str() : outcome(r)});
  });
  EXPECT_EQ(next().data, "pong: ping\n");
  ::unlink(path.c_str());
  ::rmdir(dir);
}

}  // namespace
}  // namespace otpnet::gen_tcp::test
