#include <otpnet/net/sockaddr_value.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netpacket/packet.h>
#include <sys/un.h>

#include <algorithm>
#include <cstddef>
#include <cstring>

namespace otpnet::net {

namespace {

// The family-specific struct inside the storage, when the stored length covers
// all of it; null for a shorter (truncated) address, so nothing reads past len_.
template <class T>
const T* view_as(const ::sockaddr_storage& ss, ::socklen_t len) noexcept {
  return len >= sizeof(T) ? reinterpret_cast<const T*>(&ss) : nullptr;
}

std::string ntop(int family, const void* raw) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (::inet_ntop(family, raw, buf, sizeof buf) == nullptr) {
    return {};  // cannot happen: the family is AF_INET/AF_INET6 and buf is large enough.
  }
  return buf;
}

std::string unix_path(const ::sockaddr_storage& ss, ::socklen_t len) {
  const auto& un = reinterpret_cast<const ::sockaddr_un&>(ss);
  std::size_t off = offsetof(::sockaddr_un, sun_path);
  if (len <= off) {
    return "unnamed";
  }
  std::size_t n = std::min<std::size_t>(len - off, sizeof un.sun_path);
  if (un.sun_path[0] == '\0') {
    return "@" + std::string(un.sun_path + 1, n - 1);  // Linux's abstract namespace.
  }
  return std::string(un.sun_path, ::strnlen(un.sun_path, n));
}

}  // namespace

sockaddr_value::sockaddr_value() noexcept : storage_{}, len_(0) {}

result<sockaddr_value> sockaddr_value::from_native(const ::sockaddr* sa, ::socklen_t len) noexcept {
  if (len > sizeof(::sockaddr_storage) || (sa == nullptr && len != 0)) {
    return fail(errc::invalid);
  }
  sockaddr_value v;
  if (len != 0) {
    std::memcpy(&v.storage_, sa, len);
  }
  v.len_ = len;
  return v;
}

int sockaddr_value::family() const noexcept { return len_ >= sizeof(::sa_family_t) ? storage_.ss_family : AF_UNSPEC; }

std::uint16_t sockaddr_value::port() const noexcept {
  if (family() == AF_INET) {
    if (const auto* in = view_as<::sockaddr_in>(storage_, len_)) {
      return ntohs(in->sin_port);
    }
  } else if (family() == AF_INET6) {
    if (const auto* in6 = view_as<::sockaddr_in6>(storage_, len_)) {
      return ntohs(in6->sin6_port);
    }
  }
  return 0;
}

std::string sockaddr_value::ip_string() const {
  if (family() == AF_INET) {
    if (const auto* in = view_as<::sockaddr_in>(storage_, len_)) {
      return ntop(AF_INET, &in->sin_addr);
    }
  } else if (family() == AF_INET6) {
    if (const auto* in6 = view_as<::sockaddr_in6>(storage_, len_)) {
      std::string s = ntop(AF_INET6, &in6->sin6_addr);
      if (in6->sin6_scope_id != 0) {
        s += "%" + std::to_string(in6->sin6_scope_id);
      }
      return s;
    }
  }
  return {};
}

std::string sockaddr_value::to_string() const {
  switch (family()) {
    case AF_UNSPEC:
      return "unspec";
    case AF_INET:
    case AF_INET6:
      if (std::string ip = ip_string(); !ip.empty()) {
        auto p = std::to_string(port());
        return family() == AF_INET ? ip + ":" + p : "[" + ip + "]:" + p;
      }
      break;  // truncated
    case AF_UNIX:
      return unix_path(storage_, len_);
    case AF_PACKET:
      if (const auto* ll = view_as<::sockaddr_ll>(storage_, len_); ll != nullptr && ll->sll_halen != 0) {
        return hwaddr_to_string({ll->sll_addr, std::min<std::size_t>(ll->sll_halen, sizeof ll->sll_addr)});
      }
      return "packet";
    default:
      break;
  }
  return "family " + std::to_string(family());
}

std::string hwaddr_to_string(std::span<const std::uint8_t> hwaddr) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string s;
  for (std::uint8_t b : hwaddr) {
    if (!s.empty()) {
      s += ':';
    }
    s += hex[b >> 4];
    s += hex[b & 0xf];
  }
  return s;
}

bool operator==(const sockaddr_value& a, const sockaddr_value& b) noexcept {
  return a.len_ == b.len_ && std::memcmp(&a.storage_, &b.storage_, a.len_) == 0;
}

}  // namespace otpnet::net
