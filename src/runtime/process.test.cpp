#include <otpnet/runtime/mailbox.hpp>
#include <otpnet/runtime/process.hpp>
#include <otpnet/runtime/process_info.hpp>
#include <otpnet/runtime/receive.hpp>
#include <otpnet/runtime/report.hpp>
#include <otpnet/runtime/runtime.hpp>
#include <otpnet/runtime/timer.hpp>

#include "support/print.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace otpnet {
namespace {

using namespace std::chrono_literals;

/// Starts a runtime with two schedulers for each test, stops it after.
class runtime_test : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(runtime::start({.schedulers = 2})); }
  void TearDown() override {
    runtime::stop();
    EXPECT_EQ(runtime::process_count(), 0u);
  }
};

struct ping {
  pid from;
  int n;
};
struct pong {
  int n;
};

TEST_F(runtime_test, spawn_send_and_reply_to_a_plain_thread) {
  mailbox mb;
  pid echo = spawn([]() -> proc {
    ping p = co_await receive<ping>();
    send(p.from, pong{p.n + 1});
  });
  EXPECT_TRUE(send(echo, ping{mb.self(), 41}));
  auto r = mb.receive<pong>(5000ms);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->n, 42);
}

TEST_F(runtime_test, messages_between_a_pair_keep_their_order) {
  mailbox mb;
  pid collector = spawn([me = mb.self()]() -> proc {
    std::vector<int> got;
    for (int i = 0; i < 10000; ++i) {
      got.push_back((co_await receive<int>()));
    }
    send(me, std::move(got));
  });
  for (int i = 0; i < 10000; ++i) {
    send(collector, i);
  }
  auto got = mb.receive<std::vector<int>>(10000ms);
  ASSERT_TRUE(got);
  ASSERT_EQ(got->size(), 10000u);
  for (int i = 0; i < 10000; ++i) {
    ASSERT_EQ((*got)[static_cast<std::size_t>(i)], i);
  }
}

TEST_F(runtime_test, selective_receive_leaves_other_messages_in_order) {
  mailbox mb;
  pid p = spawn([me = mb.self()]() -> proc {
    // Wait for the int 3 first, while strings and other ints arrive.
    int three = co_await receive<int>([](int v) { return v == 3; });
    std::string first = co_await receive<std::string>();
    int one = co_await receive<int>();
    int two = co_await receive<int>();
    std::string second = co_await receive<std::string>();
    send(me, std::to_string(three) + first + std::to_string(one) + std::to_string(two) + second);
  });
  send(p, 1);
  send(p, std::string("a"));
  send(p, 2);
  send(p, std::string("b"));
  send(p, 3);
  auto r = mb.receive<std::string>(5000ms);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, "3a12b");
}

TEST_F(runtime_test, receive_after_times_out_and_keeps_unmatched) {
  mailbox mb;
  pid p = spawn([me = mb.self()]() -> proc {
    auto none = co_await receive<int>(after(20ms));
    auto s = co_await receive<std::string>(after(0ms));  // only looks
    send(me, std::string(none ? "int" : "timeout") + (s ? *s : "-"));
    auto later = co_await receive<int>(after(5000ms));
    send(me, later ? *later : -1);
  });
  (void)p;
  auto first = mb.receive<std::string>(5000ms);
  ASSERT_TRUE(first);
  EXPECT_EQ(*first, "timeout-");
  send(p, 7);
  auto second = mb.receive<int>(5000ms);
  ASSERT_TRUE(second);
  EXPECT_EQ(*second, 7);
}

TEST_F(runtime_test, sleep_suspends_only_the_process) {
  mailbox mb;
  auto start = std::chrono::steady_clock::now();
  // Both on one scheduler, spawned by one process in one turn: the sleeper
  // runs first and its timer is that thread's, so the other's send comes
  // first unless the sleeper held the scheduler.
  spawn([me = mb.self()]() -> proc {
    spawn_opt({.scheduler = caller_scheduler}, [me]() -> proc {
      co_await sleep(30ms);
      send(me, 1);
    });
    spawn_opt({.scheduler = caller_scheduler}, [me]() -> proc {
      send(me, 2);
      co_return;
    });
    co_return;
  });
  auto a = mb.receive<int>(5000ms);
  auto b = mb.receive<int>(5000ms);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(*a, 2);  // the sleeper did not hold up the other
  EXPECT_EQ(*b, 1);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 30ms);
}

// -- exits and links ------------------------------------------------------------

TEST_F(runtime_test, normal_exit_does_not_kill_a_linked_process) {
  mailbox mb;
  pid parent = spawn([me = mb.self()]() -> proc {
    pid child = spawn_link([]() -> proc { co_return; });
    (void)child;
    auto m = co_await receive<int>(after(50ms));
    send(me, std::string(m ? "got" : "alive"));
  });
  (void)parent;
  auto r = mb.receive<std::string>(5000ms);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, "alive");
}

TEST_F(runtime_test, crash_propagates_through_links_and_monitors_see_it) {
  mailbox mb;
  std::atomic<bool> parent_saw{false};
  auto [parent, mref] = spawn_monitor([&]() -> proc {
    spawn_link([]() -> proc {
      co_await sleep(1ms);
      throw std::runtime_error("boom");
    });
    co_await receive<int>();  // never comes: the link kills this process
    parent_saw = true;
  });
  auto down = mb.receive<down_msg>(5000ms);
  ASSERT_TRUE(down);
  EXPECT_EQ(down->who, parent);
  EXPECT_EQ(down->monitor, mref);
  EXPECT_EQ(down->reason.what(), exit_reason::kind::other);
  EXPECT_EQ(down->reason.text(), "std::runtime_error: boom");
  EXPECT_FALSE(parent_saw);
}

TEST_F(runtime_test, trapped_exit_arrives_as_a_message) {
  mailbox mb;
  spawn([me = mb.self()]() -> proc {
    trap_exit(true);
    pid child = spawn_link([]() -> proc {
      exit(exit_reason::other("bye"));
      co_return;
    });
    exit_msg m = co_await receive<exit_msg>();
    send(me, std::string(m.from == child ? "from child: " : "from other: ") + m.reason.to_string());
  });
  auto r = mb.receive<std::string>(5000ms);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, "from child: bye");
}

