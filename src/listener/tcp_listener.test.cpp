// File: listener/tcp_listener.test.cpp
//
// The ready-made listener in the tutorial's tree (harness.test.hpp): one
// handler per connection under the client supervisor, the socket_ready
// hand-off, info and connections, listen ports added and removed while
// clients are connected, max_connections reached and released (and changed
// at run time), suspend/resume, drain with its counts, and the failures
// that must cost one connection only: a handler that fails to start, a
// handler that crashes. Clients are plain sockets of the test thread.
#include <otpnet/listener/tcp_listener.hpp>
#include <otpnet/runtime/process_info.hpp>

#include "listener/harness.test.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <future>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace otpnet::listener::test {
namespace {

class tcp_listener_test : public listener_test {
 protected:
  /// The scheduler `p` runs on (process_info), -1 if it is gone.
  static int on_scheduler(pid p) {
    auto i = process_info(p);
    return i ? static_cast<int>(i->scheduler) : -1;
  }

  /// One connection whose hand-off fails (`knob` makes its handler's start
  /// fail one way or another): it is closed, the listener says `why` and no
  /// longer counts it, accepting goes on and the other connection stays.
  void one_hand_off_fails(std::atomic<int>& knob, const char* why) {
    ASSERT_TRUE(start_tree(raw_options()));
    std::uint16_t port = first_port();
    peer before = peer::connect_port(port);
    EXPECT_EQ(before.echo("before"), "before");

    knob = 1;
    peer lost = peer::connect_port(port);
    ASSERT_TRUE(lost);
    EXPECT_TRUE(lost.closed_by_server()) << "the connection of a failed hand-off is closed";
    EXPECT_TRUE(wait_until([&] { return lines().saw({"listener t", why}); })) << lines().dump();
    EXPECT_TRUE(wait_until([&] { return info().active_connections == 1; })) << "the failed hand-off no longer counts";

    peer after = peer::connect_port(port);
    EXPECT_EQ(after.echo("accepting goes on"), "accepting goes on");
    EXPECT_EQ(before.echo("and the others stay"), "and the others stay");
    listener_info i = info();
    EXPECT_EQ(i.active_connections, 2u);
    EXPECT_EQ(i.total_connections, 3u);
    EXPECT_EQ(i.handoff.count, 2u) << "the failed hand-off is not timed";
  }
};

TEST_F(tcp_listener_test, each_connection_gets_a_handler_that_echoes) {
  ASSERT_TRUE(start_tree(raw_options()));
  std::uint16_t port = first_port();
  ASSERT_NE(port, 0);

  std::vector<peer> clients;
  for (int i = 0; i < 3; ++i) {
    clients.push_back(peer::connect_port(port));
    ASSERT_TRUE(clients.back());
  }
  for (int i = 0; i < 3; ++i) {
    std::string m = "hello " + std::to_string(i);
    EXPECT_EQ(clients[i].echo(m), m);
  }
  listener_info i = info();
  EXPECT_EQ(i.name, "t");
  EXPECT_EQ(i.active_connections, 3u);
  EXPECT_EQ(i.total_connections, 3u);
  ASSERT_EQ(i.ports.size(), 1u);
  EXPECT_EQ(i.ports[0].address, "127.0.0.1:" + std::to_string(port));
  EXPECT_FALSE(i.ports[0].backing_off);
  EXPECT_FALSE(i.suspended);
  EXPECT_FALSE(i.at_limit);
  EXPECT_EQ(i.max_connections, 0u);

  auto handlers = sync_wait(listener::connections("lst"));
  ASSERT_TRUE(handlers);
  EXPECT_EQ(handlers->size(), 3u);
  auto kids = sync_wait(supervisor::count_children("clients"));
  ASSERT_TRUE(kids);
  EXPECT_EQ(kids->active, 3u);

  // A client that leaves ends its handler; the count follows.
  clients[1].close();
  EXPECT_TRUE(wait_until([&] { return info().active_connections == 2; }));
  EXPECT_EQ(info().total_connections, 3u);
  EXPECT_EQ(clients[0].echo("still here"), "still here");
  EXPECT_EQ(clients[2].echo("me too"), "me too");
}

TEST_F(tcp_listener_test, a_busy_port_fails_the_start_with_a_named_reason) {
  ASSERT_TRUE(start_tree(raw_options()));
  std::uint16_t port = first_port();
  listener_options o = raw_options();
  o.name = "second";
  o.addresses = {so::address::inet_loopback(port)};
  o.registered_name.clear();
  start_result r = sync_wait(listener::start_link(o));
  ASSERT_TRUE(r.is_error()) << r.to_string();
  std::string why = r.reason().to_string();
  EXPECT_NE(why.find("eaddrinuse"), std::string::npos) << why;
  EXPECT_NE(why.find(std::to_string(port)), std::string::npos) << "the reason names the address: " << why;
}

// With several acceptors each binds with SO_REUSEPORT, which lets any
// socket of the same user join the port (a second listener with several
// acceptors on it starts, and shares the clients): port_in_use tells
// before a first start, and otpnet-echo asks it.
TEST_F(tcp_listener_test, port_in_use_sees_a_port_that_several_acceptors_serve) {
  listener_options o = raw_options();
  o.acceptors = 2;
  ASSERT_TRUE(start_tree(o));
  std::uint16_t port = first_port();
  ASSERT_NE(port, 0);
  EXPECT_TRUE(port_in_use(so::address::inet_loopback(port)));
  EXPECT_FALSE(port_in_use(so::address::inet_loopback(0)));
  // A socket bound with SO_REUSEADDR (a previous server's leftovers) does
  // not count until it listens.
  auto held = so::open(so::domain::inet, so::type::stream, so::protocol::tcp);
  ASSERT_TRUE(held);
  ASSERT_TRUE(so::setopt(*held, so::opt::socket::reuseaddr, true));
  auto bound = so::bind(*held, so::address::inet_loopback(0));
  ASSERT_TRUE(bound);
  EXPECT_FALSE(port_in_use(so::address::inet_loopback(*bound)));
  ASSERT_TRUE(so::listen(*held, 8));
  EXPECT_TRUE(port_in_use(so::address::inet_loopback(*bound)));
  (void)so::close(*held);
}

TEST_F(tcp_listener_test, a_busy_port_is_a_named_error_of_add_listen_port) {
  ASSERT_TRUE(start_tree(raw_options()));
  std::uint16_t port = first_port();
  ASSERT_NE(port, 0);
  auto second = sync_wait(listener::add_listen_port("lst", so::address::inet_loopback(port)));
  ASSERT_FALSE(second);
  EXPECT_NE(second.error().to_string().find("eaddrinuse"), std::string::npos) << second.error().to_string();
  // The failed add leaves the listener as it was.
  EXPECT_EQ(info().ports.size(), 1u);
  peer c = peer::connect_port(port);
  EXPECT_EQ(c.echo("ok"), "ok");
}

TEST_F(tcp_listener_test, ports_added_and_removed_while_clients_are_connected) {
  ASSERT_TRUE(start_tree(raw_options()));
  std::uint16_t first = first_port();
  auto added = sync_wait(listener::add_listen_port("lst", so::address::inet_loopback(0)));
  ASSERT_TRUE(added) << added.error().to_string();
  std::uint16_t second = *added;
  ASSERT_NE(second, first);
  EXPECT_EQ(info().ports.size(), 2u);

  peer a = peer::connect_port(first);
  peer b = peer::connect_port(second);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a.echo("on the first port"), "on the first port");
  EXPECT_EQ(b.echo("on the second port"), "on the second port");

