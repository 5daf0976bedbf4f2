#include "tls/callbacks.hpp"

#include "tls/tls_transport.hpp"

namespace otpnet::tls::internal {

int on_client_hello(SSL* ssl, int*, void*) {
  tls_transport* t = tls_transport::of(ssl);
  return t != nullptr ? t->client_hello() : SSL_CLIENT_HELLO_SUCCESS;
}

int on_alpn_select(SSL* ssl, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                   unsigned int inlen, void*) {
  tls_transport* t = tls_transport::of(ssl);
  return t != nullptr ? t->select_alpn(out, outlen, in, inlen) : SSL_TLSEXT_ERR_NOACK;
}

int on_new_session(SSL* ssl, SSL_SESSION* sess) {
  tls_transport* t = tls_transport::of(ssl);
  if (t == nullptr) {
    return 0;  // OpenSSL keeps its reference and frees it
  }
  t->new_session(sess);
  return 1;
}

}  // namespace otpnet::tls::internal
