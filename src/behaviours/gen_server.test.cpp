#include "otpnet/behaviours/gen_server.hpp"

#include <otpnet/behaviours/sync_wait.hpp>
#include <otpnet/runtime/mailbox.hpp>
#include <otpnet/runtime/process.hpp>
#include <otpnet/runtime/process_info.hpp>
#include <otpnet/runtime/receive.hpp>
#include <otpnet/runtime/runtime.hpp>
#include <otpnet/runtime/socket_select.hpp>

#include "support/loopback.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace otpnet {
namespace {

using namespace std::chrono_literals;

class gen_server_test : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(runtime::start({.schedulers = 2})); }
  void TearDown() override {
    runtime::stop();
    EXPECT_EQ(runtime::process_count(), 0u);
  }
};

// -- a counter -------------------------------------------------------------------

struct get {
  using reply_type = int;
};
struct add {
  int k;
};
struct tick {};
struct crash {};

struct counter : gen_server::behaviour<counter> {
  using calls = type_list<get>;
  using casts = type_list<add, crash>;
  using infos = type_list<tick>;

  explicit counter(pid probe = {}, int start = 0) : probe_(probe), n_(start) {}
  call_return<int> handle_call(get) { return reply(n_); }
  cast_return handle_cast(add a) {
    n_ += a.k;
    return noreply();
  }
  cast_return handle_cast(crash) { throw std::runtime_error("boom"); }
  cast_return handle_info(tick) {
    ++n_;
    return noreply();
  }
  void terminate(const exit_reason& why) {
    if (probe_) {
      send(probe_, "terminate " + why.to_string());
    }
  }

  pid probe_;
  int n_;
};

TEST_F(gen_server_test, call_cast_and_info_from_a_plain_thread) {
  mailbox mb;
  start_result s = sync_wait(gen_server::start_link<counter>(mb.self(), 10));
  ASSERT_TRUE(s.is_ok()) << s.to_string();
  EXPECT_EQ(sync_wait(gen_server::call(s.id(), get{})), 10);
  EXPECT_TRUE(gen_server::cast(s.id(), add{5}));
  EXPECT_TRUE(send(s.id(), tick{}));
  EXPECT_EQ(sync_wait(gen_server::call<int>(s.id(), get{}, 5s)), 16);
  auto info = process_info(s.id());
  ASSERT_TRUE(info);
  EXPECT_EQ(info->behaviour, "gen_server");
  EXPECT_EQ(info->message_queue_len, 0u);
}

/// Replies to a call when told to, with the int it is sent.
struct slow : gen_server::behaviour<slow> {
  using calls = type_list<get>;
  using infos = type_list<int>;
  from waiting;
  call_return<int> handle_call(get, from& f) {
    waiting = std::move(f);
    return noreply();
  }
  cast_return handle_info(int v) {
    gen_server::reply(waiting, v);
    return noreply();
  }
};

TEST_F(gen_server_test, call_from_a_process_suspends_only_that_process) {
  mailbox mb;
  start_result srv = sync_wait(gen_server::start<slow>(start_options{.scheduler = 0}));
  ASSERT_TRUE(srv.is_ok());
  // The caller and a bystander share scheduler 0 with the server.
  spawn_opt({.scheduler = 0}, [me = mb.self(), to = srv.id()]() -> proc {
    outcome<int> r = co_await gen_server::call<int>(to, get{}, 5s);
    send(me, r ? *r : -1);
  });
  spawn_opt({.scheduler = 0}, [me = mb.self()]() -> proc {
    co_await yield();
    send(me, std::string("bystander ran"));
  });
  auto b = mb.receive<std::string>(5000ms);
  ASSERT_TRUE(b);
  EXPECT_EQ(*b, "bystander ran");
  EXPECT_FALSE(mb.receive<int>(0ms));  // the call is still waiting
  send(srv.id(), 42);
  auto r = mb.receive<int>(5000ms);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, 42);
}

// -- errors of call ---------------------------------------------------------------

/// Keeps its caller waiting; replies when sent a pid, which it then tells
/// whether the reply was delivered. Tells its probe of each call.
struct late_replier : gen_server::behaviour<late_replier> {
  using calls = type_list<get>;
  using infos = type_list<pid>;
  pid probe;
  std::vector<from> waiting;
  explicit late_replier(pid p = {}) : probe(p) {}
  call_return<int> handle_call(get, from& f) {
    waiting.push_back(std::move(f));
    if (probe) {
      send(probe, std::string("called"));
    }
    return noreply();
  }
  cast_return handle_info(pid tell) {
    bool delivered = reply(waiting.front(), 1);
    waiting.erase(waiting.begin());
    send(tell, std::string(delivered ? "delivered" : "dropped"));
    return noreply();
  }
};

