// Building the SSL_CTXs of a context_set from a context's options: the modern
// defaults, the certificate files, trust anchors, verification, ALPN, sessions.
#include "tls/callbacks.hpp"
#include "tls/context_state.hpp"
#include "tls/openssl_error.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cctype>
#include <string>

namespace otpnet::tls::internal {

namespace {

// TLS 1.2: forward-secret key exchange (ECDHE) and AEAD ciphers only, in
// the server's order. TLS 1.3 suites are all of that kind already.
constexpr const char* tls12_suites =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
constexpr const char* groups = "X25519:P-256:P-384";
// The session id context: resumption with client certificates needs one,
// and each context has its own (16 random bytes). A session resumes only
// in the context that made it: a connection whose handshake moves to
// another context (by SNI, or handshake_continue with another one) cannot
// resume a session of the first, which may have asked for no client
// certificate where the other requires one. (Tickets are encrypted with
// keys of the first context, which resumption would otherwise reach.)
constexpr int sid_context_bytes = 16;

struct x509_free {
  void operator()(X509* x) const noexcept { X509_free(x); }
};
struct pkey_free {
  void operator()(EVP_PKEY* k) const noexcept { EVP_PKEY_free(k); }
};
struct bio_free {
  void operator()(BIO* b) const noexcept { BIO_free(b); }
};
using x509_ptr = std::unique_ptr<X509, x509_free>;
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_free>;
using bio_ptr = std::unique_ptr<BIO, bio_free>;

int proto(version v) noexcept { return v == version::tls1_3 ? TLS1_3_VERSION : TLS1_2_VERSION; }

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

/// Never asks for a passphrase (OpenSSL would prompt on the terminal).
int no_passphrase(char*, int, int, void*) { return 0; }

result<bio_ptr> open_file(const std::string& path, std::string_view what) {
  if (path.empty()) {
    return fail(failure(errc::einval, std::string("no ") + std::string(what) + " file given"));
  }
  bio_ptr b(BIO_new_file(path.c_str(), "r"));
  if (!b) {
    return fail(failure(errc::einval, "cannot read " + std::string(what) + " file " + path));
  }
  return b;
}

/// Every certificate of a PEM file, in order. Errors: einval (unreadable,
/// malformed, or no certificate in it).
result<std::vector<x509_ptr>> read_certs(const std::string& path, std::string_view what) {
  auto b = open_file(path, what);
  if (!b) {
    return fail(b.error());
  }
  std::vector<x509_ptr> out;
  ERR_clear_error();
  while (X509* x = PEM_read_bio_X509(b->get(), nullptr, no_passphrase, nullptr)) {
    out.emplace_back(x);
  }
  // The loop ends at the end of the file ("no start line") or at damage.
  unsigned long e = ERR_peek_last_error();
  if (e != 0 && !(ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE)) {
    return fail(failure(errc::einval, std::string(what) + " file " + path + " is damaged"));
  }
  ERR_clear_error();
  if (out.empty()) {
    return fail(failure(errc::einval, std::string(what) + " file " + path + " holds no PEM certificate"));
  }
  return out;
}

result<pkey_ptr> read_key(const std::string& path) {
  auto b = open_file(path, "key");
  if (!b) {
    return fail(b.error());
  }
  ERR_clear_error();
  pkey_ptr k(PEM_read_bio_PrivateKey(b->get(), nullptr, no_passphrase, nullptr));
  if (!k) {
    return fail(failure(errc::einval, "key file " + path + " holds no unencrypted PEM private key"));
  }
  return k;
}

/// Installs a certificate, its chain and its key.
result<void> use_identity(SSL_CTX* c, const identity& id) {
  auto certs = read_certs(id.cert_file, "certificate");
  if (!certs) {
    return fail(certs.error());
  }
  if (!id.chain_file.empty()) {
    auto chain = read_certs(id.chain_file, "chain");
    if (!chain) {
      return fail(chain.error());
    }
    for (auto& x : *chain) {
      certs->push_back(std::move(x));
    }
  }
  auto key = read_key(id.key_file);
  if (!key) {
    return fail(key.error());
  }
  if (X509_check_private_key(certs->front().get(), key->get()) != 1) {
    return fail(failure(errc::tls_error, "key " + id.key_file + " does not match certificate " + id.cert_file));
  }
  if (SSL_CTX_use_certificate(c, certs->front().get()) != 1) {
    return fail(failure(errc::tls_error, "certificate " + id.cert_file + " refused"));
  }
  for (std::size_t i = 1; i < certs->size(); ++i) {
    if (SSL_CTX_add1_chain_cert(c, (*certs)[i].get()) != 1) {
      return fail(failure(errc::tls_error, "chain certificate of " + id.cert_file + " refused"));
    }
  }
  if (SSL_CTX_use_PrivateKey(c, key->get()) != 1) {
    return fail(failure(errc::tls_error, "key " + id.key_file + " refused"));
  }
  return ok();
}

/// Trust anchors: from `ca_file`, or the system's. On a server, their
/// names also go in the certificate request.
result<void> use_trust(SSL_CTX* c, const std::string& ca_file, bool server) {
  if (ca_file.empty()) {
    if (SSL_CTX_set_default_verify_paths(c) != 1) {
      return fail(failure(errc::tls_error, "the system's trust store cannot be loaded"));
    }
    return ok();
  }
  auto cas = read_certs(ca_file, "CA");
  if (!cas) {
    return fail(cas.error());
  }
  X509_STORE* store = SSL_CTX_get_cert_store(c);
  for (auto& x : *cas) {
    if (X509_STORE_add_cert(store, x.get()) != 1 || (server && SSL_CTX_add_client_CA(c, x.get()) != 1)) {
      return fail(failure(errc::tls_error, "CA certificate of " + ca_file + " refused"));
    }
  }
  return ok();
}

result<std::vector<unsigned char>> alpn_wire(const std::vector<std::string>& names) {
  std::vector<unsigned char> wire;
  for (const auto& n : names) {
    if (n.empty() || n.size() > 255) {
      return fail(failure(errc::einval, "ALPN protocol names are 1 to 255 bytes"));
    }
    wire.push_back(static_cast<unsigned char>(n.size()));
    wire.insert(wire.end(), n.begin(), n.end());
  }
  return wire;
}

/// An SSL_CTX with the layer's defaults.
result<ctx_ptr> new_ctx(bool server, version min, version max, bool tickets) {
  if (min > max) {
    return fail(failure(errc::einval, "min_version above max_version"));
  }
  ERR_clear_error();
  SSL_CTX* raw = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
  if (raw == nullptr) {
    return fail(failure(errc::tls_error, "SSL_CTX_new failed"));
  }
  ctx_ptr c(raw, SSL_CTX_free);
  // An unexpected end of the TCP stream reads as an end (ssl_closed), as
  // OTP's ssl has it; close_notify is still sent on close.
  std::uint64_t opts =
      SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_IGNORE_UNEXPECTED_EOF;
  if (!tickets) {
    opts |= SSL_OP_NO_TICKET;
  }
  SSL_CTX_set_options(raw, opts);
  if (SSL_CTX_set_min_proto_version(raw, proto(min)) != 1 || SSL_CTX_set_max_proto_version(raw, proto(max)) != 1 ||
      SSL_CTX_set_cipher_list(raw, tls12_suites) != 1 || SSL_CTX_set1_groups_list(raw, groups) != 1) {
    return fail(failure(errc::tls_error, "the context's defaults were refused"));
  }
  unsigned char sid[sid_context_bytes];
  if (RAND_bytes(sid, sid_context_bytes) != 1 ||
      SSL_CTX_set_session_id_context(raw, sid, static_cast<unsigned>(sid_context_bytes)) != 1) {
    return fail(failure(errc::tls_error, "no session id context (random bytes)"));
  }
  SSL_CTX_set_mode(raw, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (!tickets) {
    SSL_CTX_set_num_tickets(raw, 0);
    SSL_CTX_set_session_cache_mode(raw, SSL_SESS_CACHE_OFF);
  }
  return c;
}

int server_verify_flags(verify_mode v) noexcept {
  switch (v) {
    case verify_mode::none:
      return SSL_VERIFY_NONE;
    case verify_mode::optional:
      return SSL_VERIFY_PEER;
    case verify_mode::required:
      return SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
  }
  return SSL_VERIFY_NONE;
}

/// One server context for `id`, with everything else of `o`.
result<ctx_ptr> server_ctx(const server_options& o, const identity& id) {
  auto c = new_ctx(true, o.min_version, o.max_version, o.session_tickets);
  if (!c) {
    return fail(c.error());
  }
  SSL_CTX* raw = c->get();
  if (auto r = use_identity(raw, id); !r) {
    return fail(r.error());
  }
  if (o.verify != verify_mode::none) {
    if (auto r = use_trust(raw, o.ca_file, true); !r) {
      return fail(r.error());
    }
  }
  SSL_CTX_set_verify(raw, server_verify_flags(o.verify), nullptr);
  SSL_CTX_set_client_hello_cb(raw, on_client_hello, nullptr);
  SSL_CTX_set_alpn_select_cb(raw, on_alpn_select, nullptr);
  return c;
}

}  // namespace

SSL_CTX* context_set::for_name(std::string_view name) const noexcept {
  if (name.empty() || by_name.empty()) {
    return main.get();
  }
  std::string want = lower(name);
  for (const auto& [n, c] : by_name) {
    if (n == want) {
      return c.get();
    }
  }
  if (auto dot = want.find('.'); dot != std::string::npos && dot > 0) {
    std::string wild = "*" + want.substr(dot);
    for (const auto& [n, c] : by_name) {
      if (n == wild) {
        return c.get();
      }
    }
  }
  return main.get();
}

result<std::shared_ptr<const context_set>> load_server(const server_options& o) {
  auto set = std::make_shared<context_set>();
  set->server = true;
  set->verify = o.verify;
  auto wire = alpn_wire(o.alpn);
  if (!wire) {
    return fail(wire.error());
  }
  set->alpn = std::move(*wire);
  auto main = server_ctx(o, o.cert);
  if (!main) {
    return fail(main.error());
  }
  set->main = std::move(*main);
  for (const auto& named : o.sni) {
    if (named.server_name.empty()) {
      return fail(failure(errc::einval, "an SNI entry without a server name"));
    }
    auto c = server_ctx(o, named.cert);
    if (!c) {
      return fail(c.error());
    }
    set->by_name.emplace_back(lower(named.server_name), std::move(*c));
  }
  return std::shared_ptr<const context_set>(std::move(set));
}

result<std::shared_ptr<const context_set>> load_client(const client_options& o) {
  auto set = std::make_shared<context_set>();
  set->server = false;
  set->verify = o.verify;
  set->server_name = o.server_name;
  auto wire = alpn_wire(o.alpn);
  if (!wire) {
    return fail(wire.error());
  }
  set->alpn = std::move(*wire);
  auto c = new_ctx(false, o.min_version, o.max_version, o.session_tickets);
  if (!c) {
    return fail(c.error());
  }
  SSL_CTX* raw = c->get();
  if (o.cert) {
    if (auto r = use_identity(raw, *o.cert); !r) {
      return fail(r.error());
    }
  }
  if (o.verify != verify_mode::none) {
    if (auto r = use_trust(raw, o.ca_file, false); !r) {
      return fail(r.error());
    }
    SSL_CTX_set_verify(raw, SSL_VERIFY_PEER, nullptr);
  } else {
    SSL_CTX_set_verify(raw, SSL_VERIFY_NONE, nullptr);
  }
  // SSL_CTX_set_alpn_protos returns 0 on success.
  if (!set->alpn.empty() &&
      SSL_CTX_set_alpn_protos(raw, set->alpn.data(), static_cast<unsigned>(set->alpn.size())) != 0) {
    return fail(failure(errc::tls_error, "the ALPN offer was refused"));
  }
  if (o.session_tickets) {
    SSL_CTX_set_session_cache_mode(raw, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(raw, on_new_session);
  }
  set->main = std::move(*c);
  return std::shared_ptr<const context_set>(std::move(set));
}

}  // namespace otpnet::tls::internal
