// File: tools/netinfo/collect.cpp
//
// The static half of otpnet-netinfo: what otpnet's net layer says about this
// machine (gethostname, getifaddrs, if_names, getaddrinfo) and what the
// socket layer supports. Interfaces are grouped by name in the order libc
// reports them; link-layer entries only contribute their hardware address.

#include <otpnet/net/addrinfo.hpp>
#include <otpnet/net/hostname.hpp>
#include <otpnet/net/if_names.hpp>
#include <otpnet/net/ifaddrs.hpp>

#include "netinfo.hpp"

#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

namespace otpnet::tools::netinfo {

std::string failure::to_string() const { return step + ": " + format_error(reason); }

namespace {

std::string family_name(int family) {
  switch (family) {
    case AF_INET:
      return "inet";
    case AF_INET6:
      return "inet6";
    default:
      return "family " + std::to_string(family);
  }
}

std::string ip_of(const std::optional<net::sockaddr_value>& a) { return a ? a->ip_string() : std::string(); }

interface_info& interface_named(std::vector<interface_info>& all, const net::ifaddrs_entry& e) {
  auto it = std::find_if(all.begin(), all.end(), [&](const interface_info& i) { return i.name == e.name; });
  if (it != all.end()) {
    return *it;
  }
  interface_info i;
  i.name = e.name;
  i.index = net::if_name2index(e.name).value_or(0);
  for (std::string_view f : net::flag_names(e.flags)) {
    i.flags.emplace_back(f);
  }
  i.hwaddr = net::hwaddr_to_string(e.hwaddr);
  all.push_back(std::move(i));
  return all.back();
}

result<std::vector<interface_info>> interfaces() {
  auto entries = net::getifaddrs();
  if (!entries) {
    return fail(entries.error());
  }
  std::vector<interface_info> all;
  for (const net::ifaddrs_entry& e : *entries) {
    interface_info& i = interface_named(all, e);
    if (!e.addr || (e.addr->family() != AF_INET && e.addr->family() != AF_INET6)) {
      continue;
    }
    i.addresses.push_back(
        {family_name(e.addr->family()), e.addr->ip_string(), ip_of(e.netmask), ip_of(e.broadaddr), ip_of(e.dstaddr)});
  }
  return all;
}

/// getaddrinfo for stream sockets only, so that each address comes once
/// rather than once per socket type.
resolution resolve(const std::string& name) {
  resolution r;
  r.name = name;
  auto entries = net::getaddrinfo(name, std::nullopt, {.socktype = SOCK_STREAM, .flags = AI_CANONNAME});
  if (!entries) {
    r.error = entries.error();
    return r;
  }
  for (const net::addrinfo_entry& e : *entries) {
    if (r.canonname.empty()) {
      r.canonname = e.canonname;
    }
    r.addresses.push_back({family_name(e.family), e.addr.ip_string(), {}, {}, {}});
  }
  return r;
}

support_report supports() {
  return {socket::supports(), socket::supports(socket::msg_flags), socket::supports(socket::protocols),
          socket::supports(socket::options)};
}

}  // namespace

tl::expected<report, failure> collect() {
  report r;
  auto host = net::gethostname();
  if (!host) {
    return tl::unexpected(failure{"gethostname", host.error()});
  }
  r.hostname = *host;
  auto ifs = interfaces();
  if (!ifs) {
    return tl::unexpected(failure{"getifaddrs", ifs.error()});
  }
  r.interfaces = std::move(*ifs);
  r.resolved.push_back(resolve("localhost"));
  if (r.hostname != "localhost") {
    r.resolved.push_back(resolve(r.hostname));
  }
  r.supports = supports();
  return r;
}

}  // namespace otpnet::tools::netinfo