TEST_F(gen_server_test, call_to_a_dead_or_unknown_server_gives_noproc) {
  mailbox mb;
  auto [dead, r] = spawn_monitor([]() -> proc { co_return; });
  (void)r;
  ASSERT_TRUE(mb.receive<down_msg>(5000ms));
  outcome<int> a = sync_wait(gen_server::call<int>(dead, get{}));
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error(), exit_reason::noproc());
  outcome<int> b = sync_wait(gen_server::call<int>("nobody_here", get{}));
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error(), exit_reason::noproc());
  EXPECT_FALSE(gen_server::cast("nobody_here", add{1}));
}

struct check {};

TEST_F(gen_server_test, a_late_reply_never_reaches_the_caller) {
  mailbox mb;
  start_result srv = sync_wait(gen_server::start<late_replier>());
  ASSERT_TRUE(srv.is_ok());
  pid caller = spawn([me = mb.self(), to = srv.id()]() -> proc {
    outcome<int> r = co_await gen_server::call<int>(to, get{}, 30ms);
    send(me, std::string(!r && r.error() == exit_reason::timeout() ? "timed out" : "?"));
    (void)co_await receive<check>();
    // Whatever the server sent this process before the test sent check
    // is in the mailbox by now.
    std::optional<message> stray = co_await receive_any(after(0ms));
    send(me, std::string(stray ? "stray reply" : "empty"));
  });
  auto first = mb.receive<std::string>(5000ms);
  ASSERT_TRUE(first);
  EXPECT_EQ(*first, "timed out");
  send(srv.id(), mb.self());  // now the server replies, late
  auto said = mb.receive<std::string>(5000ms);
  ASSERT_TRUE(said);
  EXPECT_EQ(*said, "dropped");
  ASSERT_TRUE(send(caller, check{}));
  auto second = mb.receive<std::string>(5000ms);
  ASSERT_TRUE(second);
  EXPECT_EQ(*second, "empty");
}

TEST_F(gen_server_test, a_late_reply_is_dropped_at_the_server_for_a_plain_thread_too) {
  mailbox mb;
  start_result srv = sync_wait(gen_server::start<late_replier>());
  ASSERT_TRUE(srv.is_ok());
  outcome<int> r = sync_wait(gen_server::call<int>(srv.id(), get{}, 20ms));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), exit_reason::timeout());
  send(srv.id(), mb.self());
  auto said = mb.receive<std::string>(5000ms);
  ASSERT_TRUE(said);
  EXPECT_EQ(*said, "dropped");
  EXPECT_EQ(mb.size(), 0u);
}

TEST_F(gen_server_test, a_killed_caller_leaves_its_reply_to_be_dropped) {
  mailbox mb;
  start_result srv = sync_wait(gen_server::start<late_replier>(mb.self()));
  ASSERT_TRUE(srv.is_ok());
  auto [caller, mon] =
      spawn_monitor([to = srv.id()]() -> proc { (void)co_await gen_server::call<int>(to, get{}, infinity); });
  (void)mon;
  auto called = mb.receive<std::string>(5000ms);
  ASSERT_TRUE(called);
  exit(caller, exit_reason::kill());
  ASSERT_TRUE(mb.receive<down_msg>(5000ms));
  send(srv.id(), mb.self());
  auto said = mb.receive<std::string>(5000ms);
  ASSERT_TRUE(said);
  EXPECT_EQ(*said, "dropped");
}

/// Throws from handle_call.
struct thrower : gen_server::behaviour<thrower> {
  using calls = type_list<get>;
  pid probe;
  explicit thrower(pid p) : probe(p) {}
  call_return<int> handle_call(get) { throw std::logic_error("bad request"); }
  void terminate(const exit_reason& why) { send(probe, "terminate " + why.to_string()); }
};

TEST_F(gen_server_test, a_server_dying_mid_call_gives_its_reason_and_runs_terminate) {
  mailbox mb;
  start_result srv = sync_wait(gen_server::start<thrower>(mb.self()));
  ASSERT_TRUE(srv.is_ok());
  outcome<int> r = sync_wait(gen_server::call<int>(srv.id(), get{}));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().to_string(), "std::logic_error: bad request");
  auto t = mb.receive<std::string>(5000ms);
  ASSERT_TRUE(t);
  EXPECT_EQ(*t, "terminate std::logic_error: bad request");
}

struct other_request {
  using reply_type = int;
};

TEST_F(gen_server_test, an_unknown_call_stops_the_server_with_a_named_reason) {
  mailbox mb;
  start_result srv = sync_wait(gen_server::start<counter>(mb.self()));
  ASSERT_TRUE(srv.is_ok());
  outcome<int> r = sync_wait(gen_server::call(srv.id(), other_request{}));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().text().find("unknown_call"), std::string_view::npos) << r.error().to_string();
  auto t = mb.receive<std::string>(5000ms);
  ASSERT_TRUE(t);
  EXPECT_NE(t->find("terminate unknown_call"), std::string::npos);
}

