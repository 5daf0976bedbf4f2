#include <otpnet/socket/option.hpp>

#include <array>
#include <variant>

namespace otpnet::socket {

namespace {

// Every constant of option_list.hpp, once, in its order. option.test.cpp
// checks that each typed constant is found here under its own name.
constexpr std::array table{
    // otp
    opt::otp::debug.desc,
    opt::otp::use_registry.desc,
    opt::otp::owner.desc,
    opt::otp::fd.desc,
    opt::otp::domain.desc,
    opt::otp::type.desc,
    opt::otp::protocol.desc,
    // socket
    opt::socket::reuseaddr.desc,
    opt::socket::reuseport.desc,
    opt::socket::keepalive.desc,
    opt::socket::linger.desc,
    opt::socket::rcvbuf.desc,
    opt::socket::sndbuf.desc,
    opt::socket::rcvlowat.desc,
    opt::socket::broadcast.desc,
    opt::socket::bindtodevice.desc,
    opt::socket::priority.desc,
    opt::socket::mark.desc,
    opt::socket::peek_off.desc,
    opt::socket::passcred.desc,
    opt::socket::acceptconn.desc,
    opt::socket::error.desc,
    opt::socket::type.desc,
    opt::socket::domain.desc,
    opt::socket::protocol.desc,
    opt::socket::oobinline.desc,
    opt::socket::dontroute.desc,
    opt::socket::rcvtimeo.desc,
    opt::socket::sndtimeo.desc,
    // ip
    opt::ip::tos.desc,
    opt::ip::ttl.desc,
    opt::ip::recvtos.desc,
    opt::ip::recvttl.desc,
    opt::ip::pktinfo.desc,
    opt::ip::mtu.desc,
    opt::ip::multicast_if.desc,
    opt::ip::multicast_ttl.desc,
    opt::ip::multicast_loop.desc,
    opt::ip::add_membership.desc,
    opt::ip::drop_membership.desc,
    opt::ip::freebind.desc,
    opt::ip::transparent.desc,
    opt::ip::recverr.desc,
    opt::ip::nodefrag.desc,
    // ipv6
    opt::ipv6::v6only.desc,
    opt::ipv6::unicast_hops.desc,
    opt::ipv6::multicast_hops.desc,
    opt::ipv6::multicast_if.desc,
    opt::ipv6::multicast_loop.desc,
    opt::ipv6::recvpktinfo.desc,
    opt::ipv6::recvhoplimit.desc,
    opt::ipv6::recvtclass.desc,
    opt::ipv6::hoplimit.desc,
    opt::ipv6::tclass.desc,
    opt::ipv6::add_membership.desc,
    opt::ipv6::drop_membership.desc,
    opt::ipv6::mtu.desc,
    // tcp
    opt::tcp::nodelay.desc,
    opt::tcp::keepidle.desc,
    opt::tcp::keepintvl.desc,
    opt::tcp::keepcnt.desc,
    opt::tcp::cork.desc,
    opt::tcp::maxseg.desc,
    opt::tcp::congestion.desc,
    opt::tcp::user_timeout.desc,
    opt::tcp::defer_accept.desc,
    opt::tcp::quickack.desc,
    opt::tcp::fastopen.desc,
    opt::tcp::syncnt.desc,
    opt::tcp::notsent_lowat.desc,
    opt::tcp::info.desc,
    // udp
    opt::udp::cork.desc,
    opt::udp::segment.desc,
};

struct alias {
  option_name alias_name;
  option_name canonical;
};
constexpr alias aliases[] = {
    {{"ipv6", "join_group"}, {"ipv6", "add_membership"}},
    {{"ipv6", "leave_group"}, {"ipv6", "drop_membership"}},
};

}  // namespace

std::span<const option_desc> known_options() noexcept { return table; }

result<option_desc> lookup_option(std::string_view level, std::string_view name) noexcept {
  for (const alias& a : aliases) {
    if (a.alias_name == option_name{level, name}) {
      level = a.canonical.level;
      name = a.canonical.name;
    }
  }
  for (const option_desc& d : table) {
    if (d.name == name && to_string(d.level) == level) {
      return d;
    }
  }
  return fail(errc::invalid);
}

std::string_view to_string(tcp_state s) noexcept {
  constexpr std::string_view names[] = {"established", "syn_sent",  "syn_recv", "fin_wait1",
                                        "fin_wait2",   "time_wait", "close",    "close_wait",
                                        "last_ack",    "listen",    "closing",  "new_syn_recv"};
  auto i = static_cast<std::size_t>(s);
  return i >= 1 && i <= std::size(names) ? names[i - 1] : std::string_view("unknown");
}

std::string_view to_string(value_kind k) noexcept {
  constexpr std::string_view names[] = {"boolean",      "integer",      "uint64",  "string",    "linger",
                                        "milliseconds", "ipv4_address", "ip_mreq", "ipv6_mreq", "domain",
                                        "type",         "protocol",     "error",   "tcp_info"};
  static_assert(std::size(names) == std::variant_size_v<option_value>);
  auto i = static_cast<std::size_t>(k);
  return i < std::size(names) ? names[i] : std::string_view("unknown");
}

}  // namespace otpnet::socket
