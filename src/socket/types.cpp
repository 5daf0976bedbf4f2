#include <otpnet/socket/types.hpp>

namespace otpnet::socket {

std::string_view to_string(domain d) noexcept {
  switch (d) {
    case domain::unspec:
      return "unspec";
    case domain::inet:
      return "inet";
    case domain::inet6:
      return "inet6";
    case domain::local:
      return "local";
  }
  return "unknown";
}

std::string_view to_string(type t) noexcept {
  switch (t) {
    case type::stream:
      return "stream";
    case type::dgram:
      return "dgram";
    case type::seqpacket:
      return "seqpacket";
    case type::raw:
      return "raw";
    case type::rdm:
      return "rdm";
  }
  return "unknown";
}

std::string_view to_string(protocol p) noexcept {
  switch (p) {
    case protocol::default_:
      return "default";
    case protocol::tcp:
      return "tcp";
    case protocol::udp:
      return "udp";
    case protocol::sctp:
      return "sctp";
    case protocol::icmp:
      return "icmp";
    case protocol::icmpv6:
      return "icmpv6";
    case protocol::raw:
      return "raw";
  }
  return "unknown";
}

}  // namespace otpnet::socket
