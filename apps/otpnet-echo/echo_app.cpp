#include "echo_app.hpp"

#include <otpnet/behaviours/supervisor.hpp>
#include <otpnet/listener/tcp_listener.hpp>
#include <otpnet/observe/admin.hpp>

#include <chrono>
#include <memory>
#include <vector>

namespace otpnet::echo {

using namespace std::chrono_literals;

application::spec make_app(const echo_config& c) {
  application::spec s;
  s.name = "tcp_server";
  s.description = "the tutorial's non-blocking echo server";
  s.start = [c]() -> task<start_result> {
    listener::listener_options o;
    o.name = "echo";
    o.registered_name = listener_name;
    if (c.sockets.empty()) {
      o.addresses = {c.bind};
    }
    o.sockets = c.sockets;
    o.socket_options = {.active = gen_tcp::passive,
                        .packet = c.packet,
                        .packet_size = c.packet_size,
                        .delay_send = c.delay_send,
                        .nodelay = true,
                        .backlog = c.backlog};
    o.max_connections = c.max_connections;
    o.acceptors = c.acceptors;
    // With several acceptors, each gets a client supervisor of its own on
    // its scheduler, and handlers start there (ranch's num_conns_sups): a
    // connection's whole life stays on the core that accepted it.
    const std::size_t acceptors = listener::acceptors_of(o);
    const bool per_acceptor = acceptors > 1;

    child_spec handler;
    handler.id = "tcp_echo_fsm";
    handler.start = [h = std::make_shared<const echo_settings>(c.handler), per_acceptor]() -> task<start_result> {
      start_options so;
      so.scheduler = per_acceptor ? caller_scheduler : least_loaded_scheduler;
      return statem::start_link<echo_fsm>(std::move(so), h);
    };
    handler.restart = restart_type::temporary;
    handler.shutdown = 2000ms;
    const supervisor::flags client_flags{
        .strategy = supervisor::restart_strategy::simple_one_for_one, .intensity = 5, .period = 60s};

    std::vector<child_spec> clients;
    if (per_acceptor) {
      o.client_sups = listener::client_sup_refs(client_sup_name, acceptors);
      clients = listener::client_sup_specs(client_sup_name, handler, client_flags, acceptors);
    } else {
      o.client_sup = server_ref(client_sup_name);
      clients.push_back(listener::client_sup_spec(client_sup_name, handler, client_flags));
    }

    child_spec listener_spec;
    listener_spec.id = listener_name;
    listener_spec.start = [o]() -> task<start_result> { return listener::start_link(o); };
    listener_spec.restart = restart_type::permanent;
    listener_spec.shutdown = 2000ms;

    // The client supervisors first, then the listener (ranch's order; the
    // tutorial's is the other way round): no acceptor takes a connection
    // before its supervisor is registered, which matters when clients wait
    // already as the server starts (socket activation starts it because
    // one came), and on shutdown (the reverse order) accepting stops before
    // they do.
    std::vector<child_spec> children = std::move(clients);
    children.push_back(std::move(listener_spec));
    if (c.admin || !c.admin_sockets.empty()) {
      observe::admin_options a;
      a.name = admin_name;
      if (c.admin) {
        a.address = *c.admin;
      }
      a.sockets = c.admin_sockets;
      a.what.listeners = {listener_name};
      a.what.supervisors = {"tcp_server_sup"};
      children.push_back(observe::admin_child_spec(a));
    }
    start_options top;
    top.name = "tcp_server_sup";
    return supervisor::start_link(
        {.strategy = supervisor::restart_strategy::one_for_one, .intensity = 5, .period = 60s}, std::move(children),
        std::move(top));
  };
  return s;
}

}  // namespace otpnet::echo
