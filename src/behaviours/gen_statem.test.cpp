#include "otpnet/behaviours/gen_statem.hpp"

#include <otpnet/behaviours/sync_wait.hpp>
#include <otpnet/runtime/mailbox.hpp>
#include <otpnet/runtime/process_info.hpp>
#include <otpnet/runtime/receive.hpp>
#include <otpnet/runtime/runtime.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <string>
#include <thread>

namespace otpnet {
namespace {

using namespace std::chrono_literals;

class gen_statem_test : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(runtime::start({.schedulers = 2})); }
  void TearDown() override {
    runtime::stop();
    EXPECT_EQ(runtime::process_count(), 0u);
  }
  /// The next log line the machine sent to the test's mailbox.
  std::string next(mailbox& mb) {
    auto s = mb.receive<std::string>(5000ms);
    return s ? *s : "<nothing>";
  }
};

struct push {
  int v;
};
struct get_count {};
struct flip {};

// -- state functions ----------------------------------------------------------------

/// A switch: off --flip--> on --flip--> off; counts flips; logs to `log`.
struct light : gen_statem<light> {
  pid log;
  int flips = 0;
  explicit light(pid l) : log(l) {}

  transition init() { return next_state<&light::off>(); }
  transition off(event& e) {
    if (e.cast<flip>() != nullptr) {
      ++flips;
      return next_state<&light::on>();
    }
    return common(e);
  }
  transition on(event& e) {
    if (e.cast<flip>() != nullptr) {
      ++flips;
      return next_state<&light::off>();
    }
    return common(e);
  }
  transition common(event& e) {
    if (e.call<get_count>() != nullptr) {
      return keep_state(reply(e.caller(), flips));
    }
    if (auto* s = e.info<std::string>()) {
      send(log, std::string(state().name()) + ":" + *s);
    }
    return keep_state();
  }
};

TEST_F(gen_statem_test, state_functions_handle_call_cast_and_info) {
  mailbox mb;
  auto r = sync_wait(statem::start_link<light>(mb.self()));
  ASSERT_TRUE(r);
  statem::cast(r.id(), flip{});
  send(r.id(), std::string("hello"));
  EXPECT_EQ(next(mb), "on:hello");
  auto n = sync_wait(statem::call<int>(r.id(), get_count{}));
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 1);
  statem::cast(r.id(), flip{});
  send(r.id(), std::string("again"));
  EXPECT_EQ(next(mb), "off:again");
  ASSERT_TRUE(sync_wait(statem::stop(r.id())));
  EXPECT_FALSE(is_alive(r.id()));
}

TEST_F(gen_statem_test, process_info_shows_the_state_name) {
  mailbox mb;
  auto r = sync_wait(statem::start<light>(mb.self()));
  ASSERT_TRUE(r);
  auto i = process_info(r.id());
  ASSERT_TRUE(i);
  EXPECT_EQ(i->behaviour, "gen_statem");
  EXPECT_EQ(i->state_name, "off");
  statem::cast(r.id(), flip{});
  ASSERT_TRUE(sync_wait(statem::call<int>(r.id(), get_count{})));  // the flip is done
  i = process_info(r.id());
  ASSERT_TRUE(i);
  EXPECT_EQ(i->state_name, "on");
}

// -- handle_event mode ------------------------------------------------------------------

enum class door_state { locked, open };

/// OTP's code lock: push the digits of the code to open; it relocks on a
/// state timeout; a wrong digit starts over.
struct code_lock : gen_statem<code_lock, door_state> {
  std::string code;
  std::string typed;
  pid log;
  code_lock(std::string c, pid l) : code(std::move(c)), log(l) {}

