#include "otpnet/behaviours/supervisor.hpp"

#include <otpnet/behaviours/gen_server.hpp>
#include <otpnet/behaviours/report.hpp>
#include <otpnet/behaviours/sync_wait.hpp>
#include <otpnet/runtime/mailbox.hpp>
#include <otpnet/runtime/process.hpp>
#include <otpnet/runtime/process_info.hpp>

#include "behaviours/test_worker.hpp"

#include <gtest/gtest.h>

#include <any>
#include <atomic>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace otpnet {
namespace {

using namespace std::chrono_literals;
using testing::next_progress;
using testing::next_stop;
using testing::next_supervisor_report;
using testing::quit;
using testing::report_capture;
using testing::whoami;
using testing::worker_spec;
using sup_test = testing::runtime_fixture;
using supervisor::restart_strategy;

/// The pids of the children, by position.
std::vector<pid> pids_of(server_ref sup) {
  auto kids = sync_wait(supervisor::which_children(std::move(sup)));
  std::vector<pid> out;
  if (kids) {
    for (const auto& k : *kids) {
      out.push_back(k.child);
    }
  }
  return out;
}

std::vector<child_spec> abc(pid probe, restart_type r = restart_type::permanent) {
  return {worker_spec("a", probe, r), worker_spec("b", probe, r), worker_spec("c", probe, r)};
}

// -- strategies --------------------------------------------------------------------

TEST_F(sup_test, one_for_one_restarts_only_the_child_that_ended) {
  mailbox mb;
  report_capture cap(mb.self(), true);
  start_result sup = sync_wait(supervisor::start_link({.intensity = 5, .period = 60s}, abc(mb.self())));
  ASSERT_TRUE(sup.is_ok()) << sup.to_string();
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(next_progress(mb));
  }
  std::vector<pid> before = pids_of(sup.id());
  ASSERT_EQ(before.size(), 3u);
  exit(before[1], exit_reason::kill());
  auto term = next_supervisor_report(mb, supervisor_context::child_terminated);
  ASSERT_TRUE(term);
  EXPECT_EQ(term->reason, exit_reason::killed());
  EXPECT_EQ(term->child.id, "b");
  EXPECT_EQ(term->child.child, before[1]);
  auto again = next_progress(mb);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->started.id, "b");
  std::vector<pid> after = pids_of(sup.id());
  ASSERT_EQ(after.size(), 3u);
  EXPECT_EQ(after[0], before[0]);
  EXPECT_NE(after[1], before[1]);
  EXPECT_EQ(after[2], before[2]);
  EXPECT_EQ(sync_wait(gen_server::call(after[1], whoami{})), "b");
  EXPECT_FALSE(next_stop(mb, 0ms));  // nobody else was stopped
}

TEST_F(sup_test, one_for_all_stops_the_others_in_reverse_and_restarts_all_in_order) {
  mailbox mb;
  report_capture cap(mb.self(), true);
  std::vector<child_spec> specs = abc(mb.self());
  specs.push_back(worker_spec("d", mb.self()));
  start_result sup =
      sync_wait(supervisor::start_link({.strategy = restart_strategy::one_for_all, .intensity = 5}, specs));
  ASSERT_TRUE(sup.is_ok());
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(next_progress(mb));
  }
  std::vector<pid> before = pids_of(sup.id());
  exit(before[1], exit_reason::kill());
  std::vector<std::string> stops;
  for (int i = 0; i < 3; ++i) {
    auto s = next_stop(mb);
    ASSERT_TRUE(s);
    stops.push_back(*s);
  }
  EXPECT_EQ(stops, (std::vector<std::string>{"stop d", "stop c", "stop a"}));
  std::vector<std::string> started;
  for (int i = 0; i < 4; ++i) {
    auto p = next_progress(mb);
    ASSERT_TRUE(p);
    started.push_back(p->started.id);
  }
  EXPECT_EQ(started, (std::vector<std::string>{"a", "b", "c", "d"}));
  std::vector<pid> after = pids_of(sup.id());
  ASSERT_EQ(after.size(), 4u);
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_NE(after[i], before[i]);
    EXPECT_TRUE(is_alive(after[i]));
  }
}