  // Removing the second port closes its listen socket only: b stays up.
  auto removed = sync_wait(listener::remove_listen_port("lst", second));
  ASSERT_TRUE(removed);
  EXPECT_TRUE(*removed);
  EXPECT_FALSE(peer::connect_port(second, 2000ms)) << "the removed port still accepts";
  EXPECT_EQ(b.echo("the live connection stays"), "the live connection stays");
  EXPECT_EQ(a.echo("and so does the other port"), "and so does the other port");
  peer c = peer::connect_port(first);
  EXPECT_EQ(c.echo("new clients on the kept port"), "new clients on the kept port");
  listener_info i = info();
  ASSERT_EQ(i.ports.size(), 1u);
  EXPECT_EQ(i.ports[0].port, first);
  EXPECT_EQ(i.active_connections, 3u);

  // Removing an unknown port is a plain false.
  auto unknown = sync_wait(listener::remove_listen_port("lst", second));
  ASSERT_TRUE(unknown);
  EXPECT_FALSE(*unknown);

  // And the last one: nothing listens, every connection stays.
  ASSERT_TRUE(sync_wait(listener::remove_listen_port("lst", first)));
  EXPECT_TRUE(info().ports.empty());
  EXPECT_FALSE(peer::connect_port(first, 2000ms));
  EXPECT_EQ(a.echo("a"), "a");
  EXPECT_EQ(b.echo("b"), "b");
  EXPECT_EQ(c.echo("c"), "c");
}

