// File: tls/tls_transport.hpp (private)
//
// One TLS endpoint (an SSL over the port's descriptor) and the gen_tcp
// transport it becomes after its handshake. The handshake is stepped by
// the owning process (handshake.cpp), which waits for readiness between
// steps; once it is done, the port reads and writes through read/writev:
//   read    SSL_read straight into the port's chunk (no copy besides
//           OpenSSL's decryption)
//   writev  SSL_write of each iovec, small ones gathered into one record
//           (a {packet, 2} header and its body make one record, not two),
//           until the socket would block
// Used on the port's thread only. Failures are kept with OpenSSL's reason,
// which goes into the report line.
#pragma once

#include <otpnet/base/result.hpp>
#include <otpnet/gen_tcp/transport.hpp>
#include <otpnet/socket/socket.hpp>
#include <otpnet/tls/session.hpp>

#include "tls/context_state.hpp"
#include "tls/fd_bio.hpp"

#include <openssl/ssl.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace otpnet::tls::internal {

class tls_transport final : public gen_tcp::transport {
 public:
  /// Where a handshake step left off.
  enum class step : std::uint8_t { done, want_read, want_write, hello, failed };

  /// An endpoint over `raw` for `set` (a server's or a client's), reading
  /// `prefix` before the descriptor. Errors: tls_error (out of memory).
  static result<std::unique_ptr<tls_transport>> create(otpnet::socket::socket raw,
                                                       std::shared_ptr<const context_set> set,
                                                       std::vector<std::byte> prefix);
  ~tls_transport() override;
  tls_transport(const tls_transport&) = delete;
  tls_transport& operator=(const tls_transport&) = delete;

  // -- the handshake (the owning process) -------------------------------------------

  /// Client: the name to send (SNI) and to verify, and a session to
  /// resume. Errors: invalid (verification on and no name), tls_error.
  result<void> set_client_params(const std::string& name, const session& resume);
  /// Server: stop at the client's hello (handshake_hello) or go on.
  void pause_at_hello(bool on) noexcept { pause_ = on; }
  /// Server: continue with another context (handshake_continue).
  void choose(std::shared_ptr<const context_set> set) noexcept { set_ = std::move(set); }
  /// One SSL_do_handshake.
  step handshake_step() noexcept;
  /// After step::failed (or a failed read/write): why, and OpenSSL's words.
  errc failure_reason() const noexcept { return fail_reason_; }
  const std::string& failure_detail() const noexcept { return fail_detail_; }
  /// Server, before its first answer: a fatal user_canceled alert.
  void cancel() noexcept;
  /// What the client's hello held.
  const std::string& hello_server_name() const noexcept { return hello_name_; }
  const std::vector<std::string>& hello_alpn() const noexcept { return hello_alpn_; }

  // -- gen_tcp::transport (the port) ----------------------------------------------------

  io_result read(std::byte* buf, std::size_t len) noexcept override;
  io_result writev(const ::iovec* iov, std::size_t n) noexcept override;
  bool has_buffered() const noexcept override;
  status shutdown() noexcept override;

  // -- callbacks, info, sessions ----------------------------------------------------------

  /// The transport an SSL belongs to (nullptr for a foreign SSL).
  static tls_transport* of(const SSL* ssl) noexcept;
  SSL* ssl() const noexcept { return ssl_; }
  int client_hello() noexcept;
  int select_alpn(const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned inlen) noexcept;
  void new_session(SSL_SESSION* s) noexcept { latest_ = session(s); }
  /// The newest resumable session (client).
  session current_session() const;

 private:
  tls_transport(std::shared_ptr<const context_set> set, otpnet::socket::socket raw, std::vector<std::byte> prefix);

  enum class outcome : std::uint8_t { want_read, want_write, hello, closed, failed };
  /// What SSL_get_error says of a call that returned `ret`; a failure is
  /// recorded (reason and detail).
  outcome classify(int ret, std::string_view doing) noexcept;
  void record_failure(errc reason, std::string detail) noexcept;
  /// After a read or write failed: last_error(), and a report line for a
  /// TLS failure (the port reports the failure itself, without OpenSSL's words).
  void report_failure() const noexcept;
  void parse_hello() noexcept;
  void select_context() noexcept;
  /// The bytes of one SSL_write from `iov` (less `skip` bytes of the
  /// first): the first iovec, or small iovecs gathered into one record.
  std::pair<const void*, std::size_t> gather(const ::iovec* iov, std::size_t n, std::size_t skip) noexcept;

  std::shared_ptr<const context_set> set_;
  /// The port's socket: its descriptor is the BIO's, and once it is closed
  /// (by whoever) nothing more is written to that number.
  otpnet::socket::socket raw_;
  fd_bio_state bio_;
  SSL* ssl_ = nullptr;
  bool server_ = false;
  bool established_ = false;
  bool failed_ = false;
  // close_notify: not asked for, asked and waiting for room in the socket
  // (OpenSSL holds the alert), or done (sent, or given up).
  enum class shut : std::uint8_t { no, pending, done };
  shut shut_ = shut::no;
  errc fail_reason_ = errc::ok;
  std::string fail_detail_;

  // server: the hello and the context choice
  bool pause_ = false;
  bool hello_seen_ = false;
  bool selected_ = false;
  std::string hello_name_;
  std::vector<std::string> hello_alpn_;

  // client: the newest session
  session latest_;

  // writes: small iovecs gathered into one record
  std::unique_ptr<std::byte[]> gather_;
};

}  // namespace otpnet::tls::internal