TEST_F(runtime_test, kill_cannot_be_trapped) {
  mailbox mb;
  auto [victim, r] = spawn_monitor([]() -> proc {
    trap_exit(true);
    co_await receive<int>();
  });
  (void)r;
  exit(victim, exit_reason::kill());
  auto down = mb.receive<down_msg>(5000ms);
  ASSERT_TRUE(down);
  EXPECT_EQ(down->reason, exit_reason::killed());
  EXPECT_FALSE(is_alive(victim));
}

TEST_F(runtime_test, exit_signal_rules) {
  mailbox mb;
  // Not trapping: normal is ignored, shutdown kills.
  auto [p, r] = spawn_monitor([]() -> proc { co_await receive<int>(); });
  (void)r;
  exit(p, exit_reason::normal());
  EXPECT_FALSE(mb.receive<down_msg>(30ms));
  EXPECT_TRUE(is_alive(p));
  exit(p, exit_reason::shutdown());
  auto down = mb.receive<down_msg>(5000ms);
  ASSERT_TRUE(down);
  EXPECT_EQ(down->reason, exit_reason::shutdown());
  // Trapping (from the start, so no signal can come before it): normal
  // arrives as a message.
  pid t = spawn_opt({.trap_exit = true}, [me = mb.self()]() -> proc {
            exit_msg m = co_await receive<exit_msg>();
            send(me, m.reason.to_string());
          }).first;
  exit(t, exit_reason::normal());
  auto got = mb.receive<std::string>(5000ms);
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, "normal");
}

TEST_F(runtime_test, link_to_a_dead_pid_gives_noproc) {
  mailbox mb;
  auto [dead, r] = spawn_monitor([]() -> proc { co_return; });
  (void)r;
  ASSERT_TRUE(mb.receive<down_msg>(5000ms));
  spawn([me = mb.self(), dead]() -> proc {
    trap_exit(true);
    link(dead);
    exit_msg m = co_await receive<exit_msg>();
    send(me, m.reason);
  });
  auto why = mb.receive<exit_reason>(5000ms);
  ASSERT_TRUE(why);
  EXPECT_EQ(*why, exit_reason::noproc());
}

TEST_F(runtime_test, is_linked_follows_link_unlink_and_the_other_sides_end) {
  mailbox mb;
  pid other = spawn([]() -> proc { (void)co_await receive<std::string>(); });
  spawn([me = mb.self(), other]() -> proc {
    trap_exit(true);
    std::string seen;
    seen += is_linked(other) ? "L" : "-";
    link(other);
    seen += is_linked(other) ? "L" : "-";
    unlink(other);
    seen += is_linked(other) ? "L" : "-";
    link(other);
    send(other, std::string("end"));
    exit_msg m = co_await receive<exit_msg>();  // the link is gone with it
    seen += is_linked(other) ? "L" : "-";
    seen += is_linked(self()) ? "L" : "-";
    send(me, seen + " " + m.reason.to_string());
  });
  auto got = mb.receive<std::string>(5000ms);
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, "-L--- normal");
  EXPECT_FALSE(is_linked(other));  // a plain thread holds no links
}

// exit(self(), r) and then the body returns with no wait between: the
// process ends with r (killed for kill), as OTP handles a signal to oneself
// before exit/2 returns. (It ended normal: the signal was dropped unread.)
TEST_F(runtime_test, exit_to_self_then_return_ends_with_that_reason) {
  mailbox mb;
  auto [a, ra] = spawn_monitor([]() -> proc {
    exit(self(), exit_reason::other("boom"));
    co_return;
  });
  auto [b, rb] = spawn_monitor([]() -> proc {
    exit(self(), exit_reason::kill());
    co_return;
  });
  auto [c, rc] = spawn_monitor([]() -> proc {
    trap_exit(true);  // trapped: an exit_msg, and the body's own end
    exit(self(), exit_reason::other("trapped"));
    co_return;
  });
  std::map<pid, exit_reason> why;
  for (int i = 0; i < 3; ++i) {
    auto d = mb.receive<down_msg>(5000ms);
    ASSERT_TRUE(d);
    why[d->who] = d->reason;
  }
  EXPECT_EQ(why[a], exit_reason::other("boom"));
  EXPECT_EQ(why[b], exit_reason::killed());
  EXPECT_EQ(why[c], exit_reason::normal());
  (void)ra;
  (void)rb;
  (void)rc;
}

// exit(self(), normal) ends a process that does not trap exits, with
// normal: the one case where normal ends a process (OTP's exit/2). It
// was ignored: the process went on to its next receive. One that traps
// exits gets the exit_msg and goes on.
TEST_F(runtime_test, exit_to_self_with_normal_ends_a_process_not_trapping_exits) {
  mailbox mb;
  auto [a, ra] = spawn_monitor([me = mb.self()]() -> proc {
    exit(self(), exit_reason::normal());
    (void)co_await receive<int>(after(2000ms));
    send(me, std::string("went on"));
  });
  auto d = mb.receive<down_msg>(5000ms);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->monitor, ra);
  EXPECT_EQ(d->reason, exit_reason::normal());
  EXPECT_FALSE(mb.receive<std::string>(0ms)) << "it went on after exit(self(), normal)";
  auto [b, rb] = spawn_monitor([me = mb.self()]() -> proc {
    trap_exit(true);
    exit(self(), exit_reason::normal());
    auto m = co_await receive<exit_msg>(after(5000ms));
    send(me, std::string(m && m->from == self() && m->reason.is_normal() ? "trapped" : "no exit_msg"));
  });
  auto t = mb.receive<std::string>(5000ms);
  ASSERT_TRUE(t);
  EXPECT_EQ(*t, "trapped");
  (void)a;
  (void)b;
  (void)rb;
}

// The exit signal to oneself is handled before exit() returns, as OTP's
// exit/2 does: a process that traps exits when it sends it has the
// exit_msg, even if it stops trapping at once (it ended with the reason
// instead, at its next wait).
TEST_F(runtime_test, exit_to_self_while_trapping_is_an_exit_msg_at_once) {
  mailbox mb;
  auto [a, ra] = spawn_monitor([me = mb.self()]() -> proc {
    trap_exit(true);
    exit(self(), exit_reason::normal());
    exit(self(), exit_reason::other("boom"));
    trap_exit(false);
    std::string got;
    for (int i = 0; i < 2; ++i) {
      auto m = co_await receive<exit_msg>(after(5000ms));
      got += m && m->from == self() ? m->reason.to_string() + ";" : "none;";
    }
    send(me, got);
  });
  auto t = mb.receive<std::string>(5000ms);
  ASSERT_TRUE(t);
  EXPECT_EQ(*t, "normal;boom;");
  auto d = mb.receive<down_msg>(5000ms);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->monitor, ra);
  EXPECT_EQ(d->reason, exit_reason::normal());
  (void)a;
}

