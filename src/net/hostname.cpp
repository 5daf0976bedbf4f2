#include <otpnet/net/hostname.hpp>

#include "internal/syscall.hpp"

#include <unistd.h>

#include <climits>
#include <cstring>

namespace otpnet::net {

result<std::string> gethostname() {
  char buf[HOST_NAME_MAX + 1] = {};
  auto r = internal::sys_once([&] { return ::gethostname(buf, sizeof buf); });
  if (!r) {
    return fail(r.error());
  }
  // POSIX leaves a truncated name unterminated; glibc fails instead, but the
  // bound costs nothing.
  return std::string(buf, ::strnlen(buf, sizeof buf));
}

}  // namespace otpnet::net