TEST_F(sup_test, rest_for_one_restarts_the_child_and_those_started_after_it) {
  mailbox mb;
  report_capture cap(mb.self(), true);
  start_result sup =
      sync_wait(supervisor::start_link({.strategy = restart_strategy::rest_for_one, .intensity = 5}, abc(mb.self())));
  ASSERT_TRUE(sup.is_ok());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(next_progress(mb));
  }
  std::vector<pid> before = pids_of(sup.id());
  exit(before[1], exit_reason::kill());
  auto s = next_stop(mb);
  ASSERT_TRUE(s);
  EXPECT_EQ(*s, "stop c");
  auto p1 = next_progress(mb);
  auto p2 = next_progress(mb);
  ASSERT_TRUE(p1 && p2);
  EXPECT_EQ(p1->started.id, "b");
  EXPECT_EQ(p2->started.id, "c");
  std::vector<pid> after = pids_of(sup.id());
  EXPECT_EQ(after[0], before[0]);
  EXPECT_NE(after[1], before[1]);
  EXPECT_NE(after[2], before[2]);
  EXPECT_FALSE(next_stop(mb, 0ms));
}

/// A dynamic child: its id is the extra argument it was started with.
child_spec dynamic_template(pid probe, restart_type r = restart_type::permanent) {
  child_spec s;
  s.id = "handler";
  s.start = start_fn("handler:start_link", [probe](const std::any& extra) {
    return gen_server::start_link<testing::worker>(std::any_cast<std::string>(extra), probe);
  });
  s.restart = r;
  s.shutdown = 5000ms;  // a worker stops at once; the bound is for loaded machines
  return s;
}

TEST_F(sup_test, simple_one_for_one_children_get_their_extra_argument_and_keep_it) {
  mailbox mb;
  report_capture cap(mb.self(), true);
  start_result sup = sync_wait(supervisor::start_link(
      {.strategy = restart_strategy::simple_one_for_one, .intensity = 5}, {dynamic_template(mb.self())}));
  ASSERT_TRUE(sup.is_ok());
  EXPECT_EQ(pids_of(sup.id()).size(), 0u);
  start_result x = sync_wait(supervisor::start_child(sup.id(), std::any(std::string("x"))));
  start_result y = sync_wait(supervisor::start_child(sup.id(), std::any(std::string("y"))));
  ASSERT_TRUE(x.is_ok() && y.is_ok());
  EXPECT_EQ(sync_wait(gen_server::call(x.id(), whoami{})), "x");
  EXPECT_EQ(sync_wait(gen_server::call(y.id(), whoami{})), "y");
  auto counts = sync_wait(supervisor::count_children(sup.id()));
  ASSERT_TRUE(counts);
  EXPECT_EQ(counts->specs, 1u);
  EXPECT_EQ(counts->active, 2u);
  EXPECT_EQ(counts->workers, 2u);
  ASSERT_TRUE(next_progress(mb));
  ASSERT_TRUE(next_progress(mb));
  // A permanent dynamic child comes back with the same argument.
  exit(x.id(), exit_reason::kill());
  auto again = next_progress(mb);
  ASSERT_TRUE(again);
  EXPECT_EQ(sync_wait(gen_server::call(again->started.child, whoami{})), "x");
  // terminate_child by pid stops and removes it.
  EXPECT_TRUE(sync_wait(supervisor::terminate_child(sup.id(), y.id())));
  auto s = next_stop(mb);
  ASSERT_TRUE(s);
  EXPECT_EQ(*s, "stop y");
  EXPECT_FALSE(is_alive(y.id()));
  std::vector<pid> left = pids_of(sup.id());
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0], again->started.child);
  auto missing = sync_wait(supervisor::terminate_child(sup.id(), y.id()));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().text(), "not_found");
  auto by_id = sync_wait(supervisor::terminate_child(sup.id(), std::string("handler")));
  ASSERT_FALSE(by_id);
  EXPECT_EQ(by_id.error().text(), "simple_one_for_one");
}