TEST_F(runtime_test, monitor_of_a_dead_pid_fires_at_once) {
  mailbox mb;
  auto [dead, r] = spawn_monitor([]() -> proc { co_return; });
  (void)r;
  ASSERT_TRUE(mb.receive<down_msg>(5000ms));
  ref m = monitor(dead);
  auto down = mb.receive<down_msg>(5000ms);
  ASSERT_TRUE(down);
  EXPECT_EQ(down->monitor, m);
  EXPECT_EQ(down->reason, exit_reason::noproc());
}

TEST_F(runtime_test, demonitor_with_flush_removes_the_down) {
  mailbox mb;
  spawn([me = mb.self()]() -> proc {
    auto [p, r] = spawn_monitor([]() -> proc { co_return; });
    (void)p;
    // Until the down message is in the mailbox (bounded: 5 s). A receive
    // of a type that never comes takes in what has arrived and leaves it.
    for (int k = 0; k < 5000; ++k) {
      auto i = process_info(self());
      if (i && i->message_queue_len > 0) {
        break;
      }
      (void)co_await receive<std::array<char, 3>>(after(1ms));
    }
    bool was_active = demonitor(r, true);
    auto left = co_await receive<down_msg>(after(0ms));
    send(me, std::string(was_active ? "active" : "inactive") + (left ? "+down" : ""));
  });
  auto r = mb.receive<std::string>(5000ms);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, "inactive");
}

TEST_F(runtime_test, caller_scheduler_spawns_beside_the_spawning_process) {
  // Each parent, placed on scheduler 0 or 1, spawns children with
  // caller_scheduler; they report where they run. Placement by load would
  // put some of the 40 elsewhere, since the parents keep their own
  // scheduler busier.
  mailbox mb;
  for (int s = 0; s < 2; ++s) {
    spawn_opt({.scheduler = s}, [me = mb.self(), s]() -> proc {
      for (int i = 0; i < 20; ++i) {
        spawn_opt({.scheduler = caller_scheduler}, [me, s]() -> proc {
          send(me, std::pair<int, int>{s, static_cast<int>(process_info(self())->scheduler)});
          co_return;
        });
      }
      co_return;
    });
  }
  for (int i = 0; i < 40; ++i) {
    auto r = mb.receive<std::pair<int, int>>(5000ms);
    ASSERT_TRUE(r) << i;
    EXPECT_EQ(r->second, r->first) << "a child of the parent on scheduler " << r->first;
  }
  // From a plain thread there is no caller's scheduler: it is placed by
  // load, on one of the runtime's.
  spawn_opt({.scheduler = caller_scheduler}, [me = mb.self()]() -> proc {
    send(me, static_cast<int>(process_info(self())->scheduler));
    co_return;
  });
  auto where = mb.receive<int>(5000ms);
  ASSERT_TRUE(where);
  EXPECT_GE(*where, 0);
  EXPECT_LT(*where, static_cast<int>(runtime::schedulers()));
}

// Envelopes made on one scheduler and freed on another drift into the
// freeing thread's pool, which does not reuse them; past 64 KiB a size
// class gives back, every decay period (100 ms), what it held through the
// whole period, so the drift does not stay (it used to keep up to 1 MiB a
// class). The consumer polls its pool (bounded) for the decay, which no
// message announces.
TEST_F(runtime_test, envelopes_that_drift_to_another_thread_go_back_to_the_heap) {
  constexpr int n = 30000;
  struct go {};
  struct sent {};
  mailbox mb;
  // The consumer takes the messages only once all are in its mailbox: it
  // frees them in a few milliseconds, within one decay period, so that
  // its pool fills to the cap before any decay tick can act.
  pid consumer =
      spawn_opt({.scheduler = 1}, [me = mb.self()]() -> proc {
        (void)co_await receive<go>();
        // The peak, read as it goes: on a slow build (TSan) the burst can
        // span a decay tick, which gives some back before its end.
        std::size_t drifted = 0;
        for (int i = 0; i < n; ++i) {
          (void)co_await receive<int>();
          if (i % 256 == 0) {
            drifted = std::max(drifted, detail::pooled_bytes());
          }
        }
        drifted = std::max(drifted, detail::pooled_bytes());
        auto deadline = std::chrono::steady_clock::now() + 5000ms;
        while (detail::pooled_bytes() > (std::size_t{128} << 10) && std::chrono::steady_clock::now() < deadline) {
          (void)co_await receive<int>(after(20ms));
        }
        send(me, std::pair<std::size_t, std::size_t>{drifted, detail::pooled_bytes()});
      }).first;
  spawn_opt({.scheduler = 0}, [consumer, me = mb.self()]() -> proc {
    for (int i = 0; i < n; ++i) {
      send(consumer, i);
    }
    send(me, sent{});
    co_return;
  });
  ASSERT_TRUE(mb.receive<sent>(10000ms));
  send(consumer, go{});
  auto r = mb.receive<std::pair<std::size_t, std::size_t>>(10000ms);
  ASSERT_TRUE(r);
  EXPECT_GE(r->first, std::size_t{512} << 10) << "the envelopes did not drift into the consumer's pool";
  EXPECT_LE(r->second, std::size_t{128} << 10) << "the drifted envelopes stayed in the pool";
}

