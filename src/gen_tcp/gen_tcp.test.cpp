#include <otpnet/gen_tcp/gen_tcp.hpp>
#include <otpnet/runtime/mailbox.hpp>
#include <otpnet/runtime/process.hpp>
#include <otpnet/runtime/receive.hpp>
#include <otpnet/runtime/runtime.hpp>

#include "support/loopback.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/socket.h>

#include <string>
#include <thread>

namespace otpnet::gen_tcp {
namespace {

using namespace std::chrono_literals;
namespace so = otpnet::socket;

class gen_tcp_test : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(runtime::start({.schedulers = 2})); }
  void TearDown() override { runtime::stop(); }
};

std::string frame2(std::string_view body) {
  std::string f;
  f.push_back(static_cast<char>(body.size() >> 8));
  f.push_back(static_cast<char>(body.size() & 0xff));
  f.append(body);
  return f;
}

/// Reads exactly n bytes from a raw client socket.
std::string read_exact(const so::socket& s, std::size_t n) {
  std::string out;
  while (out.size() < n) {
    std::byte buf[4096];
    auto r = so::recv(s, std::span(buf, std::min(sizeof buf, n - out.size())), 0, 5000ms);
    if (!r) {
      break;
    }
    out.append(reinterpret_cast<const char*>(buf), *r);
  }
  return out;
}

/// Writes all of `data` (from a thread of its own while the test reads).
bool write_all(const so::socket& s, std::string_view data) {
  while (!data.empty()) {
    auto n = so::send(s, otpnet::test::bytes(data), 0, 5000ms);
    if (!n) {
      return false;
    }
    data.remove_prefix(*n);
  }
  return true;
}

/// `n` {packet, 2} frames of uneven sizes: mostly short, every seventh
/// longer (600-1200 bytes), some empty.
std::string uneven_frames(int n) {
  std::string out;
  for (int i = 0; i < n; ++i) {
    std::size_t len = i % 7 == 0 ? 600 + static_cast<std::size_t>(i % 5) * 150 : static_cast<std::size_t>(i % 97);
    std::string body(len, static_cast<char>('a' + i % 26));
    if (len >= 8) {
      body.replace(0, 8, std::to_string(10000000 + i));
    }
    out += frame2(body);
  }
  return out;
}

/// The tutorial's echo: {packet, 2}, {active, once}, re-armed after each
/// frame. With `moved`, each frame is sent with the message's reference to
/// its bytes (send(buffer&&)), and the message's buffer must be left empty.
proc echo_server(listen_socket ls, pid report, bool moved = false) {
  auto s = co_await accept(ls, 5000ms);
  if (!s) {
    send(report, std::string("accept: ") + format_error(s.error()));
    co_return;
  }
  for (;;) {
    auto m = co_await receive_any();
    if (auto* d = m.get_if<tcp>()) {
      if (moved) {
        (void)d->sock.send(std::move(d->data));
        if (!d->data.empty()) {
          send(report, std::string("the moved frame is still in the message"));
        }
      } else {
        (void)d->sock.send(d->data);
      }
      (void)d->sock.setopts({.active = once});
    } else if (m.is<tcp_closed>()) {
      send(report, std::string("closed"));
      co_return;
    } else if (auto* e = m.get_if<tcp_error>()) {
      send(report, std::string("error: ") + std::string(err_name(e->reason)));
    }
  }
}

TEST_F(gen_tcp_test, active_once_packet_2_echo) {
  mailbox mb;
  auto ls = listen(so::address::inet_loopback(0), {.active = once, .packet = packet_type::u2});
  ASSERT_TRUE(ls);
  spawn([ls = *ls, me = mb.self()]() -> proc { return echo_server(ls, me); });
  auto c = so::open(so::domain::inet, so::type::stream);
  ASSERT_TRUE(so::connect(*c, so::address::inet_loopback(ls->port), 5000ms));
  // Three frames in one write, then one split byte by byte.
  std::string burst = frame2("one") + frame2("two") + frame2("three");
  ASSERT_TRUE(so::send(*c, otpnet::test::bytes(burst), 0, 5000ms));
  EXPECT_EQ(read_exact(*c, burst.size()), burst);
  std::string slow = frame2("byte by byte");
  for (char ch : slow) {
    ASSERT_TRUE(so::send(*c, otpnet::test::bytes(std::string_view(&ch, 1)), 0, 5000ms));
  }
  EXPECT_EQ(read_exact(*c, slow.size()), slow);
  ASSERT_TRUE(so::close(*c));
  auto r = mb.receive<std::string>(5000ms);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, "closed");
}