  transition init() { return next_state(door_state::locked); }
  transition handle_event(event& e, door_state s) {
    if (auto* p = e.cast<push>(); p != nullptr && s == door_state::locked) {
      typed += std::to_string(p->v);
      if (typed == code) {
        typed.clear();
        send(log, std::string("opened"));
        return next_state(door_state::open, state_timeout(20ms));
      }
      if (code.compare(0, typed.size(), typed) != 0) {
        typed = typed.back() == code.front() ? typed.substr(typed.size() - 1) : "";  // start over
      }
      return keep_state();
    }
    if (e.is(event_kind::state_timeout) && s == door_state::open) {
      send(log, std::string("locked"));
      return next_state(door_state::locked);
    }
    if (e.cast<push>() != nullptr) {
      return keep_state();  // pushing an open door does nothing
    }
    return keep_state();
  }
  std::string_view state_name(door_state s) const { return s == door_state::locked ? "locked" : "open"; }
};

TEST_F(gen_statem_test, handle_event_mode_code_lock) {
  mailbox mb;
  auto r = sync_wait(statem::start_link<code_lock>(std::string("123"), mb.self()));
  ASSERT_TRUE(r);
  EXPECT_EQ(process_info(r.id())->state_name, "locked");
  for (int d : {1, 2, 1, 2, 3}) {
    statem::cast(r.id(), push{d});
  }
  EXPECT_EQ(next(mb), "opened");
  EXPECT_EQ(next(mb), "locked");  // the state timeout
}

// -- state enter -------------------------------------------------------------------------

/// Logs every enter call as "enter <state> from <old>".
struct enterer : gen_statem<enterer> {
  static constexpr bool state_enter = true;
  pid log;
  explicit enterer(pid l) : log(l) {}

  transition init() { return next_state<&enterer::a>(); }
  transition a(event& e) {
    if (e.is(event_kind::enter)) {
      send(log, "enter a from " + std::string(previous_state().name()));
      return keep_state();
    }
    if (auto* s = e.info<std::string>()) {
      if (*s == "go") {
        return next_state<&enterer::b>();
      }
      if (*s == "repeat") {
        return repeat_state();
      }
      if (*s == "same") {
        return next_state<&enterer::a>();  // not a change: no enter
      }
    }
    return keep_state();
  }
  transition b(event& e) {
    if (e.is(event_kind::enter)) {
      send(log, "enter b from " + std::string(previous_state().name()));
      return keep_state();
    }
    if (e.info<std::string>() != nullptr) {
      send(log, std::string("b got ") + *e.info<std::string>());
    }
    return keep_state();
  }
};

TEST_F(gen_statem_test, state_enter_calls_follow_changes_and_repeats) {
  mailbox mb;
  auto r = sync_wait(statem::start_link<enterer>(mb.self()));
  ASSERT_TRUE(r);
  EXPECT_EQ(next(mb), "enter a from a");  // the first state
  send(r.id(), std::string("same"));
  send(r.id(), std::string("repeat"));
  EXPECT_EQ(next(mb), "enter a from a");
  send(r.id(), std::string("go"));
  EXPECT_EQ(next(mb), "enter b from a");
  send(r.id(), std::string("x"));
  EXPECT_EQ(next(mb), "b got x");  // no enter call came between
}

/// An enter call that repeats its state until a process on the same
/// scheduler has run, or a bound passes.
inline std::atomic<bool> neighbour_ran{false};
struct spinner : gen_statem<spinner> {
  static constexpr bool state_enter = true;
  pid log;
  std::uint64_t repeats = 0;
  explicit spinner(pid l) : log(l) {}
  transition init() { return next_state<&spinner::spin>(); }
  transition spin(event& e) {
    if (e.is(event_kind::enter)) {
      if (!neighbour_ran.load() && ++repeats < 20'000'000) {
        return repeat_state();
      }
      send(log, std::string(neighbour_ran.load() ? "yielded" : "starved"));
    }
    return keep_state();
  }
};

// Enter calls that repeat the state yield the scheduler every 64, as a run
// of events does: a process beside it runs meanwhile. (They never yielded:
// the neighbour ran only once the bound ended the repeats.)
TEST_F(gen_statem_test, repeated_enter_calls_let_the_schedulers_other_processes_run) {
  neighbour_ran = false;
  mailbox mb;
  auto r = sync_wait(statem::start_link<spinner>(start_options{.scheduler = 0}, mb.self()));
  ASSERT_TRUE(r);
  spawn_opt({.scheduler = 0}, []() -> proc {
    neighbour_ran = true;
    co_return;
  });
  EXPECT_EQ(next(mb), "yielded");
}