// Each scheduler's statistics, read from a plain thread while processes
// run on it: its backend, its live processes, and counters that grow with
// the work done (TSan checks that the reads race with nothing).
TEST_F(runtime_test, statistics_count_each_schedulers_work) {
  auto before = runtime::statistics();
  ASSERT_EQ(before.size(), 2u);
  for (unsigned i = 0; i < 2; ++i) {
    EXPECT_EQ(before[i].index, i);
    EXPECT_TRUE(before[i].backend == "epoll" || before[i].backend == "io_uring") << before[i].backend;
    EXPECT_EQ(before[i].counters.at(0).first, "turns");
    EXPECT_EQ(before[i].counter("no such counter"), 0u);
  }
  mailbox mb;
  struct stop_now {};
  // A process that stays on scheduler 1 while the counters are read, and a
  // stream of messages and timers through it.
  pid p = spawn_opt({.scheduler = 1}, [me = mb.self()]() -> proc {
            for (int k = 0; k < 100; ++k) {
              co_await sleep(0ms);
            }
            send(me, 1);
            (void)co_await receive<stop_now>();
          }).first;
  ASSERT_TRUE(mb.receive<int>(5000ms));
  auto during = runtime::statistics();
  ASSERT_EQ(during.size(), 2u);
  EXPECT_GE(during[1].processes, 1u) << during[1].to_string();
  EXPECT_GT(during[1].counter("turns"), before[1].counter("turns"));
  EXPECT_GE(during[1].counter("timers_fired"), before[1].counter("timers_fired") + 100) << during[1].to_string();
  std::string line = during[1].to_string();
  EXPECT_EQ(line.rfind("scheduler 1 (" + during[1].backend + "): processes=", 0), 0u) << line;
  EXPECT_NE(line.find(" turns="), std::string::npos) << line;
  send(p, stop_now{});
  runtime::stop();
  EXPECT_TRUE(runtime::statistics().empty()) << "not running";
  ASSERT_TRUE(runtime::start({.schedulers = 2}));
}

// Processes spawned onto another scheduler and killed there at once, by a
// process of that scheduler, all end killed, each with its down. (A signal
// that reaches a process not yet adopted by its scheduler leaves it for the
// adoption to run; this test did not make that race happen, but checks the
// burst around it.)
TEST_F(runtime_test, processes_killed_on_their_scheduler_as_soon_as_spawned_there_all_end_killed) {
  mailbox mb;
  struct victims {
    std::vector<pid> all;
  };
  constexpr int n = 3000;
  pid killer = spawn_opt({.scheduler = 1}, []() -> proc {
                 auto v = co_await receive<victims>();
                 for (pid p : v.all) {
                   ::otpnet::exit(p, exit_reason::kill());
                 }
               }).first;
  spawn_opt({.scheduler = 0}, [killer, me = mb.self()]() -> proc {
    victims v;
    std::vector<ref> refs;
    for (int k = 0; k < n; ++k) {
      auto [b, m] = spawn_opt({.monitor = true, .scheduler = 1}, []() -> proc { (void)co_await receive<int>(); });
      v.all.push_back(b);
      refs.push_back(m);
    }
    send(killer, std::move(v));
    int killed = 0;
    for (int k = 0; k < n; ++k) {
      auto d = co_await receive<down_msg>(after(10000ms));
      if (!d) {
        break;
      }
      killed += d->reason == exit_reason::killed() ? 1 : 0;
    }
    send(me, killed);
  });
  auto killed = mb.receive<int>(30000ms);
  ASSERT_TRUE(killed);
  EXPECT_EQ(*killed, n);
}

// Signals and messages from one sender keep their order (OTP's guarantee
// per pair): an exit signal to a process that traps exits, then a message,
// come to it as exit_msg first, then the message; on one scheduler and
// across two, and to a plain thread's mailbox.
TEST_F(runtime_test, an_exit_signal_then_a_message_arrive_in_that_order) {
  mailbox mb;
  struct go {};
  for (int target_sched : {0, 1}) {
    for (int round = 0; round < 50; ++round) {
      pid y = spawn_opt({.trap_exit = true, .scheduler = target_sched}, [me = mb.self()]() -> proc {
                // `go` comes last from the sender: once it is here, so are the two
                // before it, and the first of any kind must be the exit.
                (void)co_await receive<go>();
                std::string order;
                for (int k = 0; k < 2; ++k) {
                  std::optional<message> m = co_await receive_any(after(5000ms));
                  order += !m ? "none " : m->is<exit_msg>() ? "exit " : m->is<std::string>() ? "msg " : "other ";
                }
                send(me, order);
              }).first;
      spawn_opt({.scheduler = 0}, [y]() -> proc {
        ::otpnet::exit(y, exit_reason::other("bye"));
        send(y, std::string("after the exit"));
        send(y, go{});
        co_return;
      });
      auto order = mb.receive<std::string>(10000ms);
      ASSERT_TRUE(order);
      EXPECT_EQ(*order, "exit msg ") << "target on scheduler " << target_sched << ", round " << round;
    }
  }
  // To a plain thread's mailbox (it traps exits).
  pid me = mb.self();
  spawn_opt({.scheduler = 1}, [me]() -> proc {
    ::otpnet::exit(me, exit_reason::other("bye"));
    send(me, std::string("after the exit"));
    co_return;
  });
  message first = mb.receive_any(5000ms);
  ASSERT_TRUE(first);
  EXPECT_TRUE(first.is<exit_msg>()) << "a plain thread's mailbox too";
  EXPECT_TRUE(mb.receive<std::string>(5000ms));
}

// A message can wait behind a signal from another scheduler (see the test
// above). A receive that does not wait (after(0)) and a demonitor with flush
// must still see it: P, busy while Q on the other scheduler monitors (or
// links to) it, then sends itself a message, or monitors a dead process
// and demonitors with flush. (The receive finds it even without the
// settling done by receive_now, by suspending once; the settling is for
// gen_statem's look at its mailbox when its event timer expires, which
// does not suspend. The demonitor test fails without it.)
TEST_F(runtime_test, a_message_behind_a_signal_is_seen_by_a_receive_that_does_not_wait) {
  mailbox mb;
  std::atomic<bool> go{false};
  pid p = spawn_opt({.scheduler = 0}, [&go, me = mb.self()]() -> proc {
            while (!go.load()) {
              std::this_thread::yield();  // busy, not serviced: the signal stays in the inbox
            }
            send(self(), 42);  // drains the inbox first: the monitor signal, then this behind it
            auto got = co_await receive<int>(after(0ms));
            send(me, got ? *got : -1);
          }).first;
  spawn_opt({.scheduler = 1}, [p, me = mb.self()]() -> proc {
    (void)monitor(p);
    send(me, std::string("monitored"));
    (void)co_await receive<int>(after(5000ms));
  });
  ASSERT_TRUE(mb.receive<std::string>(5000ms));
  go = true;
  auto r = mb.receive<int>(5000ms);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, 42);
}

