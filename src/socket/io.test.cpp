#include <otpnet/socket/io.hpp>
#include <otpnet/socket/poller.hpp>
#include <otpnet/socket/registry.hpp>

#include "support/alloc_hooks.hpp"
#include "support/fds.hpp"
#include "support/loopback.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <variant>
#include <vector>

namespace otpnet::socket {
namespace {

using namespace std::chrono_literals;
using test::bytes;
using test::text;

std::string recv_text(const socket& s, std::size_t max = 256) {
  std::string buf(max, '\0');
  auto n = recv(s, std::as_writable_bytes(std::span(buf.data(), buf.size())), 0, 5000ms);
  EXPECT_TRUE(n) << format_error(n.error());
  buf.resize(n.value_or(0));
  return buf;
}

/// Sends "ready" from `c` to `a`: the select `h` that waits on `a` gets its
/// event, and a nowait recv then reads the bytes. (This thread's sink.)
void expect_ready_wakes(const socket& c, const socket& a, select_handle h) {
  ASSERT_TRUE(send(c, bytes("ready"), 0, 5000ms));
  auto ev = wait_select(5000ms);
  ASSERT_TRUE(ev);
  EXPECT_EQ(ev->handle, h);
  std::byte buf[16];
  auto got = recv(a, buf, 0, nowait);
  ASSERT_TRUE(got.is_ok());
  EXPECT_EQ(text({buf, got.value()}), "ready");
}

// -- timeouts ------------------------------------------------------------------

TEST(io_timeout, recv_expires_with_timeout_and_consumes_nothing) {
  auto [c, a] = test::connected_pair();
  std::byte buf[8];
  auto r = recv(a, buf, 0, 20ms);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), errc::timeout);
  ASSERT_TRUE(send(c, bytes("after"), 0, 5000ms));
  EXPECT_EQ(recv_text(a), "after");
  auto i = info(a);
  EXPECT_EQ(i->read_waiters, 0u);  // the expired wait left nothing behind
}

TEST(io_timeout, zero_timeout_polls_once) {
  auto [c, a] = test::connected_pair();
  std::byte buf[8];
  EXPECT_EQ(recv(a, buf, 0, 0ms).error(), errc::timeout);
  ASSERT_TRUE(send(c, bytes("x"), 0, 5000ms));
  // Data already there: a zero timeout still returns it.
  ASSERT_TRUE(recv(a, buf, 0, 5000ms));
}

TEST(io_timeout, accept_infinity_waits_for_a_client) {
  auto l = test::listen_loopback();
  std::thread client([&] {
    auto c = open(domain::inet, type::stream);
    ASSERT_TRUE(c);
    ASSERT_TRUE(connect(*c, l.addr()));
    ASSERT_TRUE(send(*c, bytes("hello")));
  });
  auto a = accept(l.sock);
  ASSERT_TRUE(a) << format_error(a.error());
  EXPECT_FALSE(a->adopted());  // a descriptor of its own
  EXPECT_EQ(recv_text(*a), "hello");
  client.join();
}

TEST(io_timeout, accept_expires) {
  auto l = test::listen_loopback();
  auto a = accept(l.sock, 10ms);
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error(), errc::timeout);
}

TEST(io_timeout, connect_refused_is_named) {
  auto l = test::listen_loopback();
  auto port = l.port;
  ASSERT_TRUE(close(l.sock));  // nothing listens there now
  auto c = open(domain::inet, type::stream);
  ASSERT_TRUE(c);
  auto r = connect(*c, address::inet_loopback(port), 5000ms);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), errc::econnrefused);
}

// -- nowait ------------------------------------------------------------------