/// An enter call that tries to change state, or to postpone.
struct bad_enter : gen_statem<bad_enter> {
  static constexpr bool state_enter = true;
  bool postpone_it;
  explicit bad_enter(bool p) : postpone_it(p) {}
  transition init() { return next_state<&bad_enter::a>(); }
  transition a(event&) { return postpone_it ? keep_state(postpone()) : next_state<&bad_enter::b>(); }
  transition b(event&) { return keep_state(); }
};

TEST_F(gen_statem_test, state_enter_may_not_change_state_or_postpone) {
  mailbox mb;  // traps exits
  for (bool p : {false, true}) {
    auto r = sync_wait(statem::start_link<bad_enter>(p));
    ASSERT_TRUE(r);
    auto x = mb.receive<exit_msg>(5000ms);
    ASSERT_TRUE(x);
    EXPECT_EQ(x->from, r.id());
    EXPECT_EQ(x->reason.text(), p ? "bad_state_enter_action" : "bad_state_enter_return");
  }
}

// -- postpone and next_event -----------------------------------------------------------------

/// In `closed`, postpones every string; "open" opens. In `opened`, logs.
struct gate : gen_statem<gate> {
  pid log;
  explicit gate(pid l) : log(l) {}
  transition init() { return next_state<&gate::closed>(); }
  transition closed(event& e) {
    if (e.cast<flip>() != nullptr) {
      return next_state<&gate::opened>();
    }
    return keep_state(postpone());
  }
  transition opened(event& e) {
    if (auto* s = e.info<std::string>()) {
      send(log, *s);
      if (*s == "close") {
        return next_state<&gate::closed>();
      }
    }
    return keep_state();
  }
};

TEST_F(gen_statem_test, postponed_events_are_retried_in_order_after_a_state_change) {
  mailbox mb;
  auto r = sync_wait(statem::start_link<gate>(mb.self()));
  ASSERT_TRUE(r);
  for (const char* s : {"1", "2", "close", "3"}) {
    send(r.id(), std::string(s));
  }
  statem::cast(r.id(), flip{});  // opens: 1, 2, close are retried; close re-closes
  EXPECT_EQ(next(mb), "1");
  EXPECT_EQ(next(mb), "2");
  EXPECT_EQ(next(mb), "close");
  EXPECT_FALSE(mb.receive<std::string>(30ms));  // "3" is postponed again
  statem::cast(r.id(), flip{});
  EXPECT_EQ(next(mb), "3");
}

/// On "go": inserts a, b, c, and postpones nothing; logs everything.
struct inserter : gen_statem<inserter, int> {
  pid log;
  explicit inserter(pid l) : log(l) {}
  transition init() { return next_state(0); }
  transition handle_event(event& e, int) {
    if (auto* s = e.info<std::string>(); s != nullptr && *s == "go") {
      send(self(), std::string("mailbox"));  // already waiting: still after a, b, c
      return keep_state(next_event(std::string("a")), next_event(event_kind::info, std::string("b")),
                        next_event(event_kind::cast, std::string("c")));
    }
    if (auto* s = e.get<std::string>()) {
      send(log, std::string(to_string(e.type())) + ":" + *s);
    }
    return keep_state();
  }
};

TEST_F(gen_statem_test, inserted_events_come_first_and_in_order) {
  mailbox mb;
  auto r = sync_wait(statem::start_link<inserter>(mb.self()));
  ASSERT_TRUE(r);
  send(r.id(), std::string("go"));
  EXPECT_EQ(next(mb), "internal:a");
  EXPECT_EQ(next(mb), "info:b");
  EXPECT_EQ(next(mb), "cast:c");
  EXPECT_EQ(next(mb), "info:mailbox");
}

