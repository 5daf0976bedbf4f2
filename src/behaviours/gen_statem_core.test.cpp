// Timeouts and event order of gen_statem (the engine core's rules). Each
// test scripts a machine with `act` messages and reads its log. Timeouts are
// real but short; tests assert the order of events, never elapsed time. A
// timeout that must not fire is shown not to by a later "sentinel" timeout
// that does: deadlines fire in order, so a live earlier one would come first.
#include "otpnet/behaviours/gen_statem_core.hpp"

#include <otpnet/behaviours/gen_statem.hpp>
#include <otpnet/behaviours/sync_wait.hpp>
#include <otpnet/runtime/mailbox.hpp>
#include <otpnet/runtime/runtime.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace otpnet {
namespace {

using namespace std::chrono_literals;

/// States are names; every event but `act` is logged as kind:content@state.
struct scripted : gen_statem<scripted, std::string> {
  /// Runs `f` as the callback of this event.
  struct act {
    std::function<transition(event&)> f;
  };

  pid log;
  explicit scripted(pid l) : log(l) {}
  transition init() { return next_state(std::string("s0")); }
  transition handle_event(event& e, const std::string& s) {
    if (auto* a = e.info<act>()) {
      return a->f(e);
    }
    if (e.is_timeout("pp") && s == "s0") {
      return keep_state(postpone());  // retried, with its name, after the next state change
    }
    std::string what(to_string(e.type()));
    if (auto* c = e.get<std::string>()) {
      what += ":" + *c;
    } else if (e.is(event_kind::generic_timeout)) {
      what += ":" + std::string(e.timeout_name());
    }
    send(log, what + "@" + s);
    if (auto* c = e.get<std::string>(); c != nullptr && c->starts_with("go ")) {
      return next_state(c->substr(3));
    }
    return keep_state();
  }
};

using transition = scripted::transition;
using s = scripted;

class gen_statem_timeouts : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(runtime::start({.schedulers = 2}));
    mb_.emplace();
    auto r = sync_wait(statem::start_link<scripted>(mb_->self()));
    ASSERT_TRUE(r);
    fsm_ = r.id();
  }
  void TearDown() override {
    mb_.reset();
    runtime::stop();
    EXPECT_EQ(runtime::process_count(), 0u);
  }
  void run(std::function<transition(event&)> f) { send(fsm_, scripted::act{std::move(f)}); }
  /// The next `n` log lines.
  std::vector<std::string> log(std::size_t n) {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < n; ++i) {
      auto line = mb_->receive<std::string>(5000ms);
      out.push_back(line ? *line : "<nothing>");
    }
    return out;
  }
  using lines = std::vector<std::string>;

  std::optional<mailbox> mb_;
  pid fsm_;
};

TEST_F(gen_statem_timeouts, event_timeout_fires_when_nothing_comes) {
  run([](event&) { return s::keep_state(event_timeout(20ms, std::string("et"))); });
  EXPECT_EQ(log(1), lines{"timeout:et@s0"});
}

TEST_F(gen_statem_timeouts, event_timeout_is_cancelled_by_an_inserted_event) {
  run([](event&) {
    return s::keep_state(event_timeout(20ms, std::string("et")), next_event(std::string("x")),
                         generic_timeout("sentinel", 60ms));
  });
  EXPECT_EQ(log(2), (lines{"internal:x@s0", "generic_timeout:sentinel@s0"}));
}

TEST_F(gen_statem_timeouts, a_waiting_message_wins_over_a_due_event_timeout) {
  run([](event&) {
    send(self(), std::string("m"));  // in the mailbox before the timeout is due
    return s::keep_state(event_timeout(0ms, std::string("et")), generic_timeout("sentinel", 40ms));
  });
  EXPECT_EQ(log(2), (lines{"info:m@s0", "generic_timeout:sentinel@s0"}));
}

TEST_F(gen_statem_timeouts, zero_event_timeout_fires_when_nothing_waits) {
  run([](event&) { return s::keep_state(event_timeout(0ms, std::string("et"))); });
  EXPECT_EQ(log(1), lines{"timeout:et@s0"});
}