TEST_F(runtime_test, a_demonitor_with_flush_takes_a_down_that_waits_behind_a_signal) {
  mailbox mb;
  auto [dead, dr] = spawn_monitor([]() -> proc { co_return; });
  (void)dr;
  ASSERT_TRUE(mb.receive<down_msg>(5000ms));
  std::atomic<bool> go{false};
  pid p = spawn_opt({.scheduler = 0}, [&go, dead, me = mb.self()]() -> proc {
            while (!go.load()) {
              std::this_thread::yield();
            }
            ref r = monitor(dead);  // its noproc down comes at once, behind the link signal
            (void)demonitor(r, true);
            auto late = co_await receive<down_msg>(after(50ms));
            send(me, std::string(late ? "a down after the flush" : "none"));
          }).first;
  spawn_opt({.scheduler = 1}, [p, me = mb.self()]() -> proc {
    link(p);
    send(me, std::string("linked"));
    (void)co_await receive<int>(after(5000ms));
  });
  ASSERT_TRUE(mb.receive<std::string>(5000ms));
  go = true;
  auto r = mb.receive<std::string>(5000ms);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, "none");
}

TEST_F(runtime_test, no_down_after_a_demonitor_that_raced_with_the_exit) {
  // The kill and the demonitor often reach the target together, from
  // another thread: the target must honour the demonitor as it ends.
  mailbox mb;
  for (int i = 0; i < 200; ++i) {
    pid p = spawn_opt({.scheduler = 0}, []() -> proc { co_await receive<int>(); }).first;
    ref dropped = monitor(p);
    ref kept = monitor(p);
    exit(p, exit_reason::kill());
    (void)demonitor(dropped, true);
    ASSERT_TRUE(mb.receive<down_msg>(5000ms, [kept](const down_msg& d) { return d.monitor == kept; }));
    EXPECT_FALSE(mb.receive<down_msg>(0ms, [dropped](const down_msg& d) { return d.monitor == dropped; })) << i;
  }
}

// A process with many relations (a listener monitoring its connections, a
// supervisor linked to its children): each is found and removed alone,
// the newest, the oldest and one in the middle, and what stays is intact.
TEST_F(runtime_test, many_links_and_monitors_are_removed_one_by_one) {
  mailbox mb;
  spawn([me = mb.self()]() -> proc {
    (void)trap_exit(true);
    constexpr int n = 50;
    std::vector<pid> workers;
    std::vector<ref> mons;
    for (int i = 0; i < n; ++i) {
      workers.push_back(spawn_link([]() -> proc { co_await receive<int>(); }));
      mons.push_back(monitor(workers.back()));
    }
    send(self(), std::string("queued"));  // a message the flushes must leave alone
    bool newest = demonitor(mons[n - 1], true);
    bool oldest = demonitor(mons[0], true);
    bool again = demonitor(mons[0], true);
    send(workers[n / 2], 1);  // ends: an exit (trapped) and a down
    auto down = co_await receive<down_msg>(after(5000ms));
    auto ex = co_await receive<exit_msg>(after(5000ms));
    auto info = process_info(self());
    auto queued = co_await receive<std::string>(after(0ms));
    std::string out = std::string(newest ? "newest" : "-") + (oldest ? " oldest" : " -") + (again ? " again" : " -");
    out += down && down->monitor == mons[n / 2] ? " down" : " no-down";
    out += ex && ex->from == workers[n / 2] ? " exit" : " no-exit";
    if (info) {
      out += " links=" + std::to_string(info->links.size()) + " monitors=" + std::to_string(info->monitors.size());
    }
    out += queued ? " " + *queued : " lost";
    for (int i = 0; i < n; ++i) {
      send(workers[static_cast<std::size_t>(i)], 1);
    }
    send(me, out);
  });
  auto r = mb.receive<std::string>(5000ms);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, "newest oldest - down exit links=49 monitors=47 queued");
}

TEST_F(runtime_test, demonitor_of_a_monitor_of_itself_leaves_the_other_monitors) {
  // A process's links and monitors share one list: removing a monitor of
  // itself takes out both of its ends there, and must leave the rest.
  mailbox mb;
  spawn([me = mb.self()]() -> proc {
    ref own = monitor(self());
    pid other = spawn([]() -> proc { co_await receive<int>(); });
    ref kept = monitor(other);
    bool was_active = demonitor(own, true);
    auto info = process_info(self());
    bool lists_other_only = info && info->monitors == std::vector<pid>{other} && info->monitored_by.empty();
    send(other, 1);
    auto down = co_await receive<down_msg>(after(5000ms));
    send(me, std::string(was_active ? "active" : "inactive") + (lists_other_only ? " other-only" : " wrong-list") +
                 (down && down->monitor == kept ? " down" : " no-down"));
  });
  auto r = mb.receive<std::string>(5000ms);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, "active other-only down");
}

TEST_F(runtime_test, a_dead_pid_never_names_a_new_process) {
  mailbox mb;
  auto [first, r] = spawn_monitor([]() -> proc { co_return; });
  (void)r;
  ASSERT_TRUE(mb.receive<down_msg>(5000ms));
  // Spawn many more: slots get reused, generations differ.
  std::vector<pid> later;
  for (int i = 0; i < 100; ++i) {
    later.push_back(spawn([]() -> proc { co_await receive<int>(); }));
  }
  EXPECT_FALSE(send(first, 1));
  for (pid p : later) {
    EXPECT_NE(p, first);
  }
}

// -- names -----------------------------------------------------------------------

TEST_F(runtime_test, names_are_unique_and_freed_on_exit) {
  mailbox mb;
  auto [p, r] = spawn_monitor([]() -> proc { co_await receive<int>(); });
  (void)r;
  ASSERT_TRUE(register_name("worker", p));
  EXPECT_EQ(whereis("worker"), p);
  EXPECT_EQ(register_name("worker", mb.self()).error(), errc::invalid);
  EXPECT_EQ(register_name("other", p).error(), errc::invalid);
  EXPECT_EQ(register_name("", mb.self()).error(), errc::invalid);
  EXPECT_TRUE(send("worker", 1));
  ASSERT_TRUE(mb.receive<down_msg>(5000ms));
  EXPECT_EQ(whereis("worker"), pid{});
  EXPECT_FALSE(send("worker", 1));
}

