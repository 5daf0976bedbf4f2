// File: otpnet/socket/option_list.hpp
//
// Every option otpnet knows, as a typed constant named like OTP's
// {Level, Name}: `opt::socket::reuseaddr` is {socket, reuseaddr},
// `opt::tcp::nodelay` is {tcp, nodelay}. Each carries its native level and
// name and the type of its value; pass it to setopt/getopt (option.hpp).
// Unless a brief says otherwise, a value outside the stated range gives
// `invalid`, a constant this build lacks gives `unsupported`, and anything
// else is the kernel's answer (e.g. eperm for a privileged setting).
#pragma once

#include <otpnet/socket/option_native.hpp>
#include <otpnet/socket/option_types.hpp>

#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <chrono>
#include <climits>
#include <cstdint>
#include <string>
#include <string_view>

namespace otpnet::socket::detail {

constexpr auto ro = option_access::read_only;
constexpr auto wo = option_access::write_only;

/// The native_name of the otp-level options.
enum class otp_id : int { debug, use_registry, owner, fd, domain, type, protocol };

// One maker per level, so that each constant below names only its own
// native name, value type and range.
template <class T, option_access A = option_access::read_write>
constexpr option<T, A> at_otp(std::string_view name, otp_id id) noexcept {
  return make_option<T, A>(option_level::otp, name, -1, static_cast<int>(id));
}
template <class T, option_access A = option_access::read_write>
constexpr option<T, A> at_socket(std::string_view name, int native, int min = INT_MIN, int max = INT_MAX) noexcept {
  return make_option<T, A>(option_level::socket, name, SOL_SOCKET, native, min, max);
}
template <class T, option_access A = option_access::read_write>
constexpr option<T, A> at_ip(std::string_view name, int native, int min = INT_MIN, int max = INT_MAX) noexcept {
  return make_option<T, A>(option_level::ip, name, IPPROTO_IP, native, min, max);
}
template <class T, option_access A = option_access::read_write>
constexpr option<T, A> at_ipv6(std::string_view name, int native, int min = INT_MIN, int max = INT_MAX) noexcept {
  return make_option<T, A>(option_level::ipv6, name, IPPROTO_IPV6, native, min, max);
}
template <class T, option_access A = option_access::read_write>
constexpr option<T, A> at_tcp(std::string_view name, int native, int min = INT_MIN, int max = INT_MAX) noexcept {
  return make_option<T, A>(option_level::tcp, name, IPPROTO_TCP, native, min, max);
}
template <class T, option_access A = option_access::read_write>
constexpr option<T, A> at_udp(std::string_view name, int native, int min = INT_MIN, int max = INT_MAX) noexcept {
  return make_option<T, A>(option_level::udp, name, IPPROTO_UDP, native, min, max);
}

}  // namespace otpnet::socket::detail

