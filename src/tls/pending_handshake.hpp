// File: tls/pending_handshake.hpp (private)
//
// A handshake in progress: the socket, its TLS endpoint (not yet the
// port's transport), the handshake slot, and the active mode to restore.
// Shared by a client_hello and its copies between handshake_hello and
// handshake_continue; one that ends unfinished closes its socket.
#pragma once

#include <otpnet/gen_tcp/options.hpp>
#include <otpnet/gen_tcp/socket.hpp>

#include "tls/handshake_slot.hpp"
#include "tls/tls_transport.hpp"

#include <memory>

namespace otpnet::tls::detail {

struct pending_handshake {
  gen_tcp::socket sock;
  std::unique_ptr<internal::tls_transport> t;
  internal::handshake_slot slot;
  gen_tcp::active_mode restore = gen_tcp::passive;
  bool server = true;
  /// Done, failed or cancelled: the socket is the port's (or closed).
  bool finished = false;

  pending_handshake() = default;
  pending_handshake(const pending_handshake&) = delete;
  pending_handshake& operator=(const pending_handshake&) = delete;
  ~pending_handshake() {
    if (!finished) {
      slot.end(errc::ecanceled);  // (a client_hello dropped without a continue)
      if (sock) {
        (void)sock.close();
      }
    }
  }
};

}  // namespace otpnet::tls::detail