// A simple_one_for_one child whose restart failed is listed as restarting
// (no pid) and counted, but not as active, until its retry (OTP's
// {undefined, restarting, ...}). The requests are queued while the failing
// start holds the supervisor, so they are answered between the failure and
// the retry, which the supervisor queues behind them.
struct go_on {};
TEST_F(sup_test, a_simple_one_for_one_child_waiting_for_its_restart_is_listed_as_restarting) {
  mailbox mb;
  report_capture cap(mb.self(), true);
  auto starts = std::make_shared<std::atomic<int>>(0);
  child_spec t = dynamic_template(mb.self());
  t.start = start_fn("handler:start_link", [starts, me = mb.self()](const std::any& extra) -> task<start_result> {
    if (starts->fetch_add(1) == 1) {  // the first restart: held, then fails
      send(me, std::string("restart held"));
      (void)co_await receive<go_on>(after(10000ms));
      co_return start_result::error(exit_reason::other("not_yet"));
    }
    co_return co_await gen_server::start_link<testing::worker>(std::any_cast<std::string>(extra), me);
  });
  start_result sup =
      sync_wait(supervisor::start_link({.strategy = restart_strategy::simple_one_for_one, .intensity = 5}, {t}));
  ASSERT_TRUE(sup.is_ok());
  start_result x = sync_wait(supervisor::start_child(sup.id(), std::any(std::string("x"))));
  ASSERT_TRUE(x.is_ok());
  ASSERT_TRUE(next_progress(mb));
  exit(x.id(), exit_reason::kill());
  ASSERT_TRUE(mb.receive<std::string>(10000ms, [](const std::string& s) { return s == "restart held"; }));
  auto kids = std::async(std::launch::async, [&] { return sync_wait(supervisor::which_children(sup.id())); });
  auto counts = std::async(std::launch::async, [&] { return sync_wait(supervisor::count_children(sup.id())); });
  // Both requests wait in the supervisor's mailbox before the start fails.
  auto until = std::chrono::steady_clock::now() + 10s;
  for (;;) {
    auto info = process_info(sup.id());
    if ((info && info->message_queue_len >= 2) || std::chrono::steady_clock::now() > until) {
      break;
    }
    std::this_thread::yield();
  }
  EXPECT_TRUE(send(sup.id(), go_on{}));
  auto listed = kids.get();
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_TRUE((*listed)[0].restarting);
  EXPECT_FALSE((*listed)[0].child);
  auto counted = counts.get();
  ASSERT_TRUE(counted);
  EXPECT_EQ(counted->active, 0u);
  EXPECT_EQ(counted->workers, 1u);
  // The retry starts it: listed with its pid, nothing restarting.
  auto again = next_progress(mb);
  ASSERT_TRUE(again);
  auto after_retry = sync_wait(supervisor::which_children(sup.id()));
  ASSERT_TRUE(after_retry);
  ASSERT_EQ(after_retry->size(), 1u);
  EXPECT_FALSE((*after_retry)[0].restarting);
  EXPECT_EQ((*after_retry)[0].child, again->started.child);
  EXPECT_EQ(starts->load(), 3);
}

// A mutable start function runs on a fresh copy of its closure at every
// start, as a copy of the spec would: one that moves a capture out (here a
// string past the inline buffer) gives every start the whole of it.
TEST_F(sup_test, a_mutable_start_function_starts_each_child_from_its_own_copy) {
  mailbox mb;
  child_spec s;
  s.id = "moving";
  s.restart = restart_type::temporary;
  s.start = start_fn("moving:start_link", [name = std::string(40, 'n'), probe = mb.self()]() mutable {
    return gen_server::start_link<testing::worker>(std::move(name), probe);
  });
  start_result sup =
      sync_wait(supervisor::start_link({.strategy = restart_strategy::simple_one_for_one}, {std::move(s)}));
  ASSERT_TRUE(sup.is_ok());
  for (int i = 0; i < 3; ++i) {
    start_result c = sync_wait(supervisor::start_child(sup.id(), std::any()));
    ASSERT_TRUE(c.is_ok()) << "start " << i;
    EXPECT_EQ(sync_wait(gen_server::call(c.id(), whoami{})), std::string(40, 'n')) << "start " << i;
  }
}

TEST_F(sup_test, simple_one_for_one_stops_all_children_at_once_on_shutdown) {
  mailbox mb;
  start_result sup = sync_wait(supervisor::start_link({.strategy = restart_strategy::simple_one_for_one},
                                                      {dynamic_template(mb.self(), restart_type::temporary)}));
  ASSERT_TRUE(sup.is_ok());
  std::vector<pid> kids;
  for (int i = 0; i < 50; ++i) {
    start_result r = sync_wait(supervisor::start_child(sup.id(), std::any(std::to_string(i))));
    ASSERT_TRUE(r.is_ok());
    kids.push_back(r.id());
  }
  EXPECT_TRUE(sync_wait(gen_server::stop(sup.id(), exit_reason::shutdown())));
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(next_stop(mb));
  }
  for (pid k : kids) {
    EXPECT_FALSE(is_alive(k));
  }
}