namespace otpnet::socket::opt {

// -- otp: otpnet's own per-socket settings -------------------------------------

namespace otp {
/// Per-socket debug flag (recorded; read back by getopt). Errors: closed.
inline constexpr auto debug = detail::at_otp<bool>("debug", detail::otp_id::debug);
/// Whether the socket is listed in the registry (which_sockets, number_of);
/// setting it adds or removes it. Errors: closed.
inline constexpr auto use_registry = detail::at_otp<bool>("use_registry", detail::otp_id::use_registry);
/// The owner recorded in the registry (the runtime puts a pid here).
inline constexpr auto owner = detail::at_otp<std::uint64_t>("owner", detail::otp_id::owner);
/// The descriptor (read-only); the socket still owns it. Errors: closed.
inline constexpr auto fd = detail::at_otp<int, detail::ro>("fd", detail::otp_id::fd);
/// The domain, type and protocol given at open (read-only).
inline constexpr auto domain = detail::at_otp<::otpnet::socket::domain, detail::ro>("domain", detail::otp_id::domain);
inline constexpr auto type = detail::at_otp<::otpnet::socket::type, detail::ro>("type", detail::otp_id::type);
inline constexpr auto protocol =
    detail::at_otp<::otpnet::socket::protocol, detail::ro>("protocol", detail::otp_id::protocol);
}  // namespace otp

// -- socket: SOL_SOCKET ----------------------------------------------------------

namespace socket {
/// SO_REUSEADDR: bind may reuse a local address in TIME_WAIT.
inline constexpr auto reuseaddr = detail::at_socket<bool>("reuseaddr", SO_REUSEADDR);
/// SO_REUSEPORT: several sockets may bind the same address and port.
inline constexpr auto reuseport = detail::at_socket<bool>("reuseport", detail::native::so_reuseport);
/// SO_KEEPALIVE: send keep-alive probes on an idle connection.
inline constexpr auto keepalive = detail::at_socket<bool>("keepalive", SO_KEEPALIVE);
/// SO_LINGER: `seconds` must be >= 0.
inline constexpr auto linger = detail::at_socket<::otpnet::socket::linger>("linger", SO_LINGER);
/// SO_RCVBUF / SO_SNDBUF: buffer size in bytes, >= 0. Linux doubles the value
/// for its bookkeeping, so getopt returns at least what was set.
inline constexpr auto rcvbuf = detail::at_socket<int>("rcvbuf", SO_RCVBUF, 0);
inline constexpr auto sndbuf = detail::at_socket<int>("sndbuf", SO_SNDBUF, 0);
/// SO_RCVLOWAT: the least number of bytes a read waits for, >= 0.
inline constexpr auto rcvlowat = detail::at_socket<int>("rcvlowat", SO_RCVLOWAT, 0);
/// SO_BROADCAST: a datagram socket may send to broadcast addresses.
inline constexpr auto broadcast = detail::at_socket<bool>("broadcast", SO_BROADCAST);
/// SO_BINDTODEVICE: an interface name of at most IFNAMSIZ-1 bytes without
/// NUL; "" unbinds. Errors: invalid (too long), enodev, eperm (unprivileged).
inline constexpr auto bindtodevice =
    detail::at_socket<std::string>("bindtodevice", detail::native::so_bindtodevice, 0, IFNAMSIZ - 1);
/// SO_PRIORITY: the queueing priority, >= 0; above 6 needs CAP_NET_ADMIN.
inline constexpr auto priority = detail::at_socket<int>("priority", detail::native::so_priority, 0);
/// SO_MARK: the firewall mark. Errors: eperm without CAP_NET_ADMIN.
inline constexpr auto mark = detail::at_socket<int>("mark", detail::native::so_mark);
/// SO_PEEK_OFF: the offset of MSG_PEEK reads, -1 to turn it off; local
/// sockets (and, since Linux 6.10, TCP and UDP).
inline constexpr auto peek_off = detail::at_socket<int>("peek_off", detail::native::so_peek_off, -1);
/// SO_PASSCRED: receive SCM_CREDENTIALS; local (and netlink) sockets only,
/// recent kernels refuse it elsewhere with eopnotsupp.
inline constexpr auto passcred = detail::at_socket<bool>("passcred", detail::native::so_passcred);
/// SO_ACCEPTCONN (read-only): whether the socket is listening.
inline constexpr auto acceptconn = detail::at_socket<bool, detail::ro>("acceptconn", SO_ACCEPTCONN);
/// SO_ERROR (read-only): the pending error, cleared by reading; errc::ok if none.
inline constexpr auto error = detail::at_socket<errc, detail::ro>("error", SO_ERROR);
/// SO_TYPE, SO_DOMAIN, SO_PROTOCOL (read-only), as the kernel reports them.
inline constexpr auto type = detail::at_socket<::otpnet::socket::type, detail::ro>("type", SO_TYPE);
inline constexpr auto domain =
    detail::at_socket<::otpnet::socket::domain, detail::ro>("domain", detail::native::so_domain);
inline constexpr auto protocol =
    detail::at_socket<::otpnet::socket::protocol, detail::ro>("protocol", detail::native::so_protocol);
/// SO_OOBINLINE: urgent data is read inline.
inline constexpr auto oobinline = detail::at_socket<bool>("oobinline", SO_OOBINLINE);
/// SO_DONTROUTE: bypass routing, send to directly connected hosts only.
inline constexpr auto dontroute = detail::at_socket<bool>("dontroute", SO_DONTROUTE);
/// SO_RCVTIMEO / SO_SNDTIMEO, >= 0 ms (0: none). otpnet sockets are
/// non-blocking, so these have no effect on otpnet's own calls; they matter
/// only to code that uses the descriptor in blocking mode.
inline constexpr auto rcvtimeo = detail::at_socket<std::chrono::milliseconds>("rcvtimeo", SO_RCVTIMEO);
inline constexpr auto sndtimeo = detail::at_socket<std::chrono::milliseconds>("sndtimeo", SO_SNDTIMEO);
}  // namespace socket

// -- ip: IPPROTO_IP --------------------------------------------------------------

namespace ip {
/// IP_TOS: the type-of-service byte, 0..255.
inline constexpr auto tos = detail::at_ip<int>("tos", IP_TOS, 0, 255);
/// IP_TTL: the unicast time to live, 1..255, or -1 for the system default.
inline constexpr auto ttl = detail::at_ip<int>("ttl", IP_TTL, -1, 255);
/// IP_RECVTOS / IP_RECVTTL: deliver the TOS / TTL as control messages.
inline constexpr auto recvtos = detail::at_ip<bool>("recvtos", detail::native::ip_recvtos);
inline constexpr auto recvttl = detail::at_ip<bool>("recvttl", IP_RECVTTL);
/// IP_PKTINFO: deliver IP_PKTINFO control messages (destination, interface).
inline constexpr auto pktinfo = detail::at_ip<bool>("pktinfo", IP_PKTINFO);
/// IP_MTU (read-only): the path MTU of a connected socket. Errors: enotconn.
inline constexpr auto mtu = detail::at_ip<int, detail::ro>("mtu", detail::native::ip_mtu);
/// IP_MULTICAST_IF: the local address multicast is sent from.
inline constexpr auto multicast_if = detail::at_ip<ipv4_address>("multicast_if", IP_MULTICAST_IF);
/// IP_MULTICAST_TTL: 0..255, or -1 for the default (1).
inline constexpr auto multicast_ttl = detail::at_ip<int>("multicast_ttl", IP_MULTICAST_TTL, -1, 255);
/// IP_MULTICAST_LOOP: multicast sent is looped back to local listeners.
inline constexpr auto multicast_loop = detail::at_ip<bool>("multicast_loop", IP_MULTICAST_LOOP);
/// IP_ADD_MEMBERSHIP / IP_DROP_MEMBERSHIP (write-only): join or leave a
/// group. Errors: einval (not multicast), eaddrnotavail (not a member),
/// enodev (no such interface).
inline constexpr auto add_membership = detail::at_ip<ip_mreq, detail::wo>("add_membership", IP_ADD_MEMBERSHIP);
inline constexpr auto drop_membership = detail::at_ip<ip_mreq, detail::wo>("drop_membership", IP_DROP_MEMBERSHIP);
/// IP_FREEBIND: bind to an address not (yet) configured.
inline constexpr auto freebind = detail::at_ip<bool>("freebind", detail::native::ip_freebind);
/// IP_TRANSPARENT: transparent proxying. Errors: eperm (unprivileged).
inline constexpr auto transparent = detail::at_ip<bool>("transparent", detail::native::ip_transparent);
/// IP_RECVERR: queue extended errors (read with MSG_ERRQUEUE).
inline constexpr auto recverr = detail::at_ip<bool>("recverr", detail::native::ip_recverr);
/// IP_NODEFRAG: do not reassemble fragments; raw sockets only (enoprotoopt
/// on others).
inline constexpr auto nodefrag = detail::at_ip<bool>("nodefrag", detail::native::ip_nodefrag);
}  // namespace ip

// -- ipv6: IPPROTO_IPV6 ----------------------------------------------------------

namespace ipv6 {
/// IPV6_V6ONLY: the socket takes IPv6 only (no IPv4-mapped addresses); set
/// it before bind.
inline constexpr auto v6only = detail::at_ipv6<bool>("v6only", IPV6_V6ONLY);
/// IPV6_UNICAST_HOPS: the outgoing hop limit, 0..255, -1 for the default.
inline constexpr auto unicast_hops = detail::at_ipv6<int>("unicast_hops", IPV6_UNICAST_HOPS, -1, 255);
/// IPV6_MULTICAST_HOPS: the multicast hop limit, 0..255, -1 for the default.
inline constexpr auto multicast_hops = detail::at_ipv6<int>("multicast_hops", IPV6_MULTICAST_HOPS, -1, 255);
/// IPV6_MULTICAST_IF: the index of the interface multicast is sent on.
inline constexpr auto multicast_if = detail::at_ipv6<int>("multicast_if", IPV6_MULTICAST_IF, 0);
/// IPV6_MULTICAST_LOOP: multicast sent is looped back to local listeners.
inline constexpr auto multicast_loop = detail::at_ipv6<bool>("multicast_loop", IPV6_MULTICAST_LOOP);
/// IPV6_RECVPKTINFO / IPV6_RECVHOPLIMIT / IPV6_RECVTCLASS: deliver the
/// packet info / hop limit / traffic class as control messages.
inline constexpr auto recvpktinfo = detail::at_ipv6<bool>("recvpktinfo", IPV6_RECVPKTINFO);
inline constexpr auto recvhoplimit = detail::at_ipv6<bool>("recvhoplimit", IPV6_RECVHOPLIMIT);
inline constexpr auto recvtclass = detail::at_ipv6<bool>("recvtclass", IPV6_RECVTCLASS);
/// OTP's {ipv6, hoplimit}: the RFC 2292 form of recvhoplimit
/// (IPV6_2292HOPLIMIT on Linux). The outgoing hop limit is unicast_hops.
inline constexpr auto hoplimit = detail::at_ipv6<bool>("hoplimit", detail::native::ipv6_2292hoplimit);
/// IPV6_TCLASS: the traffic class, 0..255, -1 for the default.
inline constexpr auto tclass = detail::at_ipv6<int>("tclass", IPV6_TCLASS, -1, 255);
/// IPV6_ADD_MEMBERSHIP / IPV6_DROP_MEMBERSHIP (write-only), also known as
/// join_group / leave_group. Errors as for ip::add_membership.
inline constexpr auto add_membership = detail::at_ipv6<ipv6_mreq, detail::wo>("add_membership", IPV6_ADD_MEMBERSHIP);
inline constexpr auto drop_membership = detail::at_ipv6<ipv6_mreq, detail::wo>("drop_membership", IPV6_DROP_MEMBERSHIP);
inline constexpr const auto& join_group = add_membership;
inline constexpr const auto& leave_group = drop_membership;
/// IPV6_MTU (read-only): the path MTU of a connected socket. Errors: enotconn.
inline constexpr auto mtu = detail::at_ipv6<int, detail::ro>("mtu", detail::native::ipv6_mtu);
}  // namespace ipv6

// -- tcp: IPPROTO_TCP ------------------------------------------------------------

namespace tcp {
/// TCP_NODELAY: send at once, without Nagle's coalescing.
inline constexpr auto nodelay = detail::at_tcp<bool>("nodelay", TCP_NODELAY);
/// TCP_KEEPIDLE / TCP_KEEPINTVL (seconds) and TCP_KEEPCNT (probes), >= 0;
/// the kernel refuses 0 and too large values with einval.
inline constexpr auto keepidle = detail::at_tcp<int>("keepidle", detail::native::tcp_keepidle, 0);
inline constexpr auto keepintvl = detail::at_tcp<int>("keepintvl", detail::native::tcp_keepintvl, 0);
inline constexpr auto keepcnt = detail::at_tcp<int>("keepcnt", detail::native::tcp_keepcnt, 0);
/// TCP_CORK: hold partial segments until uncorked.
inline constexpr auto cork = detail::at_tcp<bool>("cork", detail::native::tcp_cork);
/// TCP_MAXSEG: the maximum segment size, >= 0.
inline constexpr auto maxseg = detail::at_tcp<int>("maxseg", TCP_MAXSEG, 0);
/// TCP_CONGESTION: the congestion control algorithm, e.g. "cubic" (at most
/// 15 bytes). Errors: invalid (too long), enoent (not available).
inline constexpr auto congestion = detail::at_tcp<std::string>("congestion", detail::native::tcp_congestion, 0, 15);
/// TCP_USER_TIMEOUT: ms unacknowledged data may stay before the connection
/// is dropped, >= 0 (0: system default).
inline constexpr auto user_timeout = detail::at_tcp<int>("user_timeout", detail::native::tcp_user_timeout, 0);
/// TCP_DEFER_ACCEPT: seconds to wait for data before accept returns, >= 0.
inline constexpr auto defer_accept = detail::at_tcp<int>("defer_accept", detail::native::tcp_defer_accept, 0);
/// TCP_QUICKACK: acknowledge at once (the kernel may turn it off again).
inline constexpr auto quickack = detail::at_tcp<bool>("quickack", detail::native::tcp_quickack);
/// TCP_FASTOPEN: the TFO queue length of a listening socket, >= 0.
inline constexpr auto fastopen = detail::at_tcp<int>("fastopen", detail::native::tcp_fastopen, 0);
/// TCP_SYNCNT: SYN retransmissions before connect gives up (1..127).
inline constexpr auto syncnt = detail::at_tcp<int>("syncnt", detail::native::tcp_syncnt, 0);
/// TCP_NOTSENT_LOWAT: unsent bytes above which the socket is not writable.
inline constexpr auto notsent_lowat = detail::at_tcp<int>("notsent_lowat", detail::native::tcp_notsent_lowat, 0);
/// TCP_INFO (read-only): state, rtt, rttvar, snd_cwnd, total_retrans.
inline constexpr auto info = detail::at_tcp<::otpnet::socket::tcp_info, detail::ro>("info", detail::native::tcp_info);
}  // namespace tcp

// -- udp: IPPROTO_UDP ------------------------------------------------------------

namespace udp {
/// UDP_CORK: gather sends into one datagram until uncorked.
inline constexpr auto cork = detail::at_udp<bool>("cork", detail::native::udp_cork);
/// UDP_SEGMENT: the GSO segment size, 0..65535 (0: off).
inline constexpr auto segment = detail::at_udp<int>("segment", detail::native::udp_segment, 0, 65535);
}  // namespace udp

}  // namespace otpnet::socket::opt
