// File: apps/otpnet-echo/echo_app.hpp
//
// The tutorial's application tree, as an otpnet application:
//
//   tcp_server_sup (one_for_one, 5 restarts in 60 s)
//     tcp_listener   the listener (gen_nb_server), permanent, shutdown 2000
//     tcp_client_sup simple_one_for_one of echo_fsm, temporary, shutdown 2000
//
// With several acceptors, tcp_client_sup is one supervisor per acceptor,
// tcp_client_sup_0 ... tcp_client_sup_{N-1}, each on its acceptor's
// scheduler, whose handlers start on that scheduler too; they are started
// before the listener (and stopped after it).
#pragma once

#include <otpnet/behaviours/application.hpp>
#include <otpnet/gen_tcp/packet.hpp>
#include <otpnet/socket/address.hpp>

#include "echo_fsm.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace otpnet::echo {

struct echo_config {
  otpnet::socket::address bind = otpnet::socket::address::inet_any(2222);
  /// Listen sockets systemd passed: served instead of `bind` when any.
  std::vector<otpnet::socket::socket> sockets;
  /// The admin HTTP endpoint's address (/metrics, /tree, /healthz, /), in
  /// the server's tree after the listener; none: no endpoint.
  std::optional<otpnet::socket::address> admin;
  /// Listen sockets systemd passed for the admin endpoint (named "admin"):
  /// served instead of `admin` when any (and the endpoint runs without it).
  std::vector<otpnet::socket::socket> admin_sockets;
  gen_tcp::packet_type packet = gen_tcp::packet_type::u2;
  std::uint32_t packet_size = 0;
  std::size_t max_connections = 0;
  int backlog = 4096;
  /// Acceptor processes (listener_options::acceptors; 0: one per scheduler).
  std::size_t acceptors = 1;
  bool delay_send = true;
  echo_settings handler;
};

/// The application spec of the echo server.
application::spec make_app(const echo_config& c);

/// The admin endpoint's name (its listener is registered as admin_listener).
inline constexpr const char* admin_name = "admin";

/// The listener's registered name.
inline constexpr const char* listener_name = "tcp_listener";
/// The client supervisor's registered name (with several acceptors, the
/// prefix of theirs: tcp_client_sup_0, ...).
inline constexpr const char* client_sup_name = "tcp_client_sup";

}  // namespace otpnet::echo