// -- restart types ---------------------------------------------------------------------

TEST_F(sup_test, restart_types_decide_what_comes_back) {
  mailbox mb;
  report_capture cap(mb.self(), true);
  std::vector<child_spec> specs = {worker_spec("p", mb.self(), restart_type::permanent),
                                   worker_spec("t", mb.self(), restart_type::transient),
                                   worker_spec("m", mb.self(), restart_type::temporary)};
  start_result sup = sync_wait(supervisor::start_link({.intensity = 10}, specs));
  ASSERT_TRUE(sup.is_ok());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(next_progress(mb));
  }
  std::vector<pid> kids = pids_of(sup.id());

  // permanent: back even after a normal exit, which is reported.
  gen_server::cast(kids[0], quit{exit_reason::normal()});
  auto rp = next_supervisor_report(mb, supervisor_context::child_terminated);
  ASSERT_TRUE(rp);
  EXPECT_EQ(rp->child.id, "p");
  EXPECT_EQ(rp->reason, exit_reason::normal());
  auto p = next_progress(mb);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->started.id, "p");

  // transient: back after an abnormal exit only.
  gen_server::cast(kids[1], quit{exit_reason::other("oops")});
  auto t = next_progress(mb);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->started.id, "t");
  ref t_gone = monitor(t->started.child);
  gen_server::cast(t->started.child, quit{exit_reason::shutdown()});
  ASSERT_TRUE(mb.receive<down_msg>(5000ms, [&](const down_msg& d) { return d.monitor == t_gone; }));
  // Its exit reached the supervisor before the next one can (no restart
  // follows it, so there is nothing else to wait for).
  // temporary: never back, and an abnormal end is reported and removes it.
  gen_server::cast(kids[2], quit{exit_reason::other("gone")});
  auto rm = next_supervisor_report(mb, supervisor_context::child_terminated);
  ASSERT_TRUE(rm);
  while (rm && rm->child.id != "m") {
    rm = next_supervisor_report(mb, supervisor_context::child_terminated);
  }
  ASSERT_TRUE(rm);
  EXPECT_EQ(rm->child.restart, restart_type::temporary);
  auto kids2 = sync_wait(supervisor::which_children(sup.id()));
  ASSERT_TRUE(kids2);
  ASSERT_EQ(kids2->size(), 2u);  // "m" is gone
  EXPECT_EQ((*kids2)[0].id, "p");
  EXPECT_TRUE(is_alive((*kids2)[0].child));
  EXPECT_EQ((*kids2)[1].id, "t");
  EXPECT_FALSE((*kids2)[1].child);  // transient, ended normally: kept, not running
  EXPECT_FALSE(next_progress(mb, 0ms));
}

// -- intensity ----------------------------------------------------------------------------

TEST_F(sup_test, exceeding_the_intensity_stops_the_supervisor_with_shutdown) {
  mailbox mb;
  report_capture cap(mb.self(), true);
  start_result sup = sync_wait(supervisor::start_link({.intensity = 2, .period = 60s}, abc(mb.self())));
  ASSERT_TRUE(sup.is_ok());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(next_progress(mb));
  }
  for (int i = 0; i < 2; ++i) {
    exit(pids_of(sup.id())[0], exit_reason::kill());
    ASSERT_TRUE(next_progress(mb));  // restarted, within the intensity
  }
  exit(pids_of(sup.id())[0], exit_reason::kill());
  auto gave_up = next_supervisor_report(mb, supervisor_context::shutdown);
  ASSERT_TRUE(gave_up);
  EXPECT_EQ(gave_up->reason.text(), "reached_max_restart_intensity");
  EXPECT_EQ(gave_up->supervisor, sup.id());
  // The others stop in reverse order, and the parent (this thread) sees
  // the supervisor's exit with reason shutdown.
  auto s1 = next_stop(mb);
  auto s2 = next_stop(mb);
  ASSERT_TRUE(s1 && s2);
  EXPECT_EQ(*s1, "stop c");
  EXPECT_EQ(*s2, "stop b");
  auto ex = mb.receive<exit_msg>(5000ms, [&](const exit_msg& m) { return m.from == sup.id(); });
  ASSERT_TRUE(ex);
  EXPECT_EQ(ex->reason, exit_reason::shutdown());
}

