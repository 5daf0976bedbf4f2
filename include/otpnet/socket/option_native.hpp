// File: otpnet/socket/option_native.hpp
//
// The native (setsockopt) names of the options that are not in every
// system's headers, each -1 when this build's headers lack it. This is the
// compile-time half of supports(options): an option whose constant is -1
// fails with `unsupported`. Used by option_list.hpp; not meant for users.
#pragma once

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>
#include <sys/socket.h>

namespace otpnet::socket::detail::native {

#ifdef SO_REUSEPORT
inline constexpr int so_reuseport = SO_REUSEPORT;
#else
inline constexpr int so_reuseport = -1;
#endif
#ifdef SO_BINDTODEVICE
inline constexpr int so_bindtodevice = SO_BINDTODEVICE;
#else
inline constexpr int so_bindtodevice = -1;
#endif
#ifdef SO_PRIORITY
inline constexpr int so_priority = SO_PRIORITY;
#else
inline constexpr int so_priority = -1;
#endif
#ifdef SO_MARK
inline constexpr int so_mark = SO_MARK;
#else
inline constexpr int so_mark = -1;
#endif
#ifdef SO_PEEK_OFF
inline constexpr int so_peek_off = SO_PEEK_OFF;
#else
inline constexpr int so_peek_off = -1;
#endif
#ifdef SO_PASSCRED
inline constexpr int so_passcred = SO_PASSCRED;
#else
inline constexpr int so_passcred = -1;
#endif
#ifdef SO_DOMAIN
inline constexpr int so_domain = SO_DOMAIN;
#else
inline constexpr int so_domain = -1;
#endif
#ifdef SO_PROTOCOL
inline constexpr int so_protocol = SO_PROTOCOL;
#else
inline constexpr int so_protocol = -1;
#endif
#ifdef IP_RECVTOS
inline constexpr int ip_recvtos = IP_RECVTOS;
#else
inline constexpr int ip_recvtos = -1;
#endif
#ifdef IP_MTU
inline constexpr int ip_mtu = IP_MTU;
#else
inline constexpr int ip_mtu = -1;
#endif
#ifdef IP_FREEBIND
inline constexpr int ip_freebind = IP_FREEBIND;
#else
inline constexpr int ip_freebind = -1;
#endif
#ifdef IP_TRANSPARENT
inline constexpr int ip_transparent = IP_TRANSPARENT;
#else
inline constexpr int ip_transparent = -1;
#endif
#ifdef IP_RECVERR
inline constexpr int ip_recverr = IP_RECVERR;
#else
inline constexpr int ip_recverr = -1;
#endif
#ifdef IP_NODEFRAG
inline constexpr int ip_nodefrag = IP_NODEFRAG;
#else
inline constexpr int ip_nodefrag = -1;
#endif
#ifdef IPV6_MTU
inline constexpr int ipv6_mtu = IPV6_MTU;
#else
inline constexpr int ipv6_mtu = -1;
#endif
#ifdef IPV6_2292HOPLIMIT
inline constexpr int ipv6_2292hoplimit = IPV6_2292HOPLIMIT;
#else
inline constexpr int ipv6_2292hoplimit = -1;
#endif
#ifdef TCP_KEEPIDLE
inline constexpr int tcp_keepidle = TCP_KEEPIDLE;
#else
inline constexpr int tcp_keepidle = -1;
#endif
#ifdef TCP_KEEPINTVL
inline constexpr int tcp_keepintvl = TCP_KEEPINTVL;
#else
inline constexpr int tcp_keepintvl = -1;
#endif
#ifdef TCP_KEEPCNT
inline constexpr int tcp_keepcnt = TCP_KEEPCNT;
#else
inline constexpr int tcp_keepcnt = -1;
#endif
#ifdef TCP_CORK
inline constexpr int tcp_cork = TCP_CORK;
#else
inline constexpr int tcp_cork = -1;
#endif
#ifdef TCP_CONGESTION
inline constexpr int tcp_congestion = TCP_CONGESTION;
#else
inline constexpr int tcp_congestion = -1;
#endif
#ifdef TCP_USER_TIMEOUT
inline constexpr int tcp_user_timeout = TCP_USER_TIMEOUT;
#else
inline constexpr int tcp_user_timeout = -1;
#endif
#ifdef TCP_DEFER_ACCEPT
inline constexpr int tcp_defer_accept = TCP_DEFER_ACCEPT;
#else
inline constexpr int tcp_defer_accept = -1;
#endif
#ifdef TCP_QUICKACK
inline constexpr int tcp_quickack = TCP_QUICKACK;
#else
inline constexpr int tcp_quickack = -1;
#endif
#ifdef TCP_FASTOPEN
inline constexpr int tcp_fastopen = TCP_FASTOPEN;
#else
inline constexpr int tcp_fastopen = -1;
#endif
#ifdef TCP_SYNCNT
inline constexpr int tcp_syncnt = TCP_SYNCNT;
#else
inline constexpr int tcp_syncnt = -1;
#endif
#ifdef TCP_INFO
inline constexpr int tcp_info = TCP_INFO;
#else
inline constexpr int tcp_info = -1;
#endif
#ifdef TCP_NOTSENT_LOWAT
inline constexpr int tcp_notsent_lowat = TCP_NOTSENT_LOWAT;
#else
inline constexpr int tcp_notsent_lowat = -1;
#endif
#ifdef UDP_CORK
inline constexpr int udp_cork = UDP_CORK;
#else
inline constexpr int udp_cork = -1;
#endif
#ifdef UDP_SEGMENT
inline constexpr int udp_segment = UDP_SEGMENT;
#else
inline constexpr int udp_segment = -1;
#endif

}  // namespace otpnet::socket::detail::native
