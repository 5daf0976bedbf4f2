#include "otpnet/behaviours/gen_statem_call.hpp"

#include <otpnet/behaviours/gen_statem.hpp>
#include <otpnet/behaviours/sync_wait.hpp>
#include <otpnet/runtime/mailbox.hpp>
#include <otpnet/runtime/receive.hpp>
#include <otpnet/runtime/runtime.hpp>

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace otpnet {
namespace {

using namespace std::chrono_literals;

class gen_statem_calls : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(runtime::start({.schedulers = 2})); }
  void TearDown() override {
    runtime::stop();
    EXPECT_EQ(runtime::process_count(), 0u);
  }
};

struct ask {
  int v;
};
struct hold {};     // a call answered later
struct release {};  // a cast: answer the held calls
struct wrong {};    // answered with the wrong type
struct die {};      // the server ends without answering
struct count_held {};
struct delegate {};  // answered by another process, through send_reply

/// Answers `ask` at once (v * 2), holds `hold` calls until a `release`
/// cast, answers `wrong` with a string, ends on `die`; logs stray info.
struct server : gen_statem<server> {
  std::vector<gen::from> held;
  pid log;
  explicit server(pid l) : log(l) {}
  transition init() { return next_state<&server::serving>(); }
  transition serving(event& e) {
    if (auto* a = e.call<ask>()) {
      return keep_state(reply(e.caller(), a->v * 2));
    }
    if (e.call<hold>() != nullptr) {
      held.push_back(std::move(e.caller()));
      return keep_state();
    }
    if (e.cast<release>() != nullptr) {
      auto t = keep_state();
      for (auto& f : held) {
        t.add(reply(f, 7));
      }
      held.clear();
      return t;
    }
    if (e.call<count_held>() != nullptr) {
      return keep_state(reply(e.caller(), static_cast<int>(held.size())));
    }
    if (e.call<delegate>() != nullptr) {
      spawn([f = std::move(e.caller())]() mutable -> proc {
        (void)statem::reply(f, 99);
        co_return;
      });
      return keep_state();
    }
    if (e.call<wrong>() != nullptr) {
      return keep_state(reply(e.caller(), std::string("seven")));
    }
    if (e.call<die>() != nullptr) {
      return stop(exit_reason::other("died"));
    }
    if (log) {
      send(log, std::string("info ") + std::string(to_string(e.type())));
    }
    return keep_state();
  }
};

TEST_F(gen_statem_calls, call_from_a_plain_thread_and_a_process) {
  mailbox mb;
  auto srv = sync_wait(statem::start<server>(pid{}));
  ASSERT_TRUE(srv);
  auto r = sync_wait(statem::call<int>(srv.id(), ask{21}));
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, 42);
  spawn([me = mb.self(), s = srv.id()]() -> proc {
    auto x = co_await statem::call<int>(s, ask{5}, 1s);
    send(me, x.value_or(-1));
  });
  auto got = mb.receive<int>(5000ms);
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, 10);
}

/// How many `hold` calls the server holds, polled until it is `n`.
bool wait_held(pid srv, int n) {
  for (int i = 0; i < 10000; ++i) {
    if (sync_wait(statem::call<int>(srv, count_held{})).value_or(-1) == n) {
      return true;
    }
  }
  return false;
}

TEST_F(gen_statem_calls, deferred_replies_as_actions) {
  auto srv = sync_wait(statem::start<server>(pid{}));
  ASSERT_TRUE(srv);
  mailbox mb;
  for (int i = 0; i < 3; ++i) {
    spawn([me = mb.self(), s = srv.id()]() -> proc {
      auto x = co_await statem::call<int>(s, hold{}, std::nullopt);  // no limit
      send(me, x.value_or(-1));
    });
  }
  ASSERT_TRUE(wait_held(srv.id(), 3));
  statem::cast(srv.id(), release{});
  for (int i = 0; i < 3; ++i) {
    auto got = mb.receive<int>(5000ms);
    ASSERT_TRUE(got);
    EXPECT_EQ(*got, 7);
  }
}

TEST_F(gen_statem_calls, send_reply_from_another_process) {
  auto srv = sync_wait(statem::start<server>(pid{}));
  ASSERT_TRUE(srv);
  auto r = sync_wait(statem::call<int>(srv.id(), delegate{}));
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, 99);
}