TEST_F(gen_server_test, a_reply_of_the_wrong_type_is_an_error_and_the_server_goes_on) {
  start_result srv = sync_wait(gen_server::start<counter>());
  ASSERT_TRUE(srv.is_ok());
  outcome<long> r = sync_wait(gen_server::call<long>(srv.id(), get{}));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().text().find("bad_reply_type"), std::string_view::npos);
  EXPECT_EQ(sync_wait(gen_server::call<int>(srv.id(), get{})), 0);
}

// -- deferred replies, timeouts, continue -------------------------------------------

struct deferrer : gen_server::behaviour<deferrer> {
  using calls = type_list<get>;
  using casts = type_list<add>;
  pid probe;
  std::vector<from> waiting;
  explicit deferrer(pid p) : probe(p) {}
  call_return<int> handle_call(get, from& f) {
    waiting.push_back(std::move(f));
    send(probe, std::string("called"));
    return noreply();
  }
  cast_return handle_cast(add a) {
    // Replies to the first caller here, hands the second to another process.
    reply(waiting[0], a.k);
    spawn([f = std::move(waiting[1]), k = a.k]() mutable -> proc {
      reply(f, k * 2);
      co_return;
    });
    waiting.clear();
    return noreply();
  }
};

TEST_F(gen_server_test, deferred_replies_from_the_server_and_from_another_process) {
  mailbox mb;
  start_result srv = sync_wait(gen_server::start<deferrer>(mb.self()));
  ASSERT_TRUE(srv.is_ok());
  for (int i = 0; i < 2; ++i) {
    spawn([me = mb.self(), to = srv.id()]() -> proc {
      outcome<int> r = co_await gen_server::call<int>(to, get{});
      send(me, r ? *r : -1);
    });
  }
  ASSERT_TRUE(mb.receive<std::string>(5000ms));
  ASSERT_TRUE(mb.receive<std::string>(5000ms));
  gen_server::cast(srv.id(), add{21});
  auto a = mb.receive<int>(5000ms);
  auto b = mb.receive<int>(5000ms);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(*a + *b, 63);
}

struct idler : gen_server::behaviour<idler> {
  using casts = type_list<add>;
  pid probe;
  int timeouts = 0;
  explicit idler(pid p) : probe(p) {}
  init_return init() { return ok(20ms); }
  cast_return handle_info(timeout) {
    send(probe, ++timeouts);
    return timeouts < 2 ? noreply(20ms) : noreply();
  }
  cast_return handle_cast(add a) {
    send(probe, std::string("cast ") + std::to_string(a.k));
    return noreply(10ms);
  }
};

TEST_F(gen_server_test, timeouts_returned_by_callbacks_give_timeout_messages) {
  mailbox mb;
  start_result srv = sync_wait(gen_server::start<idler>(mb.self()));
  ASSERT_TRUE(srv.is_ok());
  auto t1 = mb.receive<int>(5000ms);
  auto t2 = mb.receive<int>(5000ms);
  ASSERT_TRUE(t1 && t2);
  EXPECT_EQ(*t1, 1);
  EXPECT_EQ(*t2, 2);
  EXPECT_FALSE(mb.receive<int>(50ms));  // noreply() without a timeout: none
  gen_server::cast(srv.id(), add{1});
  auto c = mb.receive<std::string>(5000ms);
  ASSERT_TRUE(c);
  EXPECT_EQ(*c, "cast 1");
  auto t3 = mb.receive<int>(5000ms);  // noreply(10ms) re-armed it
  ASSERT_TRUE(t3);
  EXPECT_EQ(*t3, 3);
}

struct load {
  int value;
};
struct loader : gen_server::behaviour<loader> {
  using calls = type_list<get>;
  int n = 0;
  init_return init() { return ok(continue_with(load{40})); }
  cast_return handle_continue(load l) {
    n = l.value;
    return noreply(continue_with(std::string("two")));
  }
  cast_return handle_continue(std::string s) {
    n += static_cast<int>(s.size()) - 1;
    return noreply();
  }
  call_return<int> handle_call(get) { return reply(n); }
};

TEST_F(gen_server_test, handle_continue_runs_before_any_message) {
  start_result srv = sync_wait(gen_server::start<loader>());
  ASSERT_TRUE(srv.is_ok());
  EXPECT_EQ(sync_wait(gen_server::call<int>(srv.id(), get{})), 42);
}

// -- start and stop ---------------------------------------------------------------------