TEST(io_nowait, recv_selects_then_event_then_repeat) {
  auto [c, a] = test::connected_pair();
  std::byte buf[16];
  auto r = recv(a, buf, 0, nowait);
  ASSERT_TRUE(r.is_select());
  const select_info sel = *r.select_info();
  EXPECT_EQ(sel.tag, select_tag::recv);
  EXPECT_EQ(r.error(), errc::ok);  // would-block is never an error
  ASSERT_TRUE(send(c, bytes("ready"), 0, 5000ms));
  auto ev = wait_select(5000ms);
  ASSERT_TRUE(ev);
  EXPECT_EQ(ev->handle, sel.handle);
  EXPECT_EQ(ev->sock, a);
  EXPECT_EQ(ev->reason, errc::ok);
  auto again = recv(a, buf, 0, nowait);
  ASSERT_TRUE(again.is_ok());
  EXPECT_EQ(text({buf, again.value()}), "ready");
  EXPECT_EQ(*again, 5u);                                   // the unchecked form reads the same value
  EXPECT_THROW((void)r.value(), std::bad_variant_access);  // a select outcome has no value
}

// A plain thread that ends with a nowait receive waiting: its wait is
// withdrawn with it, so the socket's readiness goes to nobody (it was
// delivered to the thread's destroyed sink) and the next caller gets the
// socket's turn.
TEST(io_nowait, a_thread_that_ends_with_a_wait_withdraws_it) {
  auto [c, a] = test::connected_pair();
  std::thread([s = a] {
    std::byte buf[16];
    EXPECT_TRUE(recv(s, buf, 0, nowait).is_select());
  }).join();
  auto i = info(a);
  ASSERT_TRUE(i);
  EXPECT_EQ(i->read_waiters, 0u) << "the ended thread's wait is still queued";
  std::byte buf[16];
  auto r = recv(a, buf, 0, nowait);
  ASSERT_TRUE(r.is_select());
  expect_ready_wakes(c, a, r.select_info()->handle);
}

TEST(io_nowait, caller_supplied_handle_comes_back) {
  auto l = test::listen_loopback();
  const select_handle mine{0xfeed};
  auto r = accept(l.sock, mine);
  ASSERT_TRUE(r.is_select());
  EXPECT_EQ(r.select_info()->handle, mine);
  auto c = open(domain::inet, type::stream);
  ASSERT_TRUE(connect(*c, l.addr(), 5000ms));
  auto ev = wait_select(5000ms);
  ASSERT_TRUE(ev);
  EXPECT_EQ(ev->handle, mine);
  EXPECT_EQ(ev->tag, select_tag::accept);
  auto a = accept(l.sock, nowait);
  ASSERT_TRUE(a.is_ok());
}

TEST(io_nowait, accept_with_a_peer_gives_the_clients_address) {
  auto l = test::listen_loopback();
  address peer;
  auto r = accept(l.sock, make_select_handle(), peer);
  ASSERT_TRUE(r.is_select());
  auto c = open(domain::inet, type::stream);
  ASSERT_TRUE(connect(*c, l.addr(), 5000ms));
  ASSERT_TRUE(wait_select(5000ms));
  auto a = accept(l.sock, make_select_handle(), peer);
  ASSERT_TRUE(a.is_ok());
  auto client_end = sockname(*c);
  ASSERT_TRUE(client_end);
  EXPECT_EQ(peer, *client_end);
  EXPECT_EQ(peer.to_string(), peername(a.value())->to_string());
}

TEST(io_nowait, connect_selects_then_finishes) {
  auto l = test::listen_loopback();
  auto c = open(domain::inet, type::stream);
  ASSERT_TRUE(c);
  auto r = connect(*c, l.addr(), nowait);
  if (r.is_select()) {
    auto ev = wait_select(5000ms);
    ASSERT_TRUE(ev);
    EXPECT_EQ(ev->tag, select_tag::connect);
    ASSERT_TRUE(connect(*c));
  } else {
    ASSERT_TRUE(r.is_ok()) << err_name(r.error());
  }
  EXPECT_TRUE(info(*c)->connected);
  EXPECT_EQ(peername(*c)->port(), l.port);
}

