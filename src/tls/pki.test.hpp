// File: tls/pki.test.hpp (tests only)
//
// Certificates made at test time with OpenSSL's API, never committed: a
// test CA, leaves it signs (server and client, with DNS and IP names),
// self-signed and expired ones, each written as PEM files into a temporary
// directory that goes away with the `pki` object.
#pragma once

#include <otpnet/tls/options.hpp>

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace otpnet::tls::test {

struct x509_free {
  void operator()(X509* x) const noexcept { X509_free(x); }
};
struct pkey_free {
  void operator()(EVP_PKEY* k) const noexcept { EVP_PKEY_free(k); }
};

/// What a certificate says about itself.
struct cert_spec {
  std::string common_name;
  std::vector<std::string> dns = {"localhost"};
  std::vector<std::string> ips = {"127.0.0.1"};
  long valid_from_s = -3600;          ///< notBefore, from now
  long valid_to_s = 30L * 24 * 3600;  ///< notAfter, from now
  bool ca = false;
};

class pki {
 public:
  /// A temporary directory with a CA in it (ca.pem).
  pki() {
    char tmpl[] = "/tmp/otpnet-tls-XXXXXX";
    char* d = ::mkdtemp(tmpl);
    EXPECT_NE(d, nullptr);
    dir_ = d != nullptr ? d : "/tmp";
    ca_key_.reset(keygen());
    ca_.reset(
        build({.common_name = "otpnet test CA", .dns = {}, .ips = {}, .ca = true}, ca_key_.get(), nullptr, nullptr));
    write_cert(path("ca.pem"), ca_.get());
  }
  ~pki() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  pki(const pki&) = delete;
  pki& operator=(const pki&) = delete;

  const std::filesystem::path& dir() const { return dir_; }
  std::string path(const std::string& file) const { return (dir_ / file).string(); }
  std::string ca_file() const { return path("ca.pem"); }

  /// A leaf signed by the CA, written as NAME.pem and NAME.key.
  identity issue(const std::string& name, const cert_spec& spec) {
    std::unique_ptr<EVP_PKEY, pkey_free> key(keygen());
    std::unique_ptr<X509, x509_free> x(build(spec, key.get(), ca_.get(), ca_key_.get()));
    return write(name, x.get(), key.get());
  }
  identity issue(const std::string& name, const std::string& cn) { return issue(name, cert_spec{.common_name = cn}); }

  /// A leaf that signs itself (no CA vouches for it).
  identity self_signed(const std::string& name, const std::string& cn) {
    std::unique_ptr<EVP_PKEY, pkey_free> key(keygen());
    std::unique_ptr<X509, x509_free> x(build({.common_name = cn}, key.get(), nullptr, nullptr));
    return write(name, x.get(), key.get());
  }

  /// A leaf signed by the CA whose validity ended yesterday.
  identity expired(const std::string& name, const std::string& cn) {
    return issue(name, cert_spec{.common_name = cn, .valid_from_s = -10L * 24 * 3600, .valid_to_s = -24L * 3600});
  }

 private:
  static EVP_PKEY* keygen() {
    EVP_PKEY* k = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
    EXPECT_NE(k, nullptr);
    return k;
  }

  static void add_ext(X509* x, X509V3_CTX* ctx, int nid, const std::string& value) {
    X509_EXTENSION* e = X509V3_EXT_conf_nid(nullptr, ctx, nid, value.c_str());
    EXPECT_NE(e, nullptr) << value;
    if (e != nullptr) {
      X509_add_ext(x, e, -1);
      X509_EXTENSION_free(e);
    }
  }

  /// Issued by `issuer` with `issuer_key`, or self-signed when null.
  X509* build(const cert_spec& s, EVP_PKEY* key, X509* issuer, EVP_PKEY* issuer_key) {
    X509* x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), ++serial_);
    X509_gmtime_adj(X509_getm_notBefore(x), s.valid_from_s);
    X509_gmtime_adj(X509_getm_notAfter(x), s.valid_to_s);
    X509_set_pubkey(x, key);
    X509_NAME* name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(s.common_name.c_str()),
                               -1, -1, 0);
    X509_set_issuer_name(x, issuer != nullptr ? X509_get_subject_name(issuer) : name);
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer != nullptr ? issuer : x, x, nullptr, nullptr, 0);
    add_ext(x, &ctx, NID_basic_constraints, s.ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
    add_ext(x, &ctx, NID_key_usage, s.ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
    add_ext(x, &ctx, NID_subject_key_identifier, "hash");
    if (!s.ca) {
      add_ext(x, &ctx, NID_ext_key_usage, "serverAuth,clientAuth");
      std::string san;
      for (const auto& d : s.dns) {
        san += (san.empty() ? "DNS:" : ",DNS:") + d;
      }
      for (const auto& ip : s.ips) {
        san += (san.empty() ? "IP:" : ",IP:") + ip;
      }
      if (!san.empty()) {
        add_ext(x, &ctx, NID_subject_alt_name, san);
      }
    }
    EXPECT_GT(X509_sign(x, issuer_key != nullptr ? issuer_key : key, EVP_sha256()), 0);
    return x;
  }

  void write_cert(const std::string& file, X509* x) {
    BIO* b = BIO_new_file(file.c_str(), "w");
    ASSERT_NE(b, nullptr) << file;
    EXPECT_EQ(PEM_write_bio_X509(b, x), 1);
    BIO_free(b);
  }

  identity write(const std::string& name, X509* x, EVP_PKEY* key) {
    identity id{path(name + ".pem"), path(name + ".key"), {}};
    write_cert(id.cert_file, x);
    BIO* b = BIO_new_file(id.key_file.c_str(), "w");
    EXPECT_NE(b, nullptr);
    if (b != nullptr) {
      EXPECT_EQ(PEM_write_bio_PrivateKey(b, key, nullptr, nullptr, 0, nullptr, nullptr), 1);
      BIO_free(b);
    }
    return id;
  }

  std::filesystem::path dir_;
  std::unique_ptr<EVP_PKEY, pkey_free> ca_key_;
  std::unique_ptr<X509, x509_free> ca_;
  long serial_ = 0;
};

}  // namespace otpnet::tls::test
