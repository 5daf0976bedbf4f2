// File: otpnet/tls/context.hpp
//
// `tls::context`: a server's or a client's TLS configuration, loaded from
// its files into OpenSSL contexts (one SSL_CTX for the default certificate
// and one per SNI name). A context is a cheap handle: copies share one
// state, and any process on any scheduler may start handshakes with it.
//
// reload() re-reads every file and builds a new set of SSL_CTXs, swapped in
// under a mutex: handshakes that start afterwards use the new certificates,
// connections (and handshakes) already under way keep the set they started
// with, which lives as long as the last of them.
#pragma once

#include <otpnet/base/result.hpp>
#include <otpnet/tls/options.hpp>

#include <cstdint>
#include <memory>

namespace otpnet::tls {

namespace detail {
struct context_state;
}

class context {
 public:
  /// An empty context (no handshake accepts it).
  context() noexcept = default;

  /// A server context. Errors: einval (a file that cannot be read, or
  /// holds no certificate or key, an empty SNI name, min_version above
  /// max_version, an ALPN name longer than 255 bytes or empty), tls_error
  /// (OpenSSL refused it: a key that does not match its certificate, a
  /// key too weak for the security level...). last_error() names the file
  /// and OpenSSL's reason.
  static result<context> server(server_options o);
  /// A client context. Errors as server().
  static result<context> client(client_options o);

  /// Re-reads every file and makes the new certificates (and trust
  /// anchors) those of the handshakes that start from now on; live
  /// connections keep theirs. On failure nothing changes. Errors as
  /// server(). @threadsafe
  result<void> reload() const;

  explicit operator bool() const noexcept { return s_ != nullptr; }
  bool is_server() const noexcept;
  /// How many times the files were loaded (1 after creation, +1 per
  /// successful reload). @threadsafe
  std::uint64_t generation() const noexcept;

  /// The shared state, for the tls layer's handshakes.
  const std::shared_ptr<detail::context_state>& state() const noexcept { return s_; }

 private:
  explicit context(std::shared_ptr<detail::context_state> s) noexcept : s_(std::move(s)) {}
  std::shared_ptr<detail::context_state> s_;
};

}  // namespace otpnet::tls
