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

#include <cstddef>

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

}  // namespace otpnet::tls
