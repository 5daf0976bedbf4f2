// File: otpnet/gen_tcp/gen_tcp.hpp
//
// gen_tcp's entry points: listen, accept and connect, made from a process.
// An accepted socket inherits the listen socket's options (active, packet,
// packet_size, watermarks, send_timeout, nodelay, keepalive, buffers...)
// and is owned by the process that accepts it, or by the process that
// `adopt`s a raw accepted socket (the listener hands connections to their
// handlers that way, before a byte is read).
#pragma once

#include <otpnet/base/result.hpp>
#include <otpnet/gen_tcp/options.hpp>
#include <otpnet/gen_tcp/socket.hpp>
#include <otpnet/runtime/proc.hpp>
#include <otpnet/socket/address.hpp>
#include <otpnet/socket/socket.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

namespace otpnet::gen_tcp {

/// A listening socket and the options its connections inherit.
struct listen_socket {
  otpnet::socket::socket sock;
  effective_options opts;
  std::uint16_t port = 0;  ///< the bound port (the kernel's choice for 0)
  /// What the listen socket itself carries of opts' nodelay, keepalive,
  /// recbuf and sndbuf (set at listen), which each connection it accepts
  /// starts with: accept sets per connection only what differs (opts
  /// changed since, or an option the listen socket refused).
  socket_defaults carried;
};

/// Listens on `addr` (inet, inet6 or a local path). Errors: eaddrinuse,
/// eacces, invalid (bad options), emfile.
result<listen_socket> listen(const otpnet::socket::address& addr, const options& opts = {});
/// Listens on 0.0.0.0:port (port 0: any).
result<listen_socket> listen(std::uint16_t port, const options& opts = {});
/// Takes a socket that listens already (one systemd passed, or a parent
/// process: listener::inherited_sockets) as it is: its address, port and
/// backlog stay; the options its connections start with (nodelay,
/// keepalive, buffers) are set on it as listen sets them. Errors: invalid
/// (not a listening stream socket, or bad options), closed.
result<listen_socket> listen_on(otpnet::socket::socket s, const options& opts = {});

/// Accepts a connection, owned by the calling process (which must be one).
/// Errors: timeout, closed (listener closed), emfile/enfile, ...
task<result<socket>> accept(listen_socket ls, std::optional<std::chrono::milliseconds> timeout = std::nullopt);

/// Makes a gen_tcp socket of an accepted (or connected) raw socket, owned
/// by the calling process and served by its scheduler, with `opts`.
/// Errors: closed, invalid (not in a process). `start`: the kernel-level
/// options `raw` has already (listen_socket::carried for an accepted one).
result<socket> adopt(otpnet::socket::socket raw, const effective_options& opts, const socket_defaults& start = {});

/// Connects to `dest`. Errors: econnrefused, timeout, ehostunreach, ...
task<result<socket>> connect(otpnet::socket::address dest, options opts = {},
                             std::optional<std::chrono::milliseconds> timeout = std::nullopt);
/// Connects to `host` (a name or a literal; names are resolved with
/// getaddrinfo, which blocks this scheduler while it runs) and `port`,
/// trying each address in turn.
task<result<socket>> connect(std::string host, std::uint16_t port, options opts = {},
                             std::optional<std::chrono::milliseconds> timeout = std::nullopt);

}  // namespace otpnet::gen_tcp