/// Postpones in `a`; "go" changes state and inserts an event: the inserted
/// event comes before the retried one.
struct both : gen_statem<both> {
  pid log;
  explicit both(pid l) : log(l) {}
  transition init() { return next_state<&both::a>(); }
  transition a(event& e) {
    if (e.cast<flip>() != nullptr) {
      return next_state<&both::b>(next_event(std::string("inserted")));
    }
    return keep_state(postpone());
  }
  transition b(event& e) {
    if (auto* s = e.get<std::string>()) {
      send(log, *s);
    }
    return keep_state();
  }
};

TEST_F(gen_statem_test, inserted_events_come_before_retried_postponed_ones) {
  mailbox mb;
  auto r = sync_wait(statem::start_link<both>(mb.self()));
  ASSERT_TRUE(r);
  send(r.id(), std::string("postponed"));
  statem::cast(r.id(), flip{});
  EXPECT_EQ(next(mb), "inserted");
  EXPECT_EQ(next(mb), "postponed");
}

// -- stop, terminate, crashes ----------------------------------------------------------------------

struct quit_call {};

/// Replies and stops on a `quit_call`; throws on "boom"; logs terminate.
struct stopper : gen_statem<stopper> {
  pid log;
  explicit stopper(pid l) : log(l) {}
  transition init() {
    trap_exit(true);
    return next_state<&stopper::run>();
  }
  transition run(event& e) {
    if (e.call<quit_call>() != nullptr) {
      return stop(exit_reason::shutdown(), reply(e.caller(), std::string("bye")));
    }
    if (auto* s = e.info<std::string>(); s != nullptr && *s == "boom") {
      throw std::runtime_error("boom");
    }
    return keep_state();
  }
  void terminate(const exit_reason& why) { send(log, "terminate " + why.to_string()); }
};

TEST_F(gen_statem_test, stop_and_reply_then_terminate) {
  mailbox mb;
  auto r = sync_wait(statem::start<stopper>(mb.self()));
  ASSERT_TRUE(r);
  ref m = monitor(r.id());
  auto bye = sync_wait(statem::call<std::string>(r.id(), quit_call{}));
  ASSERT_TRUE(bye);
  EXPECT_EQ(*bye, "bye");
  EXPECT_EQ(next(mb), "terminate shutdown");
  auto down = mb.receive<down_msg>(5000ms);
  ASSERT_TRUE(down);
  EXPECT_EQ(down->monitor, m);
  EXPECT_EQ(down->reason, exit_reason::shutdown());
}

TEST_F(gen_statem_test, an_exception_calls_terminate_and_is_the_exit_reason) {
  mailbox mb;
  auto r = sync_wait(statem::start<stopper>(mb.self()));
  ASSERT_TRUE(r);
  (void)monitor(r.id());
  send(r.id(), std::string("boom"));
  EXPECT_EQ(next(mb), "terminate std::runtime_error: boom");
  auto down = mb.receive<down_msg>(5000ms);
  ASSERT_TRUE(down);
  EXPECT_EQ(down->reason.text(), "std::runtime_error: boom");
}

TEST_F(gen_statem_test, stop_from_outside_calls_terminate) {
  mailbox mb;
  auto r = sync_wait(statem::start<stopper>(mb.self()));
  ASSERT_TRUE(r);
  ASSERT_TRUE(sync_wait(statem::stop(r.id(), exit_reason::other("enough"))));
  EXPECT_EQ(next(mb), "terminate enough");
  EXPECT_FALSE(is_alive(r.id()));
  EXPECT_EQ(sync_wait(statem::stop(r.id())).error(), exit_reason::noproc());
}

TEST_F(gen_statem_test, a_trapping_machine_terminates_when_its_parent_exits) {
  mailbox mb;
  pid parent = spawn([me = mb.self()]() -> proc {
    auto r = co_await statem::start_link<stopper>(me);
    send(me, r.id());
    co_await receive<int>();  // killed below
  });
  auto child = mb.receive<pid>(5000ms);
  ASSERT_TRUE(child && *child);
  exit(parent, exit_reason::other("parent died"));
  EXPECT_EQ(next(mb), "terminate parent died");
}

// -- init ------------------------------------------------------------------------------------------

