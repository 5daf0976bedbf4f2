#include "otpnet/behaviours/application.hpp"

#include <otpnet/behaviours/gen_server.hpp>
#include <otpnet/behaviours/report.hpp>
#include <otpnet/behaviours/supervisor.hpp>
#include <otpnet/behaviours/sync_wait.hpp>
#include <otpnet/runtime/mailbox.hpp>
#include <otpnet/runtime/process.hpp>
#include <otpnet/runtime/process_info.hpp>

#include "behaviours/test_worker.hpp"

#include <gtest/gtest.h>

#include <string>
#include <variant>

namespace otpnet {
namespace {

using namespace std::chrono_literals;
using app_test = testing::runtime_fixture;

/// An application whose top supervisor has one worker, "w".
application::spec demo(std::string name, pid probe, supervisor::flags f = {}) {
  application::spec s;
  s.name = std::move(name);
  s.description = "demo";
  s.start = [probe, f] { return supervisor::start_link(f, {testing::worker_spec("w", probe)}); };
  s.env = {{"listen_port", "2222"}, {"mode", "echo"}};
  return s;
}

std::optional<application_report> next_app_report(mailbox& mb, application_event e) {
  auto r = mb.receive<report>(5000ms, [e](const report& x) {
    auto* a = std::get_if<application_report>(&x);
    return a != nullptr && a->event == e;
  });
  if (!r) {
    return std::nullopt;
  }
  return std::get<application_report>(*r);
}

TEST_F(app_test, start_env_and_stop) {
  mailbox mb;
  testing::report_capture cap(mb.self());
  application::set_env("app1", "mode", "chat");  // overrides the spec's default
  ASSERT_TRUE(sync_wait(application::start(demo("app1", mb.self()))));
  auto started = next_app_report(mb, application_event::started);
  ASSERT_TRUE(started);
  EXPECT_EQ(started->application, "app1");
  auto running = application::which_applications();
  ASSERT_EQ(running.size(), 1u);
  EXPECT_EQ(running[0].name, "app1");
  EXPECT_EQ(running[0].description, "demo");
  EXPECT_EQ(running[0].supervisor, application::get_supervisor("app1"));
  EXPECT_TRUE(is_alive(running[0].supervisor));
  EXPECT_EQ(application::get_env("app1", "listen_port", "0"), "2222");
  EXPECT_EQ(application::get_env("app1", "mode"), "chat");
  EXPECT_EQ(application::get_env("app1", "missing", "fallback"), "fallback");
  EXPECT_FALSE(application::get_env("app1", "missing"));

  auto again = sync_wait(application::start(demo("app1", mb.self())));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().text(), "already_started");

  EXPECT_TRUE(sync_wait(application::stop("app1")));
  auto s = testing::next_stop(mb);  // the worker was stopped by its supervisor
  ASSERT_TRUE(s);
  EXPECT_EQ(*s, "stop w");
  EXPECT_FALSE(is_alive(running[0].supervisor));
  EXPECT_TRUE(next_app_report(mb, application_event::stopped));
  EXPECT_TRUE(application::which_applications().empty());
  auto twice = sync_wait(application::stop("app1"));
  ASSERT_FALSE(twice);
  EXPECT_EQ(twice.error().text(), "not_started");
  // Loaded still: it starts again by name.
  EXPECT_TRUE(sync_wait(application::start(std::string("app1"))));
  EXPECT_TRUE(sync_wait(application::stop("app1")));
  EXPECT_TRUE(application::unload("app1"));
}

TEST_F(app_test, a_failed_start_is_reported_with_its_reason) {
  mailbox mb;
  testing::report_capture cap(mb.self());
  application::spec s;
  s.name = "broken";
  s.start = [] { return supervisor::start_link({.intensity = -1}, {}); };
  auto r = sync_wait(application::start(s));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().text().find("invalid_intensity"), std::string_view::npos) << r.error().to_string();
  auto failed = next_app_report(mb, application_event::start_failed);
  ASSERT_TRUE(failed);
  EXPECT_EQ(failed->application, "broken");
  EXPECT_EQ(failed->reason, r.error());
  EXPECT_TRUE(application::which_applications().empty());
  EXPECT_TRUE(application::unload("broken"));
}

