// File: otpnet/net/addrinfo.hpp
//
// `getaddrinfo()`: name and service resolution, as OTP's net:getaddrinfo/1,2.
// A host name or numeric address and a service name or port number become a
// list of `addrinfo_entry` values (family, socket type, protocol, canonical
// name, address), ready to open, bind or connect a socket with. The libc list
// is copied and freed before the call returns.
#pragma once

#include <otpnet/base/result.hpp>
#include <otpnet/net/sockaddr_value.hpp>

#include <netdb.h>
#include <sys/socket.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace otpnet::net {

/// What the caller wants back from getaddrinfo. Zero/AF_UNSPEC fields mean
/// "any". `flags` is a bitwise or of the libc AI_* constants: AI_PASSIVE,
/// AI_CANONNAME, AI_NUMERICHOST, AI_NUMERICSERV, AI_ADDRCONFIG, AI_V4MAPPED,
/// AI_ALL.
struct addrinfo_hints {
  int family = AF_UNSPEC;  ///< AF_INET, AF_INET6 or AF_UNSPEC.
  int socktype = 0;        ///< SOCK_STREAM, SOCK_DGRAM, SOCK_RAW or 0.
  int protocol = 0;        ///< IPPROTO_TCP, IPPROTO_UDP or 0.
  int flags = 0;           ///< AI_* bits.
};

/// One result of getaddrinfo: what to pass to socket(2) and the address to
/// bind or connect to.
struct addrinfo_entry {
  int family = AF_UNSPEC;  ///< AF_INET or AF_INET6.
  int socktype = 0;        ///< SOCK_STREAM, SOCK_DGRAM or SOCK_RAW.
  int protocol = 0;        ///< IPPROTO_TCP, IPPROTO_UDP or 0.
  /// The canonical host name with AI_CANONNAME. Like libc, only the first
  /// entry carries it; it is empty everywhere else.
  std::string canonname;
  sockaddr_value addr;  ///< The address, port included ("127.0.0.1:80").
};

/// Resolves `host` (a name, or a numeric IPv4/IPv6 address) and `service` (a
/// name from /etc/services such as "http", or a port number such as "8080")
/// into the addresses that match `hints`, in the resolver's preferred order.
/// At least one of host and service must be given. Without a host, the
/// addresses are the loopback ones, or the wildcard ones with AI_PASSIVE.
///
/// Blocks the calling thread while the resolver works (files, then DNS as
/// /etc/nsswitch.conf says): never call it on a scheduler thread.
/// @threadsafe
///
/// Errors:
/// - `eai_noname`: the host or the service is unknown, neither was given, or
///   AI_NUMERICHOST/AI_NUMERICSERV was set and the text is not numeric.
/// - `eai_again`: a temporary failure of the name server; try again later.
/// - `eai_fail`: a permanent failure of the name server.
/// - `eai_nodata`, `eai_addrfamily`: the host exists but has no address (of
///   the requested family).
/// - `eai_service`: the service is unknown for the requested socket type.
/// - `eai_family`, `eai_socktype`, `eai_badflags`: a bad hint.
/// - `eai_memory`: out of memory.
/// - an errno reason (`emfile`, `enomem`, ...) where libc reports EAI_SYSTEM.
/// - `invalid`: host or service contains a NUL byte.
[[nodiscard]] result<std::vector<addrinfo_entry>> getaddrinfo(std::optional<std::string_view> host,
                                                              std::optional<std::string_view> service,
                                                              const addrinfo_hints& hints = {});

}  // namespace otpnet::net