TEST_F(gen_statem_timeouts, an_earlier_zero_state_timeout_cancels_the_event_timeout) {
  // Set state timeout first: its event cancels the event timeout.
  run([](event&) {
    return s::keep_state(state_timeout(0ms, std::string("st")), event_timeout(0ms, std::string("et")),
                         generic_timeout("sentinel", 40ms));
  });
  EXPECT_EQ(log(2), (lines{"state_timeout:st@s0", "generic_timeout:sentinel@s0"}));
  // The other way round both fire, in the order they were set.
  run([](event&) {
    return s::keep_state(event_timeout(0ms, std::string("et")), state_timeout(0ms, std::string("st")));
  });
  EXPECT_EQ(log(2), (lines{"timeout:et@s0", "state_timeout:st@s0"}));
}

TEST_F(gen_statem_timeouts, state_timeout_survives_keep_state) {
  run([](event&) {
    return s::keep_state(state_timeout(20ms, std::string("st")), next_event(std::string("a")),
                         next_event(std::string("b")));
  });
  EXPECT_EQ(log(3), (lines{"internal:a@s0", "internal:b@s0", "state_timeout:st@s0"}));
}

TEST_F(gen_statem_timeouts, state_timeout_is_cancelled_by_a_state_change) {
  run([](event&) {
    return s::keep_state(state_timeout(20ms, std::string("st")), next_event(std::string("go s1")),
                         generic_timeout("sentinel", 60ms));
  });
  EXPECT_EQ(log(2), (lines{"internal:go s1@s0", "generic_timeout:sentinel@s1"}));
}

TEST_F(gen_statem_timeouts, state_timeout_set_with_a_change_runs_in_the_new_state) {
  run([](event&) { return s::next_state("s1", state_timeout(10ms, std::string("st"))); });
  EXPECT_EQ(log(1), lines{"state_timeout:st@s1"});
}

TEST_F(gen_statem_timeouts, setting_a_timeout_again_restarts_it_and_cancel_stops_it) {
  run([](event&) {
    return s::keep_state(state_timeout(20ms, std::string("first")), state_timeout(40ms, std::string("second")),
                         generic_timeout("sentinel", 80ms));
  });
  EXPECT_EQ(log(2), (lines{"state_timeout:second@s0", "generic_timeout:sentinel@s0"}));
  run([](event&) {
    return s::keep_state(state_timeout(10ms, std::string("st")), cancel_state_timeout(), generic_timeout("g", 20ms),
                         generic_timeout("h", 30ms), cancel_timeout("g"), generic_timeout("sentinel", 60ms));
  });
  EXPECT_EQ(log(2), (lines{"generic_timeout:h@s0", "generic_timeout:sentinel@s0"}));
}

TEST_F(gen_statem_timeouts, generic_timeouts_survive_state_changes) {
  run([](event&) {
    return s::keep_state(generic_timeout("g", 20ms, std::string("v")), next_event(std::string("go s1")));
  });
  EXPECT_EQ(log(2), (lines{"internal:go s1@s0", "generic_timeout:v@s1"}));
}

TEST_F(gen_statem_timeouts, generic_timeouts_by_name_are_independent_and_rearm) {
  run([](event&) {
    return s::keep_state(generic_timeout("g", 20ms, std::string("g1")), generic_timeout("h", 10ms, std::string("h")),
                         generic_timeout("g", 30ms, std::string("g2")), generic_timeout("sentinel", 60ms));
  });
  EXPECT_EQ(log(3), (lines{"generic_timeout:h@s0", "generic_timeout:g2@s0", "generic_timeout:sentinel@s0"}));
}

TEST_F(gen_statem_timeouts, zero_timeouts_come_after_queued_events_and_before_the_mailbox) {
  run([](event&) {
    send(self(), std::string("mailbox"));
    return s::keep_state(state_timeout(0ms, std::string("st")), generic_timeout("g", 0ms),
                         next_event(std::string("n")));
  });
  EXPECT_EQ(log(4), (lines{"internal:n@s0", "state_timeout:st@s0", "generic_timeout:g@s0", "info:mailbox@s0"}));
}

TEST_F(gen_statem_timeouts, due_timeouts_fire_in_deadline_order) {
  run([](event&) {
    return s::keep_state(generic_timeout("c", 45ms), state_timeout(30ms, std::string("b")), generic_timeout("a", 15ms));
  });
  EXPECT_EQ(log(3), (lines{"generic_timeout:a@s0", "state_timeout:b@s0", "generic_timeout:c@s0"}));
}

