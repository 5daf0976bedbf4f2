// process_info_async: from a process, about one on another scheduler,
// without holding the asking scheduler; no late answer left behind.
#include <otpnet/runtime/mailbox.hpp>
#include <otpnet/runtime/process.hpp>
#include <otpnet/runtime/process_info.hpp>
#include <otpnet/runtime/receive.hpp>
#include <otpnet/runtime/runtime.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>

namespace otpnet {
namespace {

using namespace std::chrono_literals;

class info_async_test : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(runtime::start({.schedulers = 2})); }
  void TearDown() override { runtime::stop(); }
};

struct info_asked {
  std::optional<process_info_t> info;
  std::size_t left_in_mailbox = 0;
};
struct info_ping {
  pid from;
};
struct info_pong {};

TEST_F(info_async_test, a_process_on_another_scheduler_is_described) {
  mailbox mb;
  pid target = spawn_opt({.scheduler = 1}, []() -> proc { co_await receive<int>(); }).first;
  ASSERT_TRUE(register_name("described", target));
  spawn_opt({.scheduler = 0}, [target, me = mb.self()]() -> proc {
    auto i = co_await process_info_async(target);
    send(me, info_asked{std::move(i), 0});
  });
  auto a = mb.receive<info_asked>(10000ms);
  ASSERT_TRUE(a);
  ASSERT_TRUE(a->info);
  EXPECT_EQ(a->info->id, target);
  EXPECT_EQ(a->info->scheduler, 1U);
  EXPECT_EQ(a->info->registered_name, "described");
  send(target, 1);
}

TEST_F(info_async_test, a_dead_pid_is_nothing) {
  mailbox mb;
  pid gone = spawn_opt({.scheduler = 1}, []() -> proc { co_return; }).first;
  // Until it is gone (bounded).
  auto end = std::chrono::steady_clock::now() + 10s;
  while (is_alive(gone) && std::chrono::steady_clock::now() < end) {
    std::this_thread::yield();
  }
  ASSERT_FALSE(is_alive(gone));
  spawn_opt({.scheduler = 0}, [gone, me = mb.self()]() -> proc {
    auto i = co_await process_info_async(gone);
    send(me, info_asked{std::move(i), 0});
  });
  auto a = mb.receive<info_asked>(10000ms);
  ASSERT_TRUE(a);
  EXPECT_FALSE(a->info);
}

// Scheduler 1 held busy: the asker gives up at its timeout, its scheduler
// serves others meanwhile, and the answer made once scheduler 1 is free
// again is not sent (nothing left in the asker's mailbox).
/// Holds scheduler 1's thread (a process that spins) until released:
/// what a long computation in a process does.
struct held_scheduler {
  std::shared_ptr<std::atomic<bool>> hold = std::make_shared<std::atomic<bool>>(true);
  std::shared_ptr<std::atomic<bool>> holding = std::make_shared<std::atomic<bool>>(false);
  pid busy;
  bool start() {
    busy = spawn_opt({.scheduler = 1}, [hold = hold, holding = holding]() -> proc {
             holding->store(true);
             auto end = std::chrono::steady_clock::now() + 20s;
             while (hold->load() && std::chrono::steady_clock::now() < end) {
               std::this_thread::yield();  // holds scheduler 1's thread
             }
             co_await receive<int>();
           }).first;
    auto end = std::chrono::steady_clock::now() + 10s;
    while (!holding->load() && std::chrono::steady_clock::now() < end) {
      std::this_thread::yield();
    }
    return holding->load();
  }
  /// Lets it go and waits until scheduler 1 has run what was posted to it
  /// meanwhile (a spawn from this thread is posted after it, FIFO).
  bool release() {
    hold->store(false);
    auto ran = std::make_shared<std::atomic<bool>>(false);
    spawn_opt({.scheduler = 1}, [ran]() -> proc {
      ran->store(true);
      co_return;
    });
    auto end = std::chrono::steady_clock::now() + 10s;
    while (!ran->load() && std::chrono::steady_clock::now() < end) {
      std::this_thread::yield();
    }
    send(busy, 1);
    return ran->load();
  }
};

struct left_over {
  std::size_t queue = 0;
};

