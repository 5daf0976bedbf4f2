#include <otpnet/net/nameinfo.hpp>

#include "internal/syscall.hpp"

namespace otpnet::net {

namespace {

// EAI_SYSTEM means "look at errno": report that reason instead, unless libc
// left errno at 0, when the resolver's own code is all there is.
errc resolver_error(int rc) noexcept {
  if (rc == EAI_SYSTEM) {
    errc e = internal::last_errno();
    return e == errc::ok ? errc::eai_system : e;
  }
  return from_eai(rc);
}

}  // namespace

result<nameinfo> getnameinfo(const sockaddr_value& addr, int flags) {
  char host[NI_MAXHOST] = {};
  char service[NI_MAXSERV] = {};
  int rc = ::getnameinfo(addr.native(), addr.size(), host, sizeof host, service, sizeof service, flags);
  if (rc != 0) {
    return fail(resolver_error(rc));
  }
  return nameinfo{host, service};
}

}  // namespace otpnet::net