TEST_F(tcp_listener_test, max_connections_parks_and_resumes_as_connections_end) {
  ASSERT_TRUE(start_tree(raw_options(2)));
  std::uint16_t port = first_port();
  peer a = peer::connect_port(port);
  peer b = peer::connect_port(port);
  EXPECT_EQ(a.echo("a"), "a");
  EXPECT_EQ(b.echo("b"), "b");

  // At the limit: c and d connect (the kernel's backlog takes them) and
  // send, but nobody reads them.
  peer c = peer::connect_port(port);
  peer d = peer::connect_port(port);
  ASSERT_TRUE(c && d);
  ASSERT_TRUE(c.write("c-waits"));
  ASSERT_TRUE(d.write("d-waits"));
  EXPECT_EQ(c.read_exact(7, quiet), "") << "served past max_connections";
  EXPECT_EQ(d.read_exact(7, quiet), "");
  listener_info i = info();
  EXPECT_EQ(i.active_connections, 2u);
  EXPECT_TRUE(i.at_limit);
  EXPECT_EQ(i.max_connections, 2u);

  // One ends: exactly one waiting client is served.
  a.close();
  std::string got_c = c.read_exact(7, must);
  std::string got_d = d.read_exact(7, got_c.empty() ? must : quiet);
  EXPECT_EQ((got_c == "c-waits") + (got_d == "d-waits"), 1) << "c: '" << got_c << "' d: '" << got_d << "'";
  // Another ends: the other one is served too.
  b.close();
  if (got_c.empty()) {
    EXPECT_EQ(c.read_exact(7), "c-waits");
  } else {
    EXPECT_EQ(d.read_exact(7), "d-waits");
  }
  EXPECT_EQ(c.echo("c again"), "c again");
  EXPECT_EQ(d.echo("d again"), "d again");
  EXPECT_TRUE(wait_until([&] { return info().active_connections == 2; }));
  EXPECT_EQ(info().total_connections, 4u);
}

TEST_F(tcp_listener_test, max_connections_changes_at_run_time) {
  ASSERT_TRUE(start_tree(raw_options(1)));
  std::uint16_t port = first_port();
  peer a = peer::connect_port(port);
  EXPECT_EQ(a.echo("a"), "a");
  std::vector<peer> waiting;
  for (int k = 0; k < 3; ++k) {
    waiting.push_back(peer::connect_port(port));
    ASSERT_TRUE(waiting.back().write("w" + std::to_string(k)));
  }
  EXPECT_EQ(waiting[0].read_exact(2, quiet), "");

  // Raising the limit lets two more in at once, no connection ending.
  ASSERT_TRUE(sync_wait(listener::set_max_connections("lst", 3)));
  int served = 0;
  int left_out = -1;
  for (int k = 0; k < 3; ++k) {
    if (waiting[k].read_exact(2, served < 2 ? must : quiet) == "w" + std::to_string(k)) {
      ++served;
    } else {
      left_out = k;
    }
  }
  EXPECT_EQ(served, 2);
  ASSERT_NE(left_out, -1);
  EXPECT_EQ(info().active_connections, 3u);
  EXPECT_TRUE(info().at_limit);

  // 0: no limit; the last one is served.
  ASSERT_TRUE(sync_wait(listener::set_max_connections("lst", 0)));
  EXPECT_EQ(waiting[left_out].read_exact(2), "w" + std::to_string(left_out));
  EXPECT_TRUE(wait_until([&] { return info().active_connections == 4; }));
  EXPECT_FALSE(info().at_limit);
  EXPECT_EQ(info().max_connections, 0u);
  for (auto& w : waiting) {
    EXPECT_EQ(w.echo("x"), "x");
  }

  // Lowering below the live count closes nobody; new ones wait.
  ASSERT_TRUE(sync_wait(listener::set_max_connections("lst", 2)));
  peer late = peer::connect_port(port);
  ASSERT_TRUE(late.write("late"));
  EXPECT_EQ(late.read_exact(4, quiet), "");
  EXPECT_EQ(a.echo("a still"), "a still");
  a.close();
  waiting[0].close();
  waiting[1].close();  // 2 live -> 1 below the limit of 2
  EXPECT_EQ(late.read_exact(4), "late");
}

TEST_F(tcp_listener_test, suspend_stops_accepting_and_keeps_connections) {
  ASSERT_TRUE(start_tree(raw_options()));
  std::uint16_t port = first_port();
  peer a = peer::connect_port(port);
  EXPECT_EQ(a.echo("before"), "before");

  ASSERT_TRUE(sync_wait(listener::suspend("lst")));
  EXPECT_TRUE(info().suspended);
  peer b = peer::connect_port(port);  // into the backlog
  ASSERT_TRUE(b.write("waiting"));
  EXPECT_EQ(b.read_exact(7, quiet), "") << "accepted while suspended";
  EXPECT_EQ(a.echo("live while suspended"), "live while suspended");
  EXPECT_EQ(info().active_connections, 1u);

  ASSERT_TRUE(sync_wait(listener::resume("lst")));
  EXPECT_FALSE(info().suspended);
  EXPECT_EQ(b.read_exact(7), "waiting");
  EXPECT_EQ(b.echo("and on"), "and on");
  // Suspend twice and resume once: resumed (no nesting).
  ASSERT_TRUE(sync_wait(listener::suspend("lst")));
  ASSERT_TRUE(sync_wait(listener::suspend("lst")));
  ASSERT_TRUE(sync_wait(listener::resume("lst")));
  peer c = peer::connect_port(port);
  EXPECT_EQ(c.echo("c"), "c");
}