TEST_F(runtime_test, name_registration_race_has_one_winner) {
  mailbox mb;
  constexpr int n = 16;
  for (int i = 0; i < n; ++i) {
    spawn_opt({.scheduler = i % 2}, [me = mb.self()]() -> proc {
      bool won = register_name("leader", self()).has_value();
      send(me, won);
      co_await receive<int>(after(100ms));
    });
  }
  int winners = 0;
  for (int i = 0; i < n; ++i) {
    auto r = mb.receive<bool>(5000ms);
    ASSERT_TRUE(r);
    winners += *r ? 1 : 0;
  }
  EXPECT_EQ(winners, 1);
}

// -- timers ------------------------------------------------------------------------

TEST_F(runtime_test, send_after_delivers_and_cancel_reports) {
  mailbox mb;
  spawn([me = mb.self()]() -> proc {
    timer_ref t1 = send_after(10ms, self(), 1);
    timer_ref t2 = send_after(10000ms, self(), 2);
    auto left = cancel_timer(t2);
    int v = co_await receive<int>();
    auto after_fire = cancel_timer(t1);
    send(me, std::to_string(v) + (left && *left > 9000ms ? " cancelled" : " ?") + (after_fire ? " still" : " fired"));
    auto stray = co_await receive<int>(after(50ms));
    send(me, stray ? *stray : 0);
  });
  auto r = mb.receive<std::string>(5000ms);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, "1 cancelled fired");
  auto stray = mb.receive<int>(5000ms);
  ASSERT_TRUE(stray);
  EXPECT_EQ(*stray, 0);
}

// A timer that fired leaves its id stale: cancelling it must not reach a
// later timer that took its slot, even when the wheel gave that one a new
// node whose generation matches the old one's (the old node still busy
// with another process's receive timeout).
TEST_F(runtime_test, cancelling_a_fired_timer_leaves_a_later_timer_in_its_slot_alone) {
  mailbox mb;
  struct armed {};
  spawn_opt({.scheduler = 0}, [me = mb.self()]() -> proc {
    timer_ref t1 = send_after(1ms, self(), 1);
    (void)co_await receive<int>();  // t1 fired: its slot and wheel node are free
    // Another process's receive timeout takes the wheel node (armed at once:
    // more than 32 bits of milliseconds).
    pid parent = self();
    pid holder = spawn_opt({.scheduler = caller_scheduler}, [parent]() -> proc {
                   send(parent, armed{});
                   (void)co_await receive<std::string>(after(std::chrono::hours(24 * 60)));
                 }).first;
    (void)co_await receive<armed>();  // sent just before it waits: its timer is armed when this runs
    timer_ref t2 = send_after(60000ms, self(), 2);
    auto stale = cancel_timer(t1);
    auto left = read_timer(t2);
    send(me, std::string(stale ? "cancelled another's" : "stale ignored") + (left ? ", t2 armed" : ", t2 gone"));
    (void)cancel_timer(t2);
    send(holder, std::string("bye"));
  });
  auto r = mb.receive<std::string>(5000ms);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, "stale ignored, t2 armed");
}

TEST_F(runtime_test, send_after_from_a_plain_thread) {
  mailbox mb;
  timer_ref t = send_after(5ms, mb.self(), std::string("tick"));
  EXPECT_TRUE(t);
  auto r = mb.receive<std::string>(5000ms);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, "tick");
  EXPECT_FALSE(cancel_timer(t));
}

// A send_after timer still armed when the runtime stops: its message is
// freed with it (it leaked: the scheduler's thread ended with the timer's
// message unreleased).
TEST_F(runtime_test, a_timer_still_armed_when_the_runtime_stops_frees_its_message) {
  auto token = std::make_shared<int>(7);
  std::weak_ptr<int> watch = token;
  {
    mailbox mb;
    EXPECT_TRUE(send_after(60000ms, mb.self(), std::move(token)));
  }
  runtime::stop();
  EXPECT_TRUE(watch.expired()) << "the armed timer's message was not freed";
}

// send_after aimed at a process is cancelled when the process ends (OTP's,
// for a pid): its message is freed then, not when the timer would have
// fired. Each case arms timers holding a token, ends the target, and
// watches the token. (They were held until they fired: a handler with a
// long timer per connection kept one message per ended connection.)

/// Polls `pred` (a condition no message announces) for up to 5 s.
template <class Pred>
bool within_5s(Pred pred) {
  for (int i = 0; i < 5000 && !pred(); ++i) {
    std::this_thread::sleep_for(1ms);
  }
  return pred();
}

struct go {};

TEST_F(runtime_test, timers_to_a_process_of_the_same_scheduler_end_with_it) {
  mailbox mb;
  auto token = std::make_shared<int>(1);
  std::weak_ptr<int> watch = token;
  auto [target, mref] = spawn_opt({.monitor = true, .scheduler = 0}, []() -> proc { (void)co_await receive<go>(); });
  // Three timers to it (one cancelled from the middle of its list first),
  // and one to another process, which must still fire.
  pid other = spawn_opt({.scheduler = 0}, [me = mb.self()]() -> proc {
                auto got = co_await receive<std::string>(after(5000ms));
                send(me, got ? *got : std::string("nothing"));
              }).first;
  spawn_opt({.scheduler = 0}, [me = mb.self(), target, other, t = std::move(token)]() mutable -> proc {
    (void)send_after(60000ms, target, t);
    timer_ref middle = send_after(60000ms, target, t);
    (void)send_after(60000ms, target, std::move(t));
    bool cancelled = cancel_timer(middle).has_value();
    (void)send_after(20ms, other, std::string("fired"));
    send(target, go{});
    send(me, cancelled);
    co_return;
  });
  auto cancelled = mb.receive<bool>(5000ms);
  ASSERT_TRUE(cancelled);
  EXPECT_TRUE(*cancelled);
  auto down = mb.receive<down_msg>(5000ms);
  ASSERT_TRUE(down);
  EXPECT_EQ(down->monitor, mref);
  // On the target's own scheduler the timers go with it, before its
  // monitors hear of its end.
  EXPECT_TRUE(watch.expired()) << "the timers' messages outlived their receiver";
  auto fired = mb.receive<std::string>(5000ms);
  ASSERT_TRUE(fired);
  EXPECT_EQ(*fired, "fired") << "a timer to a live process was cancelled";
}

