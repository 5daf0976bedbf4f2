// File: tls/callbacks.hpp (private)
//
// The OpenSSL callbacks every context of the layer installs. Each finds the
// connection it is called for through the SSL's ex_data (its
// tls_transport), so that one SSL_CTX serves any number of connections and
// a reload never leaves a callback with a stale argument.
#pragma once

#include <openssl/ssl.h>

namespace otpnet::tls::internal {

/// Server: the client's hello arrived. Records its SNI and ALPN offer,
/// stops there for handshake_hello (SSL_CLIENT_HELLO_RETRY), and switches
/// the connection to the SSL_CTX of the server name.
int on_client_hello(SSL* ssl, int* alert, void* arg);

/// Server: picks the first protocol of the server's ALPN list that the
/// client offers; none: a fatal no_application_protocol alert.
int on_alpn_select(SSL* ssl, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                   unsigned int inlen, void* arg);

/// Client: a new session (a TLS 1.3 ticket, or the TLS 1.2 session) to
/// keep for get_session(). Takes the reference (returns 1).
int on_new_session(SSL* ssl, SSL_SESSION* sess);

}  // namespace otpnet::tls::internal