TEST_F(tcp_listener_test, drain_notifies_handlers_and_counts_those_that_finish) {
  ASSERT_TRUE(start_tree(raw_options()));
  std::uint16_t port = first_port();
  std::vector<peer> clients;
  for (int k = 0; k < 3; ++k) {
    clients.push_back(peer::connect_port(port));
    EXPECT_EQ(clients.back().echo("x"), "x");
  }
  auto r = sync_wait(listener::drain("lst", 5000ms));
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->finished, 3u);
  EXPECT_EQ(r->forced, 0u);
  for (auto& c : clients) {
    EXPECT_TRUE(c.closed_by_server());
  }
  listener_info i = info();
  EXPECT_EQ(i.active_connections, 0u);
  EXPECT_TRUE(i.suspended) << "a drained listener accepts nothing new";
  EXPECT_TRUE(i.ports.empty()) << "a drained listener keeps no listen socket";
  EXPECT_FALSE(peer::connect_port(port, 2000ms)) << "a drained listener's port does not refuse new clients";
}

TEST_F(tcp_listener_test, drain_stops_handlers_that_do_not_finish_by_the_deadline) {
  ASSERT_TRUE(start_tree(raw_options()));
  std::uint16_t port = first_port();
  std::vector<peer> clients;
  for (int k = 0; k < 5; ++k) {
    clients.push_back(peer::connect_port(port));
    // Handlers 1 and 3 ignore the drain notice.
    std::string m = k % 2 == 1 ? "stubborn" : "x";
    EXPECT_EQ(clients.back().echo(m), m);
  }
  auto r = sync_wait(listener::drain("lst", 2000ms));
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->finished, 3u);
  EXPECT_EQ(r->forced, 2u);
  for (auto& c : clients) {
    EXPECT_TRUE(c.closed_by_server());
  }
  EXPECT_TRUE(wait_until([&] { return info().active_connections == 0; }));
  auto handlers = sync_wait(listener::connections("lst"));
  ASSERT_TRUE(handlers);
  EXPECT_TRUE(handlers->empty());
}

TEST_F(tcp_listener_test, drain_with_no_connections_answers_at_once) {
  ASSERT_TRUE(start_tree(raw_options()));
  auto r = sync_wait(listener::drain("lst", 60000ms));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->finished, 0u);
  EXPECT_EQ(r->forced, 0u);
}

TEST_F(tcp_listener_test, a_handler_that_fails_to_start_costs_only_its_connection) {
  one_hand_off_fails(knobs.refuse_starts, "handler start");
}

// A handler whose init answers ignore declines its connection: closed,
// uncounted, said as a decline rather than as a failed start.
TEST_F(tcp_listener_test, a_handler_that_declines_its_connection_costs_only_that_connection) {
  one_hand_off_fails(knobs.ignore_starts, "declined it (its init returned ignore)");
  EXPECT_FALSE(lines().saw({"handler start"})) << lines().dump();
}

// A handler that ends after its start returned, before the listener hands
// it the socket (here killed by its start function, before start_child
// answers): the message that carries the socket is dropped, and the
// listener must say so.
TEST_F(tcp_listener_test, a_handler_that_ends_before_the_hand_off_costs_only_its_connection) {
  one_hand_off_fails(knobs.end_before_handoff, "the handler ended before its socket was handed over");
}

TEST_F(tcp_listener_test, a_crashing_handler_costs_only_its_connection) {
  ASSERT_TRUE(start_tree(raw_options()));
  std::uint16_t port = first_port();
  std::vector<peer> clients;
  for (int k = 0; k < 4; ++k) {
    clients.push_back(peer::connect_port(port));
    EXPECT_EQ(clients.back().echo("x"), "x");
  }
  ASSERT_TRUE(clients[2].write("crash!"));
  EXPECT_TRUE(clients[2].closed_by_server());
  // The supervisor reports the crash of its temporary child.
  EXPECT_TRUE(wait_until([&] { return lines().saw({"handler crashed on purpose"}); })) << lines().dump();
  for (int k : {0, 1, 3}) {
    EXPECT_EQ(clients[k].echo("alive"), "alive");
  }
  EXPECT_TRUE(wait_until([&] { return info().active_connections == 3; }));
  peer fresh = peer::connect_port(port);
  EXPECT_EQ(fresh.echo("fresh"), "fresh");
}

TEST_F(tcp_listener_test, crashes_of_many_handlers_do_not_reach_the_listener) {
  // Temporary children are never restarted, so a storm of handler crashes
  // does not count against the client supervisor's intensity (5 in 60 s).
  ASSERT_TRUE(start_tree(raw_options()));
  std::uint16_t port = first_port();
  pid lst = whereis("lst");
  for (int k = 0; k < 12; ++k) {
    peer c = peer::connect_port(port);
    ASSERT_TRUE(c.write("crash!"));
    EXPECT_TRUE(c.closed_by_server());
  }
  EXPECT_EQ(whereis("lst"), lst) << "the listener was restarted";
  peer ok = peer::connect_port(port);
  EXPECT_EQ(ok.echo("still accepting"), "still accepting");
  EXPECT_EQ(info().total_connections, 13u);
}