struct starter : gen_server::behaviour<starter> {
  enum class how { ok, stop, ignore, throws, slow };
  how h;
  explicit starter(how x) : h(x) {}
  task<init_return> init() {
    switch (h) {
      case how::ok:
        co_return ok();
      case how::stop:
        co_return stop(exit_reason::other("no_config"));
      case how::ignore:
        co_return ignore();
      case how::throws:
        throw std::runtime_error("init failed");
      case how::slow:
        co_await sleep(10000ms);
        co_return ok();
    }
    co_return ok();
  }
};

TEST_F(gen_server_test, start_link_reports_init_outcomes_and_spares_the_caller) {
  mailbox mb;
  spawn([me = mb.self()]() -> proc {
    // Not trapping exits: a failed start must not take this process down.
    std::string out;
    auto a = co_await gen_server::start_link<starter>(starter::how::ok);
    out += a.is_ok() ? "ok;" : "?;";
    auto b = co_await gen_server::start_link<starter>(starter::how::stop);
    out += b.is_error() ? "error " + b.reason().to_string() + ";" : "?;";
    auto c = co_await gen_server::start_link<starter>(starter::how::ignore);
    out += c.is_ignore() ? "ignore;" : "?;";
    auto d = co_await gen_server::start_link<starter>(starter::how::throws);
    out += d.is_error() ? "error " + d.reason().to_string() + ";" : "?;";
    // A named options value: GCC 12 mishandles an aggregate temporary with
    // a non-trivial member inside a co_await expression.
    start_options quick{.timeout = 20ms};
    auto e = co_await gen_server::start_link<starter>(quick, starter::how::slow);
    out += e.is_error() ? "error " + e.reason().to_string() : "?";
    // A failed start has waited for the process to end, so any exit
    // signal or message of it is here by now (the yield lets signals in).
    co_await yield();
    auto left = co_await receive_any(after(0ms));
    send(me, out + (left ? " +message" : ""));
  });
  auto r = mb.receive<std::string>(5000ms);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, "ok;error no_config;ignore;error std::runtime_error: init failed;error timeout");
}

TEST_F(gen_server_test, registered_names_and_already_started) {
  start_result a = sync_wait(gen_server::start<counter>(start_options{.name = "the_counter"}, pid{}, 3));
  ASSERT_TRUE(a.is_ok());
  EXPECT_EQ(whereis("the_counter"), a.id());
  EXPECT_EQ(sync_wait(gen_server::call<int>("the_counter", get{})), 3);
  start_result b = sync_wait(gen_server::start<counter>(start_options{.name = "the_counter"}));
  ASSERT_TRUE(b.is_error());
  EXPECT_EQ(b.reason().text(), "already_started");
  EXPECT_EQ(b.id(), a.id());
}

TEST_F(gen_server_test, stop_runs_terminate_and_waits_for_the_end) {
  mailbox mb;
  start_result srv = sync_wait(gen_server::start<counter>(mb.self()));
  ASSERT_TRUE(srv.is_ok());
  outcome<> r = sync_wait(gen_server::stop(srv.id(), exit_reason::shutdown()));
  EXPECT_TRUE(r);
  EXPECT_FALSE(is_alive(srv.id()));
  auto t = mb.receive<std::string>(5000ms);
  ASSERT_TRUE(t);
  EXPECT_EQ(*t, "terminate shutdown");
  outcome<> again = sync_wait(gen_server::stop(srv.id()));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error(), exit_reason::noproc());
}

struct trapper : gen_server::behaviour<trapper> {
  pid probe;
  explicit trapper(pid p) : probe(p) {}
  init_return init() {
    trap_exit(true);
    return ok();
  }
  void terminate(const exit_reason& why) { send(probe, "terminate " + why.to_string()); }
};

TEST_F(gen_server_test, the_parents_exit_signal_runs_terminate) {
  mailbox mb;
  pid parent = spawn([me = mb.self()]() -> proc {
    auto s = co_await gen_server::start_link<trapper>(me);
    send(me, s.id());
    co_await receive<int>();
    exit(s.id(), exit_reason::shutdown());
    co_await receive<int>();
  });
  auto srv = mb.receive<pid>(5000ms);
  ASSERT_TRUE(srv);
  ref mon = monitor(*srv);
  send(parent, 1);
  auto t = mb.receive<std::string>(5000ms);
  ASSERT_TRUE(t);
  EXPECT_EQ(*t, "terminate shutdown");
  auto down = mb.receive<down_msg>(5000ms, [&](const down_msg& d) { return d.monitor == mon; });
  ASSERT_TRUE(down);
  EXPECT_EQ(down->reason, exit_reason::shutdown());
}