TEST_F(sup_test, a_restart_that_fails_is_retried_until_the_intensity_gives_up) {
  mailbox mb;
  report_capture cap(mb.self());
  auto starts = std::make_shared<std::atomic<int>>(0);
  child_spec flaky;
  flaky.id = "flaky";
  flaky.start = start_fn("flaky", [starts, me = mb.self()]() -> task<start_result> {
    if (starts->fetch_add(1) == 0) {
      co_return co_await gen_server::start_link<testing::worker>(std::string("flaky"), me);
    }
    co_return start_result::error(exit_reason::other("no_database"));
  });
  start_result sup = sync_wait(supervisor::start_link({.intensity = 3, .period = 60s}, {flaky}));
  ASSERT_TRUE(sup.is_ok());
  exit(pids_of(sup.id())[0], exit_reason::kill());
  for (int i = 0; i < 3; ++i) {
    auto err = next_supervisor_report(mb, supervisor_context::start_error);
    ASSERT_TRUE(err);
    EXPECT_EQ(err->reason.text(), "no_database");
    EXPECT_EQ(err->child.id, "flaky");
  }
  ASSERT_TRUE(next_supervisor_report(mb, supervisor_context::shutdown));
  auto ex = mb.receive<exit_msg>(5000ms, [&](const exit_msg& m) { return m.from == sup.id(); });
  ASSERT_TRUE(ex);
  EXPECT_EQ(ex->reason, exit_reason::shutdown());
  EXPECT_EQ(starts->load(), 4);
}

// -- shutdown -------------------------------------------------------------------------------

TEST_F(sup_test, children_stop_in_reverse_start_order) {
  mailbox mb;
  std::vector<child_spec> specs;
  for (const char* id : {"one", "two", "three", "four"}) {
    specs.push_back(worker_spec(id, mb.self()));
  }
  start_result sup = sync_wait(supervisor::start_link({}, specs));
  ASSERT_TRUE(sup.is_ok());
  EXPECT_TRUE(sync_wait(gen_server::stop(sup.id(), exit_reason::shutdown())));
  std::vector<std::string> order;
  for (int i = 0; i < 4; ++i) {
    auto s = next_stop(mb);
    ASSERT_TRUE(s);
    order.push_back(*s);
  }
  EXPECT_EQ(order, (std::vector<std::string>{"stop four", "stop three", "stop two", "stop one"}));
}

TEST_F(sup_test, a_child_that_ignores_shutdown_is_killed_after_its_time) {
  mailbox mb;
  report_capture cap(mb.self());
  start_result sup = sync_wait(supervisor::start_link({}, {testing::stubborn_spec("stubborn", 50ms)}));
  ASSERT_TRUE(sup.is_ok());
  pid kid = pids_of(sup.id())[0];
  ref mon = monitor(kid);
  EXPECT_TRUE(sync_wait(gen_server::stop(sup.id(), exit_reason::shutdown())));
  auto down = mb.receive<down_msg>(5000ms, [&](const down_msg& d) { return d.monitor == mon; });
  ASSERT_TRUE(down);
  EXPECT_EQ(down->reason, exit_reason::killed());
  auto err = next_supervisor_report(mb, supervisor_context::shutdown_error);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->reason, exit_reason::killed());
  EXPECT_EQ(err->child.id, "stubborn");
  EXPECT_EQ(err->child.shutdown, shutdown_spec(50ms));
}

TEST_F(sup_test, brutal_kill_kills_at_once_without_a_report) {
  mailbox mb;
  report_capture cap(mb.self());
  start_result sup =
      sync_wait(supervisor::start_link({}, {testing::stubborn_spec("stubborn", shutdown_spec::brutal_kill())}));
  ASSERT_TRUE(sup.is_ok());
  pid kid = pids_of(sup.id())[0];
  EXPECT_TRUE(sync_wait(supervisor::terminate_child(sup.id(), std::string("stubborn"))));
  EXPECT_FALSE(is_alive(kid));
  EXPECT_FALSE(next_supervisor_report(mb, supervisor_context::shutdown_error, 0ms));
}