TEST_F(tcp_listener_test, ipv4_and_ipv6_any_on_one_port_and_removal_by_address) {
  // 0.0.0.0:P and [::]:P: the IPv6 socket is made IPv6-only by itself so
  // both can bind; each serves its own family; removing one by its address
  // leaves the other (and every live connection) alone.
  listener_options o = raw_options();
  o.addresses = {so::address::inet_any(0)};
  ASSERT_TRUE(start_tree(o));
  std::uint16_t port = first_port();
  auto probe = so::open(so::domain::inet6, so::type::stream);
  if (!probe || !so::bind(*probe, so::address::inet6_loopback(0))) {
    GTEST_SKIP() << "no IPv6 loopback here";
  }
  (void)so::close(*probe);
  auto v6 = sync_wait(listener::add_listen_port("lst", so::address::inet6_any(port)));
  if (!v6) {
    GTEST_SKIP() << "no IPv6 here: " << v6.error().to_string();
  }
  EXPECT_EQ(*v6, port);
  EXPECT_EQ(info().ports.size(), 2u);
  peer a4 = peer::connect(so::address::inet_loopback(port));
  peer a6 = peer::connect(so::address::inet6_loopback(port));
  ASSERT_TRUE(a4 && a6);
  EXPECT_EQ(a4.echo("over IPv4"), "over IPv4");
  EXPECT_EQ(a6.echo("over IPv6"), "over IPv6");

  auto removed = sync_wait(listener::remove_listen_address("lst", so::address::inet6_any(port)));
  ASSERT_TRUE(removed);
  EXPECT_TRUE(*removed);
  ASSERT_EQ(info().ports.size(), 1u);
  EXPECT_EQ(info().ports[0].address, "0.0.0.0:" + std::to_string(port));
  EXPECT_FALSE(peer::connect(so::address::inet6_loopback(port), 2000ms)) << "the removed IPv6 socket still accepts";
  peer b4 = peer::connect(so::address::inet_loopback(port));
  EXPECT_EQ(b4.echo("IPv4 stays"), "IPv4 stays");
  EXPECT_EQ(a6.echo("the IPv6 connection stays"), "the IPv6 connection stays");
}

TEST_F(tcp_listener_test, a_local_path_is_removed_by_its_address) {
  ASSERT_TRUE(start_tree(raw_options()));
  std::string pa = local_path("rm-a");
  std::string pb = local_path("rm-b");
  ::unlink(pa.c_str());
  ::unlink(pb.c_str());
  auto a = so::address::local(pa);
  auto b = so::address::local(pb);
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(sync_wait(listener::add_listen_port("lst", *a)));
  ASSERT_TRUE(sync_wait(listener::add_listen_port("lst", *b)));
  peer ca = peer::connect(*a);
  EXPECT_EQ(ca.echo("a"), "a");
  auto removed = sync_wait(listener::remove_listen_address("lst", *a));
  ASSERT_TRUE(removed);
  EXPECT_TRUE(*removed);
  EXPECT_FALSE(peer::connect(*a, 2000ms)) << "the removed path still accepts";
  peer cb = peer::connect(*b);
  EXPECT_EQ(cb.echo("b is still served"), "b is still served");
  EXPECT_EQ(ca.echo("a's connection stays"), "a's connection stays");
  auto again = sync_wait(listener::remove_listen_address("lst", *a));
  ASSERT_TRUE(again);
  EXPECT_FALSE(*again);
  ::unlink(pa.c_str());
  ::unlink(pb.c_str());
}

TEST_F(tcp_listener_test, remove_connection_uncounts_a_live_handler) {
  ASSERT_TRUE(start_tree(raw_options(1)));
  std::uint16_t port = first_port();
  peer a = peer::connect_port(port);
  EXPECT_EQ(a.echo("a"), "a");
  peer b = peer::connect_port(port);
  ASSERT_TRUE(b.write("b-waits"));
  EXPECT_EQ(b.read_exact(7, quiet), "") << "served past max_connections";

  auto handlers = sync_wait(listener::connections("lst"));
  ASSERT_TRUE(handlers);
  ASSERT_EQ(handlers->size(), 1u);
  auto r = sync_wait(listener::remove_connection("lst", handlers->front()));
  ASSERT_TRUE(r);
  EXPECT_TRUE(*r);
  // a's handler runs on, uncounted: b is let in.
  EXPECT_EQ(b.read_exact(7), "b-waits");
  EXPECT_EQ(a.echo("a still echoes"), "a still echoes");
  EXPECT_EQ(info().active_connections, 1u);
  auto unknown = sync_wait(listener::remove_connection("lst", handlers->front()));
  ASSERT_TRUE(unknown);
  EXPECT_FALSE(*unknown);

  // a's handler ends later: its end is not counted a second time (b stays
  // counted, and the limit of one still holds c back).
  a.close();
  EXPECT_TRUE(wait_until([&] {
    auto kids = sync_wait(supervisor::count_children("clients"));
    return kids && kids->active == 1;
  }));
  EXPECT_EQ(info().active_connections, 1u);
  peer c = peer::connect_port(port);
  ASSERT_TRUE(c.write("c-waits"));
  EXPECT_EQ(c.read_exact(7, quiet), "") << "a's end was counted again: served past max_connections";
  EXPECT_EQ(b.echo("b still echoes"), "b still echoes");
  EXPECT_EQ(info().active_connections, 1u);
}

