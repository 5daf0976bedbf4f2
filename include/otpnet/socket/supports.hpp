// File: otpnet/socket/supports.hpp
//
// What this build on this machine can do, as OTP socket's supports/0,1 and
// is_supported/1,2: features (sctp, ipv6, local, ...), message flags,
// protocols and options. Answers combine compile-time checks (the constant
// exists) with run-time probes (the kernel accepts it), made once per
// process on first use and cached. @threadsafe, all of it.
#pragma once

#include <otpnet/socket/option_types.hpp>

#include <string_view>
#include <vector>

namespace otpnet::socket {

/// One answer: a feature, flag or protocol by its OTP name.
struct feature {
  std::string_view name;
  bool supported = false;
  friend bool operator==(const feature&, const feature&) = default;
};

/// One answer for an option, by its {level, name}.
struct option_support {
  option_name option;
  bool supported = false;
  friend bool operator==(const option_support&, const option_support&) = default;
};

/// Tags that select what supports/is_supported answer about.
struct msg_flags_t {
  explicit constexpr msg_flags_t() = default;
};
struct protocols_t {
  explicit constexpr protocols_t() = default;
};
struct options_t {
  explicit constexpr options_t() = default;
};
inline constexpr msg_flags_t msg_flags{};
inline constexpr protocols_t protocols{};
inline constexpr options_t options{};

/// The features: sctp (an SCTP socket opens), ipv6 (an inet6 socket
/// opens), local (a Unix-domain socket opens), netns (false: open has no
/// network-namespace option yet), sendfile, sendmsg, recvmsg.
std::vector<feature> supports();

/// The msg flags of types.hpp (OTP's msg_flag() names): known to this
/// build's headers.
std::vector<feature> supports(msg_flags_t);

/// Protocols by OTP name (ip, ipv6, tcp, udp, sctp, udplite, mptcp, icmp,
/// icmpv6, raw): true when the kernel knows it, i.e. opening such a socket
/// works or fails only for want of privilege (eperm, eacces).
std::vector<feature> supports(protocols_t);

/// Every option of known_options(): true when the constant exists in this
/// build and a probe on a socket it applies to (tcp for socket and tcp,
/// udp for ip and udp, udp over inet6 for ipv6, a local stream socket for
/// socket passcred and peek_off) is not refused with enoprotoopt or
/// eopnotsupp. A probe reads the option, or for a write-only one writes
/// an empty value and expects einval. The otp level is always supported.
std::vector<option_support> supports(options_t);

/// One answer from the lists above; false for a name not in them.
bool is_supported(std::string_view feature_name);
bool is_supported(msg_flags_t, std::string_view flag);
bool is_supported(protocols_t, std::string_view protocol_name);
bool is_supported(options_t, option_name o);
bool is_supported(const option_desc& o);

/// is_supported for a typed option, e.g. is_supported(opt::udp::segment).
template <class T, option_access A>
bool is_supported(const option<T, A>& o) {
  return is_supported(o.desc);
}

}  // namespace otpnet::socket
