#include <otpnet/socket/option.hpp>
#include <otpnet/socket/supports.hpp>

#include "internal/syscall.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>

namespace otpnet::socket {

namespace {

using ::otpnet::internal::sys;
using ::otpnet::internal::sys_once;

/// A probe descriptor, closed when it goes.
class probe_socket {
 public:
  probe_socket(int d, int t, int p) noexcept : fd_(sys([&] { return ::socket(d, t | SOCK_CLOEXEC, p); })) {}
  ~probe_socket() {
    if (fd_) {
      (void)sys_once([this] { return ::close(*fd_); });
    }
  }
  probe_socket(const probe_socket&) = delete;
  probe_socket& operator=(const probe_socket&) = delete;
  const result<int>& fd() const noexcept { return fd_; }

 private:
  result<int> fd_;
};

bool opens(int d, int t, int p) { return probe_socket(d, t, p).fd().has_value(); }

/// The kernel knows the protocol: a socket opens, or is refused only for
/// want of privilege.
bool protocol_known(int d, int t, int p) {
  probe_socket s(d, t, p);
  return s.fd() || s.fd().error() == errc::eperm || s.fd().error() == errc::eacces;
}

// -- features, flags, protocols --------------------------------------------------

std::vector<feature> probe_features() {
  bool sendfile = false;
#if __has_include(<sys/sendfile.h>)
  sendfile = true;
#endif
  bool msg = false;
#ifdef CMSG_FIRSTHDR
  msg = true;
#endif
  return {
      {"sctp", opens(AF_INET, SOCK_STREAM, IPPROTO_SCTP)},
      {"ipv6", opens(AF_INET6, SOCK_DGRAM, 0)},
      {"local", opens(AF_UNIX, SOCK_STREAM, 0)},
      // open() takes no network namespace yet, so otpnet cannot do it.
      {"netns", false},
      {"sendfile", sendfile},
      {"sendmsg", msg},
      {"recvmsg", msg},
  };
}

std::vector<feature> probe_msg_flags() {
  // glibc defines each MSG_* as a macro naming its enumerator, so #ifdef
  // tells whether the headers have it.
  return {
#ifdef MSG_CMSG_CLOEXEC
      {"cmsg_cloexec", true},
#else
      {"cmsg_cloexec", false},
#endif
#ifdef MSG_CONFIRM
      {"confirm", true},
#else
      {"confirm", false},
#endif
      {"ctrunc", true},       {"dontroute", true}, {"eor", true},
#ifdef MSG_ERRQUEUE
      {"errqueue", true},
#else
      {"errqueue", false},
#endif
#ifdef MSG_MORE
      {"more", true},
#else
      {"more", false},
#endif
      {"oob", true},          {"peek", true},      {"trunc", true}, {"waitall", true},
  };
}

std::vector<feature> probe_protocols() {
  int mptcp = -1;
#ifdef IPPROTO_MPTCP
  mptcp = IPPROTO_MPTCP;
#endif
  return {
      {"ip", protocol_known(AF_INET, SOCK_DGRAM, 0)},
      {"ipv6", protocol_known(AF_INET6, SOCK_DGRAM, 0)},
      {"tcp", protocol_known(AF_INET, SOCK_STREAM, IPPROTO_TCP)},
      {"udp", protocol_known(AF_INET, SOCK_DGRAM, IPPROTO_UDP)},
      {"sctp", protocol_known(AF_INET, SOCK_STREAM, IPPROTO_SCTP)},
      {"udplite", protocol_known(AF_INET, SOCK_DGRAM, IPPROTO_UDPLITE)},
      {"mptcp", mptcp >= 0 && protocol_known(AF_INET, SOCK_STREAM, mptcp)},
      {"icmp", protocol_known(AF_INET, SOCK_DGRAM, IPPROTO_ICMP)},
      {"icmpv6", protocol_known(AF_INET6, SOCK_DGRAM, IPPROTO_ICMPV6)},
      {"raw", protocol_known(AF_INET, SOCK_RAW, IPPROTO_RAW)},
  };
}

// -- options ---------------------------------------------------------------------

/// The probe socket of each level (see supports(options_t) in the header).
struct probe_sockets {
  probe_socket tcp4{AF_INET, SOCK_STREAM, IPPROTO_TCP};
  probe_socket udp4{AF_INET, SOCK_DGRAM, IPPROTO_UDP};
  probe_socket udp6{AF_INET6, SOCK_DGRAM, IPPROTO_UDP};
  probe_socket local{AF_UNIX, SOCK_STREAM, 0};

