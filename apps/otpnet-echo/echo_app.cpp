#include "echo_app.hpp"

#include <otpnet/behaviours/supervisor.hpp>
#include <otpnet/listener/tcp_listener.hpp>

#include <chrono>

namespace otpnet::echo {

using namespace std::chrono_literals;

application::spec make_app(const echo_config& c) {
  application::spec s;
  s.name = "tcp_server";
  s.description = "the tutorial's non-blocking echo server";
  s.start = [c]() -> task<start_result> {
    child_spec listener_spec;
    listener_spec.id = "tcp_listener";
    listener_spec.start = [c]() -> task<start_result> {
      listener::listener_options o;
      o.name = "echo";
      o.registered_name = listener_name;
      o.addresses = {c.bind};
      o.socket_options = {.active = gen_tcp::passive,
                          .packet = c.packet,
                          .packet_size = c.packet_size,
                          .delay_send = c.delay_send,
                          .nodelay = true,
                          .backlog = c.backlog};
      o.max_connections = c.max_connections;
      o.acceptors = c.acceptors;
      o.client_sup = server_ref("tcp_client_sup");
      return listener::start_link(std::move(o));
    };
    listener_spec.restart = restart_type::permanent;
    listener_spec.shutdown = 2000ms;

    child_spec handler;
    handler.id = "tcp_echo_fsm";
    handler.start = [h = std::make_shared<const echo_settings>(c.handler)]() -> task<start_result> {
      return statem::start_link<echo_fsm>(h);
    };
    handler.restart = restart_type::temporary;
    handler.shutdown = 2000ms;

    child_spec clients;
    clients.id = "tcp_client_sup";
    clients.start = [handler]() -> task<start_result> {
      start_options so;
      so.name = "tcp_client_sup";
      return supervisor::start_link(
          {.strategy = supervisor::restart_strategy::simple_one_for_one, .intensity = 5, .period = 60s}, {handler},
          std::move(so));
    };
    clients.restart = restart_type::permanent;
    clients.shutdown = shutdown_spec::infinity();
    clients.type = child_type::supervisor;

    start_options top;
    top.name = "tcp_server_sup";
    return supervisor::start_link(
        {.strategy = supervisor::restart_strategy::one_for_one, .intensity = 5, .period = 60s},
        {listener_spec, clients}, std::move(top));
  };
  return s;
}

}  // namespace otpnet::echo