TEST_F(tcp_listener_test, a_second_drain_joins_the_first_and_gets_its_result) {
  ASSERT_TRUE(start_tree(raw_options()));
  std::uint16_t port = first_port();
  std::vector<peer> clients;
  for (int k = 0; k < 2; ++k) {
    clients.push_back(peer::connect_port(port));
    std::string m = k == 1 ? "stubborn" : "x";
    EXPECT_EQ(clients.back().echo(m), m);
  }
  // Two callers (plain threads) drain at once: the drain that comes first
  // runs, the other joins it; both get the same counts.
  std::optional<outcome<drain_result>> got[2];
  std::thread t0([&] { got[0] = sync_wait(listener::drain("lst", 2000ms)); });
  std::thread t1([&] { got[1] = sync_wait(listener::drain("lst", 2000ms)); });
  t0.join();
  t1.join();
  ASSERT_TRUE(got[0] && *got[0]) << "first caller";
  ASSERT_TRUE(got[1] && *got[1]) << "second caller";
  EXPECT_EQ((*got[1])->finished, 1u);
  EXPECT_EQ((*got[1])->forced, 1u);
  EXPECT_EQ((*got[0])->finished, (*got[1])->finished);
  EXPECT_EQ((*got[0])->forced, (*got[1])->forced);
}

// A connection removed while a drain waits for it no longer holds the
// drain back: the drain answers then, long before its deadline, counting
// it neither finished nor forced, and its handler runs on.
TEST_F(tcp_listener_test, remove_connection_during_a_drain_lets_the_drain_answer) {
  ASSERT_TRUE(start_tree(raw_options()));
  std::uint16_t port = first_port();
  peer willing = peer::connect_port(port);
  EXPECT_EQ(willing.echo("x"), "x");
  peer stubborn = peer::connect_port(port);
  EXPECT_EQ(stubborn.echo("stubborn"), "stubborn");  // its handler ignores the drain notice
  std::optional<outcome<drain_result>> got;
  std::promise<void> answered;
  std::future<void> answer = answered.get_future();
  std::thread drainer([&] {
    got = sync_wait(listener::drain("lst", 60000ms));
    answered.set_value();
  });
  EXPECT_TRUE(willing.closed_by_server());
  EXPECT_TRUE(wait_until([&] { return info().active_connections == 1; }));
  auto handlers = sync_wait(listener::connections("lst"));
  ASSERT_TRUE(handlers);
  ASSERT_EQ(handlers->size(), 1u);
  auto removed = sync_wait(listener::remove_connection("lst", handlers->front()));
  ASSERT_TRUE(removed);
  EXPECT_TRUE(*removed);
  // At once, not at the drain's deadline (60 s; the wait below is only a
  // bound on a test that fails).
  EXPECT_EQ(answer.wait_for(20s), std::future_status::ready) << "the drain waited for the removed connection";
  drainer.join();
  ASSERT_TRUE(got && *got);
  EXPECT_EQ((*got)->finished, 1u);
  EXPECT_EQ((*got)->forced, 0u);
  EXPECT_EQ(stubborn.echo("still here"), "still here");
  EXPECT_EQ(info().active_connections, 0u);
}

// -- several acceptors (SO_REUSEPORT, one per scheduler) -------------------------------------------

TEST_F(tcp_listener_test, two_acceptors_share_one_port_and_both_accept) {
  listener_options o = raw_options();
  o.acceptors = 2;
  ASSERT_TRUE(start_tree(o));
  listener_info i = info();
  EXPECT_EQ(i.acceptors, 2u);
  ASSERT_EQ(i.ports.size(), 1u) << "port 0 resolved once, both acceptors on it";
  std::uint16_t port = i.ports[0].port;
  ASSERT_NE(port, 0);

  // The kernel spreads connections by their addresses: with 40 clients,
  // both acceptors get some (all on one: odds of 2 in 2^40).
  std::vector<peer> clients;
  for (int k = 0; k < 40; ++k) {
    clients.push_back(peer::connect_port(port));
    std::string m = "client " + std::to_string(k);
    ASSERT_EQ(clients.back().echo(m), m);
  }
  i = info();
  EXPECT_EQ(i.active_connections, 40u);
  EXPECT_EQ(i.total_connections, 40u);
  ASSERT_EQ(i.accepted_by_acceptor.size(), 2u);
  EXPECT_GT(i.accepted_by_acceptor[0], 0u);
  EXPECT_GT(i.accepted_by_acceptor[1], 0u);
  EXPECT_EQ(i.handoff.count, 40u) << "both acceptors' hand-off times, added";
  auto handlers = sync_wait(listener::connections("lst"));
  ASSERT_TRUE(handlers);
  EXPECT_EQ(handlers->size(), 40u);
  clients[3].close();
  EXPECT_TRUE(wait_until([&] { return info().active_connections == 39; }));

  // A limit below the number of acceptors would leave one with a share of
  // 0, accepting nothing while the kernel hands it clients: refused, and
  // the limit stays; one per acceptor is taken.
  auto refused = sync_wait(listener::set_max_connections("lst", 1));
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().to_string().find("below the number of acceptors"), std::string::npos)
      << refused.error().to_string();
  EXPECT_EQ(info().max_connections, 0u);
  EXPECT_TRUE(sync_wait(listener::set_max_connections("lst", 2)));
  EXPECT_EQ(info().max_connections, 2u);
  EXPECT_TRUE(sync_wait(listener::set_max_connections("lst", 0)));
}