TEST_F(runtime_test, timers_to_a_process_of_another_scheduler_end_with_it) {
  mailbox mb;
  auto token = std::make_shared<int>(1);
  std::weak_ptr<int> watch = token;
  auto [target, mref] = spawn_opt({.monitor = true, .scheduler = 1}, []() -> proc { (void)co_await receive<go>(); });
  spawn_opt({.scheduler = 0}, [me = mb.self(), target, t = std::move(token)]() mutable -> proc {
    (void)send_after(60000ms, target, std::move(t));
    send(target, go{});
    send(me, go{});
    co_return;
  });
  ASSERT_TRUE(mb.receive<go>(5000ms));
  ASSERT_TRUE(mb.receive<down_msg>(5000ms));
  EXPECT_TRUE(within_5s([&] { return watch.expired(); })) << "the timer's message outlived its receiver";
}

TEST_F(runtime_test, timers_from_a_plain_thread_end_with_their_receiver) {
  mailbox mb;
  auto token = std::make_shared<int>(1);
  std::weak_ptr<int> watch = token;
  // A plain thread's timers live on scheduler 0: the target on 1 and on 0.
  for (int sched : {1, 0}) {
    auto [target, mref] =
        spawn_opt({.monitor = true, .scheduler = sched}, []() -> proc { (void)co_await receive<go>(); });
    EXPECT_TRUE(send_after(60000ms, target, token));
    send(target, go{});
    ASSERT_TRUE(mb.receive<down_msg>(5000ms));
  }
  token.reset();
  EXPECT_TRUE(within_5s([&] { return watch.expired(); })) << "a timer's message outlived its receiver";
}

/// A message that cancels another timer when it is destroyed (an RAII
/// guard carried in a timer's message).
struct cancels_on_drop {
  timer_ref other;
  bool armed = true;
  explicit cancels_on_drop(timer_ref t) : other(t) {}
  cancels_on_drop(cancels_on_drop&& o) noexcept : other(o.other), armed(std::exchange(o.armed, false)) {}
  cancels_on_drop& operator=(cancels_on_drop&&) = delete;
  cancels_on_drop(const cancels_on_drop&) = delete;
  cancels_on_drop& operator=(const cancels_on_drop&) = delete;
  ~cancels_on_drop() {
    if (armed) {
      (void)cancel_timer(other);
    }
  }
};

// The end of a process cancels its timers one by one; a message freed on
// the way that cancels a later timer of the same list must not have that
// one freed twice (its slot would then serve two later timers).
TEST_F(runtime_test, a_timers_message_that_cancels_a_sibling_as_it_is_freed) {
  mailbox mb;
  auto [target, mref] = spawn_opt({.monitor = true, .scheduler = 0}, []() -> proc { (void)co_await receive<go>(); });
  pid sink = spawn_opt({.scheduler = 0}, [me = mb.self()]() -> proc {
               std::string got;
               for (int i = 0; i < 3; ++i) {
                 auto m = co_await receive<std::string>(after(5000ms));
                 got += m ? *m : std::string("-");
               }
               send(me, got);
             }).first;
  spawn_opt({.scheduler = 0}, [target, sink]() -> proc {
    timer_ref later = send_after(60000ms, target, 1);
    (void)send_after(60000ms, target, cancels_on_drop(later));  // freed first (the list's head)
    ref m = monitor(target);
    send(target, go{});
    (void)co_await receive<down_msg>([m](const down_msg& d) { return d.monitor == m; }, after(5000ms));
    // (The target's timers are gone: its end, here, came before its down.)
    (void)send_after(10ms, sink, std::string("a"));
    (void)send_after(30ms, sink, std::string("b"));
    (void)send_after(50ms, sink, std::string("c"));
  });
  ASSERT_TRUE(mb.receive<down_msg>(5000ms));
  auto got = mb.receive<std::string>(5000ms);
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, "abc") << "two timers shared a slot";
}

TEST_F(runtime_test, send_after_to_an_ended_process_starts_nothing) {
  mailbox mb;
  auto [gone, mref] = spawn_opt({.monitor = true}, []() -> proc { co_return; });
  ASSERT_TRUE(mb.receive<down_msg>(5000ms));
  auto token = std::make_shared<int>(1);
  std::weak_ptr<int> watch = token;
  timer_ref t = send_after(60000ms, gone, std::move(token));
  EXPECT_TRUE(t) << "a ref all the same, as OTP's";
  EXPECT_TRUE(watch.expired()) << "the message was kept";
  EXPECT_FALSE(cancel_timer(t));
}

// -- scale and isolation -------------------------------------------------------------

TEST_F(runtime_test, hundred_thousand_processes_spawn_and_exit_without_leak) {
  mailbox mb;
  constexpr int n = 100000;
  spawn([me = mb.self()]() -> proc {
    for (int i = 0; i < n; ++i) {
      spawn([me]() -> proc {
        send(me, 1);
        co_return;
      });
    }
    co_return;
  });
  int got = 0;
  while (got < n) {
    auto m = mb.receive<int>(10000ms);
    ASSERT_TRUE(m);
    got += *m;
  }
  for (int i = 0; i < 1000 && runtime::process_count() > 1; ++i) {
    std::this_thread::sleep_for(1ms);  // the last exits finish on their schedulers
  }
  EXPECT_EQ(runtime::process_count(), 1u);  // the mailbox
}

TEST_F(runtime_test, ping_pong_across_schedulers) {
  mailbox mb;
  pid ponger = spawn_opt({.scheduler = 1}, []() -> proc {
                 for (;;) {
                   ping p = co_await receive<ping>();
                   send(p.from, pong{p.n});
                 }
               }).first;
  spawn_opt({.scheduler = 0}, [me = mb.self(), ponger]() -> proc {
    for (int i = 0; i < 10000; ++i) {
      send(ponger, ping{self(), i});
      pong r = co_await receive<pong>();
      if (r.n != i) {
        send(me, -1);
        co_return;
      }
    }
    send(me, 10000);
  });
  auto r = mb.receive<int>(10000ms);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, 10000);
}