TEST(io_nowait, send_reports_progress_when_the_peer_does_not_read) {
  auto [c, a] = test::connected_pair();
  std::string big(64 << 20, 'z');  // more than the socket buffers hold
  auto r = send(c, bytes(big), 0, nowait);
  ASSERT_TRUE(r.is_select());
  std::size_t sent = r.select_info()->progress;
  EXPECT_GT(sent, 0u);
  EXPECT_LT(sent, big.size());
  ASSERT_TRUE(cancel(c, *r.select_info()));
}

TEST(io_nowait, cancel_withdraws_and_no_event_follows) {
  auto [c, a] = test::connected_pair();
  std::byte buf[8];
  auto r = recv(a, buf, 0, nowait);
  ASSERT_TRUE(r.is_select());
  ASSERT_TRUE(cancel(a, *r.select_info()));
  ASSERT_TRUE(send(c, bytes("late"), 0, 5000ms));
  // The data is there, but the cancelled select announces nothing. Wait a
  // bounded time for a stray event; none must come.
  auto stray = wait_select(50ms);
  EXPECT_FALSE(stray);
  // A second cancel: it is no longer pending.
  EXPECT_EQ(cancel(a, *r.select_info()).error(), errc::invalid);
  EXPECT_EQ(recv_text(a), "late");
}

// Waits (bounded) until `pred(info(s))` holds; false at the bound.
template <class Pred>
bool until_info(const socket& s, Pred pred) {
  const auto deadline = std::chrono::steady_clock::now() + 5000ms;
  while (std::chrono::steady_clock::now() < deadline) {
    auto i = info(s);
    if (i && pred(*i)) {
      return true;
    }
    std::this_thread::yield();
  }
  return false;
}

// A thread's nowait calls and its blocking calls are one caller (OTP: the
// same pid). After a nowait select's event, the thread holds the read turn;
// a blocking recv reads as its holder and hands the turn on, so that the
// next blocking recv is woken by the next data. (It was parked behind the
// thread's own sink's turn, which nobody gave back, until its timeout.)
TEST(io_nowait, a_blocking_call_after_a_nowait_event_is_the_same_caller) {
  auto [c, a] = test::connected_pair();
  std::byte buf[8];
  auto r = recv(a, buf, 0, nowait);
  ASSERT_TRUE(r.is_select());
  ASSERT_TRUE(send(c, bytes("one"), 0, 5000ms));
  auto ev = wait_select(5000ms);
  ASSERT_TRUE(ev);
  EXPECT_EQ(ev->handle, r.select_info()->handle);
  EXPECT_EQ(recv_text(a), "one");
  std::thread writer([s = c, a2 = a] {
    if (until_info(a2, [](const socket_info& i) { return i.read_waiters >= 1; })) {
      (void)send(s, bytes("two"), 0, 5000ms);
    }
  });
  auto n = recv(a, buf, 0, 5000ms);
  writer.join();
  ASSERT_TRUE(n) << format_error(n.error());
  EXPECT_EQ(text(std::span<const std::byte>(buf, *n)), "two");
}

// A blocking recv while the thread's own nowait recv waits takes its place
// (OTP replaces a caller's select with its next call's): the data wakes the
// blocking call, and the replaced select never comes. (The blocking call
// was queued behind the thread's own select, which took the event.)
TEST(io_nowait, a_blocking_call_takes_the_place_of_the_same_threads_pending_select) {
  auto [c, a] = test::connected_pair();
  std::byte buf[8];
  auto r = recv(a, buf, 0, nowait);
  ASSERT_TRUE(r.is_select());
  std::thread writer([s = c, a2 = a] {
    // Both calls have waited once each (read_waits counts selects) before the data comes.
    if (until_info(a2, [](const socket_info& i) { return i.counters.read_waits >= 2; })) {
      (void)send(s, bytes("data"), 0, 5000ms);
    }
  });
  auto n = recv(a, buf, 0, 5000ms);
  writer.join();
  ASSERT_TRUE(n) << format_error(n.error());
  EXPECT_EQ(text(std::span<const std::byte>(buf, *n)), "data");
  while (auto stray = wait_select(0ms)) {
    EXPECT_NE(stray->handle, r.select_info()->handle) << "the replaced select was delivered";
  }
  EXPECT_EQ(cancel(a, *r.select_info()).error(), errc::invalid);
}

