// File: tls/context_state.hpp (private)
//
// What a tls::context holds: its options, and the SSL_CTXs of the last
// load of its files (a `context_set`). A handshake takes the current set
// when it starts and keeps it to its end, so that reload() can swap in a
// new set at any time: the old one lives on, through shared_ptr and
// OpenSSL's own reference counts, until its last connection is gone.
#pragma once

#include <otpnet/base/result.hpp>
#include <otpnet/tls/options.hpp>

#include <openssl/ssl.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace otpnet::tls::internal {

using ctx_ptr = std::shared_ptr<SSL_CTX>;

/// One load of a context's files.
struct context_set {
  bool server = false;
  /// The default certificate's context (server), or the one context (client).
  ctx_ptr main;
  /// Server: a context per SNI name, names in lower case ("*.x.org" for a wildcard).
  std::vector<std::pair<std::string, ctx_ptr>> by_name;
  /// ALPN in wire format (length-prefixed names): the server's preference
  /// list, or the client's offer.
  std::vector<unsigned char> alpn;
  /// Client: the default name to verify and send as SNI.
  std::string server_name;
  verify_mode verify = verify_mode::none;

  /// The context for a client asking for `name` (SNI): an exact match, else
  /// a wildcard for its first label, else `main`.
  SSL_CTX* for_name(std::string_view name) const noexcept;
};

/// Loads a server's files. Errors: einval, tls_error (last_error() says why).
result<std::shared_ptr<const context_set>> load_server(const server_options& o);
/// Loads a client's files. Errors as load_server.
result<std::shared_ptr<const context_set>> load_client(const client_options& o);

}  // namespace otpnet::tls::internal

namespace otpnet::tls::detail {

struct context_state {
  bool server = false;
  server_options server_opts;
  client_options client_opts;
  std::atomic<std::uint64_t> generation{0};
  std::mutex reload_mutex;  // one reload at a time

  /// The set new handshakes start with. @threadsafe
  std::shared_ptr<const internal::context_set> snapshot() const {
    std::lock_guard lock(mutex_);
    return current_;
  }
  void install(std::shared_ptr<const internal::context_set> s) {
    std::lock_guard lock(mutex_);
    current_ = std::move(s);
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const internal::context_set> current_;
};

}  // namespace otpnet::tls::detail