TEST_F(runtime_test, a_crash_leaves_a_thousand_others_untouched) {
  mailbox mb;
  std::atomic<int> reports{0};
  set_crash_report_handler([&](pid, std::string_view, const exit_reason& r) {
    if (r.text() == "std::logic_error: bad") {
      reports.fetch_add(1);
    }
  });
  std::vector<pid> others;
  for (int i = 0; i < 1000; ++i) {
    others.push_back(spawn([]() -> proc {
      for (;;) {
        ping p = co_await receive<ping>();
        send(p.from, pong{p.n});
      }
    }));
  }
  auto [bad, r] = spawn_monitor([]() -> proc {
    co_await yield();
    throw std::logic_error("bad");
  });
  (void)r;
  auto down = mb.receive<down_msg>(5000ms);
  ASSERT_TRUE(down);
  EXPECT_EQ(down->who, bad);
  for (int i = 0; i < 1000; ++i) {
    send(others[static_cast<std::size_t>(i)], ping{mb.self(), i});
  }
  int answered = 0;
  for (int i = 0; i < 1000; ++i) {
    answered += mb.receive<pong>(5000ms) ? 1 : 0;
  }
  EXPECT_EQ(answered, 1000);
  EXPECT_EQ(reports.load(), 1);
  set_crash_report_handler({});
}

TEST_F(runtime_test, a_busy_process_cannot_starve_a_ping_pong_pair) {
  mailbox mb;
  // All on scheduler 0: the flooder always has a message ready for itself.
  spawn_opt({.scheduler = 0}, []() -> proc {
    send(self(), 0);
    for (;;) {
      int n = co_await receive<int>();
      send(self(), n + 1);
    }
  });
  pid ponger = spawn_opt({.scheduler = 0}, []() -> proc {
                 for (;;) {
                   ping p = co_await receive<ping>();
                   send(p.from, pong{p.n});
                 }
               }).first;
  spawn_opt({.scheduler = 0}, [me = mb.self(), ponger]() -> proc {
    for (int i = 0; i < 1000; ++i) {
      send(ponger, ping{self(), i});
      (void)co_await receive<pong>();
    }
    send(me, std::string("done"));
  });
  auto r = mb.receive<std::string>(20000ms);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, "done");
}

TEST_F(runtime_test, process_info_tells_status_links_and_queue) {
  mailbox mb;
  pid p = spawn([]() -> proc {
    set_process_label("gen_server", "idle");
    co_await receive<std::string>();
  });
  send(p, 1);
  send(p, 2);
  ASSERT_TRUE(register_name("infoed", p));
  std::optional<process_info_t> i;
  for (int tries = 0; tries < 1000; ++tries) {
    i = process_info(p);
    if (i && i->status == "waiting" && i->message_queue_len == 2) {
      break;
    }
    std::this_thread::sleep_for(1ms);
  }
  ASSERT_TRUE(i);
  EXPECT_EQ(i->status, "waiting");
  EXPECT_EQ(i->message_queue_len, 2u);
  EXPECT_EQ(i->registered_name, "infoed");
  EXPECT_EQ(i->behaviour, "gen_server");
  EXPECT_EQ(i->state_name, "idle");
  EXPECT_GT(i->memory, 0u);
  auto all = processes();
  EXPECT_NE(std::find(all.begin(), all.end(), p), all.end());
}

TEST_F(runtime_test, process_info_follows_the_behaviour_name_beyond_the_table_of_names) {
  // More distinct names than the table keeps (255): those beyond it are
  // kept by the process itself; every one is reported, and a known name
  // again, or none, replaces it.
  static std::array<std::array<char, 8>, 300> names{};
  for (std::size_t k = 0; k < names.size(); ++k) {
    std::snprintf(names[k].data(), names[k].size(), "b%zu", k);
  }
  mailbox mb;
  pid p = spawn([me = mb.self()]() -> proc {
    for (auto& n : names) {
      set_process_label_static(n.data(), "s");
    }
    send(me, 1);
    co_await receive<int>();
    set_process_label("gen_server", "idle");
    send(me, 2);
    co_await receive<int>();
    set_process_label_static(nullptr, "none");
    send(me, 3);
    co_await receive<int>();
  });
  std::vector<std::string> seen;
  for (int step = 1; step <= 3; ++step) {
    ASSERT_TRUE(mb.receive<int>(5000ms));
    std::optional<process_info_t> i = process_info(p);
    ASSERT_TRUE(i);
    seen.push_back(i->behaviour + "/" + i->state_name);
    send(p, step);
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"b299/s", "gen_server/idle", "/none"}));
}

TEST_F(runtime_test, process_info_follows_static_state_names_beyond_the_table_of_names) {
  // More distinct static state names than the table keeps (4096): those
  // beyond it are copied by the process; every one is reported.
  static std::array<std::array<char, 8>, 5000> names{};
  for (std::size_t k = 0; k < names.size(); ++k) {
    std::snprintf(names[k].data(), names[k].size(), "s%zu", k);
  }
  mailbox mb;
  pid p = spawn([me = mb.self()]() -> proc {
    for (std::size_t k = 0; k < names.size(); ++k) {
      set_process_label_static("gen_statem", names[k].data());
      if (k % 1000 == 999) {
        send(me, static_cast<int>(k));
        co_await receive<int>();
      }
    }
    set_process_label_static("gen_statem", names[0].data());
    send(me, 0);
    co_await receive<int>();
  });
  std::vector<std::string> seen;
  for (int step = 0; step < 6; ++step) {
    ASSERT_TRUE(mb.receive<int>(5000ms));
    std::optional<process_info_t> i = process_info(p);
    ASSERT_TRUE(i);
    seen.push_back(i->state_name);
    send(p, step);
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"s999", "s1999", "s2999", "s3999", "s4999", "s0"}));
}

TEST(runtime, stop_ends_live_processes) {
  ASSERT_TRUE(runtime::start({.schedulers = 2}));
  EXPECT_EQ(runtime::start().error(), errc::ealready);
  for (int i = 0; i < 100; ++i) {
    spawn([]() -> proc { co_await receive<int>(); });
  }
  runtime::stop();
  EXPECT_EQ(runtime::process_count(), 0u);
  EXPECT_FALSE(runtime::running());
}

}  // namespace
}  // namespace otpnet