// A timeout set by an event whose next event is already waiting starts
// when the process next waits or reads the clock (no clock read per event):
// these check that it still keeps its order against timeouts set later,
// whether these are set before or after that clock read, that it never
// fires early, and that events setting other timeouts do not hold back its
// start.
TEST_F(gen_statem_timeouts, timeouts_set_by_back_to_back_events_fire_in_deadline_order) {
  run([](event&) {
    // The next act is waiting when this one's timeout is set.
    send(self(), scripted::act{[](event&) { return s::keep_state(generic_timeout("g", 15ms)); }});
    return s::keep_state(state_timeout(60ms, std::string("st")));
  });
  EXPECT_EQ(log(2), (lines{"generic_timeout:g@s0", "state_timeout:st@s0"}));
}

TEST_F(gen_statem_timeouts, a_timeout_set_after_an_event_without_timeouts_keeps_deadline_order) {
  run([](event&) {
    // "m" sets nothing (the loop reads the clock for the earlier timeout
    // when it selects the event after it); the act after it sets "g".
    send(self(), std::string("m"));
    send(self(), scripted::act{[](event&) { return s::keep_state(generic_timeout("g", 15ms)); }});
    return s::keep_state(state_timeout(60ms, std::string("st")));
  });
  EXPECT_EQ(log(3), (lines{"info:m@s0", "generic_timeout:g@s0", "state_timeout:st@s0"}));
}

/// A chain of `n` acts, each sent by the one before it (so the next one is
/// always waiting), each about 1 ms of work that sets "g" (10 ms) again;
/// the last one logs "end".
transition chain(int n, pid log) {
  auto until = std::chrono::steady_clock::now() + 1ms;
  while (std::chrono::steady_clock::now() < until) {
  }
  if (n > 0) {
    send(self(), scripted::act{[n, log](event&) { return chain(n - 1, log); }});
  } else {
    send(log, std::string("end"));
  }
  return s::keep_state(generic_timeout("g", 10ms));
}

TEST_F(gen_statem_timeouts, a_timeout_fires_during_a_chain_of_events_that_set_other_timeouts) {
  run([log = mb_->self()](event&) {
    send(self(), scripted::act{[log](event&) { return chain(300, log); }});
    return s::keep_state(state_timeout(30ms, std::string("st")));
  });
  // About 300 ms of events, the mailbox never empty: "st" comes before the
  // chain ends (whether "g" fires meanwhile depends on the machine's load).
  std::vector<std::string> seen;
  for (int i = 0; i < 400 && (seen.empty() || seen.back() != "end"); ++i) {
    auto line = mb_->receive<std::string>(5000ms);
    ASSERT_TRUE(line);
    seen.push_back(*line);
  }
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.back(), "end");
  EXPECT_NE(std::find(seen.begin(), seen.end(), "state_timeout:st@s0"), seen.end())
      << "the state timeout waited for the chain to end";
}

TEST_F(gen_statem_timeouts, a_timeout_whose_next_event_is_waiting_never_fires_early) {
  auto before = std::chrono::steady_clock::now();
  run([](event&) {
    send(self(), std::string("m"));
    return s::keep_state(state_timeout(50ms, std::string("st")));
  });
  EXPECT_EQ(log(2), (lines{"info:m@s0", "state_timeout:st@s0"}));
  EXPECT_GE(std::chrono::steady_clock::now() - before, 50ms);
}

TEST_F(gen_statem_timeouts, a_retried_postponed_event_cancels_the_event_timeout) {
  run([](event&) { return s::keep_state(postpone()); });  // this act itself is postponed
  run([](event& e) {
    // The second act: changes state; the first act is retried and cancels
    // the event timeout set here.
    (void)e;
    return s::next_state("s1", event_timeout(10ms, std::string("et")), generic_timeout("sentinel", 50ms));
  });
  EXPECT_EQ(log(1), lines{"generic_timeout:sentinel@s1"});
}

TEST_F(gen_statem_timeouts, a_postponed_generic_timeout_keeps_its_name) {
  run([](event&) { return s::keep_state(generic_timeout("pp", 0ms), generic_timeout("sentinel", 30ms)); });
  EXPECT_EQ(log(1), lines{"generic_timeout:sentinel@s0"});  // pp fired first, postponed in s0
  run([](event&) { return s::next_state("s1", generic_timeout("after", 0ms)); });
  EXPECT_EQ(log(2), (lines{"generic_timeout:pp@s1", "generic_timeout:after@s1"}));
}

}  // namespace
}  // namespace otpnet
