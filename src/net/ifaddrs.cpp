#include <otpnet/net/ifaddrs.hpp>

#include "internal/syscall.hpp"

#include <ifaddrs.h>
#include <netinet/in.h>
#include <netpacket/packet.h>

#include <algorithm>
#include <map>
#include <memory>

namespace otpnet::net {

namespace {

struct ifaddrs_deleter {
  void operator()(::ifaddrs* p) const noexcept { ::freeifaddrs(p); }
};
using ifaddrs_list = std::unique_ptr<::ifaddrs, ifaddrs_deleter>;

// getifaddrs gives addresses without their length; it follows from the family.
// Families Linux's getifaddrs never reports are left out rather than guessed.
std::optional<sockaddr_value> copy_address(const ::sockaddr* sa) {
  if (sa == nullptr) {
    return std::nullopt;
  }
  ::socklen_t len = 0;
  switch (sa->sa_family) {
    case AF_INET:
      len = sizeof(::sockaddr_in);
      break;
    case AF_INET6:
      len = sizeof(::sockaddr_in6);
      break;
    case AF_PACKET:
      len = sizeof(::sockaddr_ll);
      break;
    default:
      return std::nullopt;
  }
  auto v = sockaddr_value::from_native(sa, len);
  return v ? std::optional<sockaddr_value>(*v) : std::nullopt;
}

int family_of(const ::ifaddrs& ifa) noexcept { return ifa.ifa_addr != nullptr ? ifa.ifa_addr->sa_family : AF_UNSPEC; }

bool family_matches(if_family want, int family) noexcept {
  switch (want) {
    case if_family::any:
      return true;
    case if_family::ip:
      return family == AF_INET || family == AF_INET6;
    case if_family::inet:
      return family == AF_INET;
    case if_family::inet6:
      return family == AF_INET6;
    case if_family::packet:
      return family == AF_PACKET;
  }
  return false;
}

// Each interface's link-layer address, from its AF_PACKET entry.
std::map<std::string, std::vector<std::uint8_t>> hwaddrs(const ::ifaddrs* list) {
  std::map<std::string, std::vector<std::uint8_t>> out;
  for (const ::ifaddrs* p = list; p != nullptr; p = p->ifa_next) {
    if (family_of(*p) == AF_PACKET) {
      const auto& ll = *reinterpret_cast<const ::sockaddr_ll*>(p->ifa_addr);
      std::size_t n = std::min<std::size_t>(ll.sll_halen, sizeof ll.sll_addr);
      out[p->ifa_name].assign(ll.sll_addr, ll.sll_addr + n);
    }
  }
  return out;
}

ifaddrs_entry make_entry(const ::ifaddrs& ifa) {
  ifaddrs_entry e;
  e.name = ifa.ifa_name;
  e.flags = static_cast<if_flags>(ifa.ifa_flags);
  e.addr = copy_address(ifa.ifa_addr);
  e.netmask = copy_address(ifa.ifa_netmask);
  // One union in struct ifaddrs, read as the flags say.
  if (has(e.flags, if_flags::pointtopoint)) {
    e.dstaddr = copy_address(ifa.ifa_dstaddr);
  } else if (has(e.flags, if_flags::broadcast)) {
    e.broadaddr = copy_address(ifa.ifa_broadaddr);
  }
  return e;
}

}  // namespace

result<std::vector<ifaddrs_entry>> getifaddrs(const ifaddrs_filter& filter) {
  ::ifaddrs* raw = nullptr;
  if (auto r = internal::sys_once([&] { return ::getifaddrs(&raw); }); !r) {
    return fail(r.error());
  }
  ifaddrs_list list(raw);
  auto hw = hwaddrs(list.get());
  std::vector<ifaddrs_entry> out;
  for (const ::ifaddrs* p = list.get(); p != nullptr; p = p->ifa_next) {
    if (!family_matches(filter.family, family_of(*p)) || !has(static_cast<if_flags>(p->ifa_flags), filter.flags)) {
      continue;
    }
    ifaddrs_entry e = make_entry(*p);
    if (auto it = hw.find(e.name); it != hw.end()) {
      e.hwaddr = it->second;
    }
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace otpnet::net