TEST_F(sup_test, a_child_that_was_never_linked_and_is_gone_is_a_naughty_child_when_stopped) {
  // OTP's unlink_flush: a down with noproc, no link and no exit message:
  // the child never linked to its supervisor (or unlinked itself), so its
  // end went unseen; stopping it reports shutdown_error naughty_child
  // instead of taking noproc as a child that had stopped as asked.
  mailbox mb;
  report_capture cap(mb.self());
  child_spec naughty;
  naughty.id = "naughty";
  naughty.start = start_fn("naughty", [] {
    pid p = spawn([]() -> proc { (void)co_await receive<quit>(); });
    return start_result::ok(p);
  });
  start_result sup = sync_wait(supervisor::start_link({}, {naughty}));
  ASSERT_TRUE(sup.is_ok());
  pid kid = pids_of(sup.id())[0];
  ref mon = monitor(kid);
  ::otpnet::exit(kid, exit_reason::kill());
  ASSERT_TRUE(mb.receive<down_msg>(5000ms, [&](const down_msg& d) { return d.monitor == mon; }));
  EXPECT_TRUE(sync_wait(supervisor::terminate_child(sup.id(), std::string("naughty"))));
  auto err = next_supervisor_report(mb, supervisor_context::shutdown_error);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->reason, exit_reason::other("naughty_child"));
  EXPECT_EQ(err->child.id, "naughty");
  EXPECT_EQ(err->child.child, kid);
  EXPECT_TRUE(sync_wait(gen_server::stop(sup.id(), exit_reason::shutdown())));
}

TEST_F(sup_test, a_nested_supervisor_stops_its_own_children_first) {
  mailbox mb;
  child_spec inner;
  inner.id = "inner";
  inner.type = child_type::supervisor;
  inner.start = start_fn("supervisor:start_link", [me = mb.self()] {
    return supervisor::start_link({}, {worker_spec("leaf1", me), worker_spec("leaf2", me)});
  });
  start_result sup = sync_wait(supervisor::start_link({}, {worker_spec("first", mb.self()), inner}));
  ASSERT_TRUE(sup.is_ok());
  auto counts = sync_wait(supervisor::count_children(sup.id()));
  ASSERT_TRUE(counts);
  EXPECT_EQ(counts->supervisors, 1u);
  EXPECT_EQ(counts->workers, 1u);
  auto kids = sync_wait(supervisor::which_children(sup.id()));
  ASSERT_TRUE(kids);
  EXPECT_EQ((*kids)[1].type, child_type::supervisor);
  EXPECT_TRUE(sync_wait(gen_server::stop(sup.id(), exit_reason::shutdown())));
  std::vector<std::string> order;
  for (int i = 0; i < 3; ++i) {
    auto s = next_stop(mb);
    ASSERT_TRUE(s);
    order.push_back(*s);
  }
  EXPECT_EQ(order, (std::vector<std::string>{"stop leaf2", "stop leaf1", "stop first"}));
}

// -- start failures ----------------------------------------------------------------------------

TEST_F(sup_test, a_child_failing_in_init_fails_the_start_and_stops_the_others) {
  mailbox mb;
  report_capture cap(mb.self());
  child_spec bad;
  bad.id = "bad";
  bad.start = start_fn("bad", [] { return start_result::error(exit_reason::other("eaddrinuse")); });
  start_result sup = sync_wait(supervisor::start_link({}, {worker_spec("good", mb.self()), bad}));
  ASSERT_TRUE(sup.is_error());
  EXPECT_TRUE(sup.reason().is_shutdown());
  EXPECT_NE(sup.reason().text().find("failed_to_start_child bad"), std::string_view::npos) << sup.reason().to_string();
  auto err = next_supervisor_report(mb, supervisor_context::start_error);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->reason.text(), "eaddrinuse");
  EXPECT_EQ(err->child.start, "bad");
  auto s = next_stop(mb);
  ASSERT_TRUE(s);
  EXPECT_EQ(*s, "stop good");
}