TEST_F(gen_server_test, the_parents_death_runs_terminate) {
  mailbox mb;
  pid parent = spawn([me = mb.self()]() -> proc {
    auto s = co_await gen_server::start_link<trapper>(me);
    send(me, s.id());
    co_await receive<int>();
    exit(exit_reason::other("parent gone"));
  });
  auto srv = mb.receive<pid>(5000ms);
  ASSERT_TRUE(srv);
  send(parent, 1);
  auto t = mb.receive<std::string>(5000ms);
  ASSERT_TRUE(t);
  EXPECT_EQ(*t, "terminate parent gone");
}

/// Stops from handle_call with a reply.
struct quitter : gen_server::behaviour<quitter> {
  using calls = type_list<get>;
  pid probe;
  explicit quitter(pid p) : probe(p) {}
  call_return<int> handle_call(get) { return stop(exit_reason::normal(), 99); }
  void terminate(const exit_reason&) { send(probe, std::string("terminated")); }
};

TEST_F(gen_server_test, stop_with_a_reply_answers_after_terminate) {
  mailbox mb;
  start_result srv = sync_wait(gen_server::start<quitter>(mb.self()));
  ASSERT_TRUE(srv.is_ok());
  EXPECT_EQ(sync_wait(gen_server::call<int>(srv.id(), get{})), 99);
  auto t = mb.receive<std::string>(5000ms);
  ASSERT_TRUE(t);
  EXPECT_EQ(*t, "terminated");
}

/// Stops from handle_call with a reply, and its terminate throws.
struct clumsy_quitter : gen_server::behaviour<clumsy_quitter> {
  using calls = type_list<get>;
  call_return<int> handle_call(get) { return stop(exit_reason::normal(), 99); }
  void terminate(const exit_reason&) { throw std::runtime_error("terminate blew up"); }
};

// As OTP's (a reply in terminate's `after`): the caller gets its reply even
// when terminate throws, and the server ends with terminate's exception.
// (The reply was skipped: the caller saw the server's end instead.)
TEST_F(gen_server_test, stop_with_a_reply_answers_even_when_terminate_throws) {
  mailbox mb;
  start_result srv = sync_wait(gen_server::start<clumsy_quitter>());
  ASSERT_TRUE(srv.is_ok());
  ref mon = monitor(srv.id());
  EXPECT_EQ(sync_wait(gen_server::call<int>(srv.id(), get{})), 99);
  auto down = mb.receive<down_msg>(5000ms, [&](const down_msg& d) { return d.monitor == mon; });
  ASSERT_TRUE(down);
  EXPECT_EQ(down->reason.to_string(), "std::runtime_error: terminate blew up");
}

TEST_F(gen_server_test, a_crash_in_handle_cast_runs_terminate_and_ends_with_the_reason) {
  mailbox mb;
  start_result srv = sync_wait(gen_server::start<counter>(mb.self()));
  ASSERT_TRUE(srv.is_ok());
  ref mon = monitor(srv.id());
  gen_server::cast(srv.id(), crash{});
  auto t = mb.receive<std::string>(5000ms);
  ASSERT_TRUE(t);
  EXPECT_EQ(*t, "terminate std::runtime_error: boom");
  auto down = mb.receive<down_msg>(5000ms, [&](const down_msg& d) { return d.monitor == mon; });
  ASSERT_TRUE(down);
  EXPECT_EQ(down->reason.to_string(), "std::runtime_error: boom");
}

// -- coroutine callbacks and many calls --------------------------------------------------

struct relay : gen_server::behaviour<relay> {
  using calls = type_list<get>;
  pid backend;
  explicit relay(pid b) : backend(b) {}
  task<call_return<int>> handle_call(get) {
    outcome<int> v = co_await gen_server::call<int>(backend, get{});
    co_return reply(v ? *v * 2 : -1);
  }
};

TEST_F(gen_server_test, a_coroutine_handle_call_may_call_another_server) {
  start_result backend = sync_wait(gen_server::start<counter>(pid{}, 21));
  start_result front = sync_wait(gen_server::start<relay>(backend.id()));
  ASSERT_TRUE(backend.is_ok() && front.is_ok());
  EXPECT_EQ(sync_wait(gen_server::call<int>(front.id(), get{})), 42);
}

struct waits_so_far {
  using reply_type = int;
};
struct note {
  std::string text;
};
struct noted {
  using reply_type = std::string;
};

/// Callbacks that wait only sometimes, returning maybe_task: a plain value
/// when done at once, the task of a coroutine when they must ask another
/// server. `add{0}` adds the backend's value; `get` asks the backend while
/// nothing is counted yet (its task answers through the caller it holds by
/// reference); a `note` with text asks the backend first and reads its text,
/// held by reference, after the wait; init's continuation asks at once.
struct sometimes_waits : gen_server::behaviour<sometimes_waits> {
  using calls = type_list<get, waits_so_far, noted>;
  using casts = type_list<add, note>;
  using infos = type_list<tick>;
  pid backend;
  int n = 0;
  int waits = 0;
  std::string notes;
  explicit sometimes_waits(pid b) : backend(b) {}