/// init's answer depends on `how`.
struct init_machine : gen_statem<init_machine> {
  int how;
  explicit init_machine(int h) : how(h) {
    if (how == 4) {
      throw std::invalid_argument("bad arg");
    }
  }
  transition init() {
    switch (how) {
      case 1:
        return ignore();
      case 2:
        return stop(exit_reason::other("no"));
      case 3:
        throw std::runtime_error("init failed");
      case 5:
        return keep_state();
      default:
        return next_state<&init_machine::idle>();
    }
  }
  transition idle(event&) { return keep_state(); }
};

TEST_F(gen_statem_test, init_results_reach_the_starter) {
  mailbox mb;  // traps exits: the failed children's exit signals are messages
  auto ok = sync_wait(statem::start_link<init_machine>(0));
  EXPECT_EQ(ok.what(), start_result::kind::ok);
  auto ig = sync_wait(statem::start_link<init_machine>(1));
  EXPECT_EQ(ig.what(), start_result::kind::ignore);
  auto st = sync_wait(statem::start_link<init_machine>(2));
  EXPECT_EQ(st.what(), start_result::kind::error);
  EXPECT_EQ(st.reason().text(), "no");
  auto ex = sync_wait(statem::start_link<init_machine>(3));
  EXPECT_EQ(ex.reason().text(), "std::runtime_error: init failed");
  auto ctor = sync_wait(statem::start_link<init_machine>(4));
  EXPECT_EQ(ctor.reason().text(), "std::invalid_argument: bad arg");
  auto bad = sync_wait(statem::start_link<init_machine>(5));
  EXPECT_EQ(bad.reason().text(), "bad_return_from_init");
}

TEST_F(gen_statem_test, a_taken_name_gives_already_started) {
  auto first = sync_wait(statem::start<init_machine>({.name = "the_one"}, 0));
  ASSERT_TRUE(first);
  EXPECT_EQ(whereis("the_one"), first.id());
  auto second = sync_wait(statem::start<init_machine>({.name = "the_one"}, 0));
  EXPECT_FALSE(second);
  EXPECT_EQ(second.reason().text(), "already_started");
  EXPECT_EQ(second.id(), first.id());
}

TEST_F(gen_statem_test, start_and_call_from_a_process) {
  mailbox mb;
  spawn([me = mb.self()]() -> proc {
    auto r = co_await statem::start_link<light>(me);
    statem::cast(r.id(), flip{});
    statem::cast(r.id(), flip{});
    auto n = co_await statem::call<int>(r.id(), get_count{}, 1s);
    auto ig = co_await statem::start<init_machine>(1);
    send(me, std::to_string(n.value_or(-1)) + (ig.what() == start_result::kind::ignore ? " ignore" : " ?"));
    co_await receive<int>();
  });
  EXPECT_EQ(next(mb), "2 ignore");
}

// -- coroutine callbacks ------------------------------------------------------------------------------

/// A state function that calls another machine (a light) before answering.
struct relay_machine : gen_statem<relay_machine> {
  pid target;
  explicit relay_machine(pid t) : target(t) {}
  task<transition> init() {
    auto n = co_await statem::call<int>(target, get_count{}, 1s);
    co_return n ? next_state<&relay_machine::ready>() : stop(exit_reason::other("no target"));
  }
  task<transition> ready(event& e) {
    if (e.call<get_count>() != nullptr) {
      gen::from f = std::move(e.caller());
      statem::cast(target, flip{});
      auto n = co_await statem::call<int>(target, get_count{}, 1s);
      co_return keep_state(reply(f, n.value_or(-1) * 10));
    }
    co_return keep_state();
  }
};

TEST_F(gen_statem_test, callbacks_may_be_coroutines) {
  mailbox mb;
  auto l = sync_wait(statem::start<light>(mb.self()));
  ASSERT_TRUE(l);
  auto r = sync_wait(statem::start<relay_machine>(l.id()));
  ASSERT_TRUE(r);
  auto n = sync_wait(statem::call<int>(r.id(), get_count{}));
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 10);
  n = sync_wait(statem::call<int>(r.id(), get_count{}));
  EXPECT_EQ(n.value_or(0), 20);
}

