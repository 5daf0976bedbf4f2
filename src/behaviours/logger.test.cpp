#include "otpnet/behaviours/logger.hpp"

#include <otpnet/behaviours/report.hpp>
#include <otpnet/runtime/mailbox.hpp>
#include <otpnet/runtime/process.hpp>
#include <otpnet/runtime/receive.hpp>
#include <otpnet/runtime/runtime.hpp>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

namespace otpnet {
namespace {

using namespace std::chrono_literals;

/// Collects the lines a callback sink receives (from any thread).
class captured {
 public:
  logger::line_callback callback() {
    return [this](std::string_view l) {
      std::lock_guard lk(mu_);
      lines_.emplace_back(l);
      cv_.notify_all();
    };
  }
  /// The first line containing `needle`, waiting up to 5 s for it.
  std::string wait_for(std::string_view needle) {
    std::unique_lock lk(mu_);
    std::string found;
    cv_.wait_for(lk, 5s, [&] {
      for (auto& l : lines_) {
        if (l.find(needle) != std::string::npos) {
          found = l;
          return true;
        }
      }
      return false;
    });
    return found;
  }
  std::vector<std::string> lines() {
    std::lock_guard lk(mu_);
    return lines_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> lines_;
};

class logger_test : public ::testing::Test {
 protected:
  void TearDown() override { logger::reset(); }
};

supervisor_report killed_client() {
  supervisor_report r;
  r.supervisor = pid(5, 1);
  r.supervisor_name = "tcp_client_sup";
  r.context = supervisor_context::child_terminated;
  r.reason = exit_reason::killed();
  r.child = offender{
      pid(9, 2),         "client", "tcp_echo_fsm:start_link", restart_type::temporary, shutdown_spec::brutal_kill(),
      child_type::worker};
  return r;
}

TEST_F(logger_test, supervisor_report_as_sasl_text) {
  captured c;
  ASSERT_TRUE(logger::configure({.sink = c.callback()}));
  emit(killed_client());
  auto lines = c.lines();
  ASSERT_EQ(lines.size(), 1u);
  const std::string& l = lines[0];
  EXPECT_NE(l.find("] [error] =SUPERVISOR REPORT==== "), std::string::npos) << l;
  EXPECT_NE(l.find("supervisor: tcp_client_sup " + pid(5, 1).to_string() +
                   ", context: child_terminated, "
                   "reason: killed, offender: [{pid," +
                   pid(9, 2).to_string() +
                   "},{id,client},{mfargs,tcp_echo_fsm:start_link},{restart_type,temporary},"
                   "{shutdown,brutal_kill},{child_type,worker}]"),
            std::string::npos)
      << l;
  EXPECT_EQ(l.front(), '[');
}

TEST_F(logger_test, supervisor_report_as_one_json_object_per_line) {
  captured c;
  ASSERT_TRUE(logger::configure({.format = log_format::json, .sink = c.callback()}));
  emit(killed_client());
  auto lines = c.lines();
  ASSERT_EQ(lines.size(), 1u);
  auto j = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(j["level"], "error");
  EXPECT_TRUE(j["time"].get<std::string>().ends_with("Z"));
  EXPECT_EQ(j["report"], "supervisor");
  EXPECT_EQ(j["supervisor"], pid(5, 1).to_string());
  EXPECT_EQ(j["supervisor_name"], "tcp_client_sup");
  EXPECT_EQ(j["context"], "child_terminated");
  EXPECT_EQ(j["reason"], "killed");
  EXPECT_EQ(j["offender"]["pid"], pid(9, 2).to_string());
  EXPECT_EQ(j["offender"]["id"], "client");
  EXPECT_EQ(j["offender"]["start"], "tcp_echo_fsm:start_link");
  EXPECT_EQ(j["offender"]["restart_type"], "temporary");
  EXPECT_EQ(j["offender"]["shutdown"], "brutal_kill");
  EXPECT_EQ(j["offender"]["child_type"], "worker");
}

TEST_F(logger_test, a_process_crash_becomes_a_crash_report) {
  for (auto f : {log_format::text, log_format::json}) {
    captured c;
    ASSERT_TRUE(logger::configure({.format = f, .sink = c.callback()}));
    ASSERT_TRUE(runtime::start({.schedulers = 2}));
    {
      mailbox mb;
      auto [p, m] = spawn_monitor([]() -> proc {
        co_await yield();
        throw std::runtime_error("boom \"quoted\"");
      });
      (void)m;
      ASSERT_TRUE(mb.receive<down_msg>(5000ms));
      std::string l = c.wait_for("boom");
      if (f == log_format::text) {
        EXPECT_NE(
            l.find("=CRASH REPORT==== process: " + p.to_string() + ", reason: std::runtime_error: boom \"quoted\""),
            std::string::npos)
            << l;
      } else {
        auto j = nlohmann::json::parse(l);
        EXPECT_EQ(j["report"], "crash");
        EXPECT_EQ(j["pid"], p.to_string());
        EXPECT_EQ(j["reason"], "std::runtime_error: boom \"quoted\"");
      }
    }
    runtime::stop();
  }
}

TEST_F(logger_test, progress_reports_are_off_unless_asked_for) {
  progress_report p{pid(5, 1), "sup",
                    offender{pid(9, 2), "worker1", "w:start", restart_type::permanent, 5000ms, child_type::worker}};
  captured off;
  ASSERT_TRUE(logger::configure({.sink = off.callback()}));
  emit(p);
  EXPECT_TRUE(off.lines().empty());
  captured on;
  ASSERT_TRUE(logger::configure({.progress_reports = true, .sink = on.callback()}));
  emit(p);
  ASSERT_EQ(on.lines().size(), 1u);
  EXPECT_NE(on.lines()[0].find("] [info] =PROGRESS REPORT==== supervisor: sup " + pid(5, 1).to_string() +
                               ", started: [{pid," + pid(9, 2).to_string() + "},{id,worker1},"),
            std::string::npos)
      << on.lines()[0];
}

TEST_F(logger_test, the_level_drops_lower_entries) {
  captured c;
  ASSERT_TRUE(logger::configure({.level = log_level::error, .progress_reports = true, .sink = c.callback()}));
  emit(application_report{"echo", application_event::started, {}});
  spdlog::info("an info line");
  spdlog::error("an error line");
  emit(application_report{"echo", application_event::start_failed, exit_reason::other("eaddrinuse")});
  auto lines = c.lines();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_NE(lines[0].find("] [error] an error line"), std::string::npos) << lines[0];
  EXPECT_NE(lines[1].find("=APPLICATION REPORT==== application: echo, event: start_failed, reason: eaddrinuse"),
            std::string::npos)
      << lines[1];
}

TEST_F(logger_test, reports_below_the_level_are_not_built) {
  captured c;
  ASSERT_TRUE(logger::configure({.level = log_level::warning, .sink = c.callback()}));
  EXPECT_FALSE(report_wanted(report_severity::info));
  EXPECT_TRUE(report_wanted(report_severity::error));
  ASSERT_TRUE(logger::configure({.level = log_level::off, .sink = c.callback()}));
  EXPECT_FALSE(report_wanted(report_severity::error));
  ASSERT_TRUE(runtime::start({.schedulers = 1}));
  {
    mailbox mb;
    auto [p, m] = spawn_monitor([]() -> proc {
      co_await yield();
      throw std::runtime_error("unseen");
    });
    (void)p;
    (void)m;
    ASSERT_TRUE(mb.receive<down_msg>(5000ms));  // the crash still ends it and fires its monitor
  }
  runtime::stop();
  emit(killed_client());
  EXPECT_TRUE(c.lines().empty());
  logger::reset();
  EXPECT_TRUE(report_wanted(report_severity::info));
}

TEST_F(logger_test, plain_spdlog_lines_follow_the_format) {
  captured c;
  ASSERT_TRUE(logger::configure({.format = log_format::json, .sink = c.callback()}));
  spdlog::warn("client {} said \"hi\"\n", 7);
  auto lines = c.lines();
  ASSERT_EQ(lines.size(), 1u);
  auto j = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(j["level"], "warning");
  EXPECT_EQ(j["msg"], "client 7 said \"hi\"\n");
}

TEST_F(logger_test, file_sink_appends_lines_and_a_bad_path_is_an_error) {
  std::string dir = ::testing::TempDir() + "otpnet_logger_" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  std::filesystem::path file = dir + "/reports.log";
  ASSERT_TRUE(logger::configure({.format = log_format::json, .sink = file}));
  emit(killed_client());
  spdlog::info("second");
  logger::reset();
  std::ifstream in(file);
  std::string l1, l2;
  ASSERT_TRUE(std::getline(in, l1));
  ASSERT_TRUE(std::getline(in, l2));
  EXPECT_EQ(nlohmann::json::parse(l1)["context"], "child_terminated");
  EXPECT_EQ(nlohmann::json::parse(l2)["msg"], "second");
  auto bad = logger::configure({.sink = std::filesystem::path(dir + "/reports.log/not_a_dir/x.log")});
  ASSERT_FALSE(bad);
  EXPECT_TRUE(bad.error().starts_with("logger: cannot open " + dir + "/reports.log/not_a_dir/x.log: ")) << bad.error();
  std::filesystem::remove_all(dir);
}

TEST_F(logger_test, reset_uninstalls_the_sink) {
  captured c;
  ASSERT_TRUE(logger::configure({.sink = c.callback()}));
  logger::reset();
  spdlog::set_level(spdlog::level::off);  // keep the default logger quiet here
  emit(killed_client());
  spdlog::set_level(spdlog::level::info);
  EXPECT_TRUE(c.lines().empty());
}

TEST(log_names, formats_and_levels_parse) {
  EXPECT_EQ(log_format_from_string("json").value(), log_format::json);
  EXPECT_EQ(log_format_from_string("text").value(), log_format::text);
  EXPECT_FALSE(log_format_from_string("xml"));
  EXPECT_EQ(log_level_from_string("warn").value(), log_level::warning);
  EXPECT_EQ(log_level_from_string("off").value(), log_level::off);
  EXPECT_FALSE(log_level_from_string("loud"));
  EXPECT_EQ(to_string(log_level::critical), "critical");
}

}  // namespace
}  // namespace otpnet
