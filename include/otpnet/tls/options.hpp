// File: otpnet/tls/options.hpp
//
// What a TLS context is made of: the certificate and key files of a server
// (one default certificate and one per server name, SNI), the trust anchors
// and the verification asked of the peer, ALPN, session tickets and the
// protocol versions. Plain data, checked when the context is built
// (context::server / context::client). The defaults are the modern ones:
// TLS 1.2 and 1.3 only, no compression, no renegotiation, and for TLS 1.2
// only forward-secret AEAD suites (ECDHE with AES-GCM or ChaCha20-Poly1305).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace otpnet::tls {

/// How the peer's certificate is checked (OTP's verify / fail_if_no_peer_cert).
enum class verify_mode : std::uint8_t {
  /// Server: asks for no client certificate. Client: checks nothing about
  /// the server (encryption without authentication; tests only).
  none,
  /// Server: asks for a client certificate and verifies it if one is sent,
  /// but accepts a client that sends none. Client: as `required`.
  optional,
  /// Server: a client without a certificate that verifies is refused.
  /// Client: the server's chain must verify against the trust anchors and
  /// its certificate must name the expected host.
  required,
};

/// A protocol version bound.
enum class version : std::uint8_t { tls1_2, tls1_3 };

/// A certificate and its private key, in PEM files.
struct identity {
  /// The leaf certificate, optionally followed by its chain (as a web
  /// server's fullchain.pem).
  std::string cert_file;
  /// Its private key, unencrypted PEM (PKCS#8, RSA or EC).
  std::string key_file;
  /// Optional: intermediate certificates sent after the leaf.
  std::string chain_file;
};

/// A certificate for one server name (SNI).
struct named_identity {
  /// "api.example.com", or "*.example.com" for any one label in its place.
  /// Matched without regard to case.
  std::string server_name;
  identity cert;
};

/// A server context's options.
struct server_options {
  /// The certificate for clients that name no server, or a name that no
  /// entry of `sni` matches.
  identity cert;
  /// A certificate per server name; an exact name wins over a wildcard.
  std::vector<named_identity> sni;
  /// Client certificates: none asked for by default.
  verify_mode verify = verify_mode::none;
  /// Trust anchors for client certificates (PEM, one or more CA
  /// certificates); their names are sent in the certificate request. Empty
  /// with verification on: the system's trust store.
  std::string ca_file;
  /// ALPN protocols in the server's order of preference ("h2",
  /// "http/1.1"). Empty: ALPN is not negotiated. A client that offers
  /// protocols, none of them in this list, is refused with the
  /// no_application_protocol alert (RFC 7301).
  std::vector<std::string> alpn;
  /// Session resumption with tickets (TLS 1.2 and 1.3).
  bool session_tickets = true;
  version min_version = version::tls1_2;
  version max_version = version::tls1_3;
};

/// A client context's options.
struct client_options {
  /// A client certificate, for servers that ask for one.
  std::optional<identity> cert;
  /// The server is verified by default (`optional` acts as `required`).
  verify_mode verify = verify_mode::required;
  /// Trust anchors for the server's certificate (PEM). Empty: the system's
  /// trust store.
  std::string ca_file;
  /// The name the server must prove (a DNS name, or an IP literal matched
  /// against the certificate's IP addresses), also sent as SNI for a DNS
  /// name. connect_handshake's `server_name` overrides it per connection.
  /// With verification on, a handshake without any name is refused.
  std::string server_name;
  /// ALPN protocols offered, in the client's order.
  std::vector<std::string> alpn;
  /// Accept session tickets, so that a later connection can resume.
  bool session_tickets = true;
  version min_version = version::tls1_2;
  version max_version = version::tls1_3;
};

}  // namespace otpnet::tls
