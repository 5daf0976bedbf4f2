#include "echo_fsm.hpp"

#include <otpnet/listener/connection.hpp>
#include <otpnet/listener/proxy_header.hpp>
#include <otpnet/tls/handshake.hpp>

#include <spdlog/spdlog.h>

#include <optional>

namespace otpnet::echo {

namespace {

/// The frame of a tcp or ssl message (one shape, two names).
gen_tcp::buffer* data_of(const event& e) {
  if (auto* d = e.info<gen_tcp::tcp>()) {
    return &d->data;
  }
  if (auto* d = e.info<gen_tcp::ssl>()) {
    return &d->data;
  }
  return nullptr;
}

bool closed(const event& e) {
  return e.info<gen_tcp::tcp_closed>() != nullptr || e.info<gen_tcp::ssl_closed>() != nullptr;
}

std::optional<errc> error_of(const event& e) {
  if (auto* err = e.info<gen_tcp::tcp_error>()) {
    return err->reason;
  }
  if (auto* err = e.info<gen_tcp::ssl_error>()) {
    return err->reason;
  }
  return std::nullopt;
}

}  // namespace

echo_fsm::maybe_task<echo_fsm::transition> echo_fsm::wait_for_socket(event& e) {
  if (e.is(event_kind::state_timeout)) {
    log("got no connection (the listener gave up on this start)");
    return stop();
  }
  auto* ready = e.info<listener::socket_ready>();
  if (ready == nullptr) {
    // A drain before the hand-off: nothing to finish.
    return e.info<listener::drain_notice>() != nullptr ? stop() : keep_state();
  }
  if (settings_->proxy_protocol) {
    return read_proxy_header(ready->conn);
  }
  return take(ready->conn, ready->conn.peer);
}

// Before the socket is taken: the header's bytes are read off the raw
// socket, exactly, and what follows them is the port's (or TLS's) first.
// A connection without a valid header ends here, normally (the reader
// wrote the report line); the socket closes with this process.
task<echo_fsm::transition> echo_fsm::read_proxy_header(listener::connection c) {
  auto h = co_await listener::recv_proxy_header(c, settings_->proxy_timeout);
  if (!h) {
    if (h.error() != errc::bad_proxy_header && settings_->log_connections) {
      spdlog::info("echo: client {} sent no PROXY header ({})", c.peer.to_string(), format_error(h.error()));
    }
    co_return stop();
  }
  // LOCAL / UNKNOWN (a health check): the proxy's own address.
  socket::address peer = h->source.value_or(c.peer);
  auto next = take(c, peer);
  if (next.ready()) {
    co_return next.take_value();
  }
  co_return co_await next.take_task();
}

echo_fsm::maybe_task<echo_fsm::transition> echo_fsm::take(const listener::connection& c, const socket::address& peer) {
  auto s = c.take();
  if (!s) {
    return stop(exit_reason::other("socket hand-off: " + format_error(s.error())));
  }
  sock_ = *s;
  if (settings_->log_connections) {
    peer_ = std::make_unique<const std::string>(peer.to_string());  // only log() reads it
  }
  if (settings_->tls) {
    return shake_hands();
  }
  return connected();
}

// In this process, so that a slow or silent peer holds only its own
// connection. A failure is reported by the tls layer and closes the
// socket: this connection ends, normally, and nothing else notices. A drain
// notice that arrives meanwhile waits in the mailbox.
task<echo_fsm::transition> echo_fsm::shake_hands() {
  auto hs = co_await tls::handshake(sock_, settings_->tls, settings_->handshake_timeout);
  if (!hs) {
    log("TLS handshake failed");
    sock_ = {};
    co_return stop();
  }
  co_return connected();
}

echo_fsm::transition echo_fsm::connected() {
  log("connected");
  (void)sock_.setopts({.active = settings_->active_true ? gen_tcp::always : gen_tcp::once});
  return next_state<&echo_fsm::wait_for_data>(idle());
}

echo_fsm::transition echo_fsm::wait_for_data(event& e) {
  if (gen_tcp::buffer* d = data_of(e)) {
    return echo(*d);
  }
  if (e.info<listener::drain_notice>() != nullptr) {
    // Frames the client already sent may still be in the kernel's buffers
    // (or held back by flow control): keep echoing until it closes.
    return next_state<&echo_fsm::draining>(idle());
  }
  return other(e);
}

echo_fsm::transition echo_fsm::draining(event& e) {
  if (gen_tcp::buffer* d = data_of(e)) {
    return echo(*d);
  }
  return other(e);
}

echo_fsm::transition echo_fsm::echo(gen_tcp::buffer& frame) {
  // The frame goes back as it came, without a copy: the send takes the
  // message's reference to the received bytes.
  (void)sock_.send(std::move(frame));
  if (!settings_->active_true) {
    (void)sock_.set_active(gen_tcp::once);
  }
  return keep_state(idle());
}

action echo_fsm::idle() const {
  return settings_->idle_timeout.count() > 0 ? state_timeout(settings_->idle_timeout) : cancel_state_timeout();
}

echo_fsm::transition echo_fsm::other(event& e) {
  if (e.is(event_kind::state_timeout)) {
    log("timed out");
    return stop();
  }
  if (closed(e)) {
    log("disconnected");
    return stop();
  }
  if (auto why = error_of(e)) {
    // The report names the client where the socket still knows it (no
    // address is kept per connection for this: a reset one may not).
    std::string text = std::string("socket error: ") + std::string(err_name(*why));
    if (peer_) {
      text += " (client " + *peer_ + ")";
    } else if (auto p = sock_.peername()) {
      text += " (client " + p->to_string() + ")";
    }
    return stop(exit_reason::other(std::move(text)));
  }
  return keep_state();
}

void echo_fsm::terminate(const exit_reason&) {
  if (sock_) {
    // Queued echoes go out first; a TLS connection ends with close_notify.
    (void)sock_.close();
  }
}

void echo_fsm::log(const char* what) const {
  if (settings_->log_connections) {
    spdlog::info("echo: client {} {}", peer_ ? std::string_view(*peer_) : std::string_view(), what);
  }
}

}  // namespace otpnet::echo
