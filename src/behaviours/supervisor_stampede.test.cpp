// The stampede (ranch's stampede_SUITE, DESIGN's fault tests): a supervisor
// of 1000 children has random children killed, many at a time. Within its
// intensity the tree recovers completely; past it, the supervisor stops
// cleanly; either way no process is left behind.
#include "otpnet/behaviours/supervisor.hpp"
#include <otpnet/behaviours/gen_server.hpp>
#include <otpnet/behaviours/report.hpp>
#include <otpnet/behaviours/sync_wait.hpp>
#include <otpnet/runtime/mailbox.hpp>
#include <otpnet/runtime/process.hpp>
#include <otpnet/runtime/runtime.hpp>

#include "behaviours/test_worker.hpp"
#include "support/fds.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace otpnet {
namespace {

using namespace std::chrono_literals;
using stampede = testing::runtime_fixture;

constexpr std::size_t children = 1000;

std::vector<child_spec> many_workers() {
  std::vector<child_spec> specs;
  specs.reserve(children);
  for (std::size_t i = 0; i < children; ++i) {
    specs.push_back(testing::worker_spec("w" + std::to_string(i), pid{}));
  }
  return specs;
}

std::vector<pid> live_children(pid sup) {
  auto kids = sync_wait(supervisor::which_children(sup));
  std::vector<pid> out;
  if (kids) {
    for (const auto& k : *kids) {
      out.push_back(k.child);
    }
  }
  return out;
}

/// `n` distinct children picked at random.
std::vector<pid> pick(std::vector<pid> from, std::size_t n, std::mt19937& rng) {
  std::shuffle(from.begin(), from.end(), rng);
  from.resize(std::min(n, from.size()));
  return from;
}

TEST_F(stampede, within_its_intensity_the_tree_recovers) {
  mailbox mb;
  std::size_t baseline = runtime::process_count();
  int fds = otpnet::test::open_fds();
  testing::report_capture cap(mb.self());
  start_result sup = sync_wait(supervisor::start_link({.intensity = 100000, .period = 60s}, many_workers()));
  ASSERT_TRUE(sup.is_ok()) << sup.to_string();
  set_progress_reports(true);
  std::mt19937 rng(20070731);
  std::set<pid> killed;
  for (int round = 0; round < 5; ++round) {
    std::vector<pid> victims = pick(live_children(sup.id()), 50, rng);
    for (pid v : victims) {
      exit(v, exit_reason::kill());
      killed.insert(v);
    }
    for (std::size_t i = 0; i < victims.size(); ++i) {
      ASSERT_TRUE(testing::next_progress(mb, 10000ms)) << "round " << round << ", restart " << i;
    }
  }
  std::vector<pid> now = live_children(sup.id());
  ASSERT_EQ(now.size(), children);
  std::set<pid> distinct(now.begin(), now.end());
  EXPECT_EQ(distinct.size(), children);
  for (pid p : now) {
    EXPECT_TRUE(is_alive(p));
    EXPECT_EQ(killed.count(p), 0u);
  }
  auto counts = sync_wait(supervisor::count_children(sup.id()));
  ASSERT_TRUE(counts);
  EXPECT_EQ(counts->specs, children);
  EXPECT_EQ(counts->active, children);
  EXPECT_EQ(counts->workers, children);
  EXPECT_TRUE(sync_wait(gen_server::stop(sup.id(), exit_reason::shutdown(), 30000ms)));
  for (pid p : now) {
    EXPECT_FALSE(is_alive(p));
  }
  EXPECT_TRUE(testing::process_count_settles_to(baseline));
  EXPECT_EQ(otpnet::test::open_fds(), fds);
}

TEST_F(stampede, past_its_intensity_the_supervisor_stops_cleanly) {
  mailbox mb;
  std::size_t baseline = runtime::process_count();
  testing::report_capture cap(mb.self());
  start_result sup = sync_wait(supervisor::start_link({.intensity = 10, .period = 60s}, many_workers()));
  ASSERT_TRUE(sup.is_ok());
  std::vector<pid> all = live_children(sup.id());
  std::mt19937 rng(1);
  for (pid v : pick(all, 100, rng)) {
    exit(v, exit_reason::kill());
  }
  auto gave_up = testing::next_supervisor_report(mb, supervisor_context::shutdown, 30000ms);
  ASSERT_TRUE(gave_up);
  EXPECT_EQ(gave_up->reason.text(), "reached_max_restart_intensity");
  auto ex = mb.receive<exit_msg>(30000ms, [&](const exit_msg& m) { return m.from == sup.id(); });
  ASSERT_TRUE(ex);
  EXPECT_EQ(ex->reason, exit_reason::shutdown());
  for (pid p : all) {
    EXPECT_FALSE(is_alive(p));
  }
  EXPECT_TRUE(testing::process_count_settles_to(baseline));
}

}  // namespace
}  // namespace otpnet