TEST_F(gen_tcp_test, a_frame_sent_back_by_moving_its_buffer_goes_out_whole) {
  mailbox mb;
  auto ls = listen(so::address::inet_loopback(0), {.active = once, .packet = packet_type::u2});
  ASSERT_TRUE(ls);
  spawn([ls = *ls, me = mb.self()]() -> proc { return echo_server(ls, me, true); });
  auto c = so::open(so::domain::inet, so::type::stream);
  ASSERT_TRUE(so::connect(*c, so::address::inet_loopback(ls->port), 5000ms));
  // Frames that share one read chunk: each echo holds the chunk alone.
  std::string burst = uneven_frames(40);
  ASSERT_TRUE(so::send(*c, otpnet::test::bytes(burst), 0, 5000ms));
  EXPECT_EQ(read_exact(*c, burst.size()), burst);
  ASSERT_TRUE(so::close(*c));
  auto r = mb.receive<std::string>(5000ms);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, "closed");
}

// A pipelined client: every frame of a long burst comes back whole and in
// order, each one delivered, echoed and re-armed with {active, once} while
// the next are already buffered; with delay_send the echoes of a turn go
// out gathered, larger than the socket buffers take at once.
/// An echo_server with {active, once}, {packet, 2} and `delay_send`, and a
/// client connected to it (closed on failure).
so::socket echo_client(mailbox& mb, bool delay_send) {
  auto ls =
      listen(so::address::inet_loopback(0), {.active = once, .packet = packet_type::u2, .delay_send = delay_send});
  EXPECT_TRUE(ls);
  if (!ls) {
    return {};
  }
  spawn([ls = *ls, me = mb.self()]() -> proc { return echo_server(ls, me); });
  auto c = so::open(so::domain::inet, so::type::stream);
  EXPECT_TRUE(c);
  if (!c || !so::connect(*c, so::address::inet_loopback(ls->port), 5000ms)) {
    ADD_FAILURE() << "no connection to the echo server";
    return {};
  }
  return *c;
}

void pipelined_echo(bool delay_send) {
  mailbox mb;
  so::socket c = echo_client(mb, delay_send);
  ASSERT_TRUE(c.is_open());
  const std::string burst = uneven_frames(3000);
  bool written = false;
  std::thread writer([&] { written = write_all(c, burst); });
  std::string back = read_exact(c, burst.size());
  writer.join();
  EXPECT_TRUE(written);
  EXPECT_EQ(back.size(), burst.size());
  EXPECT_TRUE(back == burst) << "the echoes differ from the frames sent";
  ASSERT_TRUE(so::close(c));
  auto r = mb.receive<std::string>(5000ms);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, "closed");
}

TEST_F(gen_tcp_test, pipelined_burst_with_active_once_echoes_every_frame_in_order) { pipelined_echo(false); }

TEST_F(gen_tcp_test, pipelined_burst_with_delay_send_echoes_every_frame_in_order) { pipelined_echo(true); }

// Frames and the end of the stream arriving together (the client's last
// write and its FIN in one go): every frame is echoed, then tcp_closed.
TEST_F(gen_tcp_test, frames_then_fin_together_give_every_frame_then_tcp_closed) {
  for (bool delay_send : {false, true}) {
    mailbox mb;
    so::socket c = echo_client(mb, delay_send);
    ASSERT_TRUE(c.is_open());
    const std::string burst = uneven_frames(40);
    ASSERT_TRUE(write_all(c, burst));
    ASSERT_TRUE(so::shutdown(c, so::shutdown_how::write));
    EXPECT_EQ(read_exact(c, burst.size()), burst) << "delay_send " << delay_send;
    auto r = mb.receive<std::string>(5000ms);
    ASSERT_TRUE(r);
    EXPECT_EQ(*r, "closed") << "delay_send " << delay_send;
    std::byte b[1];
    auto eof = so::recv(c, b, 0, 5000ms);
    ASSERT_FALSE(eof) << "the server closes after the echoes";
    EXPECT_EQ(eof.error(), errc::closed);
    ASSERT_TRUE(so::close(c));
  }
}

TEST_F(gen_tcp_test, oversized_frame_is_an_error_for_that_connection_only) {
  mailbox mb;
  auto ls = listen(so::address::inet_loopback(0), {.active = once, .packet = packet_type::u2, .packet_size = 16});
  ASSERT_TRUE(ls);
  spawn([ls = *ls, me = mb.self()]() -> proc { return echo_server(ls, me); });
  auto c = so::open(so::domain::inet, so::type::stream);
  ASSERT_TRUE(so::connect(*c, so::address::inet_loopback(ls->port), 5000ms));
  std::string exact(16, 'x');
  ASSERT_TRUE(so::send(*c, otpnet::test::bytes(frame2(exact)), 0, 5000ms));
  EXPECT_EQ(read_exact(*c, 18), frame2(exact));
  ASSERT_TRUE(so::send(*c, otpnet::test::bytes(frame2(std::string(17, 'y'))), 0, 5000ms));
  auto e = mb.receive<std::string>(5000ms);
  ASSERT_TRUE(e);
  EXPECT_EQ(*e, "error: emsgsize");
  std::byte buf[8];
  auto n = so::recv(*c, buf, 0, 5000ms);
  ASSERT_FALSE(n);  // the server closed this connection
}

