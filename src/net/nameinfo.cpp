#include <otpnet/net/nameinfo.hpp>

#include "internal/syscall.hpp"

namespace otpnet::net {

result<nameinfo> getnameinfo(const sockaddr_value& addr, int flags) {
  char host[NI_MAXHOST] = {};
  char service[NI_MAXSERV] = {};
  int rc = ::getnameinfo(addr.native(), addr.size(), host, sizeof host, service, sizeof service, flags);
  if (rc != 0) {
    return fail(internal::resolver_error(rc));
  }
  return nameinfo{host, service};
}

}  // namespace otpnet::net
