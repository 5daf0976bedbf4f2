// File: gen_tcp/active_modes.test.cpp
//
// The active modes with exact message counts: false (nothing until recv,
// the bytes stay in the kernel), once (one, then none until re-armed), N
// (exactly N then tcp_passive; setopts adds to the count), true (all);
// and passive recv: timeouts that consume nothing, recv(length).
#include <otpnet/reactor/backend_selector.hpp>
#include <otpnet/reactor/io_uring_backend.hpp>
#include <otpnet/runtime/port.hpp>
#include <otpnet/runtime/process_info.hpp>

#include "gen_tcp/harness.test.hpp"
#include "support/io_uring_seam.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

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

// A setopts that does not name the active mode leaves an {active, N}
// count where it is (it went back to N: more frames than asked for came
// before tcp_passive).
TEST_F(active_modes, a_setopts_of_other_options_keeps_the_active_count) {
  auto k = open_conn({.active = passive, .packet = packet_type::line});
  ASSERT_TRUE(k.c.write("1\n"));
  EXPECT_EQ(setopts(k.owner, {.active = active_n(3)}), "ok");
  EXPECT_EQ(next().data, "1\n");
  EXPECT_EQ(setopts(k.owner, {.nodelay = true}), "ok");
  ASSERT_TRUE(k.c.write("2\n3\n4\n5\n"));
  EXPECT_EQ(next().data, "2\n");
  EXPECT_EQ(next().data, "3\n");
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

// -- a stream as it comes: multishot receives ({active, true} on io_uring) -------------------

/// The body of frame `i` of a test stream: numbered, of varying length.
std::string stream_body(std::size_t i) { return "frame-" + std::to_string(i) + "-" + pattern(i % 97, unsigned(i)); }

/// Frames [from, to) of the test stream, framed with {packet, 2}, as one
/// string.
std::string stream_bytes(std::size_t from, std::size_t to) {
  std::string out;
  for (std::size_t i = from; i < to; ++i) {
    out += frame2(stream_body(i));
  }
  return out;
}

/// Writes frames [0, n) from a thread of its own, in pieces that cut
/// through frames, so that the server reads while the peer writes.
std::thread write_stream(const client& c, std::size_t n) {
  return std::thread([&c, n] {
    std::string all = stream_bytes(0, n);
    for (std::size_t at = 0; at < all.size(); at += 4093) {
      if (!c.write(std::string_view(all).substr(at, 4093))) {
        return;
      }
    }
  });
}

/// The multishot receives made on the owner's loop so far, and the
/// completions that went on: "<submitted> <went on>", or "readiness" when
/// the loop's backend is not io_uring.
std::string multishot_counts(const reactor::event_loop& loop) {
  const auto* uring = dynamic_cast<const reactor::io_uring_backend*>(&loop.io_backend());
  if (uring == nullptr) {
    return "readiness";
  }
  return std::to_string(uring->stats().recv_multishots) + " " + std::to_string(uring->stats().recv_more);
}

/// On the calling process's loop: the completions of multishot receives
/// that went on so far (0 off io_uring).
std::uint64_t went_on() {
  reactor::event_loop* loop = otpnet::detail::current_loop();
  const auto* uring = loop != nullptr ? dynamic_cast<const reactor::io_uring_backend*>(&loop->io_backend()) : nullptr;
  return uring != nullptr ? uring->stats().recv_more : 0;
}

class stream : public tcp_test {
 protected:
  /// The answer of a command that sent the pieces and then changed the
  /// mode, "<sent>,<setopts>,<completions taken>": where the loop has
  /// multishot receives the pieces were completions that went on (one to
  /// six), taken as the receive ended (elsewhere none).
  static void expect_ended_with_completions(const std::string& r, bool multishot) {
    if (!multishot) {
      EXPECT_EQ(r, "ok,ok,0");
      return;
    }
    ASSERT_EQ(r.rfind("ok,ok,", 0), 0U) << r;
    int taken = std::stoi(r.substr(6));
    EXPECT_GE(taken, 1) << "no completion was waiting: the test checked nothing";
    EXPECT_LE(taken, 6) << r;
    RecordProperty("completions_waiting", taken);
  }

  /// Asks `owner`, on its loop, for multishot_counts.
  std::string counts(pid owner) {
    return call(owner, [](const socket&) {
      reactor::event_loop* loop = otpnet::detail::current_loop();
      return loop != nullptr ? multishot_counts(*loop) : std::string("no loop");
    });
  }
  /// Whether `owner`'s loop makes multishot receives (io_uring with stream
  /// buffers, OTPNET_URING_STREAM_BUFFERS not 0).
  bool multishot(pid owner) {
    return call(owner, [](const socket&) {
             reactor::event_loop* loop = otpnet::detail::current_loop();
             return std::string(loop != nullptr && loop->supports_recv_multishot() ? "yes" : "no");
           }) == "yes";
  }

  /// Takes tcp events from `box` while they come within `quiet`: their
  /// frames, appended to `got`.
  static void take_frames(mailbox& box, std::vector<std::string>& got, milliseconds t = quiet) {
    for (;;) {
      auto e = box.receive<ev>(t, [](const ev& x) { return x.kind == "tcp"; });
      if (!e) {
        return;
      }
      got.push_back(e->data);
    }
  }

  /// Writes frames [0, n) of the test stream from the client (a thread of
  /// its own) and takes n tcp events: their frames.
  std::vector<std::string> take_stream(const conn& k, std::size_t n) {
    std::thread writer = write_stream(k.c, n);
    std::vector<std::string> got;
    while (got.size() < n) {
      ev e = next();
      if (e.kind != "tcp") {
        ADD_FAILURE() << "after " << got.size() << " frames: " << e.kind;
        break;
      }
      got.push_back(e.data);
    }
    writer.join();
    return got;
  }

  /// Sends the stream's first frame and takes it (with {active, true} a
  /// multishot receive, where there is one, is then waiting for more):
  /// {its frame}, or nothing (a test failure).
  std::vector<std::string> first_frame(const conn& k) {
    if (!k.c.write(stream_bytes(0, 1))) {
      return {};
    }
    ev e = next();
    EXPECT_EQ(e.kind, "tcp");
    return e.kind == "tcp" ? std::vector<std::string>{e.data} : std::vector<std::string>{};
  }

  /// Checks `got` against the stream's first frames.
  static void expect_stream(const std::vector<std::string>& got, std::size_t n) {
    ASSERT_EQ(got.size(), n);
    for (std::size_t i = 0; i < n; ++i) {
      ASSERT_EQ(got[i], stream_body(i)) << "frame " << i;
    }
  }
};

// {active, true}: the stream arrives whole and in order, and on io_uring
// it is read by multishot receives, each going on after its completions.
TEST_F(stream, active_true_takes_a_stream_in_order_through_a_multishot_receive) {
  constexpr std::size_t n = 3000;
  auto k = open_conn({.active = always, .packet = packet_type::u2});
  expect_stream(take_stream(k, n), n);
  std::string c = counts(k.owner);
  if (multishot(k.owner)) {
    unsigned long made = 0;
    unsigned long went_on = 0;
    ASSERT_EQ(std::sscanf(c.c_str(), "%lu %lu", &made, &went_on), 2) << c;
    EXPECT_GE(made, 1u) << "no multishot receive was made";
    EXPECT_GT(went_on, made) << "the multishot receives did not go on after a completion: " << c;
  } else {
    EXPECT_TRUE(c == "readiness" || c.rfind("0 ", 0) == 0) << c;
  }
}

/// Sends frames [from, to) of the test stream from the client's descriptor
/// (TCP_NODELAY: each piece goes at once) in `pieces` sends that cut
/// through frames, then, where the loop makes multishot receives, waits
/// until the server's socket is empty. Called by the owner process, on its scheduler's thread, which is
/// the loop's ring's: the kernel's wake-up of the receive waiting there
/// queues task work on this thread, which runs when it next leaves a
/// system call, and takes the bytes into completions of the multishot
/// receive (one per piece as a rule: a piece delivered late joins the next)
/// that the loop has not seen. On epoll the bytes stay in the socket. The
/// answer: "ok", or what went wrong.
std::string put_pieces(int client_fd, int server_fd, std::size_t from, std::size_t to, std::size_t pieces) {
  int one = 1;
  (void)::setsockopt(client_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  std::string all = stream_bytes(from, to);
  std::size_t step = (all.size() + pieces - 1) / pieces;
  for (std::size_t at = 0; at < all.size(); at += step) {
    std::size_t len = std::min(step, all.size() - at);
    if (::send(client_fd, all.data() + at, len, MSG_NOSIGNAL) != static_cast<ssize_t>(len)) {
      return "short send";
    }
  }
  reactor::event_loop* loop = otpnet::detail::current_loop();
  if (loop != nullptr && loop->supports_recv_multishot() &&
      !wait_until([server_fd] { return fionread(server_fd) == 0; })) {
    return "the receive took nothing";
  }
  return "ok";
}

// {active, N} is flow control: it reads no further ahead than {active, once}
// does, so its receives stay single-shot.
TEST_F(stream, active_n_makes_no_multishot_receive) {
  constexpr std::size_t n = 300;
  auto k = open_conn({.active = passive, .packet = packet_type::u2});
  EXPECT_EQ(setopts(k.owner, {.active = active_n(static_cast<int>(n))}), "ok");
  expect_stream(take_stream(k, n), n);
  EXPECT_EQ(next().kind, "passive");
  std::string c = counts(k.owner);
  EXPECT_TRUE(c == "readiness" || c.rfind("0 ", 0) == 0) << "multishot receives made: " << c;
}

// Made passive while a multishot receive has completions posted and not yet
// seen: the receive ends with every one of them kept, in order, for recv;
// nothing is lost, doubled or reordered, and what comes afterwards stays in
// the kernel. (The pieces are sent by the owner itself, so that the
// completions are there when its setopts runs.)
TEST_F(stream, made_passive_with_completions_waiting_loses_nothing_and_reads_nothing_more) {
  constexpr std::size_t n = 400;
  auto k = open_conn({.active = always, .packet = packet_type::u2});
  std::vector<std::string> got = first_frame(k);
  ASSERT_EQ(got.size(), 1U);
  std::string r = call(k.owner, [fd = k.c.fd()](const socket& s) {
    std::uint64_t before = went_on();
    std::string sent = put_pieces(fd, s.raw().native_handle(), 1, n, 6);
    std::string set = outcome(s.setopts({.active = passive}));
    return sent + "," + set + "," + std::to_string(went_on() - before);
  });
  expect_ended_with_completions(r, multishot(k.owner));
  take_frames(mb(), got);  // (none: nothing was delivered in between)
  while (got.size() < n) {
    std::string f = acall(k.owner, recv_cmd());
    ASSERT_EQ(f.rfind("error:", 0), std::string::npos) << f << " after " << got.size() << " frames";
    got.push_back(f);
  }
  expect_stream(got, n);
  std::string tail = frame2("after the end");
  ASSERT_TRUE(k.c.write(tail));
  EXPECT_TRUE(wait_until([&] { return fionread(k.fd) == static_cast<int>(tail.size()); }))
      << "read ahead after passive: " << fionread(k.fd);
  expect_quiet();
  EXPECT_EQ(acall(k.owner, recv_cmd()), "after the end");
}

// From {active, true} to {active, once} with completions waiting: one frame
// per re-arm from then on (the multishot receive ends at its next
// completion, its bytes kept), and every frame once, in order.
TEST_F(stream, active_true_then_once_delivers_one_per_rearm_and_loses_nothing) {
  constexpr std::size_t n = 300;
  auto k = open_conn({.active = always, .packet = packet_type::u2});
  std::vector<std::string> got = first_frame(k);
  ASSERT_EQ(got.size(), 1U);
  std::string r = call(k.owner, [fd = k.c.fd()](const socket& s) {
    std::string sent = put_pieces(fd, s.raw().native_handle(), 1, n, 6);
    return sent + "," + outcome(s.setopts({.active = once}));
  });
  EXPECT_EQ(r, "ok,ok");
  for (int rearms = 0; got.size() < n; ++rearms) {
    ASSERT_LT(rearms, static_cast<int>(n)) << "stalled after " << got.size() << " frames";
    ev e = next();
    ASSERT_EQ(e.kind, "tcp") << "after " << got.size() << " frames";
    got.push_back(e.data);
    if (got.size() % 100 == 0) {
      expect_quiet();  // exactly one per re-arm
    }
    if (got.size() < n) {
      EXPECT_EQ(setopts(k.owner, {.active = once}), "ok");
    }
  }
  expect_stream(got, n);
  expect_quiet();
}

// Handed to a process on another scheduler while a multishot receive has
// completions waiting: the receive ends on the old loop with every byte
// kept, and the new owner gets the rest of the stream; every frame once, in
// order.
TEST_F(stream, handed_over_with_completions_waiting_loses_nothing) {
  constexpr std::size_t n = 400;
  auto k = open_conn({.active = always, .packet = packet_type::u2}, 0);
  mailbox other;
  pid b = spawn_server(1, other.self());
  std::vector<std::string> got = first_frame(k);
  ASSERT_EQ(got.size(), 1U);
  bool multishot_here = multishot(k.owner);  // (b's loop is of the same kind)
  std::string moved = acall(k.owner, [b, fd = k.c.fd()](socket s) -> task<std::string> {
    std::uint64_t before = went_on();
    std::string sent = put_pieces(fd, s.raw().native_handle(), 1, n / 2, 6);
    auto r = co_await s.controlling_process(b);
    std::uint64_t taken = went_on() - before;
    if (r) {
      send(b, given{s});
    }
    co_return sent + "," + outcome(r) + "," + std::to_string(taken);
  });
  expect_ended_with_completions(moved, multishot_here);
  // (Frames that moved may come before "given": it is sent after the move.)
  EXPECT_TRUE(other.receive<ev>(must, [](const ev& x) { return x.kind == "given"; }));
  ASSERT_TRUE(k.c.write(stream_bytes(n / 2, n)));
  while (got.size() < n) {
    auto e = other.receive<ev>(must, [](const ev& x) { return x.kind == "tcp"; });
    ASSERT_TRUE(e) << "the new owner stalled after " << got.size() << " frames";
    got.push_back(e->data);
  }
  expect_stream(got, n);
  take_frames(mb(), got, 0ms);
  EXPECT_EQ(got.size(), n) << "the old owner got frames after the move";
}

/// A new owner that, at the first frame it is forwarded, asks for many more
/// ({active, N}), as a server that re-arms as soon as it hears from its
/// socket; then reports every frame to `to`.
proc rearm_at_first_frame(pid to) {
  bool rearmed = false;
  for (;;) {
    message m = co_await receive_any();
    if (auto* d = m.get_if<tcp>()) {
      if (!rearmed) {
        rearmed = true;
        (void)d->sock.setopts({.active = active_n(10000)});
      }
      send(to, ev{"tcp", d->data.str()});
    } else if (m.is<stop_cmd>()) {
      co_return;
    }
  }
}

// Handed to another scheduler with frames in the old owner's mailbox and
// more in the port, to a new owner that re-arms at the first frame it is
// forwarded, while the old owner is still forwarding the rest: the frames
// the port holds wait until the move is done, so every frame arrives once
// and in order. (A race: the new owner's re-arm comes before the end of the
// forwarding in some attempts only, the more often the more there is to
// forward: a thousand frames, twenty attempts.)
TEST_F(stream, a_new_owner_that_rearms_at_once_gets_the_frames_in_order) {
  constexpr std::size_t n = 4000;
  for (int attempt = 0; attempt < 20; ++attempt) {
    SCOPED_TRACE("attempt " + std::to_string(attempt));
    auto k = open_conn({.active = passive, .packet = packet_type::u2}, 0);
    mailbox other;
    pid b = spawn_opt({.scheduler = 1}, [to = other.self()]() -> proc { return rearm_at_first_frame(to); }).first;
    std::thread writer = write_stream(k.c, n);  // (more than the socket's buffers hold)
    std::string moved = acall(k.owner, [b](socket s) -> task<std::string> {
      // Frames into this process's mailbox (it is busy here: they wait; a
      // pump delivers 64 a turn), the rest in the port; then all of it moves.
      std::string a = outcome(s.setopts({.active = active_n(static_cast<int>(n))}));
      for (int polls = 0; polls < 2000; ++polls) {
        auto info = process_info(self());
        if (!info || info->message_queue_len >= 1024) {
          break;
        }
        co_await sleep(1ms);  // (a bounded poll: turns of the loop pass)
      }
      std::size_t waiting = process_info(self()) ? process_info(self())->message_queue_len : 0;
      auto r = co_await s.controlling_process(b);
      co_return a + "," + outcome(r) + "," + (waiting >= 1024 ? "many waiting" : std::to_string(waiting));
    });
    std::vector<std::string> got;
    while (got.size() < n) {
      auto e = other.receive<ev>(must, [](const ev& x) { return x.kind == "tcp"; });
      if (!e) {
        break;
      }
      got.push_back(e->data);
    }
    writer.join();
    ASSERT_EQ(moved, "ok,ok,many waiting");
    ASSERT_EQ(got.size(), n) << "the new owner stalled";
    expect_stream(got, n);
    send(b, stop_cmd{});
  }
}

/// On the calling process's loop, where it is io_uring: `fault` applied to
/// its backend (through the test seam); "readiness" elsewhere.
std::string on_uring_loop(const std::function<void(reactor::io_uring_backend&)>& fault) {
  reactor::event_loop* loop = otpnet::detail::current_loop();
  reactor::io_uring_backend* uring = loop != nullptr ? reactor::io_uring_backend_testing::of(*loop) : nullptr;
  if (uring == nullptr) {
    return "readiness";
  }
  fault(*uring);
  return "io_uring";
}

/// The calling process's loop's multishot refusals so far (0 off io_uring).
std::uint64_t multishot_refusals() {
  reactor::event_loop* loop = otpnet::detail::current_loop();
  const auto* uring = loop != nullptr ? dynamic_cast<const reactor::io_uring_backend*>(&loop->io_backend()) : nullptr;
  return uring != nullptr ? uring->stats().multishot_refused : 0;
}

/// Report lines captured so far that contain `text`.
std::size_t lines_with(capture_sink& reports, std::string_view text) {
  std::size_t n = 0;
  for (const auto& line : reports.lines()) {
    n += line.find(text) != std::string::npos ? 1 : 0;
  }
  return n;
}

// A kernel that refuses multishot receives (EINVAL at the first answer):
// the first {active, true} receive ends having taken nothing, the loop
// makes no more, the server says so in one line, and the stream arrives
// whole and in order through single-shot receives.
TEST_F(stream, a_kernel_that_refuses_multishot_receives_still_gets_the_whole_stream) {
  constexpr std::size_t n = 1000;
  auto k = open_conn({.active = passive, .packet = packet_type::u2});
  if (!multishot(k.owner)) {
    GTEST_SKIP() << "the loop makes no multishot receives: nothing to refuse";
  }
  EXPECT_EQ(call(k.owner,
                 [](const socket&) {
                   return on_uring_loop([](reactor::io_uring_backend& b) {
                     reactor::io_uring_backend_testing::refuse_multishot(b, true);
                   });
                 }),
            "io_uring");
  EXPECT_EQ(setopts(k.owner, {.active = always}), "ok");
  expect_stream(take_stream(k, n), n);
  std::string after = call(k.owner, [](const socket&) {
    reactor::event_loop* loop = otpnet::detail::current_loop();
    return std::to_string(multishot_refusals()) + " " + multishot_counts(*loop) + " " +
           (loop->supports_recv_multishot() ? "on" : "off");
  });
  EXPECT_EQ(after, "1 1 0 off") << "refused, made, went on, multishot now";
  EXPECT_EQ(lines_with(reports(), "refused a multishot receive"), 1U);
}

// Handed to another scheduler while a multishot receive runs that the old
// loop cannot end (the kernel refuses the cancellation): the bytes it took
// cannot be vouched for, so the connection fails with the reason rather
// than deliver a stream with a hole in it. The new owner gets tcp_error
// (eio; ebusy should the kernel have kept the submission) and tcp_closed,
// the server says why, and the client sees the connection end.
TEST_F(stream, handed_over_when_the_multishot_receive_cannot_be_ended_fails_with_the_reason) {
  constexpr std::size_t n = 200;
  auto k = open_conn({.active = always, .packet = packet_type::u2}, 0);
  mailbox other;
  pid b = spawn_server(1, other.self());
  std::vector<std::string> got = first_frame(k);
  ASSERT_EQ(got.size(), 1U);
  if (!multishot(k.owner)) {
    GTEST_SKIP() << "the loop makes no multishot receives: nothing to end";
  }
  std::string moved = acall(k.owner, [b, fd = k.c.fd()](socket s) -> task<std::string> {
    std::string sent = put_pieces(fd, s.raw().native_handle(), 1, n, 6);
    auto fail = [](bool on) {
      return [on](reactor::io_uring_backend& u) { reactor::io_uring_backend_testing::fail_sync_cancels(u, on); };
    };
    std::string kind = on_uring_loop(fail(true));
    auto r = co_await s.controlling_process(b);
    (void)on_uring_loop(fail(false));
    if (r) {
      send(b, given{s});
    }
    co_return sent + "," + kind + "," + outcome(r);
  });
  EXPECT_EQ(moved, "ok,io_uring,ok");
  auto e = other.receive<ev>(must, [](const ev& x) { return x.kind == "error" || x.kind == "closed"; });
  ASSERT_TRUE(e) << "the new owner was not told";
  EXPECT_EQ(e->kind, "error");
  EXPECT_TRUE(e->reason == errc::eio || e->reason == errc::ebusy) << err_name(e->reason);
  auto closed = other.receive<ev>(must, [](const ev& x) { return x.kind == "closed"; });
  EXPECT_TRUE(closed) << "no tcp_closed after the error";
  EXPECT_EQ(lines_with(reports(), "receive failed"), 1U);
  auto [rest, how] = k.c.read_to_end();
  EXPECT_TRUE(how == errc::closed || how == errc::econnreset) << err_name(how);
  // Whatever frames came, to either owner, are the stream's first ones in
  // order: none of the bytes the receive took is delivered out of place.
  take_frames(mb(), got, 0ms);
  take_frames(other, got, 0ms);
  ASSERT_LE(got.size(), n);
  for (std::size_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(got[i], stream_body(i)) << "frame " << i;
  }
}

}  // namespace
}  // namespace otpnet::gen_tcp::test