// A close under a blocking call that took over the thread's select wakes
// that call with closed, and the replaced select gets no abort of its own.
TEST(io_nowait, a_close_under_a_blocking_call_that_took_over_a_select_answers_it_closed) {
  auto [c, a] = test::connected_pair();
  std::byte buf[8];
  auto r = recv(a, buf, 0, nowait);
  ASSERT_TRUE(r.is_select());
  std::thread closer([a2 = a] {
    if (until_info(a2, [](const socket_info& i) { return i.counters.read_waits >= 2; })) {
      (void)close(a2);
    }
  });
  auto n = recv(a, buf, 0, 5000ms);
  closer.join();
  ASSERT_FALSE(n);
  EXPECT_EQ(n.error(), errc::closed);
  while (auto stray = wait_select(0ms)) {
    EXPECT_NE(stray->handle, r.select_info()->handle) << "an abort for the replaced select";
  }
}

// select handles are the caller's to choose: two callers with the same one
// are two waits. A cancel withdraws the canceller's own (it took the first
// queued, the other thread's, which then never got its event).
TEST(io_nowait, cancel_withdraws_the_callers_own_wait_when_handles_collide) {
  auto [c, a] = test::connected_pair();
  const select_handle h = make_select_handle();
  std::atomic<bool> queued{false};
  std::optional<select_event> theirs;
  std::thread other([&, s = a] {
    std::byte tb[8];
    auto r = recv(s, tb, 0, h);
    queued = r.is_select();
    if (queued) {
      auto ev = wait_select(5000ms);
      if (ev) {
        theirs = *ev;
      }
    }
  });
  ASSERT_TRUE(until_info(a, [](const socket_info& i) { return i.read_waiters >= 1; }));
  std::byte buf[8];
  auto mine = recv(a, buf, 0, h);
  ASSERT_TRUE(mine.is_select());
  ASSERT_TRUE(cancel(a, *mine.select_info()));
  ASSERT_TRUE(send(c, bytes("x"), 0, 5000ms));
  other.join();
  EXPECT_TRUE(queued.load());
  ASSERT_TRUE(theirs.has_value()) << "the other thread's wait was cancelled instead of this one's";
  EXPECT_EQ(theirs->handle, h);
  while (auto stray = wait_select(0ms)) {
    EXPECT_NE(stray->handle, h) << "an event for the cancelled wait";
  }
}

TEST(io_nowait, close_aborts_waiters_with_closed) {
  auto l = test::listen_loopback();
  auto r = accept(l.sock, nowait);
  ASSERT_TRUE(r.is_select());
  ASSERT_TRUE(close(l.sock));
  auto ev = wait_select(5000ms);
  ASSERT_TRUE(ev);
  EXPECT_EQ(ev->handle, r.select_info()->handle);
  EXPECT_EQ(ev->reason, errc::closed);
  EXPECT_EQ(accept(l.sock, nowait).error(), errc::closed);
}

// -- concurrency ---------------------------------------------------------------

TEST(io_concurrency, close_wakes_every_blocked_waiter) {
  auto [c, a] = test::connected_pair();
  constexpr int n = 4;
  std::atomic<int> closed_seen{0};
  std::vector<std::thread> ts;
  for (int i = 0; i < n; ++i) {
    ts.emplace_back([&, s = a] {
      std::byte buf[8];
      auto r = recv(s, buf, 0, 10000ms);
      if (!r && r.error() == errc::closed) {
        closed_seen.fetch_add(1);
      }
    });
  }
  // Close only once every thread is queued, so that all four are woken by it.
  for (int spins = 0; spins < 100000 && info(a)->read_waiters + 0 < static_cast<std::size_t>(n); ++spins) {
    std::this_thread::yield();
  }
  int fd = a.native_handle();
  ASSERT_TRUE(close(a));
  for (auto& t : ts) {
    t.join();
  }
  EXPECT_EQ(closed_seen.load(), n);
  // The descriptor number was released only after every waiter let go.
  EXPECT_EQ(::fcntl(fd, F_GETFD), -1);
}

