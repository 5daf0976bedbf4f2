// File: otpnet/listener/acceptor.hpp
//
// `acceptor`: the listening half of a listener, as plain state that a
// listener process drives from its messages. It owns the listen ports,
// accepts with nowait calls (so the process never blocks and stays a
// responsive gen_server), applies the accept policy of accept_policy.hpp,
// counts connections against max_connections, and parks (leaving
// connections in the kernel's backlog) while suspended or at the limit.
// Every method runs in the listener's own process.
//
// Where the scheduler's reactor accepts by itself (io_uring), a listen
// socket is served by one multishot accept in the kernel instead of
// accept calls: the connections it takes are queued for the process, which
// is told with an accept_more message and takes them as it would accept
// them; the accept is cancelled while the acceptor is parked (what it took
// meanwhile waits in the queue), and queued again when it goes on.
#pragma once

#include <otpnet/base/duration_histogram.hpp>
#include <otpnet/base/result.hpp>
#include <otpnet/gen_tcp/options.hpp>
#include <otpnet/listener/accept_policy.hpp>
#include <otpnet/listener/connection.hpp>
#include <otpnet/runtime/pid.hpp>
#include <otpnet/runtime/socket_select.hpp>
#include <otpnet/socket/address.hpp>
#include <otpnet/socket/socket.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace otpnet::listener {

/// Names one listen socket of an acceptor for its whole life (never reused):
/// port numbers cannot, since 127.0.0.1:P and [::1]:P share one and every
/// local path is "port 0".
using listen_id = std::uint32_t;

/// A back-off period of a listen socket ended (sent by the acceptor to its
/// process).
struct backoff_tick {
  listen_id id;
};
/// A batch of accepts ended with more possibly waiting (bounded work).
struct accept_more {
  listen_id id;
};

/// What info() tells of a listener.
struct listener_info {
  std::string name;
  struct port_info {
    std::uint16_t port;
    std::string address;
    bool backing_off;
  };
  std::vector<port_info> ports;
  std::size_t active_connections = 0;
  std::uint64_t total_connections = 0;
  std::uint64_t accept_failures = 0;
  std::map<std::string, std::uint64_t> failures_by_reason;
  std::size_t max_connections = 0;
  bool suspended = false;
  bool at_limit = false;
  /// Acceptor processes of the listener (tcp_listener's `acceptors`), and
  /// the connections each has accepted so far (total_connections, split)
  /// and holds now (active_connections, split).
  std::size_t acceptors = 1;
  std::vector<std::uint64_t> accepted_by_acceptor;
  std::vector<std::size_t> active_by_acceptor;
  /// tcp_listener: the supervisor each acceptor starts its handlers under
  /// (client_sup or its entry of client_sups: a name, or a pid as text).
  /// Empty in a gen_nb_server's own listener_info_now(), which has none.
  std::vector<std::string> client_sup_by_acceptor;
  /// tcp_listener with several acceptors: those that did not answer within
  /// the info's wait (one second), each busy waiting for a handler's start
  /// (up to handler_start_timeout). Their figures are missing from the
  /// totals and the ports, and their entries in the vectors above are 0
  /// and "".
  std::size_t unanswered_acceptors = 0;
  /// tcp_listener: how long each connection handed over so far took from
  /// the listener taking it (its accept) to its handler's mailbox (the handler's start under the
  /// client supervisor, then socket_ready); failed and declined hand-offs
  /// are not in it. Empty in a gen_nb_server's own listener_info_now().
  duration_histogram::snapshot handoff;
};

class acceptor {
 public:
  static constexpr std::size_t unlimited = std::numeric_limits<std::size_t>::max();

  explicit acceptor(std::string name = "listener");
  ~acceptor();
  acceptor(const acceptor&) = delete;
  acceptor& operator=(const acceptor&) = delete;

  void set_name(std::string name) { name_ = std::move(name); }
  const std::string& name() const noexcept { return name_; }

  /// Listens on `addr` with `opts` and starts accepting; returns the port
  /// (the chosen one for port 0; 0 for a local path). Errors: eaddrinuse,
  /// eacces, invalid (bad options), emfile.
  result<std::uint16_t> add_port(const otpnet::socket::address& addr, const gen_tcp::options& opts);
  /// Accepts on `s`, a socket that listens already (inherited_sockets:
  /// systemd's socket activation), with `opts` for its connections; returns
  /// its port (0 for a local path). The acceptor takes a duplicate of the
  /// descriptor, so closing it (remove_port, a drain, the acceptor's end)
  /// leaves `s` open: a restarted listener takes it again, and systemd's
  /// copy goes on queueing clients for whoever accepts next. It is
  /// accepted on with calls, also on io_uring: a connection stays in the
  /// socket's queue until this acceptor takes it for a handler, so other
  /// acceptors of the socket share it and none is closed by a drain.
  /// Errors: invalid (not a listening stream socket), closed, emfile.
  result<std::uint16_t> add_socket(const otpnet::socket::socket& s, const gen_tcp::options& opts);
  /// Closes every listen socket bound to port number `port` (IPv4 and IPv6
  /// alike); their live connections stay. False if there was none.
  bool remove_port(std::uint16_t port);
  /// Closes the listen socket bound to `addr` (as info() shows it, with its
  /// port; a local path by its path); its live connections stay.
  bool remove_address(const otpnet::socket::address& addr);

