#include <otpnet/runtime/process.hpp>
#include <otpnet/tls/info.hpp>

#include "gen_tcp/port.hpp"
#include "tls/tls_transport.hpp"

#include <openssl/bio.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <array>
#include <memory>

namespace otpnet::tls {

namespace {

struct bio_free {
  void operator()(BIO* b) const noexcept { BIO_free(b); }
};

/// What OpenSSL prints into a memory BIO, as a string.
template <class F>
std::string printed(F&& print) {
  std::unique_ptr<BIO, bio_free> b(BIO_new(BIO_s_mem()));
  if (!b || print(b.get()) <= 0) {
    return {};
  }
  char* data = nullptr;
  long n = BIO_get_mem_data(b.get(), &data);
  return n > 0 ? std::string(data, static_cast<std::size_t>(n)) : std::string();
}

void describe_peer(SSL* ssl, connection_info& ci) {
  X509* peer = SSL_get0_peer_certificate(ssl);
  if (peer == nullptr) {
    return;
  }
  X509_NAME* subject = X509_get_subject_name(peer);
  ci.peer_subject = printed([&](BIO* b) { return X509_NAME_print_ex(b, subject, 0, XN_FLAG_RFC2253); });
  std::array<char, 256> cn{};
  if (X509_NAME_get_text_by_NID(subject, NID_commonName, cn.data(), static_cast<int>(cn.size())) > 0) {
    ci.peer_common_name = cn.data();
  }
  ci.peer_not_after = printed([&](BIO* b) { return ASN1_TIME_print(b, X509_get0_notAfter(peer)); });
  ci.peer_verified = SSL_get_verify_result(ssl) == X509_V_OK;
}

}  // namespace

result<connection_info> info(const gen_tcp::socket& sock) {
  gen_tcp::detail::port* p = sock.port();
  if (p == nullptr) {
    return fail(errc::closed);
  }
  if (!p->on_my_thread() || p->owner() != self()) {
    return fail(errc::invalid);
  }
  if (p->is_closed()) {
    return fail(errc::closed);
  }
  auto* t = dynamic_cast<internal::tls_transport*>(p->current_transport());
  if (t == nullptr) {
    return fail(errc::invalid);
  }
  SSL* ssl = t->ssl();
  connection_info ci;
  ci.protocol = SSL_get_version(ssl);
  if (const char* c = SSL_get_cipher_name(ssl)) {
    ci.cipher = c;
  }
  const unsigned char* alpn = nullptr;
  unsigned alpn_len = 0;
  SSL_get0_alpn_selected(ssl, &alpn, &alpn_len);
  if (alpn != nullptr) {
    ci.alpn.assign(reinterpret_cast<const char*>(alpn), alpn_len);
  }
  if (const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name)) {
    ci.server_name = name;
  }
  ci.session_reused = SSL_session_reused(ssl) == 1;
  describe_peer(ssl, ci);
  return ci;
}

}  // namespace otpnet::tls
