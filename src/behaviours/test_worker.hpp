// File: behaviours/test_worker.hpp (private, tests only)
//
// What the supervisor and application tests share: a worker gen_server that
// tells a probe when it stops, its child spec, a report sink that forwards
// every report to a mailbox, and the runtime fixture.
#pragma once

#include <otpnet/behaviours/child_spec.hpp>
#include <otpnet/behaviours/gen_server.hpp>
#include <otpnet/behaviours/report.hpp>
#include <otpnet/runtime/mailbox.hpp>
#include <otpnet/runtime/process.hpp>
#include <otpnet/runtime/receive.hpp>
#include <otpnet/runtime/runtime.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <variant>

namespace otpnet::testing {

using namespace std::chrono_literals;

/// Starts a runtime with two schedulers for each test, stops it after.
class runtime_fixture : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(runtime::start({.schedulers = 2})); }
  void TearDown() override {
    set_report_sink({});
    set_progress_reports(false);
    runtime::stop();
    EXPECT_EQ(runtime::process_count(), 0u);
  }
};

/// Asks a worker to stop with a reason.
struct quit {
  exit_reason why;
};
/// Asks a worker for its id.
struct whoami {
  using reply_type = std::string;
};

/// A worker: answers whoami, stops on quit, and tells `probe` "stop <id>"
/// from terminate (it traps exits, so its supervisor's shutdown runs it).
struct worker : gen_server::behaviour<worker> {
  using calls = type_list<whoami>;
  using casts = type_list<quit>;

  worker(std::string i, pid p) : id(std::move(i)), probe(p) {}
  init_return init() {
    trap_exit(true);
    return ok();
  }
  call_return<std::string> handle_call(whoami) { return reply(id); }
  cast_return handle_cast(quit q) { return stop(q.why); }
  void terminate(const exit_reason&) {
    if (probe) {
      send(probe, "stop " + id);
    }
  }

  std::string id;
  pid probe;
};

inline child_spec worker_spec(std::string id, pid probe, restart_type r = restart_type::permanent,
                              shutdown_spec sd = std::chrono::milliseconds(5000)) {
  child_spec s;
  s.id = id;
  s.start = start_fn("worker:start_link", [id, probe] { return gen_server::start_link<worker>(id, probe); });
  s.restart = r;
  s.shutdown = sd;
  return s;
}

/// A child that traps exits and ignores every exit signal but kill: a
/// shutdown never ends it.
inline child_spec stubborn_spec(std::string id, shutdown_spec sd) {
  child_spec s;
  s.id = std::move(id);
  s.start = start_fn("stubborn", [] {
    pid p = spawn_opt({.link = true, .trap_exit = true}, []() -> proc {
              for (;;) {
                (void)co_await receive<exit_msg>();
              }
            }).first;
    return start_result::ok(p);
  });
  s.shutdown = sd;
  return s;
}

/// Forwards every report to a mailbox while it lives.
class report_capture {
 public:
  explicit report_capture(pid to, bool progress = false) {
    set_progress_reports(progress);
    set_report_sink([to](const report& r) { (void)send(to, r); });
  }
  ~report_capture() {
    set_report_sink({});
    set_progress_reports(false);
  }
  report_capture(const report_capture&) = delete;
  report_capture& operator=(const report_capture&) = delete;
};

/// The next supervisor report with context `c` in `mb`.
inline std::optional<supervisor_report> next_supervisor_report(mailbox& mb, supervisor_context c,
                                                               std::chrono::milliseconds t = 5000ms) {
  auto r = mb.receive<report>(t, [c](const report& x) {
    auto* s = std::get_if<supervisor_report>(&x);
    return s != nullptr && s->context == c;
  });
  if (!r) {
    return std::nullopt;
  }
  return std::get<supervisor_report>(*r);
}

/// The next progress report in `mb` (a child started).
inline std::optional<progress_report> next_progress(mailbox& mb, std::chrono::milliseconds t = 5000ms) {
  auto r = mb.receive<report>(t, [](const report& x) { return std::holds_alternative<progress_report>(x); });
  if (!r) {
    return std::nullopt;
  }
  return std::get<progress_report>(*r);
}

/// The next "stop <id>" a worker sent.
inline std::optional<std::string> next_stop(mailbox& mb, std::chrono::milliseconds t = 5000ms) {
  return mb.receive<std::string>(t, [](const std::string& s) { return s.rfind("stop ", 0) == 0; });
}

/// Waits (bounded) until the runtime has at most `n` processes: a process
/// is counted until its scheduler has finished ending it, a moment after
/// its monitors fired.
inline bool process_count_settles_to(std::size_t n, std::chrono::milliseconds t = 5000ms) {
  auto until = std::chrono::steady_clock::now() + t;
  while (runtime::process_count() > n) {
    if (std::chrono::steady_clock::now() > until) {
      return false;
    }
    std::this_thread::yield();
  }
  return true;
}

}  // namespace otpnet::testing
