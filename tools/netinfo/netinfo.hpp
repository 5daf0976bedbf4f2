// File: tools/netinfo/netinfo.hpp
//
// The report of otpnet-netinfo as plain values: what the net layer says
// about this machine (host name, interfaces, resolver answers), what the
// socket layer supports, and the outcome of a live self-check over
// loopback. collect.cpp and selfcheck.cpp fill it; print_text.cpp and
// print_json.cpp render it. Nothing here throws except through allocation.
#pragma once

#include <otpnet/base/errc.hpp>
#include <otpnet/socket/registry.hpp>
#include <otpnet/socket/supports.hpp>

#include <tl/expected.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace otpnet::tools::netinfo {

/// A step that failed, e.g. {"connect", econnrefused}; `reason` ok if none.
struct failure {
  std::string step;
  errc reason = errc::ok;
  bool failed() const noexcept { return reason != errc::ok; }
  /// "connect: econnrefused: Connection refused".
  std::string to_string() const;
};

// -- the machine (net layer) ---------------------------------------------------

/// One inet or inet6 address of an interface, as numeric text.
struct if_address {
  std::string family;  ///< "inet" or "inet6".
  std::string addr;
  std::string netmask;    ///< "" when none.
  std::string broadaddr;  ///< "" unless the interface has `broadcast`.
  std::string dstaddr;    ///< "" unless the interface has `pointtopoint`.
};

/// One interface with its flags, hardware address and addresses.
struct interface_info {
  std::string name;
  unsigned index = 0;  ///< 0 when if_name2index did not know it.
  std::vector<std::string> flags;
  std::string hwaddr;  ///< "" when none is reported.
  std::vector<if_address> addresses;
};

/// What getaddrinfo made of one name: addresses, or an error.
struct resolution {
  std::string name;
  std::string canonname;
  std::vector<if_address> addresses;  ///< family and addr only.
  errc error = errc::ok;
};

/// supports() and its msg_flags, protocols and options lists.
struct support_report {
  std::vector<socket::feature> features;
  std::vector<socket::feature> msg_flags;
  std::vector<socket::feature> protocols;
  std::vector<socket::option_support> options;
};

// -- the self-check (socket layer) ---------------------------------------------

/// One end of the self-check connection, as info() saw it before close.
struct socket_report {
  std::string role;  ///< "listener", "client", "server".
  std::string local;
  std::string peer;  ///< "" for the listener.
  std::vector<std::string> state;
  socket::socket_counters_info counters;
};

/// How a nowait call went: "ok" at once, or "select" then an event.
struct nowait_report {
  std::string outcome;
  std::string tag;  ///< the select tag, "" for "ok".
  double wait_ms = 0;
};

/// The outcome of the self-check, as far as it got.
struct selfcheck_report {
  failure error;
  std::string listen;
  nowait_report connect;
  nowait_report recv;
  std::string line;  ///< the line sent, without its newline.
  std::size_t sent = 0;
  std::size_t echoed = 0;
  std::vector<socket_report> sockets;
  std::size_t registered_during = 0;
  std::size_t registered_after = 0;
  bool ok() const noexcept { return !error.failed(); }
};

/// Everything otpnet-netinfo prints.
struct report {
  std::string version;
  std::string hostname;
  std::vector<interface_info> interfaces;
  std::vector<resolution> resolved;
  support_report supports;
  std::optional<selfcheck_report> selfcheck;
};

// -- the steps -------------------------------------------------------------------

/// Host name, interfaces, resolver answers and supports (no version, no
/// self-check). Fails with the step when gethostname or getifaddrs fails; a
/// name that does not resolve is recorded in `resolved`, not a failure.
tl::expected<report, failure> collect();

/// The live self-check over 127.0.0.1 (see selfcheck.cpp).
selfcheck_report run_selfcheck();

/// The human-readable report.
std::string to_text(const report& r);
/// The report as one JSON document.
std::string to_json(const report& r);

}  // namespace otpnet::tools::netinfo
