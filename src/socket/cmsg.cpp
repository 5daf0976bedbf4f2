// Control messages: unique_fd, and the encoding and decoding of OTP's cmsg()
// values to and from a msg_control buffer. Headers are read and written
// with memcpy, so a buffer of any alignment decodes; the kernel's layout
// (CMSG_LEN, CMSG_SPACE, CMSG_ALIGN) fixes the offsets.
#include <otpnet/socket/message.hpp>

#include "internal/syscall.hpp"

#include <linux/errqueue.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstring>
#include <new>
#include <type_traits>

namespace otpnet::socket {

// -- unique_fd ---------------------------------------------------------------

unique_fd& unique_fd::operator=(unique_fd&& o) noexcept {
  if (this != &o) {
    reset(o.release());
  }
  return *this;
}

unique_fd::~unique_fd() { reset(); }

int unique_fd::release() noexcept {
  int fd = fd_;
  fd_ = -1;
  return fd;
}

void unique_fd::reset(int fd) noexcept {
  if (fd_ >= 0) {
    int old = fd_;
    // Not retried: on Linux the descriptor is gone even after EINTR.
    static_cast<void>(::otpnet::internal::sys_once([&] { return ::close(old); }));
  }
  fd_ = fd;
}

namespace {

constexpr std::size_t max_fds = 253;  // SCM_MAX_FD of the kernel
constexpr std::size_t hdr_len = CMSG_LEN(0);

template <class... F>
struct overloaded : F... {
  using F::operator()...;
};
template <class... F>
overloaded(F...) -> overloaded<F...>;

/// Level, type and payload length of a sendable control message.
struct header {
  int level;
  int type;
  std::size_t len;
};

result<header> header_of(const cmsg& c) {
  const int level = level_of(c);
  const int type = type_of(c);
  auto fds = [&](std::size_t n) -> result<header> {
    if (n == 0 || n > max_fds) {
      return fail(errc::invalid);
    }
    return header{level, type, n * sizeof(int)};
  };
  return std::visit(overloaded{
                        [&](const socket_rights& r) { return fds(r.fds.size()); },
                        [&](const socket_rights_ref& r) { return fds(r.fds.size()); },
                        [&](const socket_credentials&) -> result<header> {
                          return header{level, type, sizeof(::ucred)};
                        },
                        [](const socket_timestamp&) -> result<header> { return fail(errc::invalid); },
                        [](const ip_recverr&) -> result<header> { return fail(errc::invalid); },
                        [&](const ip_pktinfo&) -> result<header> {
                          return header{level, type, sizeof(::in_pktinfo)};
                        },
                        [&](const ipv6_pktinfo&) -> result<header> {
                          return header{level, type, sizeof(::in6_pktinfo)};
                        },
                        [&](const cmsg_raw& r) -> result<header> {
                          return header{level, type, r.data.size()};
                        },
                        [&](const auto&) -> result<header> {
                          return header{level, type, sizeof(int)};
                        },
                    },
                    c);
}

void put_int(std::byte* dst, int v) noexcept { std::memcpy(dst, &v, sizeof v); }

/// Writes the payload of `c` (header_of(c) succeeded) at `dst`.
void write_payload(const cmsg& c, std::byte* dst) {
  std::visit(overloaded{
                 [&](const socket_rights& r) {
                   for (std::size_t i = 0; i < r.fds.size(); ++i) {
                     put_int(dst + i * sizeof(int), r.fds[i].get());
                   }
                 },
                 [&](const socket_rights_ref& r) { std::memcpy(dst, r.fds.data(), r.fds.size() * sizeof(int)); },
                 [&](const socket_credentials& v) {
                   const ::ucred u{v.pid, v.uid, v.gid};
                   std::memcpy(dst, &u, sizeof u);
                 },
                 [&](const ip_tos& v) { put_int(dst, v.value); },
                 [&](const ip_ttl& v) { put_int(dst, v.value); },
                 [&](const ipv6_hoplimit& v) { put_int(dst, v.value); },
                 [&](const ipv6_tclass& v) { put_int(dst, v.value); },
                 [&](const ip_pktinfo& v) {
                   ::in_pktinfo p{};
                   p.ipi_ifindex = static_cast<int>(v.ifindex);
                   std::memcpy(&p.ipi_spec_dst, v.spec_dst.data(), 4);
                   std::memcpy(&p.ipi_addr, v.addr.data(), 4);
                   std::memcpy(dst, &p, sizeof p);
                 },
                 [&](const ipv6_pktinfo& v) {
                   ::in6_pktinfo p{};
                   std::memcpy(&p.ipi6_addr, v.addr.data(), 16);
                   p.ipi6_ifindex = v.ifindex;
                   std::memcpy(dst, &p, sizeof p);
                 },
                 [&](const cmsg_raw& r) {
                   if (!r.data.empty()) {
                     std::memcpy(dst, r.data.data(), r.data.size());
                   }
                 },
                 [](const auto&) {},
             },
             c);
}

// -- decoding ----------------------------------------------------------------

template <class T>
T load(const std::byte* p) noexcept {
  static_assert(std::is_trivially_copyable_v<T>);
  T v{};
  std::memcpy(&v, p, sizeof v);
  return v;
}

std::array<std::uint8_t, 4> ip4(const ::in_addr& a) noexcept {
  std::array<std::uint8_t, 4> out{};
  std::memcpy(out.data(), &a, 4);
  return out;
}

/// ip/recverr and ipv6/recverr: sock_extended_err, then the offender.
std::optional<cmsg> decode_recverr(bool ipv6, const std::byte* p, std::size_t len) {
  if (len < sizeof(::sock_extended_err)) {
    return std::nullopt;
  }
  const auto ee = load<::sock_extended_err>(p);
  ip_recverr e;
  e.ipv6 = ipv6;
  e.error = from_errno(static_cast<int>(ee.ee_errno));
  e.origin = ee.ee_origin;
  e.type = ee.ee_type;
  e.code = ee.ee_code;
  e.info = ee.ee_info;
  e.data = ee.ee_data;
  const std::size_t off_len = len - sizeof ee;
  if (off_len >= sizeof(::sa_family_t)) {
    const auto family = load<::sa_family_t>(p + sizeof ee);
    if (family != AF_UNSPEC) {
      auto a =
          address::from_native(reinterpret_cast<const ::sockaddr*>(p + sizeof ee), static_cast<::socklen_t>(off_len));
      if (a) {
        e.offender = *a;
      }
    }
  }
  return cmsg{e};
}

std::optional<cmsg> decode_socket_level(int type, const std::byte* p, std::size_t len) {
  if (type == SCM_CREDENTIALS && len == sizeof(::ucred)) {
    const auto u = load<::ucred>(p);
    return cmsg{socket_credentials{u.pid, u.uid, u.gid}};
  }
  using namespace std::chrono;
  if (type == SCM_TIMESTAMP && len == sizeof(::timeval)) {
    const auto tv = load<::timeval>(p);
    return cmsg{socket_timestamp{sys_time<nanoseconds>(seconds(tv.tv_sec) + microseconds(tv.tv_usec))}};
  }
  if (type == SCM_TIMESTAMPNS && len == sizeof(::timespec)) {
    const auto ts = load<::timespec>(p);
    return cmsg{socket_timestamp{sys_time<nanoseconds>(seconds(ts.tv_sec) + nanoseconds(ts.tv_nsec))}};
  }
  return std::nullopt;
}

std::optional<cmsg> decode_ip_level(int type, const std::byte* p, std::size_t len) {
  switch (type) {
    case IP_TOS:
      // The kernel delivers the TOS as one byte; an int is accepted too.
      if (len == 1) {
        return cmsg{ip_tos{load<std::uint8_t>(p)}};
      }
      if (len == sizeof(int)) {
        return cmsg{ip_tos{static_cast<std::uint8_t>(load<int>(p))}};
      }
      return std::nullopt;
    case IP_TTL:
      return len == sizeof(int) ? std::optional<cmsg>(ip_ttl{load<int>(p)}) : std::nullopt;
    case IP_PKTINFO: {
      if (len != sizeof(::in_pktinfo)) {
        return std::nullopt;
      }
      const auto pi = load<::in_pktinfo>(p);
      return cmsg{ip_pktinfo{static_cast<unsigned>(pi.ipi_ifindex), ip4(pi.ipi_spec_dst), ip4(pi.ipi_addr)}};
    }
    case IP_RECVERR:
      return decode_recverr(false, p, len);
    default:
      return std::nullopt;
  }
}

std::optional<cmsg> decode_ipv6_level(int type, const std::byte* p, std::size_t len) {
  switch (type) {
    case IPV6_HOPLIMIT:
      return len == sizeof(int) ? std::optional<cmsg>(ipv6_hoplimit{load<int>(p)}) : std::nullopt;
    case IPV6_TCLASS:
      return len == sizeof(int) ? std::optional<cmsg>(ipv6_tclass{load<int>(p)}) : std::nullopt;
    case IPV6_PKTINFO: {
      if (len != sizeof(::in6_pktinfo)) {
        return std::nullopt;
      }
      const auto pi = load<::in6_pktinfo>(p);
      ipv6_pktinfo v;
      std::memcpy(v.addr.data(), &pi.ipi6_addr, 16);
      v.ifindex = pi.ipi6_ifindex;
      return cmsg{v};
    }
    case IPV6_RECVERR:
      return decode_recverr(true, p, len);
    default:
      return std::nullopt;
  }
}

/// One control message; SCM_RIGHTS is handled by the caller (ownership).
cmsg decode_one(int level, int type, const std::byte* p, std::size_t len) {
  std::optional<cmsg> typed;
  if (level == SOL_SOCKET) {
    typed = decode_socket_level(type, p, len);
  } else if (level == IPPROTO_IP) {
    typed = decode_ip_level(type, p, len);
  } else if (level == IPPROTO_IPV6) {
    typed = decode_ipv6_level(type, p, len);
  }
  if (typed) {
    return std::move(*typed);
  }
  return cmsg_raw{level, type, std::vector<std::byte>(p, p + len)};
}

}  // namespace

// -- public ------------------------------------------------------------------

int level_of(const cmsg& c) {
  return std::visit<int>(overloaded{
                             [](const socket_rights&) { return SOL_SOCKET; },
                             [](const socket_rights_ref&) { return SOL_SOCKET; },
                             [](const socket_credentials&) { return SOL_SOCKET; },
                             [](const socket_timestamp&) { return SOL_SOCKET; },
                             [](const ip_tos&) { return static_cast<int>(IPPROTO_IP); },
                             [](const ip_ttl&) { return static_cast<int>(IPPROTO_IP); },
                             [](const ip_pktinfo&) { return static_cast<int>(IPPROTO_IP); },
                             [](const ip_recverr& e) { return static_cast<int>(e.ipv6 ? IPPROTO_IPV6 : IPPROTO_IP); },
                             [](const ipv6_hoplimit&) { return static_cast<int>(IPPROTO_IPV6); },
                             [](const ipv6_tclass&) { return static_cast<int>(IPPROTO_IPV6); },
                             [](const ipv6_pktinfo&) { return static_cast<int>(IPPROTO_IPV6); },
                             [](const cmsg_raw& r) { return r.level; },
                         },
                         c);
}

int type_of(const cmsg& c) {
  return std::visit<int>(overloaded{
                             [](const socket_rights&) { return SCM_RIGHTS; },
                             [](const socket_rights_ref&) { return SCM_RIGHTS; },
                             [](const socket_credentials&) { return SCM_CREDENTIALS; },
                             [](const socket_timestamp&) { return static_cast<int>(SCM_TIMESTAMP); },
                             [](const ip_tos&) { return IP_TOS; },
                             [](const ip_ttl&) { return IP_TTL; },
                             [](const ip_pktinfo&) { return IP_PKTINFO; },
                             [](const ip_recverr& e) { return e.ipv6 ? IPV6_RECVERR : IP_RECVERR; },
                             [](const ipv6_hoplimit&) { return IPV6_HOPLIMIT; },
                             [](const ipv6_tclass&) { return IPV6_TCLASS; },
                             [](const ipv6_pktinfo&) { return IPV6_PKTINFO; },
                             [](const cmsg_raw& r) { return r.type; },
                         },
                         c);
}

std::size_t cmsg_space_for_fds(std::size_t n_fds) noexcept { return CMSG_SPACE(n_fds * sizeof(int)); }

result<std::size_t> cmsg_space(std::span<const cmsg> ctrl) {
  std::size_t total = 0;
  for (const cmsg& c : ctrl) {
    auto h = header_of(c);
    if (!h) {
      return fail(h.error());
    }
    total += CMSG_SPACE(h->len);
  }
  return total;
}

result<std::size_t> encode_cmsgs(std::span<const cmsg> ctrl, std::span<std::byte> out) {
  auto need = cmsg_space(ctrl);
  if (!need) {
    return fail(need.error());
  }
  if (*need > out.size() || reinterpret_cast<std::uintptr_t>(out.data()) % alignof(::cmsghdr) != 0) {
    return fail(errc::invalid);
  }
  if (*need == 0) {
    return std::size_t{0};
  }
  std::memset(out.data(), 0, *need);
  std::size_t at = 0;
  for (const cmsg& c : ctrl) {
    const header h = *header_of(c);
    ::cmsghdr ch{};
    ch.cmsg_len = CMSG_LEN(h.len);
    ch.cmsg_level = h.level;
    ch.cmsg_type = h.type;
    std::memcpy(out.data() + at, &ch, sizeof ch);
    write_payload(c, out.data() + at + hdr_len);
    at += CMSG_SPACE(h.len);
  }
  return at;
}

namespace {

/// Calls `f(level, type, payload, len)` for each well-formed message of a
/// received control buffer from offset `at` on, with the offset of the
/// next message in `at` during the call.
template <class F>
void for_each_cmsg(std::span<const std::byte> ctrl, std::size_t& at, F&& f) {
  while (at < ctrl.size() && ctrl.size() - at >= sizeof(::cmsghdr)) {
    const auto ch = load<::cmsghdr>(ctrl.data() + at);
    if (ch.cmsg_len < hdr_len || ch.cmsg_len > ctrl.size() - at) {
      break;
    }
    const std::byte* p = ctrl.data() + at + hdr_len;
    at += CMSG_ALIGN(ch.cmsg_len);
    f(ch.cmsg_level, ch.cmsg_type, p, ch.cmsg_len - hdr_len);
  }
}

/// Closes the SCM_RIGHTS descriptors of the messages from offset `at` on.
void close_rights(std::span<const std::byte> ctrl, std::size_t at) noexcept {
  for_each_cmsg(ctrl, at, [](int level, int type, const std::byte* p, std::size_t len) noexcept {
    if (level == SOL_SOCKET && type == SCM_RIGHTS) {
      for (std::size_t i = 0; i + sizeof(int) <= len; i += sizeof(int)) {
        (void)::close(load<int>(p + i));
      }
    }
  });
}

}  // namespace

bool decode_cmsgs_into(std::span<const std::byte> ctrl, std::vector<cmsg>& out) noexcept {
  std::size_t at = 0;
  // The descriptors of the messages from here on belong to nobody yet;
  // those before are in `out` (or in the socket_rights being added).
  std::size_t unowned = 0;
  try {
    for_each_cmsg(ctrl, at, [&](int level, int type, const std::byte* p, std::size_t len) {
      if (level == SOL_SOCKET && type == SCM_RIGHTS) {
        socket_rights r;
        r.fds.reserve(len / sizeof(int));
        for (std::size_t i = 0; i + sizeof(int) <= len; i += sizeof(int)) {
          r.fds.emplace_back(load<int>(p + i));
        }
        unowned = at;  // r owns them now, and closes them if out cannot take it
        out.emplace_back(std::move(r));
      } else {
        out.push_back(decode_one(level, type, p, len));
      }
    });
  } catch (...) {
    // (Only std::bad_alloc can come: decoding throws nothing else.) What
    // `out` holds stays; a growth that failed left it as it was.
    close_rights(ctrl, unowned);
    return false;
  }
  return true;
}

std::vector<cmsg> decode_cmsgs(std::span<const std::byte> ctrl) {
  std::vector<cmsg> out;
  if (!decode_cmsgs_into(ctrl, out)) {
    throw std::bad_alloc();
  }
  return out;
}

}  // namespace otpnet::socket