  init_return init() { return ok(continue_with(load{0})); }
  maybe_task<cast_return> handle_continue(load) {
    if (waits > 0) {
      return noreply();
    }
    return note_backend_at_start();
  }
  maybe_task<call_return<int>> handle_call(get, from& f) {
    if (n > 0) {
      return reply(n);
    }
    return count_from_backend(f);
  }
  call_return<int> handle_call(waits_so_far) { return reply(waits); }
  call_return<std::string> handle_call(noted) { return reply(notes); }
  maybe_task<cast_return> handle_cast(add a) {
    if (a.k != 0) {
      n += a.k;
      return noreply();
    }
    return add_from_backend();
  }
  maybe_task<cast_return> handle_cast(note&& m) {
    if (m.text.empty()) {
      return noreply();
    }
    return note_after_backend(m);
  }
  maybe_task<cast_return> handle_info(tick) {
    ++n;
    return noreply();
  }

 private:
  task<int> backend_value() {
    ++waits;
    outcome<int> v = co_await gen_server::call<int>(backend, get{});
    co_return v ? *v : -1000;
  }
  task<cast_return> note_backend_at_start() {
    notes += "start:" + std::to_string(co_await backend_value()) + ";";
    co_return noreply();
  }
  task<call_return<int>> count_from_backend(from& f) {
    n = co_await backend_value();
    (void)f.reply(n);
    co_return noreply();
  }
  task<cast_return> add_from_backend() {
    n += co_await backend_value();
    co_return noreply();
  }
  task<cast_return> note_after_backend(const note& m) {
    int v = co_await backend_value();
    notes += m.text + ":" + std::to_string(v) + ";";
    co_return noreply();
  }
};

// Each callback kind returning maybe_task: ready values answer at once,
// tasks are awaited, and the messages behind a waiting callback are handled
// after it, in order. A task may hold the caller (from&) and its message by
// reference until it ends.
TEST_F(gen_server_test, callbacks_returning_maybe_task_answer_now_or_after_their_wait) {
  start_result backend = sync_wait(gen_server::start<counter>(pid{}, 21));
  ASSERT_TRUE(backend.is_ok());
  start_result s = sync_wait(gen_server::start<sometimes_waits>(backend.id()));
  ASSERT_TRUE(s.is_ok());
  EXPECT_EQ(sync_wait(gen_server::call<int>(s.id(), get{})), 21);          // waited, replied through from&
  EXPECT_EQ(sync_wait(gen_server::call<int>(s.id(), get{})), 21);          // ready
  EXPECT_EQ(sync_wait(gen_server::call<int>(s.id(), waits_so_far{})), 2);  // the continuation's, get's
  EXPECT_TRUE(gen_server::cast(s.id(), add{5}));                           // ready: 26
  EXPECT_TRUE(gen_server::cast(s.id(), add{0}));                           // waits: 47
  EXPECT_TRUE(send(s.id(), tick{}));                                       // ready, after the wait: 48
  EXPECT_EQ(sync_wait(gen_server::call<int>(s.id(), get{})), 48);
  EXPECT_EQ(sync_wait(gen_server::call<int>(s.id(), waits_so_far{})), 3);
  // (Longer than a string's inline buffer: the text is in the message's
  // heap block, read after the wait.)
  EXPECT_TRUE(gen_server::cast(s.id(), note{std::string(40, 'x')}));
  EXPECT_TRUE(gen_server::cast(s.id(), note{}));  // ready
  EXPECT_EQ(sync_wait(gen_server::call<std::string>(s.id(), noted{})), "start:21;" + std::string(40, 'x') + ":21;");
}

/// The idle timeout through a maybe_task handle_info: ready the first time
/// (arming the next), a task that asks the backend the second, ready and
/// unarmed after. (A call cancels the timeout, as in OTP: get re-arms it
/// until the count is done.)
struct timed_sometimes : gen_server::behaviour<timed_sometimes> {
  using calls = type_list<get>;
  pid backend;
  int n = 0;
  explicit timed_sometimes(pid b) : backend(b) {}
  init_return init() { return ok(1ms); }
  maybe_task<cast_return> handle_info(timeout) {
    if (n == 0) {
      n = 1;
      return noreply(1ms);
    }
    if (n == 1) {
      return add_backend();
    }
    return noreply();
  }
  call_return<int> handle_call(get) { return n < 22 ? reply(n, 1ms) : reply(n); }

