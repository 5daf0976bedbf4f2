// File: gen_tcp/active_modes.test.cpp
//
// The active modes with exact message counts: false (nothing until recv,
// the bytes stay in the kernel), once (one, then none until re-armed), N
// (exactly N then tcp_passive; setopts adds to the count), true (all);
// and passive recv: timeouts that consume nothing, recv(length).
#include <otpnet/reactor/backend_selector.hpp>

#include "gen_tcp/harness.test.hpp"

#include <cstdlib>
#include <string>

namespace otpnet::gen_tcp::test {
namespace {

using active_modes = tcp_test;

TEST_F(active_modes, passive_delivers_nothing_and_reads_nothing_until_recv) {
  auto k = open_conn({.active = passive, .packet = packet_type::line});
  ASSERT_TRUE(k.c.write("one\ntwo\n"));
  ASSERT_TRUE(wait_until([&] { return fionread(k.fd) == 8; }));
  expect_quiet();
  EXPECT_EQ(fionread(k.fd), 8) << "a passive socket read ahead";
  EXPECT_EQ(acall(k.owner, recv_cmd()), "one\n");
  EXPECT_EQ(acall(k.owner, recv_cmd()), "two\n");
  expect_quiet();
  // The peer's close reaches a passive socket only through recv.
  k.c.close();
  expect_quiet();
  EXPECT_EQ(acall(k.owner, recv_cmd()), "error:closed");
}

// Armed and waiting, then made passive: bytes that come later stay in the
// kernel (on io_uring the receive that was waiting ends with the setopts).
TEST_F(active_modes, made_passive_while_waiting_reads_nothing_more) {
  auto k = open_conn({.active = once, .packet = packet_type::line});
  EXPECT_EQ(setopts(k.owner, {.active = passive}), "ok");
  ASSERT_TRUE(k.c.write("later\n"));
  EXPECT_TRUE(wait_until([&] { return fionread(k.fd) == 6; })) << "read ahead: " << fionread(k.fd);
  expect_quiet();
  EXPECT_EQ(acall(k.owner, recv_cmd()), "later\n");
}

TEST_F(active_modes, once_delivers_exactly_one_until_rearmed) {
  auto k = open_conn({.active = once, .packet = packet_type::line});
  ASSERT_TRUE(k.c.write("a\nb\nc\n"));
  ev e = next();
  EXPECT_EQ(e.kind, "tcp");
  EXPECT_EQ(e.data, "a\n");
  expect_quiet();
  for (const char* want : {"b\n", "c\n"}) {
    EXPECT_EQ(setopts(k.owner, {.active = once}), "ok");
    e = next();
    EXPECT_EQ(e.kind, "tcp");
    EXPECT_EQ(e.data, want);
    expect_quiet();
  }
  EXPECT_EQ(call(k.owner, [](const socket& s) { return s.getopts()->active == passive ? "passive" : "active"; }),
            "passive");
  // Armed before any data: one frame as soon as it comes, then nothing.
  EXPECT_EQ(setopts(k.owner, {.active = once}), "ok");
  expect_quiet();
  ASSERT_TRUE(k.c.write("d\ne\n"));
  e = next();
  EXPECT_EQ(e.data, "d\n");
  expect_quiet();
  // tcp_closed waits for the socket to be armed as well.
  k.c.close();
  EXPECT_EQ(setopts(k.owner, {.active = once}), "ok");
  EXPECT_EQ(next().data, "e\n");
  expect_quiet();
  EXPECT_EQ(setopts(k.owner, {.active = once}), "ok");
  EXPECT_EQ(next().kind, "closed");
  expect_quiet();
}

TEST_F(active_modes, n_delivers_exactly_n_then_tcp_passive) {
  auto k = open_conn({.active = passive, .packet = packet_type::line});
  ASSERT_TRUE(k.c.write("1\n2\n3\n4\n5\n"));
  EXPECT_EQ(setopts(k.owner, {.active = active_n(3)}), "ok");
  for (const char* want : {"1\n", "2\n", "3\n"}) {
    ev e = next();
    EXPECT_EQ(e.kind, "tcp");
    EXPECT_EQ(e.data, want);
  }
  EXPECT_EQ(next().kind, "passive");
  expect_quiet();
  EXPECT_EQ(call(k.owner, [](const socket& s) { return s.getopts()->active == passive ? "passive" : "active"; }),
            "passive");
  EXPECT_EQ(setopts(k.owner, {.active = active_n(1)}), "ok");
  EXPECT_EQ(next().data, "4\n");
  EXPECT_EQ(next().kind, "passive");
  expect_quiet();
}

TEST_F(active_modes, n_adds_to_the_current_count) {
  auto k = open_conn({.active = passive, .packet = packet_type::line});
  // 2 + 3 = 5, set before any data arrives.
  EXPECT_EQ(call(k.owner,
                 [](const socket& s) {
                   std::string a = outcome(s.setopts({.active = active_n(2)}));
                   return a + "," + outcome(s.setopts({.active = active_n(3)}));
                 }),
            "ok,ok");
  ASSERT_TRUE(k.c.write("a\nb\nc\nd\ne\nf\ng\n"));
  std::string got;
  for (int i = 0; i < 5; ++i) {
    ev e = next();
    EXPECT_EQ(e.kind, "tcp");
    got += e.data;
  }
  EXPECT_EQ(got, "a\nb\nc\nd\ne\n");
  EXPECT_EQ(next().kind, "passive");
  expect_quiet();
  EXPECT_EQ(setopts(k.owner, {.active = active_n(2)}), "ok");
  EXPECT_EQ(next().data, "f\n");
  EXPECT_EQ(next().data, "g\n");
  EXPECT_EQ(next().kind, "passive");
  // A negative N subtracts: 4 - 3 = 1 (nothing buffered meanwhile).
  EXPECT_EQ(call(k.owner,
                 [](const socket& s) {
                   std::string a = outcome(s.setopts({.active = active_n(4)}));
                   return a + "," + outcome(s.setopts({.active = active_n(-3)}));
                 }),
            "ok,ok");
  expect_quiet();
  ASSERT_TRUE(k.c.write("h\ni\n"));
  EXPECT_EQ(next().data, "h\n");
  EXPECT_EQ(next().kind, "passive");
  expect_quiet();
}

TEST_F(active_modes, n_brought_to_zero_by_setopts_gives_tcp_passive) {
  auto k = open_conn({.active = passive, .packet = packet_type::line});
  EXPECT_EQ(setopts(k.owner, {.active = active_n(2)}), "ok");
  expect_quiet();
  EXPECT_EQ(setopts(k.owner, {.active = active_n(-2)}), "ok");
  EXPECT_EQ(next().kind, "passive");
  expect_quiet();
  ASSERT_TRUE(k.c.write("x\n"));
  expect_quiet();
  EXPECT_EQ(acall(k.owner, recv_cmd()), "x\n");
}

TEST_F(active_modes, n_beyond_32767_is_invalid_and_changes_nothing) {
  auto k = open_conn({.active = passive, .packet = packet_type::line});
  EXPECT_EQ(setopts(k.owner, {.active = active_n(32768)}), "invalid");
  EXPECT_EQ(setopts(k.owner, {.active = active_n(30000)}), "ok");
  EXPECT_EQ(setopts(k.owner, {.active = active_n(3000)}), "invalid");  // 33000 in all
  EXPECT_EQ(setopts(k.owner, {.active = active_n(-29998)}), "ok");     // 2 left
  ASSERT_TRUE(k.c.write("a\nb\nc\n"));
  EXPECT_EQ(next().data, "a\n");
  EXPECT_EQ(next().data, "b\n");
  EXPECT_EQ(next().kind, "passive");
  expect_quiet();
}

// inet:getopts(S, [active]) gives the count still to go, not the one set.
TEST_F(active_modes, getopts_reports_the_count_left) {
  auto k = open_conn({.active = passive, .packet = packet_type::line});
  EXPECT_EQ(setopts(k.owner, {.active = active_n(5)}), "ok");
  ASSERT_TRUE(k.c.write("a\nb\n"));
  EXPECT_EQ(next().data, "a\n");
  EXPECT_EQ(next().data, "b\n");
  EXPECT_EQ(call(k.owner,
                 [](const socket& s) {
                   auto o = s.getopts();
                   return o && o->active.k == active_mode::kind::count ? std::to_string(o->active.n) : "not N";
                 }),
            "3");
}

TEST_F(active_modes, true_delivers_every_frame_in_order_then_tcp_closed) {
  auto k = open_conn({.active = always, .packet = packet_type::u2});
  constexpr int n = 3000;  // far beyond one pump's budget and one read's chunk
  std::string burst;
  for (int i = 0; i < n; ++i) {
    burst += frame2("frame-" + std::to_string(i));
  }
  ASSERT_TRUE(k.c.write(burst));
  k.c.close();
  for (int i = 0; i < n; ++i) {
    ev e = next();
    ASSERT_EQ(e.kind, "tcp") << "at frame " << i;
    ASSERT_EQ(e.data, "frame-" + std::to_string(i));
  }
  EXPECT_EQ(next().kind, "closed");
  expect_quiet();
}

TEST_F(active_modes, once_in_raw_mode_reads_no_further_than_one_chunk) {
  auto k = open_conn({.active = passive});
  // More than a chunk, fewer than the kernel's receive queue holds.
  std::string data = pattern(64 * 1024);
  ASSERT_TRUE(k.c.write(data));
  ASSERT_TRUE(wait_until([&] { return fionread(k.fd) == static_cast<int>(data.size()); }));
  EXPECT_EQ(setopts(k.owner, {.active = once}), "ok");
  ev e = next();
  ASSERT_EQ(e.kind, "tcp");
  EXPECT_GT(e.data.size(), 0U);
  EXPECT_LE(e.data.size(), gen_tcp::detail::read_chunk_size);
  expect_quiet();
  EXPECT_EQ(fionread(k.fd), static_cast<int>(data.size() - e.data.size()));
  // The rest, one message per arming, in order.
  std::string got = e.data;
  while (got.size() < data.size()) {
    EXPECT_EQ(setopts(k.owner, {.active = once}), "ok");
    e = next();
    ASSERT_EQ(e.kind, "tcp");
    got += e.data;
  }
  EXPECT_EQ(got, data);
}

TEST_F(active_modes, switching_once_to_true_delivers_what_was_buffered) {
  auto k = open_conn({.active = once, .packet = packet_type::line});
  ASSERT_TRUE(k.c.write("1\n2\n3\n"));
  EXPECT_EQ(next().data, "1\n");
  expect_quiet();
  EXPECT_EQ(setopts(k.owner, {.active = always}), "ok");
  EXPECT_EQ(next().data, "2\n");
  EXPECT_EQ(next().data, "3\n");
  ASSERT_TRUE(k.c.write("4\n"));
  EXPECT_EQ(next().data, "4\n");
  EXPECT_EQ(setopts(k.owner, {.active = passive}), "ok");
  ASSERT_TRUE(k.c.write("5\n"));
  expect_quiet();
  EXPECT_EQ(acall(k.owner, recv_cmd()), "5\n");
}

// -- passive recv -----------------------------------------------------------------------

TEST_F(active_modes, recv_timeout_consumes_nothing) {
  auto k = open_conn({.active = passive, .packet = packet_type::u2});
  EXPECT_EQ(acall(k.owner, recv_cmd(0, 20ms)), "error:timeout");
  // Half a frame: the recv times out, and the half is kept for the next one.
  std::string f = frame2("a frame in two halves");
  ASSERT_TRUE(k.c.write(f.substr(0, 7)));
  ASSERT_TRUE(wait_until([&] { return fionread(k.fd) == 7; }));
  EXPECT_EQ(acall(k.owner, recv_cmd(0, 20ms)), "error:timeout");
  ASSERT_TRUE(k.c.write(f.substr(7)));
  EXPECT_EQ(acall(k.owner, recv_cmd(0, must)), "a frame in two halves");
  // A late reply to a timed-out recv must not reach the next recv.
  EXPECT_EQ(acall(k.owner, recv_cmd(0, 20ms)), "error:timeout");
  ASSERT_TRUE(k.c.write(frame2("next")));
  EXPECT_EQ(acall(k.owner, recv_cmd(0, must)), "next");
  expect_quiet();
}

TEST_F(active_modes, recv_length_in_raw_mode_waits_for_exactly_that_many) {
  auto k = open_conn({.active = passive});
  ASSERT_TRUE(k.c.write("hello"));
  EXPECT_EQ(acall(k.owner, recv_cmd(10, 20ms)), "error:timeout");
  ASSERT_TRUE(k.c.write("world!"));
  EXPECT_EQ(acall(k.owner, recv_cmd(10, must)), "helloworld");
  EXPECT_EQ(acall(k.owner, recv_cmd(0, must)), "!");
  // Larger than a read chunk, sent in pieces.
  std::string big = pattern(100000, 3);
  scoped_thread writer([&] {
    for (std::size_t at = 0; at < big.size(); at += 7000) {
      k.c.write(std::string_view(big).substr(at, 7000));
    }
  });
  EXPECT_EQ(acall(k.owner, recv_cmd(big.size(), must)), big);
  writer.join();
}

TEST_F(active_modes, recv_in_an_active_mode_or_with_length_and_framing_is_invalid) {
  auto k = open_conn({.active = once, .packet = packet_type::u2});
  EXPECT_EQ(acall(k.owner, recv_cmd(0, 20ms)), "error:invalid");
  EXPECT_EQ(setopts(k.owner, {.active = passive}), "ok");
  EXPECT_EQ(acall(k.owner, recv_cmd(5, 20ms)), "error:invalid");
}

// Many short recv timeouts racing the data: every byte arrives exactly once.
TEST_F(active_modes, recv_timeouts_racing_the_data_lose_nothing) {
  auto k = open_conn({.active = passive, .packet = packet_type::u2});
  constexpr int n = 300;
  scoped_thread writer([&] {
    for (int i = 0; i < n; ++i) {
      k.c.write(frame2(std::to_string(i)));
      if (i % 7 == 0) {
        std::this_thread::yield();
      }
    }
  });
  std::string got = acall(k.owner, [](socket s) -> task<std::string> {
    std::string out;
    int frames = 0;
    int timeouts = 0;
    while (frames < n) {
      auto r = co_await s.recv(0, 1ms);
      if (r) {
        if (r->str() != std::to_string(frames)) {
          co_return "frame " + std::to_string(frames) + " was " + r->str();
        }
        ++frames;
      } else if (r.error() != errc::timeout || ++timeouts > 100000) {
        co_return "error:" + std::string(err_name(r.error()));
      }
    }
    co_return std::string("all");
  });
  writer.join();
  EXPECT_EQ(got, "all");
}

// -- io_uring: receives short of buffers -------------------------------------------------

/// Owns two accepted sockets; on go, arms both with {active, once} in one
/// run (both receives are submitted together), then reports both frames.
proc arm_two_at_once(listen_socket ls, pid to) {
  auto a = co_await accept(ls, must);
  auto b = co_await accept(ls, must);
  if (!a || !b) {
    send(to, ev{"accept_failed"});
    co_return;
  }
  send(to, ev{"accepted", std::to_string(a->raw().native_handle()) + " " + std::to_string(b->raw().native_handle())});
  (void)co_await receive<stop_cmd>();
  (void)a->setopts({.active = once});
  (void)b->setopts({.active = once});
  std::string got;
  for (int i = 0; i < 2; ++i) {
    auto d = co_await receive<tcp>(after(must));
    got += d ? d->data.str() + ";" : std::string("none;");
  }
  send(to, ev{"got", got});
}

/// The io_uring backend with one receive buffer (OTPNET_URING_RECV_BUFFERS),
/// set before the runtime starts.
class one_receive_buffer : public tcp_test {
 protected:
  void SetUp() override {
    ::setenv("OTPNET_URING_RECV_BUFFERS", "1", 1);
    tcp_test::SetUp();
  }
  void TearDown() override {
    tcp_test::TearDown();
    ::unsetenv("OTPNET_URING_RECV_BUFFERS");
  }
};

// Two sockets with a frame each already in the kernel, armed in one run: the
// first receive takes the only buffer, the second finds none (ENOBUFS) and
// its socket reads with a plain call. Both frames arrive, and the server
// says once what happened. (On epoll the frames simply arrive.)
TEST_F(one_receive_buffer, a_receive_without_a_buffer_reads_with_a_plain_call) {
  auto ls = listen_lo({.active = passive, .packet = packet_type::u2});
  pid p = spawn_opt({.scheduler = 0}, [ls, to = me()]() -> proc { return arm_two_at_once(ls, to); }).first;
  client c1 = client::connect(ls.port);
  client c2 = client::connect(ls.port);
  ev accepted = next();
  ASSERT_EQ(accepted.kind, "accepted");
  int fd_a = std::stoi(accepted.data);
  int fd_b = std::stoi(accepted.data.substr(accepted.data.find(' ') + 1));
  // Which client is which server socket does not matter: same frame sizes.
  ASSERT_TRUE(c1.write(frame2("first!")));
  ASSERT_TRUE(c2.write(frame2("second")));
  ASSERT_TRUE(wait_until([&] { return fionread(fd_a) == 8 && fionread(fd_b) == 8; }));
  send(p, stop_cmd{});
  ev got = next();
  ASSERT_EQ(got.kind, "got");
  EXPECT_TRUE(got.data == "first!;second;" || got.data == "second;first!;") << got.data;
  // The runtime's backend: OTPNET_BACKEND, else the default.
  std::string_view backend = reactor::backend_selector::resolve().value_or("");
  bool uring = backend == "io_uring";
  bool reported = false;
  for (const auto& line : reports().lines()) {
    reported = reported || line.find("receive buffers ran out") != std::string::npos;
  }
  EXPECT_EQ(reported, uring) << "backend " << backend;
}

}  // namespace
}  // namespace otpnet::gen_tcp::test
