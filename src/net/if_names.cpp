#include <otpnet/net/if_names.hpp>

#include "internal/syscall.hpp"

#include <net/if.h>

#include <memory>

namespace otpnet::net {

namespace {

struct nameindex_deleter {
  void operator()(struct ::if_nameindex* p) const noexcept { ::if_freenameindex(p); }
};

// libc reports failure of these calls through errno alone; should it leave
// errno at 0, `fallback` names the failure instead of a success.
errc errno_or(errc fallback) noexcept {
  errc e = internal::last_errno();
  return e == errc::ok ? fallback : e;
}

}  // namespace

result<std::vector<if_name_entry>> if_names() {
  std::unique_ptr<struct ::if_nameindex, nameindex_deleter> list(::if_nameindex());
  if (!list) {
    return fail(errno_or(errc::enomem));
  }
  std::vector<if_name_entry> out;
  for (const struct ::if_nameindex* p = list.get(); p->if_index != 0 && p->if_name != nullptr; ++p) {
    out.push_back({p->if_index, p->if_name});
  }
  return out;
}

result<unsigned> if_name2index(std::string_view name) {
  if (name.empty() || name.size() >= IF_NAMESIZE || name.find('\0') != std::string_view::npos) {
    return fail(errc::invalid);
  }
  std::string name_c(name);
  unsigned index = ::if_nametoindex(name_c.c_str());
  if (index == 0) {
    return fail(errno_or(errc::enodev));
  }
  return index;
}

result<std::string> if_index2name(unsigned index) {
  char buf[IF_NAMESIZE] = {};
  if (::if_indextoname(index, buf) == nullptr) {
    return fail(errno_or(errc::enxio));
  }
  return std::string(buf);
}

}  // namespace otpnet::net