TEST_F(sup_test, bad_flags_and_specs_fail_the_start_with_named_reasons) {
  std::vector<child_spec> dup = {worker_spec("x", pid{}), worker_spec("x", pid{})};
  start_result a = sync_wait(supervisor::start_link({}, dup));
  ASSERT_TRUE(a.is_error());
  EXPECT_NE(a.reason().text().find("duplicate_child_name"), std::string_view::npos);
  start_result b = sync_wait(supervisor::start_link({.intensity = -1}, {}));
  ASSERT_TRUE(b.is_error());
  EXPECT_NE(b.reason().text().find("invalid_intensity"), std::string_view::npos);
  start_result c = sync_wait(supervisor::start_link({.strategy = restart_strategy::simple_one_for_one}, dup));
  ASSERT_TRUE(c.is_error());
  EXPECT_NE(c.reason().text().find("duplicate_child_name"), std::string_view::npos);
  std::vector<child_spec> two = {worker_spec("x", pid{}), worker_spec("y", pid{})};
  start_result d = sync_wait(supervisor::start_link({.strategy = restart_strategy::simple_one_for_one}, two));
  ASSERT_TRUE(d.is_error());
  EXPECT_NE(d.reason().text().find("invalid_simple_one_for_one"), std::string_view::npos);
  child_spec negative = worker_spec("n", pid{}, restart_type::permanent, shutdown_spec(-5ms));
  start_result e = sync_wait(supervisor::start_link({}, {negative}));
  ASSERT_TRUE(e.is_error());
  EXPECT_NE(e.reason().text().find("invalid_shutdown"), std::string_view::npos);
}

// -- the dynamic API on a static supervisor ------------------------------------------------------

/// A gen_server that does nothing (a child that registers a name).
struct name_holder : gen_server::behaviour<name_holder> {};

// A restart_child whose start fails as already_started (another process
// took the child's registered name meanwhile) leaves the child not running:
// the error's pid is that other process's, not a child. (It was recorded
// as the child: shown running, never linked, and sent shutdown by
// terminate_child.)
TEST_F(sup_test, a_restart_child_that_finds_its_name_taken_records_no_child) {
  child_spec named;
  named.id = "named";
  named.start = [] { return gen_server::start_link<name_holder>(start_options{.name = "held_name"}); };
  start_result sup = sync_wait(supervisor::start_link({}, {named}));
  ASSERT_TRUE(sup.is_ok()) << sup.to_string();
  ASSERT_TRUE(sync_wait(supervisor::terminate_child(sup.id(), std::string("named"))));
  start_result stranger = sync_wait(gen_server::start<name_holder>(start_options{.name = "held_name"}));
  ASSERT_TRUE(stranger.is_ok()) << stranger.to_string();
  start_result again = sync_wait(supervisor::restart_child(sup.id(), "named"));
  ASSERT_TRUE(again.is_error());
  EXPECT_EQ(again.reason().text(), "already_started");
  EXPECT_EQ(again.id(), stranger.id());
  auto kids = sync_wait(supervisor::which_children(sup.id()));
  ASSERT_TRUE(kids);
  ASSERT_EQ(kids->size(), 1u);
  EXPECT_FALSE((*kids)[0].child) << "the stranger is recorded as the child";
  EXPECT_TRUE(sync_wait(supervisor::delete_child(sup.id(), "named")));
  EXPECT_EQ(whereis("held_name"), stranger.id()) << "the stranger was stopped";
}

// As in OTP, a temporary child whose start answers ignore is not kept:
// neither from the initial specs nor from start_child, so the same id can
// be started again. (A permanent one is kept, not running.)
TEST_F(sup_test, an_ignored_temporary_child_is_not_kept) {
  auto starts = std::make_shared<std::atomic<int>>(0);
  auto ignoring = [starts](std::string id, restart_type r) {
    child_spec c;
    c.id = std::move(id);
    c.restart = r;
    c.start = [starts] {
      ++*starts;
      return start_result::ignore();
    };
    return c;
  };
  start_result sup = sync_wait(
      supervisor::start_link({}, {ignoring("t0", restart_type::temporary), ignoring("p0", restart_type::permanent)}));
  ASSERT_TRUE(sup.is_ok()) << sup.to_string();
  auto counts = sync_wait(supervisor::count_children(sup.id()));
  ASSERT_TRUE(counts);
  EXPECT_EQ(counts->specs, 1u) << "the ignored temporary child's spec was kept";
  EXPECT_EQ(counts->active, 0u);
  start_result t1 = sync_wait(supervisor::start_child(sup.id(), ignoring("t1", restart_type::temporary)));
  EXPECT_TRUE(t1.is_ignore());
  start_result t1_again = sync_wait(supervisor::start_child(sup.id(), ignoring("t1", restart_type::temporary)));
  EXPECT_TRUE(t1_again.is_ignore()) << t1_again.to_string();
  start_result p1 = sync_wait(supervisor::start_child(sup.id(), ignoring("p1", restart_type::permanent)));
  EXPECT_TRUE(p1.is_ignore());
  start_result p1_again = sync_wait(supervisor::start_child(sup.id(), ignoring("p1", restart_type::permanent)));
  ASSERT_TRUE(p1_again.is_error());
  EXPECT_EQ(p1_again.reason().text(), "already_present");
  EXPECT_EQ(starts->load(), 5);
  auto after = sync_wait(supervisor::count_children(sup.id()));
  ASSERT_TRUE(after);
  EXPECT_EQ(after->specs, 2u);
}