  const result<int>& for_option(const option_desc& d) const noexcept {
    if (d.level == option_level::socket && (d.name == "passcred" || d.name == "peek_off")) {
      return local.fd();
    }
    switch (d.level) {
      case option_level::ip:
      case option_level::udp:
        return udp4.fd();
      case option_level::ipv6:
        return udp6.fd();
      default:
        return tcp4.fd();
    }
  }
};

bool probe_option(const option_desc& d, const probe_sockets& ps) {
  if (d.level == option_level::otp) {
    return d.native_name >= 0 && d.native_name <= static_cast<int>(detail::otp_id::protocol);
  }
  if (!d.defined()) {
    return false;
  }
  const result<int>& fd = ps.for_option(d);
  if (!fd) {
    return false;
  }
  result<int> r = 0;
  if (d.readable()) {
    // Large enough for every value otpnet reads, struct tcp_info included.
    alignas(std::max_align_t) unsigned char buf[512];
    ::socklen_t len = sizeof buf;
    r = sys([&] { return ::getsockopt(*fd, d.native_level, d.native_name, buf, &len); });
  } else {
    // An empty value: a known option refuses it with einval.
    r = sys([&] { return ::setsockopt(*fd, d.native_level, d.native_name, nullptr, 0); });
  }
  return r || (r.error() != errc::enoprotoopt && r.error() != errc::eopnotsupp);
}

/// The probe results, by index in known_options().
const std::vector<bool>& option_probes() {
  static const std::vector<bool> probes = [] {
    probe_sockets ps;
    std::vector<bool> v;
    for (const option_desc& d : known_options()) {
      v.push_back(probe_option(d, ps));
    }
    return v;
  }();
  return probes;
}

bool find(const std::vector<feature>& list, std::string_view name) {
  auto it = std::find_if(list.begin(), list.end(), [&](const feature& f) { return f.name == name; });
  return it != list.end() && it->supported;
}

}  // namespace

std::vector<feature> supports() {
  static const std::vector<feature> v = probe_features();
  return v;
}

std::vector<feature> supports(msg_flags_t) {
  static const std::vector<feature> v = probe_msg_flags();
  return v;
}

std::vector<feature> supports(protocols_t) {
  static const std::vector<feature> v = probe_protocols();
  return v;
}

std::vector<option_support> supports(options_t) {
  std::vector<option_support> out;
  auto all = known_options();
  const auto& probes = option_probes();
  for (std::size_t i = 0; i < all.size(); ++i) {
    out.push_back({{to_string(all[i].level), all[i].name}, probes[i]});
  }
  return out;
}

bool is_supported(std::string_view feature_name) { return find(supports(), feature_name); }
bool is_supported(msg_flags_t, std::string_view flag) { return find(supports(msg_flags), flag); }
bool is_supported(protocols_t, std::string_view protocol_name) { return find(supports(protocols), protocol_name); }

bool is_supported(options_t, option_name o) {
  auto d = lookup_option(o);
  return d && is_supported(*d);
}

bool is_supported(const option_desc& o) {
  auto all = known_options();
  for (std::size_t i = 0; i < all.size(); ++i) {
    const option_desc& k = all[i];
    if (k.level == o.level && k.name == o.name && k.native_level == o.native_level && k.native_name == o.native_name) {
      return option_probes()[i];
    }
  }
  // A descriptor made by hand: probe it now.
  return probe_option(o, probe_sockets{});
}

}  // namespace otpnet::socket
