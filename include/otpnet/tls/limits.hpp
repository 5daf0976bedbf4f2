// File: otpnet/tls/limits.hpp
//
// The cap on TLS handshakes in progress, over the whole OS process. A
// handshake holds one slot from its start to its end (success, failure or
// timeout; a two-step handshake holds it across the pause). One that would
// go above the cap fails at once with `busy`, closing its socket, so that a
// flood of slow or silent peers costs a bounded number of sockets and
// OpenSSL states on top of the handshake timeout, and connections already
// established keep their share of the schedulers.
#pragma once

#include <otpnet/base/duration_histogram.hpp>

#include <cstddef>
#include <cstdint>

namespace otpnet::tls {

/// The cap when nothing sets one.
inline constexpr std::size_t default_handshake_limit = 1024;

/// Sets the cap (0: no handshake may start). Handshakes already in progress
/// are not affected. @threadsafe
void set_handshake_limit(std::size_t n) noexcept;
/// The cap. @threadsafe
std::size_t handshake_limit() noexcept;
/// Handshakes in progress now. @threadsafe
std::size_t handshakes_in_progress() noexcept;

/// The handshakes that ended since the program started, over the whole OS
/// process (server and client), by how they ended, and how long the
/// successful ones took from their start (the slot taken) to the endpoint
/// becoming the socket's transport.
struct handshake_counts {
  std::uint64_t succeeded = 0;
  /// Not done within its timeout (a silent or slow peer).
  std::uint64_t timed_out = 0;
  /// Refused at once: the limit above was reached.
  std::uint64_t refused = 0;
  /// Failed otherwise: an alert, a certificate refused, the peer gone.
  std::uint64_t failed = 0;
  /// Ended unfinished: handshake_cancel, the last copy of its
  /// client_hello dropped, or its owner ended during it.
  std::uint64_t cancelled = 0;
  duration_histogram::snapshot duration;
};
/// @threadsafe
handshake_counts handshake_statistics() noexcept;

}  // namespace otpnet::tls