TEST(io_concurrency, accepters_are_served_first_come_first_served) {
  auto l = test::listen_loopback();
  constexpr int n = 4;
  std::mutex mu;
  std::vector<int> order;  // accepter index in the order they got a socket
  std::vector<std::thread> ts;
  for (int i = 0; i < n; ++i) {
    // Start accepters one at a time, each queued before the next starts.
    ts.emplace_back([&, i] {
      auto a = accept(l.sock, 10000ms);
      ASSERT_TRUE(a) << format_error(a.error());
      std::lock_guard lk(mu);
      order.push_back(i);
    });
    auto until = std::chrono::steady_clock::now() + 10s;
    while (info(l.sock)->read_waiters < static_cast<std::size_t>(i + 1) && std::chrono::steady_clock::now() < until) {
      std::this_thread::yield();
    }
    ASSERT_EQ(info(l.sock)->read_waiters, static_cast<std::size_t>(i + 1));
  }
  std::vector<socket> clients;
  for (int i = 0; i < n; ++i) {
    auto c = open(domain::inet, type::stream);
    ASSERT_TRUE(connect(*c, l.addr(), 5000ms));
    clients.push_back(*c);
    // Let this accept finish before the next client arrives.
    auto until = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < until) {
      {
        std::lock_guard lk(mu);
        if (order.size() == static_cast<std::size_t>(i + 1)) {
          break;
        }
      }
      std::this_thread::yield();
    }
  }
  for (auto& t : ts) {
    t.join();
  }
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3}));
}

TEST(io_concurrency, concurrent_receivers_each_get_their_own_data) {
  auto [c, a] = test::connected_pair();
  constexpr int n = 4;
  std::mutex mu;
  std::multiset<std::string> got;
  std::vector<std::thread> ts;
  for (int i = 0; i < n; ++i) {
    ts.emplace_back([&, s = a] {
      std::byte buf[1];
      auto r = recv(s, buf, 0, 10000ms);
      ASSERT_TRUE(r) << format_error(r.error());
      ASSERT_EQ(*r, 1u);
      std::lock_guard lk(mu);
      got.insert(std::string(1, static_cast<char>(buf[0])));
    });
  }
  for (int spins = 0; spins < 1000000 && info(a)->read_waiters < static_cast<std::size_t>(n); ++spins) {
    std::this_thread::yield();
  }
  // All four bytes at once: edge-triggered readiness fires once, and the
  // turn must still pass from waiter to waiter.
  ASSERT_TRUE(send(c, bytes("abcd"), 0, 5000ms));
  for (auto& t : ts) {
    t.join();
  }
  EXPECT_EQ(got, (std::multiset<std::string>{"a", "b", "c", "d"}));
}

// -- counters and registry -------------------------------------------------------

TEST(io_counters, info_counts_reads_writes_and_accepts) {
  auto l = test::listen_loopback();
  auto c = open(domain::inet, type::stream);
  ASSERT_TRUE(connect(*c, l.addr(), 5000ms));
  auto a = accept(l.sock, 5000ms);
  ASSERT_TRUE(a);
  ASSERT_TRUE(send(*c, bytes("12345"), 0, 5000ms));
  EXPECT_EQ(recv_text(*a), "12345");
  auto ci = info(*c);
  auto ai = info(*a);
  auto li = info(l.sock);
  EXPECT_EQ(ci->counters.write_byte, 5u);
  EXPECT_EQ(ci->counters.write_pkg, 1u);
  EXPECT_EQ(ai->counters.read_byte, 5u);
  EXPECT_GE(ai->counters.read_tries, 1u);
  EXPECT_EQ(li->counters.acc_success, 1u);
  EXPECT_TRUE(li->listening);
  EXPECT_TRUE(ai->connected);
  EXPECT_EQ(state_names(*li), (std::vector<std::string_view>{"bound", "listening"}));
}