TEST_F(app_test, the_top_supervisors_death_stops_the_application) {
  mailbox mb;
  testing::report_capture cap(mb.self());
  ASSERT_TRUE(sync_wait(application::start(demo("app2", mb.self(), {.intensity = 0}))));
  pid sup = application::get_supervisor("app2");
  ASSERT_TRUE(sup);
  // Intensity 0: the first crash of the worker ends the supervisor.
  auto kids = sync_wait(supervisor::which_children(sup));
  ASSERT_TRUE(kids);
  exit((*kids)[0].child, exit_reason::kill());
  auto exited = next_app_report(mb, application_event::exited);
  ASSERT_TRUE(exited);
  EXPECT_EQ(exited->application, "app2");
  EXPECT_EQ(exited->reason, exit_reason::shutdown());
  EXPECT_TRUE(application::which_applications().empty());
  EXPECT_FALSE(application::get_supervisor("app2"));
  // And a kill of the supervisor itself, after a restart of the application.
  ASSERT_TRUE(sync_wait(application::start(std::string("app2"))));
  exit(application::get_supervisor("app2"), exit_reason::kill());
  auto killed = next_app_report(mb, application_event::exited);
  ASSERT_TRUE(killed);
  EXPECT_EQ(killed->reason, exit_reason::killed());
  EXPECT_TRUE(application::which_applications().empty());
}

TEST_F(app_test, start_and_stop_from_a_process) {
  mailbox mb;
  spawn([me = mb.self()]() -> proc {
    application::spec s = demo("app3", pid{});
    outcome<> a = co_await application::start(s);
    bool listed = application::which_applications().size() == 1;
    outcome<> b = co_await application::stop("app3");
    send(me, std::string(a && listed && b ? "ok" : "?"));
  });
  auto r = mb.receive<std::string>(5000ms);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, "ok");
}

// Start types (OTP's application:start(App, Type)): which ends of the top
// supervisor run the termination handler. Each case is followed by one
// that must run it, and the handler's first news must be that one: a case
// that ran it wrongly would have come first.

/// An application whose top process is a worker that quits on demand.
application::spec quitting_app(std::string name) {
  application::spec s;
  s.name = std::move(name);
  s.start = [] { return gen_server::start_link<testing::worker>(std::string("top"), pid{}); };
  return s;
}

struct termination_probe {
  explicit termination_probe(pid to) {
    application::set_termination_handler([to](const application::termination& t) { send(to, t); });
  }
  ~termination_probe() { application::set_termination_handler({}); }
  termination_probe(const termination_probe&) = delete;
  termination_probe& operator=(const termination_probe&) = delete;
};

/// Quits the top worker of running application `app` with `why`, and waits
/// for the application's `exited` report.
void quit_top(mailbox& mb, const std::string& app, exit_reason why) {
  ASSERT_TRUE(gen_server::cast(application::get_supervisor(app), testing::quit{std::move(why)}));
  auto exited = next_app_report(mb, application_event::exited);
  ASSERT_TRUE(exited);
  EXPECT_EQ(exited->application, app);
}

TEST_F(app_test, a_permanent_applications_end_runs_the_termination_handler) {
  mailbox mb;
  testing::report_capture cap(mb.self());
  termination_probe probe(mb.self());
  // Intensity 0: the worker's first crash ends the top supervisor, with
  // shutdown, as a supervisor that gives up does.
  ASSERT_TRUE(
      sync_wait(application::start(demo("perm", mb.self(), {.intensity = 0}), application::start_type::permanent)));
  auto kids = sync_wait(supervisor::which_children(application::get_supervisor("perm")));
  ASSERT_TRUE(kids);
  exit((*kids)[0].child, exit_reason::kill());
  auto t = mb.receive<application::termination>(5000ms);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->application, "perm");
  EXPECT_EQ(t->reason, exit_reason::shutdown());
}

TEST_F(app_test, only_the_ends_a_start_type_escalates_run_the_handler) {
  mailbox mb;
  testing::report_capture cap(mb.self());
  termination_probe probe(mb.self());
  // Not escalated: a temporary one's crash, a transient one's normal end,
  // a permanent one stopped by stop().
  ASSERT_TRUE(sync_wait(application::start(quitting_app("temp"))));
  quit_top(mb, "temp", exit_reason::other("boom"));
  ASSERT_TRUE(sync_wait(application::start(quitting_app("trans"), application::start_type::transient)));
  quit_top(mb, "trans", exit_reason::normal());
  ASSERT_TRUE(sync_wait(application::start(quitting_app("perm2"), application::start_type::permanent)));
  ASSERT_TRUE(sync_wait(application::stop("perm2")));
  // Escalated: a transient one's abnormal end.
  ASSERT_TRUE(sync_wait(application::start(std::string("trans"), application::start_type::transient)));
  quit_top(mb, "trans", exit_reason::other("boom"));
  auto t = mb.receive<application::termination>(5000ms);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->application, "trans");
  EXPECT_EQ(t->reason, exit_reason::other("boom"));
  // A permanent one's normal end too.
  ASSERT_TRUE(sync_wait(application::start(std::string("perm2"), application::start_type::permanent)));
  quit_top(mb, "perm2", exit_reason::normal());
  t = mb.receive<application::termination>(5000ms);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->application, "perm2");
  EXPECT_EQ(t->reason, exit_reason::normal());
}