TEST_F(sup_test, start_terminate_restart_and_delete_child) {
  mailbox mb;
  start_result sup = sync_wait(supervisor::start_link({}, {worker_spec("a", mb.self())}));
  ASSERT_TRUE(sup.is_ok());
  start_result b = sync_wait(supervisor::start_child(sup.id(), worker_spec("b", mb.self())));
  ASSERT_TRUE(b.is_ok());
  start_result dup = sync_wait(supervisor::start_child(sup.id(), worker_spec("b", mb.self())));
  ASSERT_TRUE(dup.is_error());
  EXPECT_EQ(dup.reason().text(), "already_started");
  EXPECT_EQ(dup.id(), b.id());
  outcome<> del_running = sync_wait(supervisor::delete_child(sup.id(), "b"));
  ASSERT_FALSE(del_running);
  EXPECT_EQ(del_running.error().text(), "running");
  EXPECT_TRUE(sync_wait(supervisor::terminate_child(sup.id(), std::string("b"))));
  auto s = next_stop(mb);
  ASSERT_TRUE(s);
  EXPECT_EQ(*s, "stop b");
  auto kids = sync_wait(supervisor::which_children(sup.id()));
  ASSERT_TRUE(kids);
  ASSERT_EQ(kids->size(), 2u);
  EXPECT_FALSE((*kids)[1].child);  // kept, not running
  start_result present = sync_wait(supervisor::start_child(sup.id(), worker_spec("b", mb.self())));
  ASSERT_TRUE(present.is_error());
  EXPECT_EQ(present.reason().text(), "already_present");
  start_result again = sync_wait(supervisor::restart_child(sup.id(), "b"));
  ASSERT_TRUE(again.is_ok());
  EXPECT_EQ(sync_wait(gen_server::call(again.id(), whoami{})), "b");
  start_result running = sync_wait(supervisor::restart_child(sup.id(), "b"));
  ASSERT_TRUE(running.is_error());
  EXPECT_EQ(running.reason().text(), "running");
  EXPECT_TRUE(sync_wait(supervisor::terminate_child(sup.id(), again.id())));  // by pid works too
  EXPECT_TRUE(sync_wait(supervisor::delete_child(sup.id(), "b")));
  outcome<> gone = sync_wait(supervisor::delete_child(sup.id(), "b"));
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().text(), "not_found");
  start_result none = sync_wait(supervisor::restart_child(sup.id(), "zz"));
  EXPECT_EQ(none.reason().text(), "not_found");
  auto counts = sync_wait(supervisor::count_children(sup.id()));
  ASSERT_TRUE(counts);
  EXPECT_EQ(counts->specs, 1u);
  EXPECT_EQ(counts->active, 1u);
}

TEST_F(sup_test, requests_to_a_dead_supervisor_give_noproc) {
  auto kids = sync_wait(supervisor::which_children("no_such_supervisor"));
  ASSERT_FALSE(kids);
  EXPECT_EQ(kids.error(), exit_reason::noproc());
  start_result r = sync_wait(supervisor::start_child("no_such_supervisor", std::any(1)));
  ASSERT_TRUE(r.is_error());
  EXPECT_EQ(r.reason(), exit_reason::noproc());
}

TEST_F(sup_test, calls_from_a_process_and_a_registered_name) {
  mailbox mb;
  start_result sup = sync_wait(supervisor::start_link({}, {worker_spec("a", pid{})}, start_options{.name = "the_sup"}));
  ASSERT_TRUE(sup.is_ok());
  spawn([me = mb.self()]() -> proc {
    child_spec extra = worker_spec("b", pid{});
    start_result b = co_await supervisor::start_child("the_sup", extra);
    auto counts = co_await supervisor::count_children("the_sup");
    send(me, std::string(b.is_ok() && counts && counts->active == 2 ? "ok" : "?"));
  });
  auto r = mb.receive<std::string>(5000ms);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, "ok");
}

}  // namespace
}  // namespace otpnet
