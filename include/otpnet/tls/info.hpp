// File: otpnet/tls/info.hpp
//
// What a TLS connection negotiated (OTP's ssl:connection_information/2 and
// ssl:peercert/1 in one): protocol version, cipher suite, ALPN protocol,
// server name, whether the session was resumed, and who the peer proved to
// be.
#pragma once

#include <otpnet/base/result.hpp>
#include <otpnet/gen_tcp/socket.hpp>

#include <string>

namespace otpnet::tls {

struct connection_info {
  std::string protocol;     ///< "TLSv1.3" or "TLSv1.2"
  std::string cipher;       ///< e.g. "TLS_AES_256_GCM_SHA384"
  std::string alpn;         ///< the negotiated protocol; empty: none
  std::string server_name;  ///< SNI: what the client asked for (both sides)
  bool session_reused = false;
  /// The peer's certificate: its subject (one line, RFC 2253), the common
  /// name in it, and its expiry (as OpenSSL prints it); empty without one.
  std::string peer_subject;
  std::string peer_common_name;
  std::string peer_not_after;
  /// The peer's certificate chain verified (false without a certificate,
  /// or with verification off).
  bool peer_verified = false;
};

/// The connection's TLS parameters. Owner only. Errors: invalid (not a TLS
/// socket, or not called by its owner), closed.
result<connection_info> info(const gen_tcp::socket& sock);

}  // namespace otpnet::tls