// An acceptor waiting for a handler's start answers no call. The
// listener's info asks every acceptor at once and waits a second at most:
// the busy one is counted as unanswered, and the listener carries on. (The
// coordinator asked them in turn, with the 5 s default, and stopped, taking
// the acceptors and their listen sockets with it, when one did not answer.)
TEST_F(tcp_listener_test, info_counts_an_acceptor_busy_with_a_handler_start_as_unanswered) {
  knobs.hold_starts = 1;
  listener_options o = raw_options();
  o.acceptors = 2;
  ASSERT_TRUE(start_tree(o).is_ok());
  pid lst = whereis("lst");
  std::uint16_t port = first_port();
  ASSERT_NE(port, 0);
  peer held = peer::connect_port(port);
  ASSERT_TRUE(held);
  ASSERT_TRUE(wait_until([] { return knobs.holding != 0; }));
  const auto connected_at = std::chrono::steady_clock::now();  // (after the accept: the hold is under way)
  pid holder = pid::from_value(knobs.holding);
  listener_info during = info_once();
  EXPECT_EQ(during.acceptors, 2u);
  EXPECT_EQ(during.unanswered_acceptors, 1u);
  EXPECT_EQ(during.accepted_by_acceptor.size(), 2u);
  EXPECT_EQ(during.total_connections, 0u) << "the one connection is the busy acceptor's: its figures are missing";
  ASSERT_EQ(during.ports.size(), 1u) << "the other acceptor's port";
  EXPECT_EQ(during.ports[0].port, port);
  EXPECT_EQ(whereis("lst"), lst) << "the listener stopped";
  const auto released_at = std::chrono::steady_clock::now();
  EXPECT_TRUE(send(holder, release_start{}));
  EXPECT_EQ(held.echo("after the hold"), "after the hold");
  listener_info after = info();
  EXPECT_EQ(after.unanswered_acceptors, 0u);
  EXPECT_EQ(after.total_connections, 1u);
  // Its hand-off took the whole hold: at least from the connect to the
  // release (measured here, on the test's side of it).
  ASSERT_EQ(after.handoff.count, 1u);
  EXPECT_GE(after.handoff.sum_ns,
            static_cast<std::uint64_t>(
                std::chrono::duration_cast<std::chrono::nanoseconds>(released_at - connected_at).count()))
      << "the held start's time is not in the hand-off histogram";
  EXPECT_EQ(whereis("lst"), lst);
}
TEST_F(tcp_listener_test, each_acceptor_starts_its_handlers_under_its_own_supervisor_on_its_core) {
  listener_options o = raw_options();
  o.acceptors = 2;
  ASSERT_TRUE(start_tree(o, 2));
  std::uint16_t port = first_port();
  ASSERT_NE(port, 0);
  EXPECT_EQ(on_scheduler(whereis("clients_0")), 0);
  EXPECT_EQ(on_scheduler(whereis("clients_1")), 1);

  std::vector<peer> clients;
  for (int k = 0; k < 40; ++k) {
    clients.push_back(peer::connect_port(port));
    std::string m = "client " + std::to_string(k);
    ASSERT_EQ(clients.back().echo(m), m);
  }
  // Each acceptor's connections are under its supervisor, their handlers on
  // its scheduler: what acceptor i accepted is what clients_i holds.
  listener_info i = info();
  ASSERT_EQ(i.active_by_acceptor.size(), 2u);
  EXPECT_EQ(i.client_sup_by_acceptor, (std::vector<std::string>{"clients_0", "clients_1"}));
  std::size_t held = 0;
  for (int a = 0; a < 2; ++a) {
    auto children = sync_wait(supervisor::which_children("clients_" + std::to_string(a)));
    ASSERT_TRUE(children);
    EXPECT_EQ(children->size(), i.active_by_acceptor[a]) << "supervisor " << a;
    for (const auto& c : *children) {
      EXPECT_EQ(on_scheduler(c.child), a) << "a handler of supervisor " << a;
    }
    held += children->size();
  }
  EXPECT_EQ(held, 40u);
  EXPECT_GT(i.accepted_by_acceptor[0], 0u);
  EXPECT_GT(i.accepted_by_acceptor[1], 0u);

  // One handler's crash is its supervisor's business only.
  ASSERT_TRUE(clients[7].write("crash!"));
  EXPECT_TRUE(clients[7].closed_by_server());
  EXPECT_TRUE(wait_until([&] { return info().active_connections == 39; }));
  EXPECT_EQ(clients[8].echo("still here"), "still here");
}

