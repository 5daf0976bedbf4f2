// File: otpnet/listener/connection.hpp
//
// A connection as a listener hands it over: the accepted socket (not read
// by anyone yet), the options it inherits from its listen socket, the peer
// address and the local port. A handler makes it a gen_tcp socket with
// `take`, in its own process, so that the port lives on the handler's
// scheduler and nothing is read before the handler owns it. `socket_ready`
// is the message the ready-made listener sends (the tutorial's
// WAIT_FOR_SOCKET hand-off).
#pragma once

#include <otpnet/base/result.hpp>
#include <otpnet/gen_tcp/gen_tcp.hpp>
#include <otpnet/gen_tcp/options.hpp>
#include <otpnet/socket/address.hpp>
#include <otpnet/socket/socket.hpp>

#include <cstdint>

namespace otpnet::listener {

struct connection {
  otpnet::socket::socket raw;
  gen_tcp::effective_options opts;
  otpnet::socket::address peer;
  std::uint16_t local_port = 0;
  /// The listen socket it came from (its acceptor's listen_id).
  std::uint32_t listen_id = 0;
  /// The kernel-level options it has from its listen socket already.
  gen_tcp::socket_defaults carried;

  /// The gen_tcp socket, owned by the calling process. Errors: closed,
  /// invalid (not called from a process).
  result<gen_tcp::socket> take() const { return gen_tcp::adopt(raw, opts, carried); }
};

/// Sent to a connection handler once it owns its connection.
struct socket_ready {
  connection conn;
};

/// Sent to every handler when its listener drains: finish what is under
/// way and end.
struct drain_notice {};

}  // namespace otpnet::listener
