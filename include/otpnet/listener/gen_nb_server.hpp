// File: otpnet/listener/gen_nb_server.hpp
//
// gen_nb_server: a gen_server that also accepts connections, without ever
// blocking (the gen_nb_server behaviour of the reference, with what its
// README wanted: listen ports added and removed at run time, IPv4, IPv6 and
// local paths, and no transient accept error stopping it for good: those
// are skipped or backed off; a listen socket that no longer listens
// (closed or shut down under it) ends the server, for its supervisor to
// start it again).
//
//   callback                                 what it does
//   ---------------------------------------  --------------------------------------------
//   gen_tcp::options sock_opts()             options of the listen sockets; connections
//                                            inherit them
//   void | task<void> new_connection(        a connection was accepted: hand `c` to a
//       listener::connection c)              handler (c.take() in the handler's process)
//   + every gen_server callback              init, handle_call/cast/info, terminate...
//
// In its callbacks the server calls add_listen_port(addr) (usually in
// init), remove_listen_port(port), suspend(), resume(),
// set_max_connections(n), connection_ended(), listener_info().
// new_connection may be a coroutine (task<void>) when it must wait, e.g. to
// start the handler under a supervisor. An exception it throws closes that
// connection and is reported with the listener's name; accepting goes on.
//
//   struct soup : listener::gen_nb_server<soup> {
//     gen_tcp::options sock_opts() { return {.active = gen_tcp::once}; }
//     init_return init() { (void)add_listen_port(socket::address::inet_any(4000)); return ok(); }
//     void new_connection(listener::connection c) { (void)socket::send(c.raw, bytes("No soup for you!\n")); }
//   };
#pragma once

#include <otpnet/behaviours/gen_server.hpp>
#include <otpnet/listener/acceptor.hpp>
#include <otpnet/listener/connection.hpp>
#include <otpnet/runtime/socket_select.hpp>

#include <exception>
#include <string>
#include <type_traits>

namespace otpnet::listener {

template <class Self>
class gen_nb_server : public gen_server::behaviour<Self> {
 public:
  using behaviour_infos = type_list<socket_select, backoff_tick, accept_more>;
  static constexpr const char* behaviour_name = "gen_nb_server";

  // -- for the server's own callbacks -----------------------------------------------

  /// Listens on `addr` with sock_opts() and accepts there; the bound port.
  result<std::uint16_t> add_listen_port(const otpnet::socket::address& addr) {
    return acceptor_.add_port(addr, self_().sock_opts());
  }
  /// Accepts on a socket that listens already (inherited_sockets), with
  /// sock_opts() for its connections; its port.
  result<std::uint16_t> add_listen_socket(const otpnet::socket::socket& s) {
    return acceptor_.add_socket(s, self_().sock_opts());
  }
  /// Stops listening on every socket bound to port number `port`; their
  /// connections stay.
  bool remove_listen_port(std::uint16_t port) { return acceptor_.remove_port(port); }
  /// Stops listening on the socket bound to `addr` (a local path, or one of
  /// two sockets sharing a port number); its connections stay.
  bool remove_listen_address(const otpnet::socket::address& addr) { return acceptor_.remove_address(addr); }
  void suspend() noexcept { acceptor_.suspend(); }
  void resume() {
    acceptor_.resume();
    reopen();
  }
  void set_max_connections(std::size_t n) {
    acceptor_.set_max_connections(n);
    reopen();
  }
  /// As set_max_connections, but 0 is a limit of zero (accept nothing).
  void set_limit(std::size_t n) {
    acceptor_.set_limit(n);
    reopen();
  }
  /// A connection ended: it no longer counts against max_connections.
  void connection_ended() {
    bool was_parked = acceptor_.parked();
    acceptor_.connection_ended();
    if (was_parked && !acceptor_.parked()) {
      reopen();
    }
  }
  listener_info listener_info_now() const { return acceptor_.info(); }
  void set_listener_name(std::string name) { acceptor_.set_name(std::move(name)); }

  // -- the behaviour's own messages (gen_server routes them here) ----------------------

  task<gen_server::cast_return> behaviour_info(socket_select&& ev) {
    if (!acceptor_.owns(ev)) {
      co_return co_await forward_info(std::move(ev));
    }
    co_await drain(acceptor_.on_select(ev));
    co_return after_accepts();
  }
  task<gen_server::cast_return> behaviour_info(backoff_tick&& t) {
    co_await drain(acceptor_.on_tick(t.id));
    co_return after_accepts();
  }
  task<gen_server::cast_return> behaviour_info(accept_more&& m) {
    co_await drain(acceptor_.on_more(m.id));
    co_return after_accepts();
  }

  /// Listen sockets close with the server.
  ~gen_nb_server() { acceptor_.close_all(); }

 protected:
  acceptor acceptor_;

 private:
  Self& self_() { return static_cast<Self&>(*this); }

  /// Hands each accepted connection to new_connection until the acceptor
  /// has no more for now.
  task<void> drain(std::optional<connection> c) {
    while (c) {
      listen_id from = c->listen_id;
      std::string failure;
      try {
        if constexpr (std::is_same_v<decltype(self_().new_connection(std::move(*c))), task<void>>) {
          co_await self_().new_connection(connection(*c));
        } else {
          self_().new_connection(connection(*c));
        }
      } catch (const std::exception& e) {
        failure = e.what();
      } catch (...) {
        failure = "unknown exception";
      }
      if (!failure.empty()) {
        acceptor_.handoff_failed(*c, failure);
      }
      c = acceptor_.resume_port(from);
    }
  }

  /// A socket_select that is not about a listen socket (the server used
  /// nowait calls of its own): the user's handle_info, if it takes one.
  task<gen_server::cast_return> forward_info(socket_select ev) {
    if constexpr (requires(Self & s) { s.handle_info(std::move(ev)); }) {
      co_return co_await as_task(self_().handle_info(std::move(ev)));
    } else {
      co_return this->noreply();
    }
  }
  template <class R>
  static task<gen_server::cast_return> as_task(R r) {
    if constexpr (std::is_same_v<R, task<gen_server::cast_return>>) {
      co_return co_await std::move(r);
    } else if constexpr (std::is_same_v<R, gen_server::maybe_task<gen_server::cast_return>>) {
      if (r.ready()) {
        co_return r.take_value();
      }
      co_return co_await r.take_task();
    } else {
      co_return gen_server::cast_return(std::move(r));
    }
  }

  /// A listen socket that no longer listens ends the server, with reason
  /// "accept_failed: ADDRESS: einval: ...": its supervisor starts it again
  /// on fresh sockets (a passed socket that was shut down fails that start
  /// too, and the supervisor gives up, as it should).
  gen_server::cast_return after_accepts() {
    if (!acceptor_.failure().empty()) {
      return this->stop(exit_reason::other("accept_failed: " + acceptor_.failure()));
    }
    return this->noreply();
  }

  void reopen() {
    if (!acceptor_.parked()) {
      for (listen_id id : acceptor_.listen_ids()) {
        send(self(), accept_more{id});
      }
    }
  }
};

}  // namespace otpnet::listener