 private:
  task<cast_return> add_backend() {
    outcome<int> v = co_await gen_server::call<int>(backend, get{});
    n += v ? *v : -1000;
    co_return noreply();
  }
};

TEST_F(gen_server_test, an_idle_timeout_handler_returning_maybe_task_answers_now_or_after_its_wait) {
  start_result backend = sync_wait(gen_server::start<counter>(pid{}, 21));
  ASSERT_TRUE(backend.is_ok());
  start_result s = sync_wait(gen_server::start<timed_sometimes>(backend.id()));
  ASSERT_TRUE(s.is_ok());
  int n = 0;
  for (int polls = 0; polls < 1000 && n != 22; ++polls) {
    n = sync_wait(gen_server::call<int>(s.id(), get{})).value_or(-1);
    if (n != 22) {
      std::this_thread::sleep_for(5ms);  // (a bounded poll: the timeouts come by themselves)
    }
  }
  EXPECT_EQ(n, 22) << "1 from the ready timeout, 21 from the waiting one";
}

/// A behaviour layered on gen_server (as gen_nb_server is) takes `note`
/// messages itself, before any handle_info: a plain value for an empty
/// note, the task of a coroutine that asks the backend first for one with
/// text, which it reads by reference after the wait (the message lives
/// until the task ends).
struct layered_notes : gen_server::behaviour<layered_notes> {
  using behaviour_infos = type_list<note>;
  using calls = type_list<noted>;
  pid backend;
  std::string notes;
  explicit layered_notes(pid b) : backend(b) {}

  maybe_task<cast_return> behaviour_info(note&& m) {
    if (m.text.empty()) {
      notes += "empty;";
      return noreply();
    }
    return note_after_backend(m);
  }
  call_return<std::string> handle_call(noted) { return reply(notes); }

 private:
  task<cast_return> note_after_backend(const note& m) {
    outcome<int> v = co_await gen_server::call<int>(backend, get{});
    notes += m.text + ":" + std::to_string(v ? *v : -1000) + ";";
    co_return noreply();
  }
};

TEST_F(gen_server_test, a_layered_behaviours_info_returning_maybe_task_answers_now_or_after_its_wait) {
  start_result backend = sync_wait(gen_server::start<counter>(pid{}, 21));
  ASSERT_TRUE(backend.is_ok());
  start_result s = sync_wait(gen_server::start<layered_notes>(backend.id()));
  ASSERT_TRUE(s.is_ok());
  EXPECT_TRUE(send(s.id(), note{std::string(40, 'y')}));  // waits, then reads its text
  EXPECT_TRUE(send(s.id(), note{}));                      // ready, after the wait
  EXPECT_EQ(sync_wait(gen_server::call<std::string>(s.id(), noted{})), std::string(40, 'y') + ":21;empty;");
}

TEST_F(gen_server_test, many_calls_across_schedulers_leave_nothing_behind) {
  mailbox mb;
  start_result srv = sync_wait(gen_server::start<counter>(start_options{.scheduler = 1}));
  ASSERT_TRUE(srv.is_ok());
  pid caller = spawn_opt({.scheduler = 0}, [me = mb.self(), to = srv.id()]() -> proc {
                 int ok = 0;
                 for (int i = 0; i < 20000; ++i) {
                   gen_server::cast(to, add{1});
                   outcome<int> r = co_await gen_server::call<int>(to, get{});
                   ok += r && *r == i + 1 ? 1 : 0;
                 }
                 std::optional<message> left = co_await receive_any(after(0ms));
                 send(me, left ? -1 : ok);
                 co_await receive<check>();
               }).first;
  auto r = mb.receive<int>(30000ms);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, 20000);
  // The caller holds no monitor and no message of any call.
  auto mine = process_info(caller);
  ASSERT_TRUE(mine);
  EXPECT_TRUE(mine->monitors.empty());
  EXPECT_EQ(mine->message_queue_len, 0u);
  // The server forgets the last monitor once its demonitor signal, still in
  // flight when the caller reported, reaches it.
  std::optional<process_info_t> info;
  auto until = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < until) {
    info = process_info(srv.id());
    if (!info || info->monitored_by.empty()) {
      break;
    }
    std::this_thread::yield();
  }
  ASSERT_TRUE(info);
  EXPECT_TRUE(info->monitored_by.empty());
  send(caller, check{});
}

// -- hibernate ------------------------------------------------------------------------------

struct cache_state {
  using reply_type = std::pair<std::size_t, int>;  // the cache's capacity, hibernations so far
};
struct fill {
  std::size_t n;
  bool then_hibernate;
};
struct nap {
  using reply_type = int;
};
struct trip_hibernate {};
/// Waits (nowait receives) on `n` sockets, then closes them: the process
/// record keeps an entry per socket until it is compacted.
struct wait_on_sockets {
  int n;
};