// Scheduler 1 held busy: the asker gives up at its timeout, its scheduler
// serves others meanwhile (a process beside it answers first), and the
// answer made once scheduler 1 is free again is not sent (nothing left in
// the asker's mailbox).
TEST_F(info_async_test, a_busy_scheduler_costs_the_asker_its_timeout_only) {
  mailbox mb;
  held_scheduler held;
  ASSERT_TRUE(held.start());
  pid echo = spawn_opt({.scheduler = 0}, []() -> proc {
               for (;;) {
                 info_ping p = co_await receive<info_ping>();
                 send(p.from, info_pong{});
               }
             }).first;
  pid asker = spawn_opt({.scheduler = 0}, [busy = held.busy, me = mb.self()]() -> proc {
                auto i = co_await process_info_async(busy, 3000ms);
                send(me, info_asked{std::move(i), 0});
                co_await receive<int>();  // until the test has freed scheduler 1
                auto self_info = process_info(self());
                send(me, left_over{self_info ? self_info->message_queue_len : 99});
              }).first;
  // The asking scheduler is not held: the process beside the asker answers
  // while the asker still waits (its 3 s). A process_info that held the
  // scheduler would answer only after the asker's own answer.
  send(echo, info_ping{mb.self()});
  EXPECT_TRUE(mb.receive<info_pong>(10000ms));
  EXPECT_FALSE(mb.receive<info_asked>(0ms)) << "scheduler 0 was held by the asker until its answer";
  auto a = mb.receive<info_asked>(10000ms);
  ASSERT_TRUE(a);
  EXPECT_FALSE(a->info) << "an answer from a scheduler that was held";
  ASSERT_TRUE(held.release());
  send(asker, 1);
  auto left = mb.receive<left_over>(10000ms);
  ASSERT_TRUE(left);
  EXPECT_EQ(left->queue, 0U) << "a late answer was left in the asker's mailbox";
  exit(echo, exit_reason::kill());
}

struct listed {
  process_list list;
};

// The list of all: each scheduler answers with its own; one held is
// counted as unanswered at the deadline, its processes missing, and its
// late batch is not sent.
TEST_F(info_async_test, the_list_of_processes_answers_by_its_deadline_without_a_held_scheduler) {
  mailbox mb;
  pid here = spawn_opt({.scheduler = 0}, []() -> proc { co_await receive<int>(); }).first;
  pid there = spawn_opt({.scheduler = 1}, []() -> proc { co_await receive<int>(); }).first;
  auto lister = [me = mb.self()]() -> proc {
    auto l = co_await processes_info_async(100, 300ms);
    send(me, listed{std::move(l)});
    co_await receive<int>();
    auto self_info = process_info(self());
    send(me, left_over{self_info ? self_info->message_queue_len : 99});
  };
  // All answer.
  pid first = spawn_opt({.scheduler = 0}, lister).first;
  auto all = mb.receive<listed>(10000ms);
  ASSERT_TRUE(all);
  EXPECT_EQ(all->list.unanswered, 0U);
  auto has = [](const process_list& l, pid p) {
    return std::any_of(l.processes.begin(), l.processes.end(), [p](const process_info_t& i) { return i.id == p; });
  };
  EXPECT_TRUE(has(all->list, here));
  EXPECT_TRUE(has(all->list, there));
  EXPECT_TRUE(std::is_sorted(
      all->list.processes.begin(), all->list.processes.end(), [](const process_info_t& a, const process_info_t& b) {
        return std::pair(a.id.slot(), a.id.generation()) < std::pair(b.id.slot(), b.id.generation());
      }));
  send(first, 1);
  ASSERT_TRUE(mb.receive<left_over>(10000ms));
  // Scheduler 1 held.
  held_scheduler held;
  ASSERT_TRUE(held.start());
  pid second = spawn_opt({.scheduler = 0}, lister).first;
  auto some = mb.receive<listed>(10000ms);  // (a lister waiting for the held one would not answer by then)
  ASSERT_TRUE(some);
  EXPECT_EQ(some->list.unanswered, 1U);
  EXPECT_TRUE(has(some->list, here));
  EXPECT_FALSE(has(some->list, there)) << "a held scheduler's process listed";
  ASSERT_TRUE(held.release());
  send(second, 1);
  auto left = mb.receive<left_over>(10000ms);
  ASSERT_TRUE(left);
  EXPECT_EQ(left->queue, 0U) << "a late batch was left in the lister's mailbox";
  send(here, 1);
  send(there, 1);
}

}  // namespace
}  // namespace otpnet