TEST_F(gen_tcp_test, passive_recv_with_timeout_and_length) {
  mailbox mb;
  auto ls = listen(so::address::inet_loopback(0), {.active = passive});
  ASSERT_TRUE(ls);
  spawn([ls = *ls, me = mb.self()]() -> proc {
    auto s = co_await accept(ls, 5000ms);
    auto none = co_await s->recv(0, 20ms);
    send(me, std::string(none ? "data" : err_name(none.error())));
    auto five = co_await s->recv(5, 5000ms);
    auto rest = co_await s->recv(0, 5000ms);
    send(me, (five ? five->str() : "?") + "|" + (rest ? rest->str() : "?"));
  });
  auto c = so::open(so::domain::inet, so::type::stream);
  ASSERT_TRUE(so::connect(*c, so::address::inet_loopback(ls->port), 5000ms));
  auto first = mb.receive<std::string>(5000ms);
  ASSERT_TRUE(first);
  EXPECT_EQ(*first, "timeout");
  ASSERT_TRUE(so::send(*c, otpnet::test::bytes("helloworld"), 0, 5000ms));
  auto second = mb.receive<std::string>(5000ms);
  ASSERT_TRUE(second);
  EXPECT_EQ(*second, "hello|world");
}

TEST_F(gen_tcp_test, connect_and_active_n_counts_down_to_passive) {
  mailbox mb;
  auto l = otpnet::test::listen_loopback();
  spawn([port = l.port, me = mb.self()]() -> proc {
    auto s = co_await connect(so::address::inet_loopback(port), {.active = active_n(2), .packet = packet_type::line});
    if (!s) {
      send(me, std::string("connect: ") + format_error(s.error()));
      co_return;
    }
    std::string got;
    for (int i = 0; i < 3; ++i) {
      auto m = co_await receive_any(after(5000ms));
      if (!m) {
        got += "[timeout]";
      } else if (auto* d = m->get_if<tcp>()) {
        got += d->data.str();
      } else if (m->is<tcp_passive>()) {
        got += "[passive]";
      }
    }
    send(me, got);
  });
  auto a = so::accept(l.sock, 5000ms);
  ASSERT_TRUE(a);
  ASSERT_TRUE(so::send(*a, otpnet::test::bytes("a\nb\nc\n"), 0, 5000ms));
  auto r = mb.receive<std::string>(5000ms);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, "a\nb\n[passive]");
}

// A port watched by readiness tries no read until its registration's
// first event, which reports what was there already (backend.hpp, point
// 1): bytes and the end of the stream that came before the adoption are
// delivered all the same, to an active socket and to a passive recv, also
// one that does not wait (a timeout of 0, made before the loop's next turn).
proc adopt_and_report(so::socket raw, effective_options o, std::chrono::milliseconds first_wait, pid report) {
  auto s = adopt(std::move(raw), o);
  if (!s) {
    send(report, std::string("adopt: ") + format_error(s.error()));
    co_return;
  }
  std::string got;
  if (o.active.k == active_mode::kind::passive) {
    auto r = co_await s->recv(0, first_wait);
    got += r ? r->str() : std::string("[") + std::string(err_name(r.error())) + "]";
    auto end = co_await s->recv(0, 5000ms);
    got += end ? "[more]" : std::string("[") + std::string(err_name(end.error())) + "]";
    send(report, got);
    co_return;
  }
  for (int i = 0; i < 2; ++i) {
    auto m = co_await receive_any(after(5000ms));
    if (!m) {
      got += "[timeout]";
    } else if (auto* d = m->get_if<tcp>()) {
      got += d->data.str();
      (void)d->sock.setopts({.active = once});
    } else if (m->is<tcp_closed>()) {
      got += "[closed]";
    }
  }
  send(report, got);
}

