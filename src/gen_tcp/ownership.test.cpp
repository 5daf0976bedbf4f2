// File: gen_tcp/ownership.test.cpp
//
// Ownership: controlling_process with data in flight (a stream of numbered
// frames seen exactly once, in order, across the hand-over, on one
// scheduler and across two), buffered bytes moving with a passive socket,
// what only the owner may do, what anyone may (send, close), and the
// socket's life bound to its owner's.
#include <otpnet/runtime/process_info.hpp>

#include "gen_tcp/harness.test.hpp"

#include <sys/ioctl.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace otpnet::gen_tcp::test {
namespace {

using ownership = tcp_test;

std::uint32_t seq_of(const buffer& b) {
  std::uint32_t v = 0;
  for (std::size_t i = 0; i < 4 && i < b.size(); ++i) {
    v = (v << 8) | std::to_integer<std::uint32_t>(b.data()[i]);
  }
  return v;
}

/// "first..last" when `seqs` is a run of consecutive numbers, else where it breaks.
std::string run_of(const std::vector<std::uint32_t>& seqs) {
  if (seqs.empty()) {
    return "empty";
  }
  std::string breaks;
  int shown = 0;
  for (std::size_t i = 1; i < seqs.size(); ++i) {
    if (seqs[i] != seqs[i - 1] + 1 && shown++ < 6) {
      breaks += " then " + std::to_string(seqs[i - 1]) + "->" + std::to_string(seqs[i]) + " at #" + std::to_string(i);
    }
  }
  if (!breaks.empty()) {
    return std::to_string(seqs.size()) + " frames, starting " + std::to_string(seqs.front()) + breaks;
  }
  return std::to_string(seqs.front()) + ".." + std::to_string(seqs.back());
}

/// B: collects the numbered frames it gets until tcp_closed.
proc collector(pid to) {
  std::vector<std::uint32_t> seqs;
  for (;;) {
    message m = co_await receive_any();
    if (auto* d = m.get_if<tcp>()) {
      seqs.push_back(seq_of(d->data));
    } else if (m.is<tcp_closed>()) {
      break;
    } else if (auto* e = m.get_if<tcp_error>()) {
      send(to, ev{"b_error", {}, e->reason});
    }
  }
  send(to, ev{"b", run_of(seqs)});
}

/// A: owns the socket first, takes `k` frames, then hands it to `b`.
proc first_owner(listen_socket ls, pid b, pid to, std::size_t k) {
  auto s = co_await accept(ls, must);
  if (!s) {
    send(to, ev{"accept_failed", {}, s.error()});
    co_return;
  }
  send(to, ev{"accepted"});
  std::vector<std::uint32_t> seqs;
  while (seqs.size() < k) {
    tcp d = co_await receive<tcp>();
    seqs.push_back(seq_of(d.data));
  }
  auto r = co_await s->controlling_process(b);
  send(to, ev{"a", run_of(seqs) + " " + outcome(r)});
  // Nothing more may come here.
  auto extra = co_await receive<tcp>(after(quiet));
  send(to, ev{"a_after", extra ? "frame " + std::to_string(seq_of(extra->data)) : "none"});
}

class hand_over : public tcp_test, public ::testing::WithParamInterface<bool> {
 protected:
  std::pair<ev, std::string> fail_a_hand_over(bool as_buffer);
};
INSTANTIATE_TEST_SUITE_P(schedulers, hand_over, ::testing::Values(false, true),
                         [](const auto& i) { return i.param ? "to_another_scheduler" : "on_the_same_scheduler"; });

TEST_P(hand_over, with_frames_in_flight_loses_and_duplicates_nothing) {
  constexpr std::uint32_t n = 60000;
  constexpr std::size_t k = 500;
  auto ls = listen_lo({.active = always, .packet = packet_type::u4});
  pid b = spawn_opt({.scheduler = GetParam() ? 1 : 0}, [to = me()]() -> proc { return collector(to); }).first;
  spawn_opt({.scheduler = 0}, [ls, b, to = me()]() -> proc { return first_owner(ls, b, to, k); });
  client c = client::connect(ls.port);
  ASSERT_EQ(next().kind, "accepted");
  // The stream goes on while A takes its share and hands the socket over.
  scoped_thread writer([&c] {
    std::string batch;
    for (std::uint32_t i = 0; i < n; ++i) {
      char body[8] = {static_cast<char>(i >> 24),
                      static_cast<char>(i >> 16),
                      static_cast<char>(i >> 8),
                      static_cast<char>(i),
                      'p',
                      'a',
                      'd',
                      '!'};
      batch += frame(packet_type::u4, std::string_view(body, sizeof body));
      if (batch.size() > 6000 || i + 1 == n) {
        if (!c.write(batch)) {
          return;
        }
        batch.clear();
      }
    }
    c.close();
  });
  // A's report and B's come from two threads: either may come first (B can
  // finish the stream while A's thread is preempted before it reports).
  ev a = mb().receive<ev>(must, [](const ev& e) { return e.kind == "a"; }).value_or(ev{"none"});
  EXPECT_EQ(a.kind, "a");
  EXPECT_EQ(a.data, "0.." + std::to_string(k - 1) + " ok");
  ev rest =
      mb().receive<ev>(must, [](const ev& e) { return e.kind == "b" || e.kind == "b_error"; }).value_or(ev{"none"});
  EXPECT_EQ(rest.kind, "b");
  EXPECT_EQ(rest.data, std::to_string(k) + ".." + std::to_string(n - 1));
  ev after = mb().receive<ev>(must, [](const ev& e) { return e.kind == "a_after"; }).value_or(ev{"none"});
  EXPECT_EQ(after.data, "none");
  writer.join();
}

/// B: reports the body of the first frame it gets.
proc first_frame(pid to) {
  tcp d = co_await receive<tcp>();
  send(to, ev{"b", d.data.str()});
}

/// A: accepts an {active, once} socket and hands it over at once, while it
/// waits for its first byte (on io_uring, a receive is in flight then).
proc hand_over_while_armed(listen_socket ls, pid b, pid to) {
  auto s = co_await accept(ls, must);
  if (!s) {
    send(to, ev{"accept_failed", {}, s.error()});
    co_return;
  }
  auto r = co_await s->controlling_process(b);
  send(to, ev{"handed", outcome(r)});
}

// Armed and waiting when it moves: the next frame reaches the new owner,
// whole and once, and nothing reaches the old one.
TEST_P(hand_over, an_armed_socket_waiting_for_bytes_delivers_its_next_frame_to_the_new_owner) {
  for (int round = 0; round < 50; ++round) {
    auto ls = listen_lo({.active = once, .packet = packet_type::u2});
    pid b = spawn_opt({.scheduler = GetParam() ? 1 : 0}, [to = me()]() -> proc { return first_frame(to); }).first;
    spawn_opt({.scheduler = 0}, [ls, b, to = me()]() -> proc { return hand_over_while_armed(ls, b, to); });
    client c = client::connect(ls.port);
    ev handed = mb().receive<ev>(must, [](const ev& e) { return e.kind != "b"; }).value_or(ev{"none"});
    ASSERT_EQ(handed.kind, "handed");
    ASSERT_EQ(handed.data, "ok");
    ASSERT_TRUE(c.write(frame2("after the move " + std::to_string(round))));
    ev got = next();
    ASSERT_EQ(got.kind, "b");
    EXPECT_EQ(got.data, "after the move " + std::to_string(round));
  }
}

/// B for the next test: takes the moved frame and at once re-arms, as an
/// {active, once} handler does; reports what setopts said.
proc rearm_on_first_frame(pid to) {
  tcp d = co_await receive<tcp>();
  send(to, ev{"rearm", outcome(d.sock.setopts({.active = once}))});
  (void)co_await receive<stop_cmd>(after(must));
}

/// A for the next test: gets one frame with {active, once}, hands over.
proc hand_over_after_one_frame(listen_socket ls, pid b, pid to) {
  auto s = co_await accept(ls, must);
  if (!s) {
    send(to, ev{"accept_failed", {}, s.error()});
    co_return;
  }
  send(to, ev{"accepted", {}, errc::ok, *s});
  // Wait for the frame, and put it back: it is what moves.
  tcp d = co_await receive<tcp>();
  send(self(), std::move(d));
  // (Not co_await inside the braces: GCC 12 keeps a member constructed
  // before the suspension pointing into the coroutine frame.)
  auto r = co_await s->controlling_process(b);
  send(to, ev{"handed", outcome(r)});
}

// The new owner may act on a moved message as soon as it has it: the
// socket is its own by then (its setopts must not fail with invalid).
TEST_F(ownership, the_new_owner_owns_the_socket_before_it_sees_a_moved_message) {
  int refused = 0;
  for (int round = 0; round < 200; ++round) {
    auto ls = listen_lo({.active = once});
    pid b = spawn_opt({.scheduler = 1}, [to = me()]() -> proc { return rearm_on_first_frame(to); }).first;
    pid a = spawn_opt({.scheduler = 0}, [ls, b, to = me()]() -> proc {
              return hand_over_after_one_frame(ls, b, to);
            }).first;
    client c = client::connect(ls.port);
    ev acc = next();
    ASSERT_EQ(acc.kind, "accepted") << err_name(acc.reason);
    ASSERT_TRUE(c.write("x"));
    ev handed = mb().receive<ev>(must, [](const ev& e) { return e.kind == "handed"; }).value_or(ev{"none"});
    if (handed.data != "ok") {
      int fd = acc.sock.raw().native_handle();
      int unread = -1;
      (void)::ioctl(fd, FIONREAD, &unread);
      auto ia = process_info(a);
      auto ib = process_info(b);
      ADD_FAILURE() << "round " << round << ": fd " << fd << " unread " << unread << " A "
                    << (ia ? ia->status + " q=" + std::to_string(ia->message_queue_len) : "dead") << " B "
                    << (ib ? ib->status + " q=" + std::to_string(ib->message_queue_len) : "dead");
    }
    ASSERT_EQ(handed.data, "ok");
    ev rearm = mb().receive<ev>(must, [](const ev& e) { return e.kind == "rearm"; }).value_or(ev{"none"});
    refused += rearm.data != "ok" ? 1 : 0;
    send(b, stop_cmd{});
  }
  EXPECT_EQ(refused, 0) << "the new owner's setopts was refused in " << refused << " of 200 hand-overs";
}

TEST_F(ownership, buffered_bytes_of_a_passive_socket_move_with_it) {
  auto k = open_conn({.active = passive, .packet = packet_type::u2}, 0);
  mailbox other;
  pid b = spawn_server(1, other.self());
  std::string f = frame2("split across the hand-over");
  ASSERT_TRUE(k.c.write(f.substr(0, 10)));
  ASSERT_TRUE(wait_until([&] { return fionread(k.fd) == 10; }));
  // The recv times out with the first bytes read into the port.
  EXPECT_EQ(acall(k.owner, recv_cmd(0, 20ms)), "error:timeout");
  EXPECT_EQ(fionread(k.fd), 0);
  EXPECT_EQ(acall(k.owner,
                  [b](socket s) -> task<std::string> {
                    auto r = co_await s.controlling_process(b);
                    if (r) {
                      send(b, given{s});
                    }
                    co_return outcome(r);
                  }),
            "ok");
  EXPECT_EQ(next_in(other).kind, "given");
  ASSERT_TRUE(k.c.write(f.substr(10)));
  EXPECT_EQ(acall(b, recv_cmd(), &other), "split across the hand-over");
  // The old owner may no longer receive.
  EXPECT_EQ(acall(k.owner, recv_cmd(0, 20ms)), "error:invalid");
}

/// B for the next test: reports the first message it gets.
proc first_message(pid to) {
  message m = co_await receive_any();
  std::string kind = m.is<tcp>()          ? "tcp"
                     : m.is<tcp_error>()  ? "tcp_error"
                     : m.is<tcp_closed>() ? "tcp_closed"
                     : m.is<ev>()         ? "probe"
                                          : "other";
  send(to, ev{"b", kind});
}

/// A for the next tests: with a frame for the socket still in its mailbox
/// and a send that cannot be written (its own side shut for writing), hands
/// the socket to B; reports the answers and the messages it holds
/// afterwards, in order, and the send's own answer as the event's reason. A
/// buffer is sent without a copy: on io_uring it is in flight at the
/// hand-over, on epoll written (and failed) at once.
proc hand_over_with_a_send_that_fails(listen_socket ls, pid b, pid to, bool as_buffer) {
  auto s = co_await accept(ls, must);
  if (!s) {
    send(to, ev{"accept_failed", {}, s.error()});
    co_return;
  }
  tcp d = co_await receive<tcp>();
  send(self(), std::move(d));
  std::string said = outcome(otpnet::socket::shutdown(s->raw(), otpnet::socket::shutdown_how::write));
  auto q = as_buffer ? s->send(buffer::copy_of("never written")) : s->send("never written");
  auto r = co_await s->controlling_process(b);
  said += " " + outcome(r);
  for (;;) {
    auto m = co_await receive_any(after(0ms));  // what is here now: it was delivered before the answer
    if (!m) {
      break;
    }
    if (auto* t = m->get_if<tcp>()) {
      said += " tcp:" + t->data.str();
    } else if (auto* e = m->get_if<tcp_error>()) {
      said += " tcp_error:" + std::string(err_name(e->reason));
    } else if (m->is<tcp_closed>()) {
      said += " tcp_closed";
    }
  }
  send(to, ev{"a", said, q ? errc::ok : q.error()});
}

/// Runs A (above) and B, the new owner, on scheduler 0 or (param) 1;
/// returns A's report and B's first message after a probe the test sends it
/// once A has reported (so anything the hand-over sent B comes before it).
std::pair<ev, std::string> hand_over::fail_a_hand_over(bool as_buffer) {
  auto ls = listen_lo({.active = once, .delay_send = !as_buffer});
  pid b = spawn_opt({.scheduler = GetParam() ? 1 : 0}, [to = me()]() -> proc { return first_message(to); }).first;
  spawn_opt({.scheduler = 0},
            [ls, b, to = me(), as_buffer]() -> proc { return hand_over_with_a_send_that_fails(ls, b, to, as_buffer); });
  client c = client::connect(ls.port);
  if (!c.write("x")) {
    return {ev{"write_failed"}, ""};
  }
  ev a = mb().receive<ev>(must, [](const ev& e) { return e.kind == "a" || e.kind == "accept_failed"; })
             .value_or(ev{"none"});
  send(b, ev{"probe"});
  ev got = mb().receive<ev>(must, [](const ev& e) { return e.kind == "b"; }).value_or(ev{"none"});
  return {a, got.data};
}

// A hand-over whose queued send fails on the way out leaves the socket, and
// what it said about it, with the old owner, in order (the frame first,
// then the error and the close), and answers closed; the new owner gets
// none of it. It used to answer ok and send the error and the close to the
// new owner ahead of the frame that was forwarded after them.
TEST_P(hand_over, whose_delayed_send_fails_keeps_the_socket_and_its_messages_with_the_old_owner) {
  auto [a, b_first] = fail_a_hand_over(false);
  ASSERT_EQ(a.kind, "a") << err_name(a.reason);
  EXPECT_EQ(a.reason, errc::ok);  // queued (delay_send)
  EXPECT_EQ(a.data, "ok closed tcp:x tcp_error:epipe tcp_closed");
  EXPECT_EQ(b_first, "probe");
}

// The same with a send that is in flight on io_uring when the hand-over
// settles it (on epoll it fails at once, and the hand-over finds the socket
// closed): the same answer and the same messages, with the old owner.
TEST_P(hand_over, whose_send_in_flight_fails_keeps_the_socket_and_its_messages_with_the_old_owner) {
  auto [a, b_first] = fail_a_hand_over(true);
  ASSERT_EQ(a.kind, "a") << err_name(a.reason);
  EXPECT_TRUE(a.reason == errc::ok || a.reason == errc::epipe) << err_name(a.reason);
  EXPECT_EQ(a.data, "ok closed tcp:x tcp_error:epipe tcp_closed");
  EXPECT_EQ(b_first, "probe");
}

// A port its loop does not watch would wait for readiness that never
// comes: adopting a socket the scheduler's loop already watches (for
// another port) fails with eexist and a report line, and the port that
// has it carries on.
proc adopt_twice_then_echo(so::socket raw, pid to) {
  effective_options o;
  o.active = once;
  o.packet = packet_type::u2;
  auto first = adopt(raw, o);
  if (!first) {
    send(to, std::string("first: ") + std::string(err_name(first.error())));
    co_return;
  }
  auto second = adopt(raw, o);
  send(to, second ? std::string("second adopted") : std::string(err_name(second.error())));
  auto m = co_await receive_any(after(must));
  if (auto* d = m ? m->get_if<tcp>() : nullptr) {
    (void)d->sock.send(d->data);
    send(to, d->data.str());
  } else {
    send(to, std::string("no frame"));
  }
}

TEST_F(ownership, adopting_a_socket_its_loop_already_watches_fails_with_a_reason) {
  auto ls = listen_lo();
  client c = client::connect(ls.port);
  auto raw = so::accept(ls.sock, must);
  ASSERT_TRUE(raw);
  spawn([raw = *raw, to = me()]() -> proc { return adopt_twice_then_echo(raw, to); });
  auto second = mb().receive<std::string>(must);
  ASSERT_TRUE(second);
  EXPECT_EQ(*second, "eexist");
  EXPECT_TRUE(reports().saw("the reactor cannot watch the socket")) << "no report line";
  std::string f = frame2("still served");
  ASSERT_TRUE(c.write(f));
  auto echoed = mb().receive<std::string>(must);
  ASSERT_TRUE(echoed);
  EXPECT_EQ(*echoed, "still served");
  EXPECT_EQ(c.read_exact(f.size()), f);
}

// A hand-over to a scheduler whose loop cannot watch the socket (here it
// watches the descriptor already, for a port another process adopted)
// ends the port as a failed read does: the new owner gets tcp_error with
// the loop's reason, then tcp_closed; the report line names the failed
// watch, not a receive.

/// C, on the target scheduler: adopts `raw` (passive), says so, and holds
/// the port until the test sends it anything.
proc adopt_and_hold(so::socket raw, pid to) {
  effective_options o;
  o.active = passive;
  auto s = adopt(raw, o);
  send(to, ev{"c", s ? "adopted" : std::string(err_name(s.error()))});
  (void)co_await receive_any(after(must));
}

/// B: reports the messages it gets about its socket until tcp_closed.
proc socket_messages(pid to) {
  std::string said;
  while (auto m = co_await receive_any(after(must))) {
    if (auto* e = m->get_if<tcp_error>()) {
      said += "tcp_error:" + std::string(err_name(e->reason)) + " ";
    } else if (m->is<tcp>()) {
      said += "tcp ";
    } else if (m->is<tcp_closed>()) {
      said += "tcp_closed";
      break;
    }
  }
  send(to, ev{"b", said});
}

/// A: adopts `raw` and hands it to `b`; reports the answer.
proc adopt_and_hand_over(so::socket raw, pid b, pid to) {
  effective_options o;
  o.active = once;
  auto s = adopt(raw, o);
  if (!s) {
    send(to, ev{"a", std::string(err_name(s.error()))});
    co_return;
  }
  auto r = co_await s->controlling_process(b);
  send(to, ev{"a", outcome(r)});
}

TEST_F(ownership, a_hand_over_the_new_loop_cannot_watch_closes_the_port_with_a_report) {
  auto ls = listen_lo();
  client c = client::connect(ls.port);
  auto raw = so::accept(ls.sock, must);
  ASSERT_TRUE(raw);
  pid holder = spawn_opt({.scheduler = 1}, [raw = *raw, to = me()]() -> proc { return adopt_and_hold(raw, to); }).first;
  ev held = mb().receive<ev>(must, [](const ev& e) { return e.kind == "c"; }).value_or(ev{"none"});
  ASSERT_EQ(held.data, "adopted");
  pid b = spawn_opt({.scheduler = 1}, [to = me()]() -> proc { return socket_messages(to); }).first;
  spawn_opt({.scheduler = 0}, [raw = *raw, b, to = me()]() -> proc { return adopt_and_hand_over(raw, b, to); });
  ev a = mb().receive<ev>(must, [](const ev& e) { return e.kind == "a"; }).value_or(ev{"none"});
  EXPECT_EQ(a.data, "ok");  // the watch is tried on the new scheduler, after the answer
  ev got = mb().receive<ev>(must, [](const ev& e) { return e.kind == "b"; }).value_or(ev{"none"});
  EXPECT_EQ(got.data, "tcp_error:eexist tcp_closed");
  EXPECT_TRUE(reports().saw("the reactor cannot watch the socket: ")) << "no report line naming the watch";
  EXPECT_FALSE(reports().saw("receive failed")) << "reported as a failed receive";
  // The holder's port goes with it (its watch on scheduler 1's loop): wait
  // for its end, so that no later test's descriptor of the same number
  // meets a stale watch.
  ref mon = monitor(holder);
  send(holder, ev{"stop"});
  auto down = mb().receive<down_msg>(must, [&](const down_msg& d) { return d.monitor == mon; });
  EXPECT_TRUE(down) << "the holder did not end";
}

/// Two moments the processes of the tests below wait for on their threads,
/// and what B's loop watched before.
struct hand_on_steps {
  std::atomic<bool> b_holds_its_thread{false};
  std::atomic<bool> a_has_handed_over{false};
  std::atomic<std::size_t> b_loop_watched{0};  // descriptors B's loop watched before
};

/// How many descriptors the calling process's loop watches.
std::size_t watched_here() {
  reactor::event_loop* loop = otpnet::detail::current_loop();
  return loop != nullptr ? loop->watched_count() : 0;
}

/// B: given the socket, holds its scheduler's thread until A's hand-over to
/// it is done (so that the task A's hand-over posted to this scheduler has
/// not run yet), then hands the socket on to `to` and says so.
proc hand_on_before_the_join(std::shared_ptr<hand_on_steps> steps, pid to, pid report) {
  given g = co_await receive<given>();
  steps->b_loop_watched = watched_here();
  steps->b_holds_its_thread = true;
  const bool a_done = wait_until([&] { return steps->a_has_handed_over.load(); });
  auto r = co_await g.sock.controlling_process(to);
  if (r) {
    send(to, given{g.sock});
  }
  send(report, ev{"handed on", std::string(a_done ? "" : "before A, ") + outcome(r)});
  (void)co_await receive<stop_cmd>();
}

/// C, the last owner: given the socket, arms it once; answers each frame
/// "marker" with "back" and re-arms; reports a receive that fails.
proc last_owner(pid report) {
  for (;;) {
    message m = co_await receive_any();
    if (auto* g = m.get_if<given>()) {
      send(report, ev{"c given", outcome(g->sock.setopts({.active = once}))});
    } else if (auto* d = m.get_if<tcp>()) {
      if (d->data.str() == "marker") {
        std::string sent = outcome(d->sock.send(std::string_view("back")));
        std::string rearmed = outcome(d->sock.setopts({.active = once}));
        send(report, ev{"c marker", sent == rearmed ? sent : sent + "," + rearmed});
      }
    } else if (auto* e = m.get_if<tcp_error>()) {
      send(report, ev{"c error", {}, e->reason});
    } else if (m.is<stop_cmd>()) {
      co_return;
    }
  }
}

/// The last owner's round trip: "marker" in, "back" out.
void round_trip_through(const client& c, mailbox& box) {
  ASSERT_TRUE(c.write(frame2("marker")));
  auto answered = box.receive<ev>(must, [](const ev& e) { return e.kind == "c marker" || e.kind == "c error"; });
  ASSERT_TRUE(answered) << "the last owner got no frame";
  EXPECT_EQ(answered->kind + " " + answered->data, "c marker ok") << err_name(answered->reason);
  EXPECT_EQ(c.read_exact(6), std::string("\0\4back", 6));
}

class hand_on : public tcp_test {
 protected:
  void before_the_join_to(int c_scheduler);
};

// A (scheduler 0) hands the socket to B (scheduler 1); B hands it on to C
// before the task A's hand-over posted to B's scheduler (to join its loop)
// has run. B holds its scheduler's thread from before A's hand-over until
// A's is done, so that the order is the same every time. Then: the socket
// is watched by C's loop only, once; it belongs to C alone (B's end does
// not close it, C's does); C receives and sends before B ends and after;
// nothing is reported.
void hand_on::before_the_join_to(int c_scheduler) {
  auto k = open_conn({.active = passive, .packet = packet_type::u2}, 0);
  auto steps = std::make_shared<hand_on_steps>();
  pid c = spawn_opt({.scheduler = c_scheduler}, [to = me()]() -> proc { return last_owner(to); }).first;
  pid b = spawn_opt({.scheduler = 1}, [steps, c, to = me()]() -> proc {
            return hand_on_before_the_join(steps, c, to);
          }).first;
  std::string moved = acall(k.owner, [b, steps](socket s) -> task<std::string> {
    send(b, given{s});
    const bool b_holds = wait_until([&] { return steps->b_holds_its_thread.load(); });
    auto r = co_await s.controlling_process(b);
    steps->a_has_handed_over = true;
    co_return std::string(b_holds ? "" : "B did not hold its thread, ") + outcome(r);
  });
  ASSERT_EQ(moved, "ok");
  auto on = mb().receive<ev>(must, [](const ev& e) { return e.kind == "handed on"; });
  ASSERT_TRUE(on);
  ASSERT_EQ(on->data, "ok");
  auto given_c = mb().receive<ev>(must, [](const ev& e) { return e.kind == "c given"; });
  ASSERT_TRUE(given_c);
  EXPECT_EQ(given_c->data, "ok");
  round_trip_through(k.c, mb());
  // B's loop (its posted tasks run in order: A's join task before this
  // probe) watches the socket only if C is on it, and then once.
  spawn_opt({.scheduler = 1}, [to = me()]() -> proc {
    send(to, ev{"watched", std::to_string(watched_here())});
    co_return;
  });
  auto watched = mb().receive<ev>(must, [](const ev& e) { return e.kind == "watched"; });
  ASSERT_TRUE(watched);
  EXPECT_EQ(watched->data, std::to_string(steps->b_loop_watched.load() + (c_scheduler == 1 ? 1 : 0)))
      << "descriptors B's loop watches, against before the socket came to B";
  ref b_mon = monitor(b);
  send(b, stop_cmd{});
  ASSERT_TRUE(mb().receive<down_msg>(must, [&](const down_msg& d) { return d.monitor == b_mon; }));
  round_trip_through(k.c, mb());
  EXPECT_FALSE(reports().saw("cannot watch")) << "the port was watched twice";
  EXPECT_FALSE(reports().saw("receive failed"));
  send(c, stop_cmd{});
  auto [rest, how] = k.c.read_to_end();
  EXPECT_EQ(rest, "");
  EXPECT_EQ(err_name(how), "closed") << "C's end did not close the socket";
}

// C on A's scheduler: the task posted to B's finds the socket gone on.
TEST_F(hand_on, before_the_move_is_done_to_another_scheduler_joins_only_the_last_owners_loop) { before_the_join_to(0); }

// C on B's scheduler (a hand-over on the same thread while the socket is
// still joining it): the join task binds the socket to C, not to B.
TEST_F(hand_on, before_the_move_is_done_on_the_same_scheduler_binds_the_socket_to_the_last_owner) {
  before_the_join_to(1);
}

// recv, drained and controlling_process return lazy tasks: each acts on
// the socket it was called on even if the socket value it came from is
// reassigned before the task is awaited.
TEST_F(ownership, a_call_awaited_after_its_socket_value_changed_acts_on_the_socket_it_was_made_on) {
  auto k = open_conn({.active = passive, .packet = packet_type::u2});
  ASSERT_TRUE(k.c.write(frame2("still mine")));
  std::string r = acall(k.owner, [](socket s) -> task<std::string> {
    socket held = s;
    auto drained = held.drained();
    auto received = held.recv(0, must);
    auto kept = held.controlling_process(self());
    held = socket{};
    std::string out = outcome(co_await std::move(drained));
    auto data = co_await std::move(received);
    out += "," + (data ? data->str() : std::string(err_name(data.error())));
    out += "," + outcome(co_await std::move(kept));
    co_return out;
  });
  EXPECT_EQ(r, "ok,still mine,ok");
}

TEST_F(ownership, only_the_owner_may_hand_over_set_options_or_receive) {
  auto k = open_conn({.active = passive}, 0);
  // Another process on the owner's scheduler (and one on the other).
  for (int sched : {0, 1}) {
    spawn_opt({.scheduler = sched}, [s = k.sock, to = me()]() -> proc {
      std::string r = outcome(co_await s.controlling_process(self()));
      r += "," + outcome(s.setopts({.active = once}));
      auto data = co_await s.recv(0, 20ms);
      r += "," + outcome(data);
      r += "," + outcome(co_await s.drained());
      send(to, ev{"other", r});
    });
    ev e = next();
    EXPECT_EQ(e.data, "invalid,invalid,invalid,invalid") << "scheduler " << sched;
  }
  EXPECT_EQ(call(k.owner, [](const socket& s) { return outcome(s.getopts()); }), "ok");
  EXPECT_EQ(call(k.owner, [](const socket& s) { return s.owner() == self() ? "me" : "someone else"; }), "me");
}

TEST_F(ownership, controlling_process_to_a_dead_process_or_to_itself) {
  auto k = open_conn({.active = passive});
  // (Not a structured binding: clang 14 cannot capture one in a lambda.)
  pid dead = spawn([]() -> proc { co_return; });
  ASSERT_TRUE(wait_until([&] { return !is_alive(dead); }));
  EXPECT_EQ(acall(k.owner,
                  [dead](socket s) -> task<std::string> { co_return outcome(co_await s.controlling_process(dead)); }),
            "noproc");
  EXPECT_EQ(
      acall(k.owner, [](socket s) -> task<std::string> { co_return outcome(co_await s.controlling_process(self())); }),
      "ok");
  // Still the owner, still working.
  ASSERT_TRUE(k.c.write("x"));
  EXPECT_EQ(acall(k.owner, recv_cmd()), "x");
}

TEST_F(ownership, the_new_owner_gets_the_messages_and_the_old_one_may_end) {
  auto k = open_conn({.active = always, .packet = packet_type::line}, 0);
  mailbox other;
  pid b = spawn_server(1, other.self());
  EXPECT_EQ(acall(k.owner,
                  [b](socket s) -> task<std::string> {
                    auto r = co_await s.controlling_process(b);
                    if (r) {
                      send(b, given{s});
                    }
                    co_return outcome(r);
                  }),
            "ok");
  EXPECT_EQ(next_in(other).kind, "given");
  EXPECT_EQ(call(
                b, [b](const socket& s) { return s.owner() == b ? "b" : "not b"; }, &other),
            "b");
  send(k.owner, stop_cmd{});  // A ends: the socket is B's now, it stays open
  ASSERT_TRUE(wait_until([&] { return !is_alive(k.owner); }));
  ASSERT_TRUE(k.c.write("hello b\n"));
  EXPECT_EQ(next_in(other).data, "hello b\n");
  EXPECT_EQ(call(
                b, [](const socket& s) { return outcome(s.send(std::string_view("hi\n"))); }, &other),
            "ok");
  EXPECT_EQ(k.c.read_exact(3), "hi\n");
  k.c.close();
  EXPECT_EQ(next_in(other).kind, "closed");
  expect_quiet();
}

TEST_F(ownership, the_owner_ending_closes_the_socket) {
  auto k = open_conn({.active = always});
  send(k.owner, stop_cmd{});
  auto [rest, how] = k.c.read_to_end();
  EXPECT_EQ(rest, "");
  EXPECT_EQ(how, errc::closed);
  EXPECT_FALSE(k.sock.raw().is_open());
}

TEST_F(ownership, anyone_may_send_and_close) {
  auto k = open_conn({.active = always});
  // From the test's plain thread, then from another process.
  EXPECT_TRUE(k.sock.send(std::string_view("from a thread,")));
  EXPECT_EQ(k.c.read_exact(14), "from a thread,");
  spawn([s = k.sock, to = me()]() -> proc {
    send(to, ev{"other", outcome(s.send(std::string_view("from a process")))});
    co_return;
  });
  EXPECT_EQ(next().data, "ok");
  EXPECT_EQ(k.c.read_exact(14), "from a process");
  EXPECT_TRUE(k.sock.close());
  auto [rest, how] = k.c.read_to_end();
  EXPECT_EQ(how, errc::closed);
  expect_quiet();  // a closed socket sends its owner nothing
  EXPECT_EQ(call(k.owner, [](const socket& s) { return outcome(s.setopts({.active = once})); }), "closed");
}

}  // namespace
}  // namespace otpnet::gen_tcp::test
