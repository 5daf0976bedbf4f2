// File: otpnet/observe/admin.hpp
//
// The admin HTTP endpoint: a small supervised tree (a tcp_listener and a
// handler per connection, as every otpnet server) that answers
//   GET /metrics   the Prometheus metrics (metrics.hpp), for a scraper
//   GET /tree      the supervision trees as JSON
//   GET /processes the live processes as JSON (process_info of each)
//   GET /sockets   the socket registry as JSON (which_sockets, info)
//   GET /healthz   "ok" (the runtime answers)
//   GET /          a page that shows the supervision trees and refreshes
//                  itself (the tutorial's appmon, in a browser)
// HEAD too; HTTP/1.0 and 1.1, one request per connection (Connection:
// close). Bind it to loopback or an internal address: it has no
// authentication.
//
//   observe::admin_options a;
//   a.address = socket::address::inet_loopback(9090);
//   a.what = {.listeners = {"tcp_listener"}, .supervisors = {"tcp_server_sup"}};
//   auto r = co_await observe::start_admin(a);      // or admin_child_spec(a) in a tree
#pragma once

#include <otpnet/behaviours/child_spec.hpp>
#include <otpnet/behaviours/start_result.hpp>
#include <otpnet/observe/metrics.hpp>
#include <otpnet/runtime/proc.hpp>
#include <otpnet/socket/address.hpp>
#include <otpnet/socket/socket.hpp>

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

namespace otpnet::observe {

struct admin_options {
  otpnet::socket::address address = otpnet::socket::address::inet_loopback(9090);
  /// Sockets that listen already (systemd's, by their LISTEN_FDNAMES name:
  /// listener::inherited_sockets), served instead of `address` when any.
  std::vector<otpnet::socket::socket> sockets;
  sources what;
  /// The endpoint's listener in reports ("listener admin: ..."), and the
  /// prefix of its processes' registered names: NAME_sup (the tree's top),
  /// NAME_listener, NAME_handlers.
  std::string name = "admin";
  /// Requests served at once; more wait in the backlog.
  std::size_t max_connections = 16;
  /// The whole request (its line and headers) must come within this.
  std::chrono::milliseconds request_timeout{5000};
  /// Longest request line or header line; a longer one is answered 431.
  std::uint32_t max_line = 8192;
};

/// Starts the endpoint's tree, linked to the caller. The port it listens
/// on: listener::info(NAME_listener). Errors: the listener's (eaddrinuse,
/// eacces, ...).
task<start_result> start_admin(admin_options o);
/// The same as a child of the caller's own supervisor (a supervisor).
child_spec admin_child_spec(const admin_options& o);

}  // namespace otpnet::observe