/// A server with a cache it rebuilds on demand: handle_hibernate drops it.
struct cache_server : gen_server::behaviour<cache_server> {
  using calls = type_list<cache_state, nap>;
  using casts = type_list<fill, trip_hibernate, wait_on_sockets>;
  using infos = type_list<socket_select>;  // the aborts of the closed sockets' waits

  init_return init() { return ok(hibernate); }
  call_return<std::pair<std::size_t, int>> handle_call(cache_state) { return reply(std::pair{cache.capacity(), naps}); }
  call_return<int> handle_call(nap) { return reply(7, hibernate); }
  cast_return handle_cast(fill f) {
    cache.assign(f.n, 'x');
    return f.then_hibernate ? noreply(hibernate) : noreply();
  }
  cast_return handle_cast(trip_hibernate) {
    trip = true;
    return noreply(hibernate);
  }
  cast_return handle_cast(wait_on_sockets w) {
    for (int k = 0; k < w.n; ++k) {
      auto [a, b] = otpnet::test::connected_pair();
      std::byte buf[1];
      (void)socket::recv(b, buf, 0, socket::nowait);  // waits: the record tracks b
      (void)socket::close(a);
      (void)socket::close(b);
    }
    return noreply();
  }
  cast_return handle_info(socket_select&&) { return noreply(); }
  void handle_hibernate() {
    if (trip) {
      throw std::runtime_error("hibernate tripped");
    }
    ++naps;
    cache.clear();
    cache.shrink_to_fit();
  }

  std::string cache;
  int naps = 0;
  bool trip = false;
};

// ok(hibernate), noreply(hibernate) and reply(v, hibernate): handle_hibernate
// runs before the next message is handled, once per hibernating return.
TEST_F(gen_server_test, hibernate_runs_handle_hibernate_before_the_next_message) {
  start_result r = sync_wait(gen_server::start<cache_server>());
  ASSERT_TRUE(r);
  auto state = [&] {
    return sync_wait(gen_server::call(r.id(), cache_state{})).value_or(std::pair{~std::size_t{0}, -1});
  };
  EXPECT_EQ(state().second, 1) << "init's ok(hibernate)";
  gen_server::cast(r.id(), fill{100000, false});
  auto s = state();
  EXPECT_GE(s.first, 100000u);
  EXPECT_EQ(s.second, 1) << "no hibernate after a plain noreply";
  gen_server::cast(r.id(), fill{100000, true});
  s = state();
  EXPECT_EQ(s.second, 2);
  EXPECT_LT(s.first, 100000u) << "handle_hibernate dropped the cache before the call was handled";
  EXPECT_EQ(sync_wait(gen_server::call(r.id(), nap{})).value_or(0), 7) << "reply(v, hibernate) replies first";
  EXPECT_EQ(state().second, 3);
  EXPECT_TRUE(sync_wait(gen_server::stop(r.id())));
}

// The runtime's part: a record that tracked many sockets since closed gives
// back its lists when the server hibernates.
TEST_F(gen_server_test, hibernate_gives_back_the_process_records_spare_memory) {
  start_result r = sync_wait(gen_server::start<cache_server>());
  ASSERT_TRUE(r);
  auto memory = [&] {
    auto i = process_info(r.id());
    return i ? i->memory : 0;
  };
  std::size_t at_start = memory();
  gen_server::cast(r.id(), wait_on_sockets{200});
  (void)sync_wait(gen_server::call(r.id(), cache_state{}));  // the cast is done
  std::size_t after_sockets = memory();
  EXPECT_GE(after_sockets, at_start + 200 * 16) << "an entry per socket waited on";
  (void)sync_wait(gen_server::call(r.id(), nap{}));
  (void)sync_wait(gen_server::call(r.id(), cache_state{}));  // after the hibernation
  EXPECT_LE(memory(), at_start) << "the entries of closed sockets are gone with their lists";
  EXPECT_TRUE(sync_wait(gen_server::stop(r.id())));
}

// handle_hibernate is a callback like the others: what it throws ends the
// server with that reason.
TEST_F(gen_server_test, an_exception_from_handle_hibernate_ends_the_server) {
  mailbox mb;
  start_result r = sync_wait(gen_server::start<cache_server>());
  ASSERT_TRUE(r);
  ref m = monitor(r.id());
  (void)m;
  gen_server::cast(r.id(), trip_hibernate{});
  auto d = mb.receive<down_msg>(5000ms);
  ASSERT_TRUE(d);
  EXPECT_NE(d->reason.to_string().find("hibernate tripped"), std::string::npos) << d->reason.to_string();
}

}  // namespace
}  // namespace otpnet