TEST(io_counters, a_peek_is_a_try_but_its_bytes_are_counted_when_read) {
  auto l = test::listen_loopback();
  auto c = open(domain::inet, type::stream);
  ASSERT_TRUE(connect(*c, l.addr(), 5000ms));
  auto a = accept(l.sock, 5000ms);
  ASSERT_TRUE(a);
  ASSERT_TRUE(send(*c, bytes("12345"), 0, 5000ms));
  std::array<std::byte, 16> buf{};
  auto peeked = recv(*a, std::span<std::byte>(buf.data(), 5), MSG_PEEK | MSG_WAITALL, 5000ms);
  ASSERT_TRUE(peeked);
  EXPECT_EQ(*peeked, 5u);
  auto before = info(*a)->counters;
  EXPECT_EQ(before.read_byte, 0u);
  EXPECT_EQ(before.read_pkg, 0u);
  EXPECT_GE(before.read_tries, 1u);
  EXPECT_EQ(recv_text(*a), "12345");
  auto after = info(*a)->counters;
  EXPECT_EQ(after.read_byte, 5u);  // not 10: the peeked bytes were read once
  EXPECT_EQ(after.read_pkg, 1u);
  EXPECT_GT(after.read_tries, before.read_tries);
}

TEST(io_registry, sockets_are_listed_until_closed) {
  std::size_t before = number_of();
  auto s = open(domain::inet6, type::dgram);
  if (!s) {
    GTEST_SKIP() << "no IPv6 sockets: " << format_error(s.error());
  }
  EXPECT_EQ(number_of(), before + 1);
  auto mine = which_sockets(domain::inet6);
  EXPECT_NE(std::find(mine.begin(), mine.end(), *s), mine.end());
  auto hidden = open(domain::inet, type::dgram, protocol::default_, {.registry = open_options::registry_mode::off});
  ASSERT_TRUE(hidden);
  EXPECT_EQ(number_of(), before + 1);
  EXPECT_FALSE(info(*hidden)->use_registry);
  ASSERT_TRUE(close(*s));
  EXPECT_EQ(number_of(), before);
  auto i = info(*s);
  ASSERT_TRUE(i);
  EXPECT_TRUE(i->closed);
}

TEST(io_registry, filters_by_owner_and_predicate) {
  auto s = open(domain::inet, type::stream, protocol::default_, {.owner = 4242});
  ASSERT_TRUE(s);
  auto owned = which_sockets(owned_by{4242});
  ASSERT_EQ(owned.size(), 1u);
  EXPECT_EQ(owned[0], *s);
  ASSERT_TRUE(set_owner(*s, 4343));
  EXPECT_TRUE(which_sockets(owned_by{4242}).empty());
  auto pred = which_sockets([](const socket_info& i) { return i.owner == 4343 && i.typ == type::stream; });
  EXPECT_EQ(pred.size(), 1u);
}

TEST(io_leaks, a_thousand_connections_leave_no_descriptor) {
  {
    // A first wait starts the select service, whose descriptors live on.
    auto warm = test::listen_loopback();
    (void)accept(warm.sock, 0ms);
  }
  int before = test::open_fds();
  {
    auto l = test::listen_loopback(1024);
    for (int i = 0; i < 1000; ++i) {
      auto c = open(domain::inet, type::stream);
      ASSERT_TRUE(c);
      ASSERT_TRUE(connect(*c, l.addr(), 5000ms));
      auto a = accept(l.sock, 5000ms);
      ASSERT_TRUE(a);
    }
  }
  EXPECT_EQ(test::open_fds(), before);
}

}  // namespace
}  // namespace otpnet::socket

