// File: apps/otpnet-echo/echo_fsm.hpp
//
// The tutorial's tcp_echo_fsm as a gen_statem with state functions:
//   wait_for_socket  until the listener hands the connection over
//                    (socket_ready); with TLS on, the handshake runs here,
//                    in this process (never in the acceptor); then
//                    {active, once} and the framing
//   wait_for_data    echo each frame back, re-arm {active, once}; a
//                    state timeout (the idle timeout, 120 s by default)
//                    closes a silent client
//   draining         the listener drains (SIGTERM/SIGINT): go on echoing
//                    what the client sends (frames it sent before the
//                    signal are answered) until it closes; the listener
//                    stops what is left at its drain deadline
// TCP and TLS connections are served by the same code: the messages are
// tcp... or ssl..., one shape (gen_tcp/socket.hpp). It stops normally when
// the client closes or times out, or the handshake fails (the tls layer
// reported it); a bad frame (oversized, garbage length) ends it with the
// socket's error, and its supervisor reports that: nothing else is
// disturbed.
#pragma once

#include <otpnet/behaviours/gen_statem.hpp>
#include <otpnet/gen_tcp/socket.hpp>
#include <otpnet/listener/connection.hpp>
#include <otpnet/socket/address.hpp>
#include <otpnet/tls/context.hpp>

#include <chrono>
#include <memory>
#include <string>

namespace otpnet::echo {

struct echo_settings {
  /// 0: none (a client may stay silent for ever).
  std::chrono::milliseconds idle_timeout{120000};
  /// How long a started handler waits for its socket: a handler whose
  /// start outlived the listener's patience (its handler_start_timeout)
  /// never gets one. Not the idle timeout, which may be shorter than a
  /// hand-off takes.
  std::chrono::milliseconds handoff_timeout{5000};
  bool log_connections = false;
  /// {active, true} instead of the tutorial's {active, once}: frames come
  /// as they arrive, without a re-arm per frame (on io_uring through a
  /// multishot receive while the handler keeps up); reading pauses while
  /// the replies queue above the high watermark.
  bool active_true = false;
  /// TLS on the port: the server context (empty: plain TCP).
  tls::context tls;
  std::chrono::milliseconds handshake_timeout{5000};
  /// Each connection starts with a PROXY protocol header (v1 or v2, from
  /// HAProxy, nginx, a cloud load balancer), read before anything else (TLS
  /// included): the client it names is the one logged. A connection without
  /// a valid header within `proxy_timeout` is closed.
  bool proxy_protocol = false;
  std::chrono::milliseconds proxy_timeout{5000};
};

struct echo_fsm : gen_statem<echo_fsm> {
  /// `s` is shared by every connection of the port.
  explicit echo_fsm(std::shared_ptr<const echo_settings> s) : settings_(std::move(s)) {}

  transition init() { return next_state<&echo_fsm::wait_for_socket>(state_timeout(settings_->handoff_timeout)); }

  /// A plain transition, but for the TLS handshake, which it awaits.
  maybe_task<transition> wait_for_socket(event& e);
  transition wait_for_data(event& e);
  transition draining(event& e);

  void terminate(const exit_reason& why);

 private:
  /// The PROXY header, then the hand-off as without one.
  task<transition> read_proxy_header(listener::connection c);
  /// The socket taken; TLS or the first wait for data. `peer`: the client
  /// to log.
  maybe_task<transition> take(const listener::connection& c, const socket::address& peer);
  /// The TLS handshake in this process, then the first wait for data.
  task<transition> shake_hands();
  /// Reading from now on; the first wait for data.
  transition connected();
  /// Both serving states: a frame is sent back and the next one asked for
  /// ({active, once}); the idle timeout, a close or a socket error ends the
  /// connection; other events are ignored.
  transition echo(gen_tcp::buffer& frame);
  transition other(event& e);
  /// The idle timeout's action: a state timeout, or none when it is 0.
  action idle() const;
  void log(const char* what) const;

  std::shared_ptr<const echo_settings> settings_;
  gen_tcp::socket sock_;
  // Set only when connections are logged (an idle connection's frame holds
  // a pointer instead of a string).
  std::unique_ptr<const std::string> peer_;
};

}  // namespace otpnet::echo
