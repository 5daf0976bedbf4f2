// The tutorial's session ("Building a Non-blocking TCP server using OTP
// principles", Running) as a test, with stand-ins for the sockets (gen_tcp
// is another layer): the application tcp_server, its one_for_one
// supervisor (5 restarts in 60 s) over a listener gen_server and
// tcp_client_sup, a simple_one_for_one supervisor of temporary handlers.
// Three clients connect; one handler is killed; the supervisor report of
// the tutorial appears, and the rest of the tree goes on as it was.
#include <otpnet/behaviours/application.hpp>
#include <otpnet/behaviours/gen_server.hpp>
#include <otpnet/behaviours/report.hpp>
#include <otpnet/behaviours/supervisor.hpp>
#include <otpnet/behaviours/sync_wait.hpp>
#include <otpnet/runtime/mailbox.hpp>
#include <otpnet/runtime/process.hpp>
#include <otpnet/runtime/runtime.hpp>

#include <gtest/gtest.h>

#include <any>
#include <chrono>
#include <string>
#include <thread>
#include <variant>
#include <vector>

namespace otpnet {
namespace {

using namespace std::chrono_literals;

// -- tcp_echo_fsm, a stand-in: echoes what it is sent -------------------------------

struct echo {
  using reply_type = std::string;
  std::string data;
};

struct tcp_echo_fsm : gen_server::behaviour<tcp_echo_fsm> {
  using calls = type_list<echo>;
  init_return init() {
    trap_exit(true);
    return ok();
  }
  call_return<std::string> handle_call(echo e) { return reply(std::move(e.data)); }
};

// -- tcp_listener, a stand-in: each accepted "connection" gets a handler ------------

struct accept_client {
  using reply_type = pid;
};
struct listen_port {
  using reply_type = int;
};

struct tcp_listener : gen_server::behaviour<tcp_listener> {
  using calls = type_list<accept_client, listen_port>;
  explicit tcp_listener(int p) : port(p) {}
  init_return init() {
    trap_exit(true);
    return ok();
  }
  // tcp_server_app:start_client() -> supervisor:start_child(tcp_client_sup, []).
  task<call_return<pid>> handle_call(accept_client) {
    start_result r = co_await supervisor::start_child("tcp_client_sup", std::any());
    co_return reply(r.id());
  }
  call_return<int> handle_call(listen_port) { return reply(port); }
  int port;
};

// -- tcp_server_app ------------------------------------------------------------------

child_spec client_template() {
  child_spec s;  // the tutorial's Id is `undefined`
  s.start = start_fn("tcp_echo_fsm:start_link", [] { return gen_server::start_link<tcp_echo_fsm>(); });
  s.restart = restart_type::temporary;
  s.shutdown = 2000ms;
  s.type = child_type::worker;
  return s;
}

application::spec tcp_server() {
  application::spec app;
  app.name = "tcp_server";
  app.description = "Demo TCP server";
  app.env = {{"listen_port", "2222"}};
  app.start = [] {
    int port = std::stoi(application::get_env("tcp_server", "listen_port", "2222"));
    child_spec listener;
    listener.id = "tcp_listener";
    listener.start = start_fn("tcp_listener:start_link", [port] {
      return gen_server::start_link<tcp_listener>(start_options{.name = "tcp_listener"}, port);
    });
    listener.shutdown = 2000ms;
    child_spec clients;
    clients.id = "tcp_client_sup";
    clients.start = start_fn("supervisor:start_link", [] {
      return supervisor::start_link(
          {.strategy = supervisor::restart_strategy::simple_one_for_one, .intensity = 5, .period = 60s},
          {client_template()}, start_options{.name = "tcp_client_sup"});
    });
    clients.shutdown = shutdown_spec::infinity();
    clients.type = child_type::supervisor;
    return supervisor::start_link(
        {.strategy = supervisor::restart_strategy::one_for_one, .intensity = 5, .period = 60s}, {listener, clients},
        start_options{.name = "tcp_server_app"});
  };
  return app;
}

class tutorial : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(runtime::start({.schedulers = 2})); }
  void TearDown() override {
    set_report_sink({});
    runtime::stop();
    EXPECT_EQ(runtime::process_count(), 0u);
  }
};

std::vector<supervisor::child_info> children_of(server_ref sup) {
  auto kids = sync_wait(supervisor::which_children(std::move(sup)));
  return kids ? *kids : std::vector<supervisor::child_info>{};
}