TEST_F(tcp_listener_test, acceptor_i_starts_its_handlers_under_client_sups_i) {
  // Shares of 2 and 1 (max_connections 3) give the two acceptors different
  // counts of live connections whatever the kernel's spread (unless at
  // most one of 24 clients reaches acceptor 0, or none acceptor 1: odds
  // of 26 in 2^24), so a supervisor holding the other acceptor's handlers
  // shows.
  listener_options o = raw_options(3);
  o.acceptors = 2;
  ASSERT_TRUE(start_tree(o, 2));
  std::uint16_t port = first_port();
  std::vector<peer> clients;
  for (int k = 0; k < 24; ++k) {
    clients.push_back(peer::connect_port(port));
    ASSERT_TRUE(clients.back()) << "client " << k;
  }
  ASSERT_TRUE(wait_until([&] { return info().active_connections == 3; })) << info().active_connections;
  for (int a = 0; a < 2; ++a) {
    auto children = sync_wait(supervisor::which_children("clients_" + std::to_string(a)));
    ASSERT_TRUE(children);
    EXPECT_EQ(children->size(), a == 0 ? 2u : 1u) << "clients_" << a << " holds acceptor " << a << "'s share";
  }
  listener_info i = info();
  EXPECT_EQ(i.active_by_acceptor, (std::vector<std::size_t>{2, 1}));
}

TEST_F(tcp_listener_test, a_single_acceptor_with_client_sups_runs_beside_its_supervisor) {
  listener_options o = raw_options();
  o.acceptors = 1;
  ASSERT_TRUE(start_tree(o, 1));
  EXPECT_EQ(on_scheduler(whereis("lst")), 0) << "placed by load, it could be on scheduler 1";
  EXPECT_EQ(on_scheduler(whereis("clients_0")), 0);
  peer c = peer::connect_port(first_port());
  EXPECT_EQ(c.echo("one"), "one");
  listener_info i = info();
  EXPECT_EQ(i.client_sup_by_acceptor, (std::vector<std::string>{"clients_0"}));
  EXPECT_EQ(i.active_by_acceptor, (std::vector<std::size_t>{1}));
  auto children = sync_wait(supervisor::which_children("clients_0"));
  ASSERT_TRUE(children);
  ASSERT_EQ(children->size(), 1u);
  EXPECT_EQ(on_scheduler(children->front().child), 0);
}

TEST_F(tcp_listener_test, two_acceptors_never_pass_the_global_limit) {
  listener_options o = raw_options(3);
  o.acceptors = 2;  // shares 2 + 1
  ASSERT_TRUE(start_tree(o));
  std::uint16_t port = first_port();
  std::vector<peer> clients;
  for (int k = 0; k < 10; ++k) {
    clients.push_back(peer::connect_port(port));
    ASSERT_TRUE(clients.back().write("c" + std::to_string(k)));
  }
  // Whatever the kernel's spread, at most 3 are served.
  int served = 0;
  std::vector<int> served_ids;
  for (int k = 0; k < 10; ++k) {
    std::string want = "c" + std::to_string(k);
    if (clients[k].read_exact(want.size(), quiet) == want) {
      ++served;
      served_ids.push_back(k);
    }
  }
  EXPECT_GE(served, 1);
  EXPECT_LE(served, 3);
  listener_info i = info();
  EXPECT_LE(i.active_connections, 3u);
  EXPECT_EQ(i.max_connections, 3u);
  // Lifting the limit serves everyone left waiting.
  ASSERT_TRUE(sync_wait(listener::set_max_connections("lst", 0)));
  for (int k = 0; k < 10; ++k) {
    if (std::find(served_ids.begin(), served_ids.end(), k) == served_ids.end()) {
      std::string want = "c" + std::to_string(k);
      EXPECT_EQ(clients[k].read_exact(want.size()), want) << "client " << k;
    }
  }
  EXPECT_TRUE(wait_until([&] { return info().active_connections == 10; }));
}

TEST_F(tcp_listener_test, two_acceptors_drain_together_within_one_deadline) {
  listener_options o = raw_options();
  o.acceptors = 2;
  ASSERT_TRUE(start_tree(o));
  std::uint16_t port = first_port();
  std::vector<peer> clients;
  for (int k = 0; k < 8; ++k) {
    clients.push_back(peer::connect_port(port));
    std::string m = k == 5 ? "stubborn" : "x";
    EXPECT_EQ(clients.back().echo(m), m);
  }
  auto r = sync_wait(listener::drain("lst", 2000ms));
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->finished, 7u);
  EXPECT_EQ(r->forced, 1u);
  for (auto& c : clients) {
    EXPECT_TRUE(c.closed_by_server());
  }
  EXPECT_TRUE(info().suspended);
}

}  // namespace
}  // namespace otpnet::listener::test
