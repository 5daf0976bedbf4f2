#include "tls/tls_transport.hpp"

#include "internal/syscall.hpp"
#include "tls/openssl_error.hpp"

#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <spdlog/spdlog.h>

#include <sys/socket.h>

#include <algorithm>
#include <cstring>

namespace otpnet::tls::internal {

namespace {

/// A TLS record's worth of plaintext: the most one gathered write holds.
constexpr std::size_t record_size = std::size_t{16} * 1024;
/// A first iovec smaller than this is gathered with the ones after it.
constexpr std::size_t gather_below = std::size_t{4} * 1024;

int ex_index() noexcept {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

bool is_ip_literal(const std::string& name) {
  ASN1_OCTET_STRING* ip = a2i_IPADDRESS(name.c_str());
  ERR_clear_error();
  if (ip == nullptr) {
    return false;
  }
  ASN1_OCTET_STRING_free(ip);
  return true;
}

/// Reads a list of 8-bit length-prefixed names (ALPN wire format).
std::vector<std::string> parse_names(const unsigned char* p, std::size_t len) {
  std::vector<std::string> out;
  std::size_t at = 0;
  while (at < len) {
    std::size_t n = p[at++];
    if (n == 0 || at + n > len) {
      break;
    }
    out.emplace_back(reinterpret_cast<const char*>(p + at), n);
    at += n;
  }
  return out;
}

}  // namespace

// -- life cycle ----------------------------------------------------------------------

tls_transport::tls_transport(std::shared_ptr<const context_set> set, otpnet::socket::socket raw,
                             std::vector<std::byte> prefix)
    : set_(std::move(set)), raw_(std::move(raw)), server_(set_->server) {
  bio_.fd = raw_.native_handle();
  bio_.prefix = std::move(prefix);
}

tls_transport::~tls_transport() {
  if (ssl_ != nullptr) {
    SSL_free(ssl_);  // the BIO with it; neither owns the descriptor
  }
}

result<std::unique_ptr<tls_transport>> tls_transport::create(otpnet::socket::socket raw,
                                                             std::shared_ptr<const context_set> set,
                                                             std::vector<std::byte> prefix) {
  std::unique_ptr<tls_transport> t(new tls_transport(std::move(set), std::move(raw), std::move(prefix)));
  ERR_clear_error();
  t->ssl_ = SSL_new(t->set_->main.get());
  if (t->ssl_ == nullptr) {
    return fail(failure(errc::tls_error, "SSL_new failed"));
  }
  SSL_set_ex_data(t->ssl_, ex_index(), t.get());
  BIO* b = make_fd_bio(&t->bio_);
  if (b == nullptr) {
    return fail(failure(errc::tls_error, "BIO_new failed"));
  }
  SSL_set_bio(t->ssl_, b, b);
  if (t->server_) {
    SSL_set_accept_state(t->ssl_);
  } else {
    SSL_set_connect_state(t->ssl_);
  }
  return t;
}

tls_transport* tls_transport::of(const SSL* ssl) noexcept {
  return ssl != nullptr ? static_cast<tls_transport*>(SSL_get_ex_data(ssl, ex_index())) : nullptr;
}

// -- failures -------------------------------------------------------------------------

void tls_transport::record_failure(errc reason, std::string detail) noexcept {
  failed_ = true;
  fail_reason_ = reason;
  fail_detail_ = std::move(detail);
}

tls_transport::outcome tls_transport::classify(int ret, std::string_view doing) noexcept {
  switch (SSL_get_error(ssl_, ret)) {
    case SSL_ERROR_WANT_READ:
      return outcome::want_read;
    case SSL_ERROR_WANT_WRITE:
      return outcome::want_write;
    case SSL_ERROR_WANT_CLIENT_HELLO_CB:
      return outcome::hello;
    case SSL_ERROR_ZERO_RETURN:
      // close_notify, or (SSL_OP_IGNORE_UNEXPECTED_EOF) the end of the stream.
      ERR_clear_error();
      return outcome::closed;
    case SSL_ERROR_SYSCALL:
      if (bio_.error != errc::ok) {
        ERR_clear_error();
        record_failure(bio_.error, std::string(doing) + ": " + format_error(bio_.error));
        return outcome::failed;
      }
      if (bio_.eof) {
        ERR_clear_error();
        return outcome::closed;
      }
      break;
    default:
      break;
  }
  std::string detail(doing);
  detail += ": ";
  std::string queue = take_openssl_errors();
  detail += queue.empty() ? "TLS failure" : queue;
  // OpenSSL checks the peer's chain and keeps the result even where nothing
  // is verified (verify none): named only where verification was asked for.
  long v = SSL_get_verify_mode(ssl_) != SSL_VERIFY_NONE ? SSL_get_verify_result(ssl_) : X509_V_OK;
  if (v != X509_V_OK) {
    detail += " (";
    detail += X509_verify_cert_error_string(v);
    detail += ")";
  }
  record_failure(errc::tls_error, std::move(detail));
  return outcome::failed;
}

// -- the handshake ----------------------------------------------------------------------

result<void> tls_transport::set_client_params(const std::string& name, const session& resume) {
  const std::string& host = name.empty() ? set_->server_name : name;
  bool verify = set_->verify != verify_mode::none;
  if (verify && host.empty()) {
    return fail(failure(errc::invalid, "no server name to verify the server's certificate against"));
  }
  ERR_clear_error();
  if (!host.empty()) {
    bool ip = is_ip_literal(host);
    // RFC 6066: SNI carries DNS names only.
    if (!ip && SSL_set_tlsext_host_name(ssl_, host.c_str()) != 1) {
      return fail(failure(errc::tls_error, "server name " + host + " refused"));
    }
    if (verify) {
      int done =
          ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), host.c_str()) : SSL_set1_host(ssl_, host.c_str());
      if (done != 1) {
        return fail(failure(errc::tls_error, "server name " + host + " refused"));
      }
      SSL_set_hostflags(ssl_, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    }
  }
  if (resume && SSL_set_session(ssl_, resume.native()) != 1) {
    return fail(failure(errc::tls_error, "the session to resume was refused"));
  }
  return ok();
}

tls_transport::step tls_transport::handshake_step() noexcept {
  if (failed_) {
    return step::failed;
  }
  ERR_clear_error();
  int r = SSL_do_handshake(ssl_);
  if (r == 1) {
    established_ = true;
    return step::done;
  }
  switch (classify(r, "handshake")) {
    case outcome::want_read:
      return step::want_read;
    case outcome::want_write:
      return step::want_write;
    case outcome::hello:
      return step::hello;
    case outcome::closed:
      record_failure(errc::closed, "handshake: the peer closed the connection");
      return step::failed;
    case outcome::failed:
      return step::failed;
  }
  return step::failed;
}

void tls_transport::cancel() noexcept {
  // A plaintext alert record: no keys are agreed before the server's hello.
  static constexpr unsigned char alert[] = {21, 3, 3, 0, 2, 2, 90};  // fatal user_canceled
  (void)otpnet::internal::sys([&] { return ::send(bio_.fd, alert, sizeof alert, MSG_NOSIGNAL); });
  record_failure(errc::ecanceled, "handshake cancelled");
}

int tls_transport::client_hello() noexcept {
  if (!hello_seen_) {
    hello_seen_ = true;
    parse_hello();
  }
  if (pause_) {
    return SSL_CLIENT_HELLO_RETRY;
  }
  // Once: a second hello (after a HelloRetryRequest) keeps the choice.
  if (!selected_) {
    selected_ = true;
    select_context();
  }
  return SSL_CLIENT_HELLO_SUCCESS;
}

void tls_transport::parse_hello() noexcept {
  const unsigned char* p = nullptr;
  std::size_t len = 0;
  // server_name: a 2-byte list length, then {type, 2-byte length, name}.
  if (SSL_client_hello_get0_ext(ssl_, TLSEXT_TYPE_server_name, &p, &len) == 1 && len >= 2) {
    std::size_t at = 2;
    while (at + 3 <= len) {
      unsigned type = p[at];
      std::size_t n = (std::size_t{p[at + 1]} << 8) | p[at + 2];
      at += 3;
      if (at + n > len) {
        break;
      }
      if (type == TLSEXT_NAMETYPE_host_name) {
        hello_name_.assign(reinterpret_cast<const char*>(p + at), n);
        break;
      }
      at += n;
    }
  }
  // ALPN: a 2-byte list length, then 8-bit length-prefixed names.
  if (SSL_client_hello_get0_ext(ssl_, TLSEXT_TYPE_application_layer_protocol_negotiation, &p, &len) == 1 && len >= 2) {
    hello_alpn_ = parse_names(p + 2, std::min(len - 2, (std::size_t{p[0]} << 8) | p[1]));
  }
}

void tls_transport::select_context() noexcept {
  SSL_CTX* c = set_->for_name(hello_name_);
  if (c == SSL_get_SSL_CTX(ssl_)) {
    return;
  }
  // SSL_set_SSL_CTX takes the certificate, the key and the session id
  // context; what SSL_new copied from the first context into the SSL
  // (verification, the CA names to request, the protocol versions, the
  // options, tickets) is taken over from the new one too.
  SSL_set_SSL_CTX(ssl_, c);
  SSL_set_verify(ssl_, SSL_CTX_get_verify_mode(c), nullptr);
  STACK_OF(X509_NAME)* cas = SSL_CTX_get_client_CA_list(c);
  SSL_set_client_CA_list(ssl_, cas != nullptr ? SSL_dup_CA_list(cas) : nullptr);
  (void)SSL_set_min_proto_version(ssl_, SSL_CTX_get_min_proto_version(c));
  (void)SSL_set_max_proto_version(ssl_, SSL_CTX_get_max_proto_version(c));
  std::uint64_t want = SSL_CTX_get_options(c);
  (void)SSL_clear_options(ssl_, SSL_get_options(ssl_) & ~want);
  (void)SSL_set_options(ssl_, want);
  (void)SSL_set_num_tickets(ssl_, SSL_CTX_get_num_tickets(c));
}

int tls_transport::select_alpn(const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                               unsigned inlen) noexcept {
  const std::vector<unsigned char>& mine = set_->alpn;
  if (mine.empty()) {
    return SSL_TLSEXT_ERR_NOACK;
  }
  // The first of the server's list that the client offers: server preference.
  unsigned char* chosen = nullptr;
  if (SSL_select_next_proto(&chosen, outlen, mine.data(), static_cast<unsigned>(mine.size()), in, inlen) ==
      OPENSSL_NPN_NEGOTIATED) {
    *out = chosen;
    return SSL_TLSEXT_ERR_OK;
  }
  return SSL_TLSEXT_ERR_ALERT_FATAL;
}

session tls_transport::current_session() const {
  if (latest_) {
    return latest_;
  }
  SSL_SESSION* s = SSL_get1_session(ssl_);
  if (s != nullptr && SSL_SESSION_is_resumable(s) == 1) {
    return session(s);
  }
  SSL_SESSION_free(s);
  return {};
}

// -- the transport ------------------------------------------------------------------------

tls_transport::io_result tls_transport::read(std::byte* buf, std::size_t len) noexcept {
  if (failed_) {
    return {status::error, 0, fail_reason_};
  }
  ERR_clear_error();
  std::size_t got = 0;
  if (SSL_read_ex(ssl_, buf, len, &got) == 1) {
    return {status::ok, got};
  }
  switch (classify(0, "read")) {
    case outcome::want_read:
    case outcome::hello:
      return {status::would_block};
    case outcome::want_write:
      return {status::would_block, 0, errc::ok, true};
    case outcome::closed:
      return {status::eof};
    case outcome::failed:
      break;
  }
  report_failure();
  return {status::error, 0, fail_reason_};
}

std::pair<const void*, std::size_t> tls_transport::gather(const ::iovec* iov, std::size_t n,
                                                          std::size_t skip) noexcept {
  auto at = [&](std::size_t i) { return static_cast<const std::byte*>(iov[i].iov_base) + (i == 0 ? skip : 0); };
  auto len = [&](std::size_t i) { return iov[i].iov_len - (i == 0 ? skip : 0); };
  if (n == 1 || len(0) >= gather_below) {
    return {at(0), len(0)};
  }
  // Deterministic for given bytes, so that a retry after would-block
  // passes OpenSSL at least the bytes of the record it holds.
  if (!gather_) {
    gather_.reset(new (std::nothrow) std::byte[record_size]);
    if (!gather_) {
      return {at(0), len(0)};
    }
  }
  std::size_t total = 0;
  for (std::size_t i = 0; i < n && total < record_size; ++i) {
    std::size_t take = std::min(len(i), record_size - total);
    std::memcpy(gather_.get() + total, at(i), take);
    total += take;
  }
  return {gather_.get(), total};
}

tls_transport::io_result tls_transport::writev(const ::iovec* iov, std::size_t n) noexcept {
  if (failed_) {
    return {status::error, 0, fail_reason_};
  }
  // As sendmsg: as much as the socket takes. The port takes a short count
  // for a full socket and waits for writability, so the loop stops only at
  // would-block (or a failure); each SSL_write writes one record at most
  // (SSL_MODE_ENABLE_PARTIAL_WRITE).
  std::size_t done = 0;
  std::size_t skip = 0;  // bytes of iov[0] already written
  while (n > 0) {
    if (iov[0].iov_len == skip) {
      ++iov;
      --n;
      skip = 0;
      continue;
    }
    auto [data, len] = gather(iov, n, skip);
    ERR_clear_error();
    std::size_t put = 0;
    if (SSL_write_ex(ssl_, data, len, &put) == 1) {
      done += put;
      while (put > 0) {
        std::size_t here = std::min(put, iov[0].iov_len - skip);
        put -= here;
        skip += here;
        if (skip == iov[0].iov_len && put > 0) {
          ++iov;
          --n;
          skip = 0;
        }
      }
      continue;
    }
    switch (classify(0, "write")) {
      case outcome::want_read:
      case outcome::want_write:
      case outcome::hello:
        return done > 0 ? io_result{status::ok, done} : io_result{status::would_block};
      case outcome::closed:
        record_failure(errc::epipe, "write: the connection is closed");
        break;
      case outcome::failed:
        break;
    }
    report_failure();
    // What was written counts; the failure shows on the next call.
    return done > 0 ? io_result{status::ok, done} : io_result{status::error, 0, fail_reason_};
  }
  return {status::ok, done};
}

void tls_transport::report_failure() const noexcept {
  try {
    set_last_error(fail_detail_);
    // A socket error is reported by the port itself; OpenSSL's reasons only here.
    if (fail_reason_ == errc::tls_error) {
      spdlog::warn("tls: socket {}: {}", bio_.fd, fail_detail_);
    }
  } catch (...) {
    // Reporting must not fail the connection further.
  }
}

bool tls_transport::has_buffered() const noexcept { return SSL_has_pending(ssl_) == 1; }

gen_tcp::transport::status tls_transport::shutdown() noexcept {
  // close_notify, once, without waiting for the peer's; not after a fatal
  // error (OpenSSL forbids it), nor before the handshake is done, nor on a
  // descriptor already closed (its number may be another socket's now).
  if (!established_ || failed_ || shut_ == shut::done || !raw_.is_open()) {
    return status::ok;
  }
  // The first call queues the alert and writes it; after a would-block, a
  // call again writes what OpenSSL held back (it does not read for the
  // peer's close_notify until its own has gone).
  shut_ = shut::pending;
  ERR_clear_error();
  int r = SSL_shutdown(ssl_);
  if (r < 0 && SSL_get_error(ssl_, r) == SSL_ERROR_WANT_WRITE) {
    ERR_clear_error();
    return status::would_block;
  }
  ERR_clear_error();
  shut_ = shut::done;
  return r < 0 ? status::error : status::ok;
}

}  // namespace otpnet::tls::internal