TEST_F(tutorial, a_killed_client_handler_is_reported_and_the_tree_goes_on) {
  mailbox mb;
  std::size_t baseline = runtime::process_count();
  set_report_sink([me = mb.self()](const report& r) { (void)send(me, r); });

  // 2> application:start(tcp_server).
  application::set_env("tcp_server", "listen_port", "2223");  // as given on the command line
  ASSERT_TRUE(sync_wait(application::start(tcp_server())));
  EXPECT_EQ(sync_wait(gen_server::call("tcp_listener", listen_port{})), 2223);
  std::vector<supervisor::child_info> top = children_of("tcp_server_app");
  ASSERT_EQ(top.size(), 2u);

  // 3> gen_tcp:connect(...), three times: the listener starts a handler for each.
  std::vector<pid> handlers;
  for (int i = 0; i < 3; ++i) {
    outcome<pid> h = sync_wait(gen_server::call("tcp_listener", accept_client{}));
    ASSERT_TRUE(h && *h);
    handlers.push_back(*h);
  }
  // 4> gen_tcp:send(S, <<"hello">>) comes back.
  EXPECT_EQ(sync_wait(gen_server::call(handlers[0], echo{"hello"})), "hello");

  // 6> [{_,Pid,_,_}] = supervisor:which_children(tcp_client_sup).
  std::vector<supervisor::child_info> clients = children_of("tcp_client_sup");
  ASSERT_EQ(clients.size(), 3u);
  for (const auto& c : clients) {
    EXPECT_EQ(c.id, "");  // undefined
    EXPECT_EQ(c.type, child_type::worker);
  }

  // 7> exit(Pid, kill).
  pid victim = handlers[1];
  exit(victim, exit_reason::kill());

  // =SUPERVISOR REPORT====  Supervisor: {local,tcp_client_sup}  Context: child_terminated
  //   Reason: killed  Offender: [{pid,...},{name,undefined},{mfa,{tcp_echo_fsm,start_link,[]}},
  //   {restart_type,temporary},{shutdown,2000},{child_type,worker}]
  auto r = mb.receive<report>(5000ms, [](const report& x) { return std::holds_alternative<supervisor_report>(x); });
  ASSERT_TRUE(r);
  const auto& sr = std::get<supervisor_report>(*r);
  EXPECT_EQ(sr.supervisor_name, "tcp_client_sup");
  EXPECT_EQ(sr.supervisor, whereis("tcp_client_sup"));
  EXPECT_EQ(sr.context, supervisor_context::child_terminated);
  EXPECT_EQ(sr.reason, exit_reason::killed());
  EXPECT_EQ(sr.child.child, victim);
  EXPECT_EQ(sr.child.id, "");
  EXPECT_EQ(sr.child.start, "tcp_echo_fsm:start_link");
  EXPECT_EQ(sr.child.restart, restart_type::temporary);
  EXPECT_EQ(sr.child.shutdown, shutdown_spec(2000ms));
  EXPECT_EQ(sr.child.type, child_type::worker);
  std::cout << to_string(*r) << "\n";

  // The other handlers are untouched: same processes, still answering.
  EXPECT_EQ(sync_wait(gen_server::call(handlers[0], echo{"still here"})), "still here");
  EXPECT_EQ(sync_wait(gen_server::call(handlers[2], echo{"me too"})), "me too");
  // The report was emitted while the supervisor handled the exit, so its
  // children list is up to date for the next call: the temporary handler
  // is gone for good, the others remain.
  clients = children_of("tcp_client_sup");
  ASSERT_EQ(clients.size(), 2u);
  for (const auto& c : clients) {
    EXPECT_TRUE(c.child == handlers[0] || c.child == handlers[2]);
  }
  // The tree is intact: the same listener and client supervisor.
  std::vector<supervisor::child_info> top_after = children_of("tcp_server_app");
  ASSERT_EQ(top_after.size(), 2u);
  EXPECT_EQ(top_after[0].child, top[0].child);
  EXPECT_EQ(top_after[1].child, top[1].child);
  EXPECT_EQ(top_after[1].type, child_type::supervisor);
  EXPECT_EQ(application::which_applications().size(), 1u);
  // And it still accepts.
  outcome<pid> fourth = sync_wait(gen_server::call("tcp_listener", accept_client{}));
  ASSERT_TRUE(fourth && *fourth);
  EXPECT_EQ(children_of("tcp_client_sup").size(), 3u);
  // No other supervisor or crash report came: nothing else ended abnormally.
  EXPECT_FALSE(mb.receive<report>(0ms, [](const report& x) {
    return std::holds_alternative<supervisor_report>(x) || std::holds_alternative<crash_report>(x);
  }));

  // application:stop(tcp_server) takes the whole tree down, in order.
  EXPECT_TRUE(sync_wait(application::stop("tcp_server")));
  for (pid h : {handlers[0], handlers[2], *fourth, top[0].child, top[1].child}) {
    EXPECT_FALSE(is_alive(h));
  }
  EXPECT_TRUE(application::which_applications().empty());
  // The sync_wait helpers finish on their schedulers: wait for that, bounded
  // in time (a count of yields is a few milliseconds on an idle core).
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (runtime::process_count() > baseline && std::chrono::steady_clock::now() < until) {
    std::this_thread::yield();
  }
  EXPECT_EQ(runtime::process_count(), baseline);
}

}  // namespace
}  // namespace otpnet
