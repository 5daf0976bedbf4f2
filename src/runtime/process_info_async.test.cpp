// process_info_async: from a process, about one on another scheduler,
// without holding the asking scheduler; no late answer left behind.
#include <otpnet/runtime/mailbox.hpp>
#include <otpnet/runtime/process.hpp>
#include <otpnet/runtime/process_info.hpp>
#include <otpnet/runtime/receive.hpp>
#include <otpnet/runtime/runtime.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
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
TEST_F(info_async_test, a_busy_scheduler_costs_the_asker_its_timeout_only) {
  mailbox mb;
  std::atomic<bool> hold{true};
  std::atomic<bool> holding{false};
  pid busy = spawn_opt({.scheduler = 1}, [&]() -> proc {
               holding = true;
               auto end = std::chrono::steady_clock::now() + 20s;
               while (hold.load() && std::chrono::steady_clock::now() < end) {
                 std::this_thread::yield();  // holds scheduler 1's thread
               }
               co_await receive<int>();
             }).first;
  auto end = std::chrono::steady_clock::now() + 10s;
  while (!holding.load() && std::chrono::steady_clock::now() < end) {
    std::this_thread::yield();
  }
  ASSERT_TRUE(holding.load());
  pid echo = spawn_opt({.scheduler = 0}, []() -> proc {
               for (;;) {
                 info_ping p = co_await receive<info_ping>();
                 send(p.from, info_pong{});
               }
             }).first;
  pid asker = spawn_opt({.scheduler = 0}, [busy, me = mb.self()]() -> proc {
                auto i = co_await process_info_async(busy, 300ms);
                send(me, info_asked{std::move(i), 0});
                // Wait for the test to free scheduler 1 and for its answer (not) to come.
                co_await receive<int>();
                auto self_info = process_info(self());
                send(me, info_asked{std::nullopt, self_info ? self_info->message_queue_len : 99});
              }).first;
  // The asking scheduler is not held: another process on it answers.
  send(echo, info_ping{mb.self()});
  EXPECT_TRUE(mb.receive<info_pong>(10000ms)) << "scheduler 0 was held by the asker";
  auto a = mb.receive<info_asked>(10000ms);
  ASSERT_TRUE(a);
  EXPECT_FALSE(a->info) << "an answer from a scheduler that was held";
  // Free scheduler 1; its posted snapshot runs after the busy process
  // yields. A process posted after it tells when it has run.
  hold = false;
  std::atomic<bool> after_it{false};
  spawn_opt({.scheduler = 1}, [&]() -> proc {
    after_it = true;
    co_return;
  });
  end = std::chrono::steady_clock::now() + 10s;
  while (!after_it.load() && std::chrono::steady_clock::now() < end) {
    std::this_thread::yield();
  }
  ASSERT_TRUE(after_it.load());
  send(asker, 1);
  auto left = mb.receive<info_asked>(10000ms);
  ASSERT_TRUE(left);
  EXPECT_EQ(left->left_in_mailbox, 0U) << "a late answer was left in the asker's mailbox";
  send(busy, 1);
  exit(echo, exit_reason::kill());
}

}  // namespace
}  // namespace otpnet