  /// The next accepted connection on the port `ev` is about, or nothing
  /// (wait for the next event, backing off, parked, or batch done: then
  /// an accept_more message is on its way). Call until nothing.
  std::optional<connection> on_select(const socket_select& ev);
  std::optional<connection> on_tick(listen_id id);
  std::optional<connection> on_more(listen_id id);
  /// Whether `ev` is about one of the listen sockets.
  bool owns(const socket_select& ev) const noexcept;

  /// Admission. Connections stay in the kernel's backlog from the return on.
  void suspend() noexcept;
  /// Resumes accepting; the caller then drives accepts with resume_port()
  /// for each listen socket (see listen_ids()).
  void resume() noexcept { suspended_ = false; }
  void set_max_connections(std::size_t n) noexcept;
  /// As set_max_connections, but 0 is a limit of zero (accept nothing).
  void set_limit(std::size_t n) noexcept;
  std::size_t max_connections() const noexcept { return max_; }
  /// A connection ended (or no longer counts).
  void connection_ended() noexcept;
  std::size_t active() const noexcept { return active_; }
  bool parked() const noexcept { return suspended_ || active_ >= max_; }
  /// Empty, or why a listen socket stopped listening under the acceptor
  /// ("ADDRESS: einval: ..."): closed or shut down by someone else, an
  /// error no retry mends. gen_nb_server ends then, so that its supervisor
  /// starts it again on fresh sockets (the tutorial's server ends on every
  /// accept error).
  const std::string& failure() const noexcept { return failure_; }
  /// Accepts on listen socket `id` again after admission reopened.
  std::optional<connection> resume_port(listen_id id) { return accept_step(id); }
  std::vector<listen_id> listen_ids() const;

  /// A crash of the code a connection was handed to: closes it, reports it
  /// with the listener's name; accepting goes on.
  void handoff_failed(connection& c, const std::string& why) noexcept;
  /// The same for a connection whose other parts went with a message its
  /// handler never got: closes `raw`, counts it ended and reports it.
  void handoff_failed(const otpnet::socket::socket& raw, const otpnet::socket::address& peer,
                      const std::string& why) noexcept;
  /// A handler whose init answered ignore: it chose not to serve the
  /// connection (OTP's supervisor takes ignore as no error). Closes it,
  /// counts it ended and says so at info level, not as a failure.
  void handoff_declined(connection& c) noexcept;

  listener_info info() const;
  /// Closes every listen socket.
  void close_all() noexcept;

 private:
  class kernel_accept;
  /// Adopts `ls` (bound to `addr`) and starts accepting on it. `shared`:
  /// other descriptors of the socket live on (add_socket), so it is
  /// accepted on with calls, never the kernel's multishot accept, which
  /// would take connections from the socket's one queue into this
  /// process's, where another acceptor or the next instance cannot reach
  /// them and a drain would close them.
  result<std::uint16_t> take_listen(const gen_tcp::listen_socket& ls, const otpnet::socket::address& addr, bool shared);
  struct port_state {
    otpnet::socket::socket sock;
    gen_tcp::effective_options opts;
    gen_tcp::socket_defaults carried;  // what its connections start with (listen_socket::carried)
    otpnet::socket::address addr;
    std::uint16_t port = 0;
    listen_id id = 0;
    otpnet::socket::select_handle handle;
    backoff delay;  // and the burst it reports (accept_policy.hpp)
    bool backing_off = false;
    int batch = 0;
    /// The kernel's multishot accept for this socket, where the reactor has
    /// one and the socket is not shared (null: accept calls).
    std::unique_ptr<kernel_accept> kernel;
  };

  port_state* find(listen_id id) noexcept;
  std::optional<connection> accept_step(listen_id id);
  std::optional<connection> kernel_step(port_state& p);
  /// Parked: the kernel's accepts stop now.
  void pause_kernel() noexcept;
  /// `peer`: the address the accept call gave (nullptr: asked of the socket).
  std::optional<connection> accepted(port_state& p, otpnet::socket::socket s,
                                     const otpnet::socket::address* peer = nullptr);
  /// What a failed accept does: skip it (true), or stop/back off (false).
  bool accept_failed(port_state& p, errc e);
  /// Reports the end of the port's back-off burst, once (`how`: appended).
  void resumed(port_state& p, const char* how);
  void count_failure(errc e);

  std::string name_;
  std::vector<port_state> ports_;
  listen_id next_id_ = 1;
  std::size_t active_ = 0;
  std::size_t max_ = unlimited;
  bool suspended_ = false;
  std::uint64_t total_ = 0;
  std::uint64_t failures_ = 0;
  std::string failure_;  // see failure()
  std::map<std::string, std::uint64_t> by_reason_;
};

}  // namespace otpnet::listener
