// File: apps/otpnet-echo/echo_fsm.hpp
//
// The tutorial's tcp_echo_fsm as a gen_statem with state functions:
//   wait_for_socket  until the listener hands the connection over
//                    (socket_ready); then {active, once} and the framing
//   wait_for_data    echo each frame back, re-arm {active, once}; a
//                    state timeout (the idle timeout, 120 s by default)
//                    closes a silent client
// It stops normally when the client closes, times out, or the listener
// drains; a bad frame (oversized, garbage length) ends it with the socket's
// error, and its supervisor reports that: nothing else is disturbed.
#pragma once

#include <otpnet/behaviours/gen_statem.hpp>
#include <otpnet/gen_tcp/socket.hpp>
#include <otpnet/listener/connection.hpp>

#include <spdlog/spdlog.h>

#include <chrono>

namespace otpnet::echo {

struct echo_settings {
  std::chrono::milliseconds idle_timeout{120000};
  bool log_connections = false;
};

struct echo_fsm : gen_statem<echo_fsm> {
  explicit echo_fsm(echo_settings s) : settings_(s) {}

  transition init() { return next_state<&echo_fsm::wait_for_socket>(); }

  transition wait_for_socket(event& e) {
    if (auto* ready = e.info<listener::socket_ready>()) {
      auto s = ready->conn.take();
      if (!s) {
        return stop(exit_reason::other("socket hand-off: " + format_error(s.error())));
      }
      sock_ = *s;
      peer_ = ready->conn.peer.to_string();
      if (settings_.log_connections) {
        spdlog::info("echo: client {} connected", peer_);
      }
      (void)sock_.setopts({.active = gen_tcp::once});
      return next_state<&echo_fsm::wait_for_data>(state_timeout(settings_.idle_timeout));
    }
    if (e.info<listener::drain_notice>() != nullptr) {
      return stop();
    }
    return keep_state();
  }

  transition wait_for_data(event& e) {
    if (auto* d = e.info<gen_tcp::tcp>()) {
      (void)sock_.send(d->data);
      (void)sock_.setopts({.active = gen_tcp::once});
      return keep_state(state_timeout(settings_.idle_timeout));
    }
    if (e.is(event_kind::state_timeout)) {
      if (settings_.log_connections) {
        spdlog::info("echo: client {} timed out", peer_);
      }
      return stop();
    }
    if (e.info<gen_tcp::tcp_closed>() != nullptr) {
      if (settings_.log_connections) {
        spdlog::info("echo: client {} disconnected", peer_);
      }
      return stop();
    }
    if (auto* err = e.info<gen_tcp::tcp_error>()) {
      return stop(exit_reason::other(std::string("socket error: ") + std::string(err_name(err->reason))));
    }
    if (e.info<listener::drain_notice>() != nullptr) {
      // What was sent is flushed by close; nothing more is read.
      return stop();
    }
    return keep_state();
  }

  void terminate(const exit_reason&) {
    if (sock_) {
      (void)sock_.close();
    }
  }

 private:
  echo_settings settings_;
  gen_tcp::socket sock_;
  std::string peer_;
};

}  // namespace otpnet::echo