/// A state function and a handle_event that wait only sometimes
/// (maybe_task): the light's count is asked for once, then answered from
/// the copy until a flip (passed on to the light) makes it stale. Each
/// wait is counted.
template <class Self, class State = void>
struct caching_relay_base : gen_statem<Self, State> {
  using base = gen_statem<Self, State>;
  using transition = typename base::transition;
  pid target;
  int copy = -1;
  int waits = 0;
  explicit caching_relay_base(pid t) : target(t) {}
  typename base::template maybe_task<transition> answer(event& e) {
    if (e.call<get_count>() != nullptr) {
      if (copy >= 0) {
        return base::keep_state(this->reply(e.caller(), copy * 10 + waits));
      }
      return ask_target(std::move(e.caller()));
    }
    if (e.cast<flip>() != nullptr) {
      statem::cast(target, flip{});
      copy = -1;
    }
    return base::keep_state();
  }
  task<transition> ask_target(gen::from f) {
    ++waits;
    auto n = co_await statem::call<int>(target, get_count{}, 1s);
    copy = n.value_or(-100);
    co_return base::keep_state(this->reply(f, copy * 10 + waits));
  }
};

struct caching_relay : caching_relay_base<caching_relay> {
  using caching_relay_base::caching_relay_base;
  transition init() { return next_state<&caching_relay::ready>(); }
  maybe_task<transition> ready(event& e) { return answer(e); }
};

/// The same in handle_event mode.
struct caching_relay_events : caching_relay_base<caching_relay_events, int> {
  using caching_relay_base::caching_relay_base;
  transition init() { return next_state(0); }
  maybe_task<transition> handle_event(event& e, int /*state*/) { return answer(e); }
};

/// Replies as count * 10 + waits so far: asked, answered from the copy,
/// asked again after a flip.
template <class Relay>
void expect_waits_only_when_stale() {
  mailbox mb;
  auto l = sync_wait(statem::start<light>(mb.self()));
  ASSERT_TRUE(l);
  auto r = sync_wait(statem::start<Relay>(l.id()));
  ASSERT_TRUE(r);
  EXPECT_EQ(sync_wait(statem::call<int>(r.id(), get_count{})).value_or(-1), 1);  // 0 flips, 1 wait
  EXPECT_EQ(sync_wait(statem::call<int>(r.id(), get_count{})).value_or(-1), 1);  // from the copy
  statem::cast(r.id(), flip{});
  EXPECT_EQ(sync_wait(statem::call<int>(r.id(), get_count{})).value_or(-1), 12);  // 1 flip, 2 waits
  EXPECT_EQ(sync_wait(statem::call<int>(r.id(), get_count{})).value_or(-1), 12);
}

TEST_F(gen_statem_test, callbacks_returning_maybe_task_wait_only_when_they_must) {
  expect_waits_only_when_stale<caching_relay>();
  expect_waits_only_when_stale<caching_relay_events>();
}

/// A coroutine init and a coroutine state function that fail on demand.
struct failing_relay : gen_statem<failing_relay> {
  pid log;
  bool fail_init;
  failing_relay(pid l, bool f) : log(l), fail_init(f) {}
  task<transition> init() {
    (void)co_await statem::call<int>(log, get_count{}, 10ms);  // no answer: it waits, then goes on
    if (fail_init) {
      throw std::runtime_error("init failed after a wait");
    }
    co_return next_state<&failing_relay::ready>();
  }
  task<transition> ready(event& e) {
    auto* s = e.info<std::string>();
    (void)co_await statem::call<int>(log, get_count{}, 10ms);
    if (s != nullptr && *s == "boom") {
      throw std::runtime_error("boom after a wait");
    }
    co_return keep_state();
  }
  void terminate(const exit_reason& why) { send(log, "terminate " + why.to_string()); }
};

