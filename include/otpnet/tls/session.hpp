// File: otpnet/tls/session.hpp
//
// `tls::session`: what a client keeps of a connection to resume a later one
// to the same server without a full handshake (a TLS 1.3 ticket, or a TLS
// 1.2 session). Take it with get_session() from a client connection, pass
// it to connect_handshake's `resume`, and check
// connection_info::session_reused. Sessions are immutable and may be
// shared between processes.
#pragma once

#include <otpnet/base/result.hpp>
#include <otpnet/gen_tcp/socket.hpp>

#include <memory>

struct ssl_session_st;

namespace otpnet::tls {

class session {
 public:
  /// No session (a full handshake).
  session() noexcept = default;
  /// Adopts one reference to `s` (OpenSSL's SSL_SESSION).
  explicit session(ssl_session_st* s) noexcept;

  /// True when there is something to resume.
  explicit operator bool() const noexcept { return s_ != nullptr; }
  /// The SSL_SESSION (still owned by this object).
  ssl_session_st* native() const noexcept { return s_.get(); }

 private:
  std::shared_ptr<ssl_session_st> s_;
};

/// The session of a client TLS connection, to resume later. TLS 1.3
/// servers send their tickets after the handshake, so a session appears
/// once the connection has read something after it (the answer to a first
/// request); before that, and when the server issues none, the result is
/// an empty session. Owner only. Errors: invalid (not a TLS client socket,
/// or not called by its owner), closed.
result<session> get_session(const gen_tcp::socket& sock);

}  // namespace otpnet::tls
