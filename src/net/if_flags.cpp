#include <otpnet/net/if_flags.hpp>

#include <net/if.h>

namespace otpnet::net {

// The values in the header are the kernel ABI; check them against libc's.
static_assert(static_cast<unsigned>(if_flags::up) == IFF_UP);
static_assert(static_cast<unsigned>(if_flags::broadcast) == IFF_BROADCAST);
static_assert(static_cast<unsigned>(if_flags::loopback) == IFF_LOOPBACK);
static_assert(static_cast<unsigned>(if_flags::pointtopoint) == IFF_POINTOPOINT);
static_assert(static_cast<unsigned>(if_flags::running) == IFF_RUNNING);
static_assert(static_cast<unsigned>(if_flags::noarp) == IFF_NOARP);
static_assert(static_cast<unsigned>(if_flags::promisc) == IFF_PROMISC);
static_assert(static_cast<unsigned>(if_flags::multicast) == IFF_MULTICAST);
static_assert(static_cast<unsigned>(if_flags::dynamic) == IFF_DYNAMIC);

std::string_view flag_name(if_flags flag) noexcept {
  switch (flag) {
#define OTPNET_X(name, bit) \
  case if_flags::name: \
    return #name;
    OTPNET_NET_IF_FLAGS(OTPNET_X)
#undef OTPNET_X
    case if_flags::none:
      break;
  }
  return "unknown";
}

std::vector<std::string_view> flag_names(if_flags set) {
  std::vector<std::string_view> names;
#define OTPNET_X(name, bit) \
  if (has(set, if_flags::name)) { \
    names.push_back(flag_name(if_flags::name)); \
  }
  OTPNET_NET_IF_FLAGS(OTPNET_X)
#undef OTPNET_X
  return names;
}

std::string to_string(if_flags set) {
  std::string s;
  for (std::string_view name : flag_names(set)) {
    if (!s.empty()) {
      s += ',';
    }
    s += name;
  }
  return s;
}

}  // namespace otpnet::net
