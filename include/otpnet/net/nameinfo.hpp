// File: otpnet/net/nameinfo.hpp
//
// `getnameinfo()`: address to name translation, as OTP's net:getnameinfo/1,2.
// An address becomes a host name (or numeric text) and a service name (or
// port number).
#pragma once

#include <otpnet/base/result.hpp>
#include <otpnet/net/sockaddr_value.hpp>

#include <netdb.h>

#include <string>

namespace otpnet::net {

/// The answer of getnameinfo: e.g. {"localhost", "http"}, or {"127.0.0.1",
/// "80"} with NI_NUMERICHOST | NI_NUMERICSERV.
struct nameinfo {
  std::string host;
  std::string service;
};

/// Translates `addr` (AF_INET or AF_INET6) into a host and a service.
/// `flags` is a bitwise or of the libc NI_* constants: NI_NUMERICHOST
/// (numeric host, no lookup), NI_NUMERICSERV (numeric port), NI_NAMEREQD (fail
/// rather than fall back to numeric text when the host has no name), NI_DGRAM
/// (look the port up as a UDP service), NI_NOFQDN (local hosts by their short
/// name).
///
/// Unless NI_NUMERICHOST is set this may block the calling thread while the
/// resolver works: never call it on a scheduler thread.
/// @threadsafe
///
/// Errors:
/// - `eai_noname`: NI_NAMEREQD was set and the host has no name.
/// - `eai_again`, `eai_fail`: a temporary or permanent name server failure.
/// - `eai_family`: `addr` is empty, not AF_INET/AF_INET6, or of the wrong size.
/// - `eai_badflags`: unknown NI_* bits.
/// - `eai_memory`, `eai_overflow`: out of memory, or a name longer than
///   NI_MAXHOST/NI_MAXSERV.
/// - an errno reason where libc reports EAI_SYSTEM.
[[nodiscard]] result<nameinfo> getnameinfo(const sockaddr_value& addr, int flags = 0);

}  // namespace otpnet::net
