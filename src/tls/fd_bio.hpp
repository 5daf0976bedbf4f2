// File: tls/fd_bio.hpp (private)
//
// The BIO between OpenSSL and a gen_tcp port's descriptor. OpenSSL's own
// socket BIO writes with write(2), which raises SIGPIPE on a closed peer
// (STYLE rule 16), and reads errno itself (rule 13); this one sends with
// MSG_NOSIGNAL through the syscall funnel, keeps the socket's error as an
// errc, and first hands out the bytes the port had already read before the
// handshake began (`prefix`), so that no byte of the peer's hello is lost.
// Non-blocking: would-block is a retry, never an error.
#pragma once

#include <otpnet/base/errc.hpp>

#include <openssl/bio.h>

#include <cstddef>
#include <vector>

namespace otpnet::tls::internal {

/// What a BIO made by make_fd_bio works on (owned by the connection).
struct fd_bio_state {
  int fd = -1;
  /// Read before the descriptor.
  std::vector<std::byte> prefix;
  std::size_t prefix_at = 0;
  /// The socket's error after a call failed (econnreset...), or ok.
  errc error = errc::ok;
  /// The peer ended its side (recv gave 0).
  bool eof = false;
};

/// A BIO over `st`, which must outlive it (the BIO does not own it, nor
/// the descriptor). nullptr if OpenSSL is out of memory.
BIO* make_fd_bio(fd_bio_state* st) noexcept;

}  // namespace otpnet::tls::internal
