#include <otpnet/net/addrinfo.hpp>

#include "internal/syscall.hpp"

#include <memory>

namespace otpnet::net {

namespace {

struct addrinfo_deleter {
  void operator()(::addrinfo* ai) const noexcept { ::freeaddrinfo(ai); }
};
using addrinfo_list = std::unique_ptr<::addrinfo, addrinfo_deleter>;

// libc takes C strings: text with a NUL inside would silently resolve
// something shorter, so it is refused instead.
bool has_nul(const std::optional<std::string_view>& s) noexcept { return s && s->find('\0') != std::string_view::npos; }

result<addrinfo_entry> make_entry(const ::addrinfo& ai) {
  auto addr = sockaddr_value::from_native(ai.ai_addr, ai.ai_addrlen);
  if (!addr) {
    return fail(addr.error());
  }
  addrinfo_entry e;
  e.family = ai.ai_family;
  e.socktype = ai.ai_socktype;
  e.protocol = ai.ai_protocol;
  if (ai.ai_canonname != nullptr) {
    e.canonname = ai.ai_canonname;
  }
  e.addr = *addr;
  return e;
}

}  // namespace

result<std::vector<addrinfo_entry>> getaddrinfo(std::optional<std::string_view> host,
                                                std::optional<std::string_view> service, const addrinfo_hints& hints) {
  if (has_nul(host) || has_nul(service)) {
    return fail(errc::invalid);
  }
  std::string host_c = host ? std::string(*host) : std::string();
  std::string service_c = service ? std::string(*service) : std::string();
  ::addrinfo h{};
  h.ai_family = hints.family;
  h.ai_socktype = hints.socktype;
  h.ai_protocol = hints.protocol;
  h.ai_flags = hints.flags;
  ::addrinfo* raw = nullptr;
  int rc = ::getaddrinfo(host ? host_c.c_str() : nullptr, service ? service_c.c_str() : nullptr, &h, &raw);
  addrinfo_list list(raw);
  if (rc != 0) {
    return fail(internal::resolver_error(rc));
  }
  std::vector<addrinfo_entry> out;
  for (const ::addrinfo* ai = list.get(); ai != nullptr; ai = ai->ai_next) {
    auto e = make_entry(*ai);
    if (!e) {
      return fail(e.error());
    }
    out.push_back(std::move(*e));
  }
  return out;
}

}  // namespace otpnet::net