namespace otpnet::socket {
namespace {

// A nowait call that must wait behind another caller takes memory for its
// place in the socket's queue: without it the call answers enomem at once
// and waits nowhere, and the caller before it keeps its place and gets its
// event. (The queue grew inside a noexcept function: the end of the
// program.)
TEST(io_exhaustion, a_waiter_without_memory_for_its_place_answers_enomem_and_the_one_before_keeps_its_turn) {
  auto [c, a] = test::connected_pair();
  std::byte buf[16];
  auto first = recv(a, buf, 0, nowait);  // this thread waits: the queue has room for one
  ASSERT_TRUE(first.is_select());
  std::optional<async_result<std::size_t>> second;
  std::size_t refused = 0;
  std::thread([&second, &refused, s = a] {
    std::byte mine[16];
    test::failing_allocations no_memory;
    second.emplace(recv(s, mine, 0, nowait));
    refused = no_memory.refused();
  }).join();
  ASSERT_TRUE(second);
  EXPECT_FALSE(second->is_ok());
  EXPECT_FALSE(second->is_select()) << "a waiter queued without memory for its place";
  EXPECT_EQ(second->error(), errc::enomem);
  EXPECT_GT(refused, 0u);
  auto i = info(a);
  ASSERT_TRUE(i);
  EXPECT_EQ(i->read_waiters, 1u);
  expect_ready_wakes(c, a, first.select_info()->handle);
}

// An accept whose new socket finds no memory for its state closes the
// descriptor the kernel gave it and answers enomem (the descriptor leaked
// and the exception escaped); the client sees its connection end, and the
// next accept works. (It is this thread's first nowait call: making its
// sink allocates nothing, where a deque's allocation terminated.)
TEST(io_exhaustion, an_accept_without_memory_for_its_socket_answers_enomem_and_keeps_no_descriptor) {
  auto l = test::listen_loopback();
  auto c = open(domain::inet, type::stream);
  ASSERT_TRUE(c);
  ASSERT_TRUE(connect(*c, l.addr(), 5000ms));
  int before = test::open_fds();
  std::optional<async_result<socket>> r;
  {
    test::failing_allocations no_memory;
    r.emplace(accept(l.sock, nowait));
  }
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->is_ok());
  EXPECT_EQ(r->error(), errc::enomem);
  EXPECT_EQ(test::open_fds(), before) << "the accepted descriptor was kept";
  std::byte buf[4];
  auto end = recv(*c, buf, 0, 5000ms);
  EXPECT_TRUE(end.error() == errc::closed || end.error() == errc::econnreset) << format_error(end.error());
  auto c2 = open(domain::inet, type::stream);
  ASSERT_TRUE(c2);
  ASSERT_TRUE(connect(*c2, l.addr(), 5000ms));
  EXPECT_TRUE(accept(l.sock, 5000ms));
}

TEST(io_exhaustion, select_service_recovers_after_emfile) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "the sanitizer runtimes need descriptors of their own; exhausting them breaks the sanitizer";
#endif
  // Runs in its own process (ctest), and a socketpair needs no wait, so the
  // select service has not started: it must start while descriptors are
  // exhausted.
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  auto c = open(fds[0], {.dup = false}).value();
  auto a = open(fds[1], {.dup = false}).value();
  ::rlimit old{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &old), 0);
  ::rlimit low = old;
  low.rlim_cur = static_cast<rlim_t>(test::open_fds() + 4);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  std::vector<socket> hog;
  for (;;) {
    auto s = open(domain::inet, type::stream);
    if (!s) {
      EXPECT_EQ(s.error(), errc::emfile);
      break;
    }
    hog.push_back(*s);
  }
  std::byte buf[4];
  auto r = recv(a, buf, 0, 10ms);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), errc::emfile);  // named for what it is, not enomem
  hog.clear();
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &old), 0);
  // Descriptors are back: waiting works again.
  ASSERT_TRUE(send(c, test::bytes("ok"), 0, 5000ms));
  auto again = recv(a, buf, 0, 5000ms);
  ASSERT_TRUE(again) << format_error(again.error());
  EXPECT_EQ(*again, 2u);
  auto timed = recv(a, buf, 0, 10ms);
  ASSERT_FALSE(timed);
  EXPECT_EQ(timed.error(), errc::timeout);
}

}  // namespace
}  // namespace otpnet::socket
