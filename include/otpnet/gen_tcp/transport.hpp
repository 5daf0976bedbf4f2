// File: otpnet/gen_tcp/transport.hpp
//
// The seam between a gen_tcp port and what carries its bytes. A plain TCP
// socket needs none (the port reads and writes the descriptor itself, the
// fast path); TLS installs a transport that encrypts and decrypts in
// between, after its handshake, and the port's framing, active modes,
// watermarks and messages work unchanged on top (ranch's transport, redis's
// ConnectionType). Calls happen on the port's thread only.
#pragma once

#include <otpnet/base/errc.hpp>

#include <sys/uio.h>

#include <cstddef>

namespace otpnet::gen_tcp {

class transport {
 public:
  virtual ~transport() = default;

  enum class status : unsigned char { ok, would_block, eof, error };
  struct io_result {
    status st = status::ok;
    std::size_t n = 0;        ///< bytes read or written (ok)
    errc reason = errc::ok;   ///< error
    bool want_write = false;  ///< would_block on a read that needs writability (TLS)
  };

  /// Reads up to `len` plaintext bytes.
  virtual io_result read(std::byte* buf, std::size_t len) noexcept = 0;
  /// Writes from `iov` (may take less than all of it).
  virtual io_result writev(const ::iovec* iov, std::size_t n) noexcept = 0;
  /// Bytes already decrypted and waiting inside the transport: the port
  /// reads them without waiting for readiness.
  virtual bool has_buffered() const noexcept { return false; }
  /// An orderly end (TLS close_notify) before the descriptor closes or its
  /// write side is shut. `would_block`: it could not be written yet (the
  /// socket's buffer is full); the port calls again when the socket is
  /// writable, until `ok` (sent, or nothing to send) or `error` (given up),
  /// and only then closes or shuts the socket, within its send timeout.
  virtual status shutdown() noexcept { return status::ok; }
};

}  // namespace otpnet::gen_tcp
