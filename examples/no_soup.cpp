// File: examples/no_soup.cpp
//
// The gen_nb_server README's example: a server that greets every
// connection with "No soup for you!" and closes it. It is a gen_nb_server
// (the listener behaviour): sock_opts() gives the listen options, init()
// adds the listen port, new_connection() gets each accepted connection --
// and the server stays a gen_server: here it answers a call that counts
// the connections.
//
//   build/<preset>/bin/otpnet-example-no-soup 4000      # port 0 (default): any free port
//   listening on port 4000
//   $ nc localhost 4000
//   No soup for you!
//
// SIGINT or SIGTERM stops it.
#include <otpnet/behaviours/gen_server.hpp>
#include <otpnet/behaviours/sync_wait.hpp>
#include <otpnet/listener/gen_nb_server.hpp>
#include <otpnet/runtime/runtime.hpp>
#include <otpnet/socket/address.hpp>

#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <string>

namespace {

using namespace otpnet;

/// How many connections were served so far (a call: the server stays a
/// gen_server while it accepts).
struct served_req {
  using reply_type = std::uint64_t;
};
/// The port it listens on.
struct port_req {
  using reply_type = std::uint16_t;
};

struct no_soup : listener::gen_nb_server<no_soup> {
  using calls = type_list<served_req, port_req>;

  explicit no_soup(std::uint16_t port) : port_(port) {}

  // The options of the listen socket; connections inherit them.
  gen_tcp::options sock_opts() { return {.active = gen_tcp::once, .packet = gen_tcp::packet_type::raw}; }

  init_return init() {
    set_listener_name("no_soup");
    auto p = add_listen_port(socket::address::inet_any(port_));
    if (!p) {
      return stop(exit_reason::other(format_error(p.error())));
    }
    port_ = *p;
    return ok();
  }

  // new_connection(Sock, State): greet, close, and let the count go.
  void new_connection(const listener::connection& c) {
    if (auto s = c.take()) {
      (void)s->send("No soup for you!\n");
      (void)s->close();
    }
    ++served_;
    connection_ended();
  }

  call_return<std::uint64_t> handle_call(served_req) { return reply(served_); }
  call_return<std::uint16_t> handle_call(port_req) { return reply(port_); }

 private:
  std::uint16_t port_;
  std::uint64_t served_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  auto port = static_cast<std::uint16_t>(argc > 1 ? std::atoi(argv[1]) : 0);

  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);  // before any scheduler thread starts

  if (!runtime::start()) {
    std::cerr << "no_soup: cannot start the runtime\n";
    return 1;
  }
  start_result s = sync_wait(gen_server::start<no_soup>(start_options{.name = "no_soup"}, port));
  if (!s) {
    std::cerr << "no_soup: " << s.reason().to_string() << "\n";
    runtime::stop();
    return 1;
  }
  auto bound = sync_wait(gen_server::call("no_soup", port_req{}));
  std::cout << "listening on port " << bound.value_or(0) << std::endl;

  int sig = 0;
  sigwait(&sigs, &sig);
  auto served = sync_wait(gen_server::call("no_soup", served_req{}));
  std::cout << "served " << served.value_or(0) << " connection(s)" << std::endl;
  runtime::stop();
  return 0;
}
