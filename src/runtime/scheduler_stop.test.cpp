// Stopping the runtime while a process on one scheduler still runs and
// spawns onto another that has already ended its own processes.
#include <otpnet/runtime/process.hpp>
#include <otpnet/runtime/receive.hpp>
#include <otpnet/runtime/runtime.hpp>

#include "runtime/runtime_state.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>

namespace otpnet {
namespace {

using namespace std::chrono_literals;

/// Waits (bounded in time) until `done` returns true; false if it never did.
template <class F>
bool wait_until(F done, std::chrono::milliseconds limit = 10s) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) {
      return false;
    }
    std::this_thread::yield();
  }
  return true;
}

/// Sets a flag when destroyed: a process's body holds one (captured), so
/// the flag says the process was ended and its body freed, run or not.
struct frame_guard {
  std::atomic<bool>* gone;
  explicit frame_guard(std::atomic<bool>* g) : gone(g) {}
  frame_guard(const frame_guard&) = delete;
  frame_guard& operator=(const frame_guard&) = delete;
  ~frame_guard() { gone->store(true); }
};

// Scheduler 1 has ended its processes and waits for the runtime's others;
// a process on scheduler 0, still running, spawns onto it. The new process
// must be ended by the stop (never run, its frame freed, its pid gone), not
// left in the process table for a runtime that no longer runs it.
TEST(runtime_stop, a_spawn_onto_a_scheduler_that_has_ended_its_processes_is_ended_by_the_stop) {
  ASSERT_TRUE(runtime::start({.schedulers = 2}));
  std::atomic<bool> started{false};
  std::atomic<bool> stopping{false};
  std::atomic<bool> saw_quiet{false};
  std::atomic<bool> ran{false};
  std::atomic<bool> gone{false};
  std::atomic<bool> spawned{false};
  internal::scheduler& second = *internal::current_state()->schedulers[1];
  spawn_opt({.scheduler = 0}, [&]() -> proc {
    started = true;
    // Holds scheduler 0's thread: its stop waits for this process.
    (void)wait_until([&] { return stopping.load(); });
    saw_quiet = wait_until([&] { return second.quiet(); });
    spawn_opt({.scheduler = 1}, [&, g = std::make_shared<frame_guard>(&gone)]() -> proc {
      ran = true;
      co_await receive<int>();
    });
    spawned = true;
    co_return;
  });
  ASSERT_TRUE(wait_until([&] { return started.load(); }));
  stopping = true;
  runtime::stop();
  EXPECT_TRUE(saw_quiet) << "scheduler 1 never reported its processes ended";
  EXPECT_TRUE(spawned);
  EXPECT_FALSE(ran) << "a process spawned while the runtime stops must not run";
  EXPECT_TRUE(gone) << "the process spawned onto the ended scheduler was never ended";
  EXPECT_EQ(runtime::process_count(), 0U);
}

}  // namespace
}  // namespace otpnet