// A master killed directly (not its supervisor): the application has
// exited, killed, as OTP's application_controller sees it, and a permanent
// one escalates. (Nothing noticed: the application stayed listed as
// running, its tree gone with the master.)
TEST_F(app_test, a_killed_master_ends_its_application_and_escalates) {
  mailbox mb;
  testing::report_capture cap(mb.self());
  termination_probe probe(mb.self());
  // The top supervisor links its master and its worker.
  auto master_of = [](pid sup) {
    auto info = process_info(sup);
    auto kids = sync_wait(supervisor::which_children(sup));
    EXPECT_TRUE(info && kids && info->links.size() == 2u && kids->size() == 1u);
    if (!info || !kids || info->links.size() != 2u || kids->size() != 1u) {
      return pid{};
    }
    return info->links[0] == (*kids)[0].child ? info->links[1] : info->links[0];
  };
  auto kill_master = [&](const char* app) {
    pid sup = application::get_supervisor(app);
    pid master = master_of(sup);
    ASSERT_TRUE(master);
    auto kids = sync_wait(supervisor::which_children(sup));
    ASSERT_TRUE(kids && kids->size() == 1u);
    pid worker = (*kids)[0].child;
    exit(master, exit_reason::kill());
    auto exited = next_app_report(mb, application_event::exited);
    ASSERT_TRUE(exited);
    EXPECT_EQ(exited->application, app);
    EXPECT_EQ(exited->reason, exit_reason::killed());
    // Reported once its tree is gone (a process's pid is dead before its
    // monitors hear of its end): a start right after finds no old one.
    EXPECT_FALSE(is_alive(sup)) << "reported before the tree had ended";
    EXPECT_FALSE(is_alive(worker)) << "reported before the tree had ended";
    auto t = mb.receive<application::termination>(5000ms);
    ASSERT_TRUE(t);
    EXPECT_EQ(t->application, app);
    EXPECT_EQ(t->reason, exit_reason::killed());
    EXPECT_TRUE(application::which_applications().empty());
    EXPECT_FALSE(application::get_supervisor(app));
  };
  ASSERT_TRUE(sync_wait(application::start(demo("permk", mb.self()), application::start_type::permanent)));
  kill_master("permk");
  // It starts again; a stop() of it is not escalated: the handler's next
  // news is the kill that follows (a stop escalated would come first, with
  // shutdown).
  ASSERT_TRUE(sync_wait(application::start(std::string("permk"), application::start_type::permanent)));
  ASSERT_TRUE(sync_wait(application::stop("permk")));
  ASSERT_TRUE(sync_wait(application::start(std::string("permk"), application::start_type::permanent)));
  kill_master("permk");
}

/// In a death test's child: starts a runtime and a permanent application,
/// ends it, and waits; the program must end before the wait does (exit
/// statuses 3 to 5 say which step failed instead).
[[noreturn]] void end_a_permanent_application(const std::string& name) {
  if (!runtime::start({.schedulers = 2})) {
    std::_Exit(3);
  }
  mailbox mb;
  if (!sync_wait(application::start(quitting_app(name), application::start_type::permanent))) {
    std::_Exit(4);
  }
  (void)gen_server::cast(application::get_supervisor(name), testing::quit{exit_reason::other("boom")});
  (void)mb.receive<int>(10000ms);  // (the end comes first)
  std::_Exit(5);
}

// Without a handler the program ends, exit status 1, as OTP's node does.
TEST(app_default_termination, ends_the_program_with_status_1) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(end_a_permanent_application("perm3"), ::testing::ExitedWithCode(1), "");
}

// A handler that throws has not taken the news: the default all the same
// (the program lived on without its application).
TEST(app_default_termination, a_throwing_handler_ends_the_program_with_status_1) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        application::set_termination_handler([](const application::termination&) { throw std::bad_alloc(); });
        end_a_permanent_application("perm6");
      },
      ::testing::ExitedWithCode(1), "");
}

TEST_F(app_test, load_and_unload_rules) {
  application::spec s;
  s.name = "lib";
  EXPECT_EQ(application::load(s).error().text(), "invalid_spec");
  s.start = [] { return supervisor::start_link({}, {}); };
  s.env = {{"k", "v"}};
  EXPECT_TRUE(application::load(s));
  EXPECT_EQ(application::load(s).error().text(), "already_loaded");
  EXPECT_EQ(application::get_env("lib", "k"), "v");
  EXPECT_TRUE(application::unload("lib"));
  EXPECT_EQ(application::unload("lib").error().text(), "not_loaded");
  auto r = sync_wait(application::start(std::string("lib")));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().text(), "not_loaded");
}

}  // namespace
}  // namespace otpnet