TEST_F(gen_tcp_test, bytes_and_end_that_came_before_adoption_are_delivered) {
  for (auto [active, first_wait] : {std::pair{true, 5000ms}, std::pair{false, 5000ms}, std::pair{false, 0ms}}) {
    mailbox mb;
    auto [client, server] = otpnet::test::connected_pair();
    std::string f = frame2("early");
    ASSERT_TRUE(so::send(client, otpnet::test::bytes(f), 0, 5000ms));
    ASSERT_TRUE(so::close(client));  // loopback: bytes and FIN are queued at the server now
    effective_options o;
    o.active = active ? once : passive;
    o.packet = packet_type::u2;
    spawn([raw = server, o, first_wait, me = mb.self()]() -> proc { return adopt_and_report(raw, o, first_wait, me); });
    auto r = mb.receive<std::string>(10000ms);
    ASSERT_TRUE(r);
    EXPECT_EQ(*r, "early[closed]") << (active ? "active once" : "passive recv, first wait ") << first_wait.count();
  }
}

// The port closes its socket without removing it from epoll first (the
// close ends the watch). A program that dup'ed the descriptor keeps the
// open file, and with it the kernel's watch: what the peer sends then is
// reported under a stale token, which reaches no port, also once a new
// connection has the same descriptor number on the same loop.
proc adopt_close_then_echo(pid report) {
  auto first = co_await receive<so::socket>();
  effective_options o;
  o.active = once;
  o.packet = packet_type::u2;
  auto s1 = adopt(first, o);
  (void)(s1 ? s1->close() : result<void>(fail(s1.error())));
  send(report, std::string(s1 ? "closed first" : "adopt failed"));
  auto second = co_await receive<so::socket>();
  auto s2 = adopt(second, o);
  if (!s2) {
    send(report, std::string("adopt failed"));
    co_return;
  }
  send(report, second.native_handle());
  std::string got;
  for (;;) {
    auto m = co_await receive_any(after(5000ms));
    if (!m) {
      got += "[timeout]";
      break;
    }
    if (auto* d = m->get_if<tcp>()) {
      got += d->data.str() + "|";
      (void)d->sock.send(d->data);
      (void)d->sock.setopts({.active = once});
    } else if (m->is<tcp_closed>()) {
      got += "[closed]";
      break;
    }
  }
  send(report, got);
}

TEST_F(gen_tcp_test, a_closed_port_whose_descriptor_was_duplicated_disturbs_no_other_connection) {
  mailbox mb;
  auto l = otpnet::test::listen_loopback();
  pid handler = spawn([me = mb.self()]() -> proc { return adopt_close_then_echo(me); });
  auto c1 = so::open(so::domain::inet, so::type::stream);
  ASSERT_TRUE(so::connect(*c1, l.addr(), 5000ms));
  auto a1 = so::accept(l.sock, 5000ms);
  ASSERT_TRUE(a1);
  int copy = ::fcntl(a1->native_handle(), F_DUPFD_CLOEXEC, 0);
  ASSERT_GE(copy, 0);
  int first_fd = a1->native_handle();
  send(handler, std::move(*a1));
  auto closed = mb.receive<std::string>(5000ms);
  ASSERT_TRUE(closed);
  ASSERT_EQ(*closed, "closed first");
  // The file lives on in the copy: these bytes raise edges on the old watch.
  std::string to_copy = frame2("to the copy");
  ASSERT_TRUE(so::send(*c1, otpnet::test::bytes(to_copy), 0, 5000ms));
  auto c2 = so::open(so::domain::inet, so::type::stream);
  ASSERT_TRUE(so::connect(*c2, l.addr(), 5000ms));
  auto a2 = so::accept(l.sock, 5000ms);
  ASSERT_TRUE(a2);
  send(handler, std::move(*a2));
  auto second_fd = mb.receive<int>(5000ms);
  ASSERT_TRUE(second_fd);
  // (Usually the number the first had, now free again.)
  RecordProperty("same_number", *second_fd == first_fd ? "yes" : "no");
  std::string f = frame2("second connection");
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(so::send(*c2, otpnet::test::bytes(f), 0, 5000ms));
    EXPECT_EQ(read_exact(*c2, f.size()), f);
    ASSERT_TRUE(so::send(*c1, otpnet::test::bytes(to_copy), 0, 5000ms));  // more stale edges
  }
  ASSERT_TRUE(so::close(*c2));
  auto got = mb.receive<std::string>(5000ms);
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, "second connection|second connection|[closed]");
  // The copy still reads all the peer sent.
  std::string seen(3 * to_copy.size(), '\0');
  EXPECT_EQ(::recv(copy, seen.data(), seen.size(), MSG_WAITALL), static_cast<ssize_t>(seen.size()));
  EXPECT_EQ(seen, to_copy + to_copy + to_copy);
  ::close(copy);
  ASSERT_TRUE(so::close(*c1));
}

}  // namespace
}  // namespace otpnet::gen_tcp
