#include <otpnet/socket/address.hpp>

#include <arpa/inet.h>
#include <net/if.h>
#include <sys/un.h>

#include <cstddef>
#include <cstring>

namespace otpnet::socket {

namespace {

::sockaddr_in* as_in(::sockaddr_storage& ss) noexcept { return reinterpret_cast<::sockaddr_in*>(&ss); }
::sockaddr_in6* as_in6(::sockaddr_storage& ss) noexcept { return reinterpret_cast<::sockaddr_in6*>(&ss); }
const ::sockaddr_in* as_in(const ::sockaddr_storage& ss) noexcept {
  return reinterpret_cast<const ::sockaddr_in*>(&ss);
}
const ::sockaddr_in6* as_in6(const ::sockaddr_storage& ss) noexcept {
  return reinterpret_cast<const ::sockaddr_in6*>(&ss);
}
const ::sockaddr_un* as_un(const ::sockaddr_storage& ss) noexcept {
  return reinterpret_cast<const ::sockaddr_un*>(&ss);
}

constexpr std::size_t path_offset = offsetof(::sockaddr_un, sun_path);
constexpr std::size_t path_capacity = sizeof(::sockaddr_un::sun_path);

}  // namespace

address::address() noexcept : ss_{}, len_(sizeof(::sa_family_t)) { ss_.ss_family = AF_UNSPEC; }

address address::inet(std::array<std::uint8_t, 4> ip, std::uint16_t port) noexcept {
  address a;
  auto* in = as_in(a.ss_);
  in->sin_family = AF_INET;
  in->sin_port = htons(port);
  std::memcpy(&in->sin_addr, ip.data(), 4);
  a.len_ = sizeof(::sockaddr_in);
  return a;
}

address address::inet_any(std::uint16_t port) noexcept { return inet({0, 0, 0, 0}, port); }
address address::inet_loopback(std::uint16_t port) noexcept { return inet({127, 0, 0, 1}, port); }

address address::inet6(const std::array<std::uint8_t, 16>& ip, std::uint16_t port, std::uint32_t scope_id,
                       std::uint32_t flowinfo) noexcept {
  address a;
  auto* in6 = as_in6(a.ss_);
  in6->sin6_family = AF_INET6;
  in6->sin6_port = htons(port);
  in6->sin6_flowinfo = htonl(flowinfo);
  in6->sin6_scope_id = scope_id;
  std::memcpy(&in6->sin6_addr, ip.data(), 16);
  a.len_ = sizeof(::sockaddr_in6);
  return a;
}

address address::inet6_any(std::uint16_t port) noexcept { return inet6({}, port); }

address address::inet6_loopback(std::uint16_t port) noexcept {
  std::array<std::uint8_t, 16> ip{};
  ip[15] = 1;
  return inet6(ip, port);
}

result<address> address::local(std::string_view path) noexcept {
  if (path.empty()) {
    return fail(errc::invalid);
  }
  if (path.size() >= path_capacity) {
    return fail(errc::enametoolong);
  }
  address a;
  a.ss_.ss_family = AF_UNIX;
  auto* un = reinterpret_cast<::sockaddr_un*>(&a.ss_);
  std::memcpy(un->sun_path, path.data(), path.size());
  un->sun_path[path.size()] = '\0';
  a.len_ = static_cast<::socklen_t>(path_offset + path.size() + 1);
  return a;
}

result<address> address::abstract(std::string_view name) noexcept {
  if (name.size() + 1 > path_capacity) {
    return fail(errc::enametoolong);
  }
  address a;
  a.ss_.ss_family = AF_UNIX;
  auto* un = reinterpret_cast<::sockaddr_un*>(&a.ss_);
  un->sun_path[0] = '\0';
  std::memcpy(un->sun_path + 1, name.data(), name.size());
  a.len_ = static_cast<::socklen_t>(path_offset + 1 + name.size());
  return a;
}

result<address> address::parse(std::string_view ip, std::uint16_t port) noexcept {
  char buf[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
  if (ip.empty() || ip.size() >= sizeof(buf)) {
    return fail(errc::invalid);
  }
  std::memcpy(buf, ip.data(), ip.size());
  buf[ip.size()] = '\0';
  std::array<std::uint8_t, 16> bytes{};
  if (::inet_pton(AF_INET, buf, bytes.data()) == 1) {
    return inet({bytes[0], bytes[1], bytes[2], bytes[3]}, port);
  }
  std::uint32_t scope = 0;
  if (char* pct = std::strchr(buf, '%')) {
    *pct = '\0';
    scope = ::if_nametoindex(pct + 1);
    if (scope == 0) {
      return fail(errc::invalid);
    }
  }
  if (::inet_pton(AF_INET6, buf, bytes.data()) == 1) {
    return inet6(bytes, port, scope);
  }
  return fail(errc::invalid);
}

result<address> address::from_native(const ::sockaddr* sa, ::socklen_t len) noexcept {
  if (sa == nullptr || len > capacity()) {
    return fail(errc::invalid);
  }
  address a;
  std::memcpy(&a.ss_, sa, len);
  a.len_ = len;
  return a;
}

domain address::family() const noexcept { return static_cast<domain>(ss_.ss_family); }

std::uint16_t address::port() const noexcept {
  switch (ss_.ss_family) {
    case AF_INET:
      return ntohs(as_in(ss_)->sin_port);
    case AF_INET6:
      return ntohs(as_in6(ss_)->sin6_port);
    default:
      return 0;
  }
}

address address::with_port(std::uint16_t port) const noexcept {
  address a = *this;
  if (ss_.ss_family == AF_INET) {
    as_in(a.ss_)->sin_port = htons(port);
  } else if (ss_.ss_family == AF_INET6) {
    as_in6(a.ss_)->sin6_port = htons(port);
  }
  return a;
}

bool address::is_abstract() const noexcept {
  return ss_.ss_family == AF_UNIX && len_ > path_offset && as_un(ss_)->sun_path[0] == '\0';
}

std::string address::path() const {
  if (ss_.ss_family != AF_UNIX || len_ <= path_offset) {
    return {};
  }
  const char* p = as_un(ss_)->sun_path;
  std::size_t n = len_ - path_offset;
  if (p[0] == '\0') {
    return std::string(p + 1, n - 1);
  }
  return std::string(p, ::strnlen(p, n));
}

std::string address::to_string() const {
  char buf[INET6_ADDRSTRLEN];
  switch (ss_.ss_family) {
    case AF_INET:
      ::inet_ntop(AF_INET, &as_in(ss_)->sin_addr, buf, sizeof(buf));
      return std::string(buf) + ":" + std::to_string(port());
    case AF_INET6:
      ::inet_ntop(AF_INET6, &as_in6(ss_)->sin6_addr, buf, sizeof(buf));
      return "[" + std::string(buf) + "]:" + std::to_string(port());
    case AF_UNIX:
      if (len_ <= path_offset) {
        return "local:unnamed";
      }
      return is_abstract() ? "@" + path() : path();
    case AF_UNSPEC:
      return "unspec";
    default:
      return "family " + std::to_string(ss_.ss_family);
  }
}

bool operator==(const address& a, const address& b) noexcept {
  return a.len_ == b.len_ && std::memcmp(&a.ss_, &b.ss_, a.len_) == 0;
}

}  // namespace otpnet::socket