TEST_F(gen_statem_calls, a_timed_out_call_leaves_nothing_in_a_plain_threads_mailbox) {
  mailbox mb;
  auto srv = sync_wait(statem::start<server>(pid{}));
  ASSERT_TRUE(srv);
  auto r = sync_wait(statem::call<int>(srv.id(), hold{}, 20ms));
  EXPECT_EQ(r.error(), exit_reason::timeout());
  statem::cast(srv.id(), release{});                            // the late reply goes out...
  ASSERT_TRUE(sync_wait(statem::call<int>(srv.id(), ask{1})));  // ...before this answer
  EXPECT_EQ(mb.size(), 0u);
}

struct go {
  pid srv;
};

/// Calls srv with hold (20 ms) on `go`; logs the outcome and its info.
struct caller : gen_statem<caller> {
  pid log;
  explicit caller(pid l) : log(l) {}
  transition init() { return next_state<&caller::idle>(); }
  task<transition> idle(event& e) {
    if (auto* g = e.cast<go>()) {
      auto r = co_await statem::call<int>(g->srv, hold{}, 20ms);
      send(log, std::string(r ? "call: value" : r.error() == exit_reason::timeout() ? "call: timeout" : "call: error"));
    } else if (auto* s = e.info<std::string>()) {
      send(log, "info " + *s);
    } else {
      send(log, std::string("info other"));
    }
    co_return keep_state();
  }
};

TEST_F(gen_statem_calls, a_late_reply_never_reaches_a_gen_statem_caller) {
  mailbox mb;
  auto srv = sync_wait(statem::start<server>(pid{}));
  auto c = sync_wait(statem::start<caller>(mb.self()));
  ASSERT_TRUE(srv && c);
  statem::cast(c.id(), go{srv.id()});
  auto first = mb.receive<std::string>(5000ms);
  ASSERT_TRUE(first);
  EXPECT_EQ(*first, "call: timeout");
  statem::cast(srv.id(), release{});                            // the late reply is sent to c...
  ASSERT_TRUE(sync_wait(statem::call<int>(srv.id(), ask{1})));  // ...before this answer comes
  send(c.id(), std::string("x"));
  auto second = mb.receive<std::string>(5000ms);
  ASSERT_TRUE(second);
  EXPECT_EQ(*second, "info x");  // not "info other": the reply was dropped
}

TEST_F(gen_statem_calls, noproc_for_dead_and_unknown_servers_and_the_reason_of_a_dying_one) {
  auto srv = sync_wait(statem::start<server>(pid{}));
  ASSERT_TRUE(srv);
  EXPECT_EQ(sync_wait(statem::call<int>(srv.id(), die{})).error().text(), "died");           // its reason
  EXPECT_EQ(sync_wait(statem::call<int>(srv.id(), ask{1})).error(), exit_reason::noproc());  // dead
  EXPECT_EQ(sync_wait(statem::call<int>(pid{}, ask{1})).error(), exit_reason::noproc());
  EXPECT_EQ(sync_wait(statem::call<int>("nobody", ask{1})).error(), exit_reason::noproc());
  mailbox mb;
  spawn([me = mb.self(), s = srv.id()]() -> proc {
    auto r = co_await statem::call<int>(s, ask{1});
    send(me, r.error());
  });
  auto e = mb.receive<exit_reason>(5000ms);
  ASSERT_TRUE(e);
  EXPECT_EQ(*e, exit_reason::noproc());
}

TEST_F(gen_statem_calls, a_reply_of_another_type_is_invalid) {
  auto srv = sync_wait(statem::start<server>(pid{}));
  ASSERT_TRUE(srv);
  EXPECT_TRUE(sync_wait(statem::call<int>(srv.id(), wrong{})).error().text().starts_with("bad_reply_type"));
  auto s = sync_wait(statem::call<std::string>(srv.id(), wrong{}));
  ASSERT_TRUE(s);
  EXPECT_EQ(*s, "seven");
}

TEST_F(gen_statem_calls, a_process_calling_itself_fails) {
  mailbox mb;
  spawn([me = mb.self()]() -> proc {
    auto r = co_await statem::call<int>(self(), ask{1});
    send(me, r.error());
  });
  auto e = mb.receive<exit_reason>(5000ms);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->text(), "calling_self");
}

TEST_F(gen_statem_calls, call_and_cast_by_registered_name) {
  mailbox mb;
  auto srv = sync_wait(statem::start<server>({.name = "srv"}, mb.self()));
  ASSERT_TRUE(srv);
  EXPECT_EQ(sync_wait(statem::call<int>("srv", ask{4})).value_or(0), 8);
  EXPECT_TRUE(statem::cast("srv", 1));
  auto line = mb.receive<std::string>(5000ms);
  ASSERT_TRUE(line);
  EXPECT_EQ(*line, "info cast");
  EXPECT_FALSE(statem::cast("nobody", 1));
}

}  // namespace
}  // namespace otpnet
