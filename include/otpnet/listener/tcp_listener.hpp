// File: otpnet/listener/tcp_listener.hpp
//
// The ready-made listener (the tutorial's tcp_listener, ranch-like): a
// gen_nb_server that starts one handler per connection under a connection
// supervisor (simple_one_for_one, temporary children), makes it the
// connection's owner before a byte is read, and sends it socket_ready (the
// WAIT_FOR_SOCKET hand-off). It monitors its handlers, so that
// max_connections counts live connections, and it can be suspended,
// resumed and drained. Everything below is a gen_server call to it.
//
//   auto l = co_await listener::start_link({.name = "echo",
//                                           .addresses = {address::inet_any(2222)},
//                                           .socket_options = {.active = gen_tcp::once},
//                                           .client_sup = "tcp_client_sup"});
//   auto i = co_await listener::info(l.id());
#pragma once

#include <otpnet/behaviours/gen_server.hpp>
#include <otpnet/behaviours/outcome.hpp>
#include <otpnet/behaviours/server_ref.hpp>
#include <otpnet/behaviours/start_result.hpp>
#include <otpnet/behaviours/supervisor.hpp>
#include <otpnet/gen_tcp/options.hpp>
#include <otpnet/listener/acceptor.hpp>
#include <otpnet/runtime/placement.hpp>
#include <otpnet/socket/address.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace otpnet::listener {

struct listener_options {
  std::string name = "listener";
  /// Registered name of the listener process (empty: none).
  std::string registered_name;
  std::vector<otpnet::socket::address> addresses;
  /// Sockets that listen already, accepted on as they are (systemd's socket
  /// activation: inherited_sockets). With several acceptors, each accepts
  /// on them with a descriptor of its own, from the socket's one queue,
  /// within its share of max_connections. A drain closes this process's descriptor of each:
  /// while systemd holds its own, clients that come meanwhile wait in the
  /// backlog for the next instance instead of being refused.
  std::vector<otpnet::socket::socket> sockets;
  gen_tcp::options socket_options;
  /// 0: no limit. A hard limit over all acceptors together.
  std::size_t max_connections = 0;
  /// Acceptor processes (ranch's num_acceptors); 0: one per scheduler.
  /// With more than one, each listens on every address with a socket of its
  /// own (SO_REUSEPORT; a local path is the first acceptor's only) on its
  /// own scheduler, so that the kernel spreads new connections over them;
  /// max_connections is divided among them in shares that sum to it.
  std::size_t acceptors = 1;
  /// The simple_one_for_one supervisor handlers are started under; each
  /// handler is started with no extra argument and gets socket_ready.
  server_ref client_sup{pid{}};
  /// Connection supervisors per acceptor (ranch's num_conns_sups); when
  /// not empty, acceptor i starts its handlers under client_sups[i % size]
  /// and client_sup is not used. With one supervisor per acceptor on the
  /// acceptor's scheduler, and handlers started there too (their start
  /// with `caller_scheduler`), a connection is accepted, started, handed
  /// over, served and ended on one core: no message between its processes
  /// crosses to another scheduler. Start them before the listener.
  std::vector<server_ref> client_sups;
  /// How long a handler's start (its init) may take before the connection
  /// is closed and reported (the listener waits for each start).
  std::chrono::milliseconds handler_start_timeout{5000};
};

/// What drain reports.
struct drain_result {
  std::size_t finished = 0;  ///< handlers that ended by the deadline
  std::size_t forced = 0;    ///< handlers stopped (shutdown) at the deadline
};

/// Starts the listener linked to the caller; error(reason) names the
/// problem (e.g. "eaddrinuse: Address already in use (port 2222)").
task<start_result> start_link(listener_options o);

/// How many acceptors start_link(o) makes: o.acceptors, one per scheduler
/// for 0, never more than a max_connections other than 0. Acceptor i runs
/// on scheduler i (modulo the schedulers); a single acceptor runs on the
/// least loaded one, or on scheduler 0 when client_sups is set.
std::size_t acceptors_of(const listener_options& o);

/// Whether a socket listens on `addr` already: a socket bound there
/// without SO_REUSEPORT (with SO_REUSEADDR) fails with eaddrinuse, and is
/// closed at once. With several acceptors each listen socket has
/// SO_REUSEPORT, which lets any socket of the same user join the port, so
/// a second server started on a port that one with several acceptors
/// serves would share its clients in silence instead of failing. Ask this
/// once before the first start (otpnet-echo does): not in a supervisor's
/// restart, where the ended listener's sockets may not be closed yet. What
/// binds between the probe and the start is not seen. False for a local
/// path and for port 0.
bool port_in_use(const otpnet::socket::address& addr);

/// A connection supervisor for the caller's tree: the child spec of a
/// simple_one_for_one supervisor of `handler` (flags `f`, whose strategy is
/// made simple_one_for_one), registered as `name` (also its id), on
/// `scheduler`; permanent, shutdown infinity. The tutorial's tcp_client_sup.
child_spec client_sup_spec(const std::string& name, const child_spec& handler, supervisor::flags f,
                           int scheduler = least_loaded_scheduler);

/// One connection supervisor per acceptor, for the caller's tree: `n`
/// simple_one_for_one supervisors of `handler` (flags `f`, whose strategy
/// is made simple_one_for_one), registered as `name`_0 ... `name`_{n-1},
/// supervisor i on scheduler i, as acceptor i. Their names, in order, are
/// client_sup_refs(name, n), for listener_options::client_sups. Start
/// the handler with start_options::scheduler = caller_scheduler so that
/// it runs on its supervisor's scheduler, and put these children before
/// the listener in the tree.
std::vector<child_spec> client_sup_specs(const std::string& name, const child_spec& handler, supervisor::flags f,
                                         std::size_t n);
std::vector<server_ref> client_sup_refs(const std::string& name, std::size_t n);

task<outcome<listener_info>> info(server_ref l);
/// Listens on one more address; the bound port.
task<outcome<std::uint16_t>> add_listen_port(server_ref l, otpnet::socket::address a);
/// Closes every listen socket on port number `port`; connections stay.
task<outcome<bool>> remove_listen_port(server_ref l, std::uint16_t port);
/// Closes the listen socket bound to `a` (as info() shows it; a local path
/// by its path); its connections stay.
task<outcome<bool>> remove_listen_address(server_ref l, otpnet::socket::address a);
/// The connection of `handler` no longer counts against max_connections
/// (ranch's remove_connection); its handler runs on. False if unknown.
task<outcome<bool>> remove_connection(server_ref l, pid handler);
/// Changes max_connections at run time (0: no limit). Error "einval: ..."
/// for a limit below the number of acceptors (one would accept nothing
/// while the kernel still hands it clients); the limit stays as it was.
task<outcome<>> set_max_connections(server_ref l, std::size_t n);
task<outcome<>> suspend(server_ref l);
task<outcome<>> resume(server_ref l);
/// The handlers of live connections.
task<outcome<std::vector<pid>>> connections(server_ref l);
/// Stops accepting, sends every handler drain_notice, waits up to
/// `deadline` for them to end, then stops the rest with `shutdown`. A drain
/// asked for while one is under way joins it and gets its result.
task<outcome<drain_result>> drain(server_ref l, std::chrono::milliseconds deadline);

}  // namespace otpnet::listener
