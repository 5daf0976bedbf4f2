// File: otpnet/socket/types.hpp
//
// The vocabulary of the socket layer, as OTP's `socket` module names it:
// domain, type and protocol (each also any integer the kernel knows), the
// directions of shutdown, and message flags for recv*/send*.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <string_view>

namespace otpnet::socket {

/// Address family. Any other AF_* value may be cast in: `domain{AF_PACKET}`.
enum class domain : int { unspec = AF_UNSPEC, inet = AF_INET, inet6 = AF_INET6, local = AF_UNIX };

/// Socket type. Any other SOCK_* value may be cast in.
enum class type : int {
  stream = SOCK_STREAM,
  dgram = SOCK_DGRAM,
  seqpacket = SOCK_SEQPACKET,
  raw = SOCK_RAW,
  rdm = SOCK_RDM,
};

/// Protocol; `default_` lets the kernel choose (0). Any IPPROTO_* may be cast in.
enum class protocol : int {
  default_ = 0,
  ip = IPPROTO_IP,
  tcp = IPPROTO_TCP,
  udp = IPPROTO_UDP,
  sctp = IPPROTO_SCTP,
  icmp = IPPROTO_ICMP,
  icmpv6 = IPPROTO_ICMPV6,
  raw = IPPROTO_RAW,
};

/// Which directions `shutdown` closes.
enum class shutdown_how : int { read = SHUT_RD, write = SHUT_WR, read_write = SHUT_RDWR };

/// Message flags for recv*/send* (OTP's msg_flag()); they share one
/// namespace and combine with `|`. MSG_NOSIGNAL is always added to sends.
namespace msg {
inline constexpr int none = 0;
inline constexpr int cmsg_cloexec = MSG_CMSG_CLOEXEC;
inline constexpr int confirm = MSG_CONFIRM;
inline constexpr int ctrunc = MSG_CTRUNC;
inline constexpr int dontroute = MSG_DONTROUTE;
inline constexpr int eor = MSG_EOR;
inline constexpr int errqueue = MSG_ERRQUEUE;
inline constexpr int more = MSG_MORE;
inline constexpr int oob = MSG_OOB;
inline constexpr int peek = MSG_PEEK;
inline constexpr int trunc = MSG_TRUNC;
inline constexpr int waitall = MSG_WAITALL;
}  // namespace msg

/// Lowercase OTP names, e.g. "inet6", "stream", "tcp"; "unknown" otherwise.
std::string_view to_string(domain d) noexcept;
std::string_view to_string(type t) noexcept;
std::string_view to_string(protocol p) noexcept;

}  // namespace otpnet::socket
