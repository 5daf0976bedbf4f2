// File: otpnet/tls/handshake.hpp
//
// Upgrading a gen_tcp socket to TLS, in the process that owns it (never in
// an acceptor: a slow or silent peer then holds only its own process):
//   server   co_await tls::handshake(sock, ctx, 5s)
//   client   co_await tls::connect_handshake(sock, ctx, 5s, "example.com")
//   two-step (OTP's {handshake, hello}):
//            auto h = co_await tls::handshake_hello(sock, ctx, 5s);   // h->server_name, h->alpn
//            co_await tls::handshake_continue(*h, 5s);  or  tls::handshake_cancel(*h);
// The handshake suspends only the calling process: OpenSSL runs on the
// descriptor without blocking, and the process waits for readiness as a
// message. Meanwhile the socket is passive; bytes it had already read
// (still buffered, or delivered as tcp messages still in the mailbox) are
// the first the handshake reads. Afterwards the socket is the same
// gen_tcp::socket, with the active mode it had restored, the same framing,
// watermarks and owner, and it delivers ssl, ssl_closed, ssl_error and
// ssl_passive instead of tcp...; send, recv, setopts, close work as before,
// close sending close_notify.
//
// Every failure closes the socket, logs one report line (spdlog warn,
// with OpenSSL's reason) and returns a named error:
//   timeout    not done within `timeout` (a silent or slow peer)
//   tls_error  a protocol or certificate failure (plaintext or garbage from
//              the peer, a certificate that does not verify, no client
//              certificate where one is required, no common protocol)
//   closed     the peer closed the connection (or the socket was closed)
//   busy       too many handshakes in progress (limits.hpp)
//   econnreset and other socket errors as they happen
//   invalid    not a gen_tcp socket owned by the caller, already TLS, the
//              wrong kind of context, or no server name to verify (then the
//              socket is left as it was)
//   enomem     no memory for the socket's transport (refused before the
//              handshake begins: the socket is left as it was)
// The client's name and session are separate arguments, not a struct: GCC
// 12 miscompiles a braced aggregate temporary that holds a std::string when
// it is passed to a coroutine inside co_await (its destructor frees a bad
// pointer), and `{.server_name = ...}` would be exactly that.
#pragma once

#include <otpnet/base/result.hpp>
#include <otpnet/gen_tcp/socket.hpp>
#include <otpnet/runtime/proc.hpp>
#include <otpnet/tls/context.hpp>
#include <otpnet/tls/session.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace otpnet::tls {

namespace detail {
struct pending_handshake;
}

/// A server handshake on an accepted socket with a server context.
task<result<void>> handshake(gen_tcp::socket sock, context ctx, std::chrono::milliseconds timeout);

/// A client handshake on a connected socket with a client context, to
/// `server_name` (SNI and verification; empty: the context's), resuming
/// `resume` if given (session.hpp). Errors as handshake(), and invalid when
/// verification is on and no server name was given.
task<result<void>> connect_handshake(gen_tcp::socket sock, context ctx, std::chrono::milliseconds timeout,
                                     std::string server_name = {}, session resume = {});

/// A server handshake stopped after the client's hello.
struct client_hello {
  /// The server name the client asked for (SNI); empty if none.
  std::string server_name;
  /// The ALPN protocols it offers, in its order.
  std::vector<std::string> alpn;
  /// The handshake in progress. Dropping the last copy without
  /// handshake_continue or handshake_cancel cancels it (closes the socket).
  std::shared_ptr<detail::pending_handshake> pending;
};

/// Runs a server handshake up to the client's hello, then stops, so that
/// the caller can look at SNI and ALPN before it goes on. Errors as
/// handshake().
task<result<client_hello>> handshake_hello(gen_tcp::socket sock, context ctx, std::chrono::milliseconds timeout);

/// Finishes a handshake stopped by handshake_hello, with the context it
/// started with or, if given, `ctx` (its certificates, SNI entries, client
/// verification and ALPN replace the first one's). Errors as handshake();
/// invalid if it was already continued or cancelled.
task<result<void>> handshake_continue(client_hello hello, std::chrono::milliseconds timeout,
                                      std::optional<context> ctx = std::nullopt);

/// Refuses a handshake stopped by handshake_hello: the client gets a
/// user_canceled alert and the socket is closed. Errors: invalid (already
/// continued or cancelled).
result<void> handshake_cancel(const client_hello& hello);

}  // namespace otpnet::tls
