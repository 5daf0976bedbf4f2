#include "otpnet/behaviours/report.hpp"

#include <otpnet/runtime/mailbox.hpp>
#include <otpnet/runtime/process.hpp>
#include <otpnet/runtime/receive.hpp>
#include <otpnet/runtime/runtime.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <string>
#include <vector>

namespace otpnet {
namespace {

using namespace std::chrono_literals;

offender tutorial_offender() {
  return offender{pid(77, 0),
                  "undefined",
                  "tcp_echo_fsm:start_link",
                  restart_type::temporary,
                  shutdown_spec(std::chrono::milliseconds(2000)),
                  child_type::worker};
}

TEST(report, the_default_line_names_every_field) {
  supervisor_report r{pid(5, 0), "tcp_client_sup", supervisor_context::child_terminated, exit_reason::killed(),
                      tutorial_offender()};
  std::string line = to_string(report(r));
  for (const char* part :
       {"supervisor report", "tcp_client_sup", "context=child_terminated", "reason=killed", "pid=<0.77.0>",
        "start=tcp_echo_fsm:start_link", "restart_type=temporary", "shutdown=2000", "child_type=worker"}) {
    EXPECT_NE(line.find(part), std::string::npos) << part << " in " << line;
  }
  EXPECT_NE(to_string(report(application_report{"tcp_server", application_event::exited, exit_reason::shutdown()}))
                .find("exited reason=shutdown"),
            std::string::npos);
}

TEST(report, progress_reports_are_off_by_default) {
  std::vector<std::string> got;
  set_report_sink([&](const report& r) { got.push_back(to_string(r)); });
  emit(progress_report{pid(1, 0), "", tutorial_offender()});
  EXPECT_TRUE(got.empty());
  set_progress_reports(true);
  emit(progress_report{pid(1, 0), "", tutorial_offender()});
  EXPECT_EQ(got.size(), 1u);
  set_progress_reports(false);
  set_report_sink({});
}

TEST(report, a_throwing_sink_loses_only_that_report) {
  set_report_sink([](const report&) { throw std::runtime_error("sink down"); });
  emit(crash_report{pid(1, 0), "", exit_reason::other("x")});  // must not throw
  set_report_sink({});
  SUCCEED();
}

TEST(report, the_sink_receives_the_runtimes_crash_reports) {
  ASSERT_TRUE(runtime::start({.schedulers = 2}));
  {
    mailbox mb;
    set_report_sink([me = mb.self()](const report& r) { (void)send(me, r); });
    auto [p, mon] = spawn_monitor([]() -> proc {
      co_await yield();
      throw std::logic_error("bad");
    });
    (void)mon;
    ASSERT_TRUE(mb.receive<down_msg>(5000ms));
    auto r = mb.receive<report>(5000ms);
    ASSERT_TRUE(r);
    auto* c = std::get_if<crash_report>(&*r);
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(c->process, p);
    EXPECT_EQ(c->reason.to_string(), "std::logic_error: bad");
    set_report_sink({});
  }
  runtime::stop();
}

}  // namespace
}  // namespace otpnet