TEST_F(gen_statem_test, a_coroutine_callback_that_throws_calls_terminate_and_is_the_exit_reason) {
  mailbox mb;
  auto r = sync_wait(statem::start<failing_relay>(mb.self(), false));
  ASSERT_TRUE(r);
  (void)monitor(r.id());
  send(r.id(), std::string("fine"));
  send(r.id(), std::string("boom"));
  EXPECT_EQ(next(mb), "terminate std::runtime_error: boom after a wait");
  auto down = mb.receive<down_msg>(5000ms);
  ASSERT_TRUE(down);
  EXPECT_EQ(down->reason.text(), "std::runtime_error: boom after a wait");
}

TEST_F(gen_statem_test, a_coroutine_init_that_throws_fails_the_start_without_terminate) {
  mailbox mb;
  auto r = sync_wait(statem::start<failing_relay>(mb.self(), true));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.reason().text(), "std::runtime_error: init failed after a wait");
  EXPECT_FALSE(mb.receive<std::string>(100ms)) << "terminate ran for a failed init";
}

/// Each event inserts the next, up to `last`: a chain far longer than the
/// 64 events a machine handles before it yields.
struct chain_machine : gen_statem<chain_machine> {
  pid log;
  int last;
  int seen = 0;
  chain_machine(pid l, int n) : log(l), last(n) {}
  transition init() { return next_state<&chain_machine::run>(); }
  transition run(event& e) {
    if (auto* n = e.internal<int>()) {
      if (*n != seen + 1) {
        send(log, "out of order at " + std::to_string(*n));
      }
      seen = *n;
      return *n < last ? keep_state(next_event(*n + 1)) : keep_state();
    }
    if (e.info<std::string>() != nullptr) {
      send(log, "message after " + std::to_string(seen));
      return keep_state();
    }
    if (e.info<int>() != nullptr) {
      return keep_state(next_event(1));
    }
    return keep_state();
  }
};

TEST_F(gen_statem_test, a_long_chain_of_inserted_events_yields_and_keeps_its_order) {
  mailbox mb;
  auto r = sync_wait(statem::start<chain_machine>(mb.self(), 1000));
  ASSERT_TRUE(r);
  send(r.id(), 0);
  send(r.id(), std::string("after"));
  // Inserted events come before the mailbox, so the message is seen once
  // the chain has ended, whatever the yields in between.
  EXPECT_EQ(next(mb), "message after 1000");
}

/// Stops after an inserted event (which gives the core its rare parts),
/// normally for 0, with a reason otherwise.
struct rare_stopper : gen_statem<rare_stopper> {
  transition init() { return next_state<&rare_stopper::run>(); }
  transition run(event& e) {
    if (auto* n = e.info<int>()) {
      return keep_state(next_event(*n));
    }
    if (auto* n = e.internal<int>()) {
      return *n == 0 ? stop(exit_reason::normal()) : stop(exit_reason::other("after an inserted event"));
    }
    return keep_state();
  }
};

TEST_F(gen_statem_test, the_stop_reason_is_kept_with_or_without_the_rare_parts) {
  mailbox mb;
  std::vector<std::string> reasons;
  for (int n : {0, 1}) {
    auto r = sync_wait(statem::start<rare_stopper>());
    ASSERT_TRUE(r);
    (void)monitor(r.id());
    send(r.id(), n);
    auto down = mb.receive<down_msg>(5000ms);
    ASSERT_TRUE(down);
    reasons.push_back(down->reason.to_string());
  }
  // And without them: a stop request's reason, and a normal stop.
  auto r = sync_wait(statem::start<stopper>(mb.self()));
  ASSERT_TRUE(r);
  (void)monitor(r.id());
  ASSERT_TRUE(sync_wait(statem::stop(r.id())));
  EXPECT_EQ(next(mb), "terminate normal");
  auto down = mb.receive<down_msg>(5000ms);
  ASSERT_TRUE(down);
  reasons.push_back(down->reason.to_string());
  EXPECT_EQ(reasons, (std::vector<std::string>{"normal", "after an inserted event", "normal"}));
}

// -- the tutorial's tcp_echo_fsm ------------------------------------------------------------------

// Plain messages stand in for the socket: socket_ready is the listener's
// hand-off, data a received frame; the "socket" is the peer's pid.
struct socket_ready {
  pid peer;
};
struct data {
  std::string bytes;
};
struct closed {};

