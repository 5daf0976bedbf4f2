// File: examples/line_echo.cpp
//
// A line echo server you can talk to with `nc`: every line you type comes
// back. It is the ready-made listener (listener::start_link) in the
// tutorial's tree -- a top supervisor over a client supervisor
// (simple_one_for_one of `line_handler`) and the listener -- with
// {packet, line} framing, so that the handler gets one whole line per
// message however the bytes arrive.
//
//   build/<preset>/bin/otpnet-example-line-echo 4000    # port 0 (default): any free port
//   listening on port 4000
//   $ nc localhost 4000
//   hello
//   hello
//
// SIGINT or SIGTERM drains the listener and stops.
#include <otpnet/behaviours/gen_server.hpp>
#include <otpnet/behaviours/supervisor.hpp>
#include <otpnet/behaviours/sync_wait.hpp>
#include <otpnet/gen_tcp/socket.hpp>
#include <otpnet/listener/connection.hpp>
#include <otpnet/listener/tcp_listener.hpp>
#include <otpnet/runtime/runtime.hpp>
#include <otpnet/socket/address.hpp>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <string>

namespace {

using namespace otpnet;
using namespace std::chrono_literals;

/// One per connection: takes the socket when the listener hands it over,
/// then echoes each line with {active, once} (one line at a time: a client
/// that sends faster than it reads is held back by TCP, not buffered here).
struct line_handler : gen_server::behaviour<line_handler> {
  using infos =
      type_list<listener::socket_ready, gen_tcp::tcp, gen_tcp::tcp_closed, gen_tcp::tcp_error, listener::drain_notice>;

  cast_return handle_info(listener::socket_ready&& r) {
    auto s = r.conn.take();
    if (!s) {
      return stop(exit_reason::other("hand-off: " + format_error(s.error())));
    }
    sock_ = *s;
    (void)sock_.setopts({.active = gen_tcp::once});
    return noreply();
  }
  cast_return handle_info(gen_tcp::tcp&& line) {
    (void)sock_.send(line.data);
    (void)sock_.setopts({.active = gen_tcp::once});
    return noreply();
  }
  cast_return handle_info(gen_tcp::tcp_closed&&) { return stop(); }
  cast_return handle_info(gen_tcp::tcp_error&& e) {
    return stop(exit_reason::other("socket error: " + std::string(err_name(e.reason))));
  }
  cast_return handle_info(listener::drain_notice&&) { return stop(); }

 private:
  gen_tcp::socket sock_;
};

task<start_result> start_tree(std::uint16_t port) {
  child_spec handler;
  handler.id = "line_handler";
  handler.start = [] { return gen_server::start_link<line_handler>(); };
  handler.restart = restart_type::temporary;
  handler.shutdown = 2000ms;

  child_spec clients;
  clients.id = "line_client_sup";
  clients.type = child_type::supervisor;
  clients.start = [handler]() {
    return supervisor::start_link(
        {.strategy = supervisor::restart_strategy::simple_one_for_one, .intensity = 5, .period = 60s}, {handler},
        start_options{.name = "line_client_sup"});
  };

  child_spec lst;
  lst.id = "line_listener";
  lst.start = [port]() {
    listener::listener_options o;
    o.name = "line_echo";
    o.registered_name = "line_listener";
    o.addresses = {socket::address::inet_any(port)};
    // Lines of up to 64 KiB; longer ones end that connection (emsgsize).
    o.socket_options = {.active = gen_tcp::passive, .packet = gen_tcp::packet_type::line, .line_length = 65536};
    o.client_sup = server_ref("line_client_sup");
    return listener::start_link(std::move(o));
  };

  supervisor::flags top{.strategy = supervisor::restart_strategy::one_for_one, .intensity = 5, .period = 60s};
  return supervisor::start(top, {clients, lst}, start_options{.name = "line_echo_sup"});
}

}  // namespace

int main(int argc, char** argv) {
  auto port = static_cast<std::uint16_t>(argc > 1 ? std::atoi(argv[1]) : 0);

  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);  // before any scheduler thread starts

  if (!runtime::start()) {
    std::cerr << "line_echo: cannot start the runtime\n";
    return 1;
  }
  start_result tree = sync_wait(start_tree(port));
  if (!tree) {
    std::cerr << "line_echo: " << tree.reason().to_string() << "\n";
    runtime::stop();
    return 1;
  }
  auto info = sync_wait(listener::info("line_listener"));
  std::cout << "listening on port " << (info && !info->ports.empty() ? info->ports.front().port : 0) << std::endl;

  int sig = 0;
  sigwait(&sigs, &sig);
  auto drained = sync_wait(listener::drain("line_listener", 5000ms));
  if (drained) {
    std::cout << "drained: " << drained->finished << " finished, " << drained->forced << " stopped" << std::endl;
  }
  runtime::stop();
  return 0;
}