/// WAIT_FOR_SOCKET -> WAIT_FOR_DATA, echoing, closing after `idle` of silence.
struct echo_fsm : gen_statem<echo_fsm> {
  pid sock;
  std::chrono::milliseconds idle;
  explicit echo_fsm(std::chrono::milliseconds i = 120s) : idle(i) {}

  transition init() {
    trap_exit(true);
    return next_state<&echo_fsm::wait_for_socket>();
  }
  transition wait_for_socket(event& e) {
    if (auto* r = e.info<socket_ready>()) {
      sock = r->peer;
      return next_state<&echo_fsm::wait_for_data>(state_timeout(idle));
    }
    return keep_state(postpone());  // data before the hand-off waits for it
  }
  transition wait_for_data(event& e) {
    if (auto* d = e.info<data>()) {
      send(sock, data{d->bytes});
      return keep_state(state_timeout(idle));
    }
    if (e.is(event_kind::state_timeout)) {
      return stop();  // idle: close
    }
    return keep_state();
  }
  void terminate(const exit_reason&) {
    if (sock) {
      send(sock, closed{});
    }
  }
};

TEST_F(gen_statem_test, the_tutorials_echo_fsm) {
  mailbox mb;
  auto r = sync_wait(statem::start_link<echo_fsm>(30ms));
  ASSERT_TRUE(r);
  ref m = monitor(r.id());
  EXPECT_EQ(process_info(r.id())->state_name, "wait_for_socket");
  // Both frames come before the hand-off: postponed, then retried in order
  // right after it, before the idle timeout can run out.
  send(r.id(), data{"early"});
  send(r.id(), data{"hello"});
  send(r.id(), socket_ready{mb.self()});
  auto a = mb.receive<data>(5000ms);
  auto b = mb.receive<data>(5000ms);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->bytes, "early");
  EXPECT_EQ(b->bytes, "hello");
  EXPECT_TRUE(mb.receive<closed>(5000ms));  // 30 ms of silence
  auto down = mb.receive<down_msg>(5000ms);
  ASSERT_TRUE(down);
  EXPECT_EQ(down->monitor, m);
  EXPECT_EQ(down->reason, exit_reason::normal());
}

// -- hibernate ------------------------------------------------------------------------------

struct nap_now {};
struct naps_q {};

/// Counts its hibernations; a nap_now cast asks for one.
struct napper : gen_statem<napper> {
  int naps = 0;
  std::string cache;
  transition init() { return next_state<&napper::awake>(); }
  transition awake(event& e) {
    if (e.cast<nap_now>() != nullptr) {
      cache.assign(100000, 'x');
      return keep_state(hibernate());
    }
    if (e.call<naps_q>() != nullptr) {
      return keep_state(reply(e.caller(), std::pair{naps, cache.capacity()}));
    }
    return keep_state();
  }
  void handle_hibernate() {
    ++naps;
    cache.clear();
    cache.shrink_to_fit();
  }
};

// The hibernate action runs the machine's handle_hibernate once its
// transition is carried out, before the next event.
TEST_F(gen_statem_test, the_hibernate_action_runs_handle_hibernate_before_the_next_event) {
  auto r = sync_wait(statem::start<napper>());
  ASSERT_TRUE(r);
  auto naps = [&] { return sync_wait(statem::call<std::pair<int, std::size_t>>(r.id(), naps_q{})); };
  auto n = naps();
  ASSERT_TRUE(n);
  EXPECT_EQ(n->first, 0);
  statem::cast(r.id(), nap_now{});
  n = naps();
  ASSERT_TRUE(n);
  EXPECT_EQ(n->first, 1);
  EXPECT_LT(n->second, 100000u) << "the cache was dropped before the call";
  statem::cast(r.id(), nap_now{});
  statem::cast(r.id(), nap_now{});
  n = naps();
  ASSERT_TRUE(n);
  EXPECT_EQ(n->first, 3);
  ASSERT_TRUE(sync_wait(statem::stop(r.id())));
}

}  // namespace
}  // namespace otpnet
