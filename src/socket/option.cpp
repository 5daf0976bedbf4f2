#include <otpnet/socket/option.hpp>

#include "internal/syscall.hpp"
#include "socket/socket_state.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>

namespace otpnet::socket {

namespace detail {
// Defined in registry.cpp.
void registry_add(socket_state& s) noexcept;
void registry_remove(socket_state& s) noexcept;
}  // namespace detail

namespace {

using ::otpnet::internal::sys;

// -- raw setsockopt/getsockopt ---------------------------------------------------

result<void> set_bytes(int fd, const option_desc& d, const void* p, ::socklen_t len) {
  return sys([&] { return ::setsockopt(fd, d.native_level, d.native_name, p, len); }).map([](int) {});
}

template <class V>
result<void> set_raw(int fd, const option_desc& d, const V& v) {
  return set_bytes(fd, d, &v, sizeof v);
}

template <class V>
result<V> get_raw(int fd, const option_desc& d) {
  V v{};
  ::socklen_t len = sizeof v;
  auto r = sys([&] { return ::getsockopt(fd, d.native_level, d.native_name, &v, &len); });
  if (!r) {
    return fail(r.error());
  }
  return v;
}

ipv4_address to_bytes(const ::in_addr& a) noexcept {
  ipv4_address out;
  std::memcpy(out.data(), &a, out.size());
  return out;
}

::in_addr to_native(const ipv4_address& a) noexcept {
  ::in_addr out;
  std::memcpy(&out, a.data(), a.size());
  return out;
}

// -- values ----------------------------------------------------------------------

/// Checks `v` against what `d` accepts, before any system call.
errc check_value(const option_desc& d, const option_value& v) noexcept {
  if (kind_of(v) != d.kind) {
    return errc::invalid;
  }
  if (const int* i = std::get_if<int>(&v)) {
    return *i < d.min || *i > d.max ? errc::invalid : errc::ok;
  }
  if (const std::string* str = std::get_if<std::string>(&v)) {
    bool too_long = str->size() > static_cast<std::size_t>(std::max(d.max, 0));
    return too_long || str->find('\0') != std::string::npos ? errc::invalid : errc::ok;
  }
  if (const linger* l = std::get_if<linger>(&v)) {
    return l->seconds < 0 ? errc::invalid : errc::ok;
  }
  if (const auto* ms = std::get_if<std::chrono::milliseconds>(&v)) {
    return ms->count() < 0 ? errc::invalid : errc::ok;
  }
  return errc::ok;
}

result<void> set_value(int fd, const option_desc& d, const option_value& v) {
  switch (kind_of(v)) {
    case value_kind::boolean:
      return set_raw(fd, d, *std::get_if<bool>(&v) ? 1 : 0);
    case value_kind::integer:
      return set_raw(fd, d, *std::get_if<int>(&v));
    case value_kind::string: {
      const std::string& str = *std::get_if<std::string>(&v);
      return set_bytes(fd, d, str.data(), static_cast<::socklen_t>(str.size()));
    }
    case value_kind::linger: {
      const linger& l = *std::get_if<linger>(&v);
      return set_raw(fd, d, ::linger{l.on ? 1 : 0, l.seconds});
    }
    case value_kind::milliseconds: {
      auto ms = std::get_if<std::chrono::milliseconds>(&v)->count();
      return set_raw(fd, d, ::timeval{static_cast<::time_t>(ms / 1000), static_cast<::suseconds_t>(ms % 1000 * 1000)});
    }
    case value_kind::ipv4_address:
      return set_raw(fd, d, to_native(*std::get_if<ipv4_address>(&v)));
    case value_kind::ip_mreq: {
      const ip_mreq& m = *std::get_if<ip_mreq>(&v);
      return set_raw(fd, d, ::ip_mreq{to_native(m.multiaddr), to_native(m.interface)});
    }
    case value_kind::ipv6_mreq: {
      const ipv6_mreq& m = *std::get_if<ipv6_mreq>(&v);
      ::ipv6_mreq n{};
      std::memcpy(&n.ipv6mr_multiaddr, m.multiaddr.data(), m.multiaddr.size());
      n.ipv6mr_interface = m.interface;
      return set_raw(fd, d, n);
    }
    default:
      // uint64 and the read-only kinds have no native form.
      return fail(errc::invalid);
  }
}

result<option_value> get_string(int fd, const option_desc& d) {
  char buf[64] = {};
  ::socklen_t len = sizeof buf;
  auto r = sys([&] { return ::getsockopt(fd, d.native_level, d.native_name, buf, &len); });
  if (!r) {
    return fail(r.error());
  }
  // The kernel returns the name with (bindtodevice) or padded by (congestion) NULs.
  return option_value(std::string(buf, ::strnlen(buf, std::min<std::size_t>(len, sizeof buf))));
}

result<option_value> get_tcp_info([[maybe_unused]] int fd, [[maybe_unused]] const option_desc& d) {
#ifdef TCP_INFO
  auto t = get_raw<::tcp_info>(fd, d);
  if (!t) {
    return fail(t.error());
  }
  return option_value(tcp_info{static_cast<tcp_state>(t->tcpi_state), t->tcpi_rtt, t->tcpi_rttvar, t->tcpi_snd_cwnd,
                               t->tcpi_total_retrans});
#else
  return fail(errc::unsupported);
#endif
}

/// getsockopt as `d.kind`, then `conv` of the raw value into an option_value.
template <class Raw, class Conv>
result<option_value> get_as(int fd, const option_desc& d, Conv&& conv) {
  return get_raw<Raw>(fd, d).map([&](const Raw& raw) { return option_value(conv(raw)); });
}

result<option_value> get_value(int fd, const option_desc& d) {
  switch (d.kind) {
    case value_kind::boolean:
      return get_as<int>(fd, d, [](int i) { return i != 0; });
    case value_kind::integer:
      return get_as<int>(fd, d, [](int i) { return i; });
    case value_kind::string:
      return get_string(fd, d);
    case value_kind::linger:
      return get_as<::linger>(fd, d, [](const ::linger& l) { return linger{l.l_onoff != 0, l.l_linger}; });
    case value_kind::milliseconds:
      return get_as<::timeval>(fd, d, [](const ::timeval& tv) {
        return std::chrono::milliseconds(static_cast<std::int64_t>(tv.tv_sec) * 1000 + tv.tv_usec / 1000);
      });
    case value_kind::ipv4_address:
      return get_as<::in_addr>(fd, d, [](const ::in_addr& a) { return to_bytes(a); });
    case value_kind::domain:
      return get_as<int>(fd, d, [](int i) { return static_cast<domain>(i); });
    case value_kind::type:
      return get_as<int>(fd, d, [](int i) { return static_cast<type>(i); });
    case value_kind::protocol:
      return get_as<int>(fd, d, [](int i) { return static_cast<protocol>(i); });
    case value_kind::error:
      return get_as<int>(fd, d, [](int i) { return from_errno(i); });
    case value_kind::tcp_info:
      return get_tcp_info(fd, d);
    default:
      // uint64 and the write-only kinds have no native form to read.
      return fail(errc::invalid);
  }
}

// -- the otp level ---------------------------------------------------------------

using detail::otp_id;

/// Sockets with debug on. Keyed by the state's control block (owner_less),
/// which lives as long as the weak_ptr, so a new socket at a reused
/// address is never mistaken for an old one; dead entries are pruned on
/// each change.
struct debug_table {
  std::mutex mu;
  std::map<std::weak_ptr<detail::socket_state>, bool, std::owner_less<>> on;
};

debug_table& debug_flags() {
  static debug_table t;
  return t;
}

void set_debug(const socket& s, bool on) {
  auto& t = debug_flags();
  std::lock_guard lk(t.mu);
  std::erase_if(t.on, [](const auto& e) { return e.first.expired(); });
  if (on) {
    t.on[s.shared_state()] = true;
  } else {
    t.on.erase(s.shared_state());
  }
}

bool get_debug(const socket& s) {
  auto& t = debug_flags();
  std::lock_guard lk(t.mu);
  return t.on.contains(s.shared_state());
}

/// Adds or removes the socket from the registry. Serialised here because
/// registry_add does not check whether the state is already listed.
void set_registered(detail::socket_state& st, bool on) {
  static std::mutex mu;
  std::lock_guard lk(mu);
  if (!on) {
    detail::registry_remove(st);
    return;
  }
  if (!st.registered.load(std::memory_order_acquire)) {
    detail::registry_add(st);
  }
  // A close that ran registry_remove before our add must not leave a closed
  // socket listed: check again now that it is.
  if (st.closed()) {
    detail::registry_remove(st);
  }
}

result<void> set_otp(const socket& s, const option_desc& d, const option_value& v) {
  detail::socket_state& st = *s.state();
  switch (static_cast<otp_id>(d.native_name)) {
    case otp_id::debug:
      set_debug(s, *std::get_if<bool>(&v));
      return ok();
    case otp_id::use_registry:
      set_registered(st, *std::get_if<bool>(&v));
      return ok();
    case otp_id::owner:
      st.owner.store(*std::get_if<std::uint64_t>(&v), std::memory_order_relaxed);
      return ok();
    default:
      return fail(errc::invalid);
  }
}

result<option_value> get_otp(const socket& s, const option_desc& d) {
  const detail::socket_state& st = *s.state();
  switch (static_cast<otp_id>(d.native_name)) {
    case otp_id::debug:
      return get_debug(s);
    case otp_id::use_registry:
      return st.registered.load(std::memory_order_acquire);
    case otp_id::owner:
      return st.owner.load(std::memory_order_relaxed);
    case otp_id::fd:
      return st.fd();
    case otp_id::domain:
      return st.dom();
    case otp_id::type:
      return st.typ();
    case otp_id::protocol:
      return st.proto();
  }
  return fail(errc::invalid);
}

// -- native values ---------------------------------------------------------------

result<void> set_native_bytes(int fd, int level, int name, const void* p, std::size_t len) {
  return sys([&] { return ::setsockopt(fd, level, name, p, static_cast<::socklen_t>(len)); }).map([](int) {});
}

}  // namespace

// -- dynamic access --------------------------------------------------------------

result<void> setopt(const socket& s, const option_desc& o, const option_value& v) {
  if (!o.writable()) {
    return fail(errc::invalid);
  }
  if (errc e = check_value(o, v); e != errc::ok) {
    return fail(e);
  }
  if (o.level != option_level::otp && !o.defined()) {
    return fail(errc::unsupported);
  }
  detail::use_guard g(s.state());
  if (!g) {
    return fail(errc::closed);
  }
  if (o.level == option_level::otp) {
    return set_otp(s, o, v);
  }
  return set_value(s.state()->fd(), o, v);
}

result<option_value> getopt(const socket& s, const option_desc& o) {
  if (!o.readable()) {
    return fail(errc::invalid);
  }
  if (o.level != option_level::otp && !o.defined()) {
    return fail(errc::unsupported);
  }
  detail::use_guard g(s.state());
  if (!g) {
    return fail(errc::closed);
  }
  if (o.level == option_level::otp) {
    return get_otp(s, o);
  }
  return get_value(s.state()->fd(), o);
}

result<void> setopt(const socket& s, option_name n, const option_value& v) {
  auto d = lookup_option(n);
  if (!d) {
    return fail(d.error());
  }
  return setopt(s, *d, v);
}

result<option_value> getopt(const socket& s, option_name n) {
  auto d = lookup_option(n);
  if (!d) {
    return fail(d.error());
  }
  return getopt(s, *d);
}

// -- native access ---------------------------------------------------------------

result<void> setopt_native(const socket& s, int level, int name, const native_value& v) {
  detail::use_guard g(s.state());
  if (!g) {
    return fail(errc::closed);
  }
  int fd = s.state()->fd();
  if (const auto* bytes = std::get_if<std::vector<std::byte>>(&v)) {
    return set_native_bytes(fd, level, name, bytes->data(), bytes->size());
  }
  const bool* b = std::get_if<bool>(&v);
  int i = b != nullptr ? (*b ? 1 : 0) : *std::get_if<int>(&v);
  return set_native_bytes(fd, level, name, &i, sizeof i);
}

result<native_value> getopt_native(const socket& s, int level, int name, native_type t) {
  if (t.kind == native_kind::binary && t.size > max_native_size) {
    return fail(errc::invalid);
  }
  detail::use_guard g(s.state());
  if (!g) {
    return fail(errc::closed);
  }
  int fd = s.state()->fd();
  if (t.kind == native_kind::binary) {
    std::vector<std::byte> buf(t.size);
    ::socklen_t len = static_cast<::socklen_t>(buf.size());
    auto r = sys([&] { return ::getsockopt(fd, level, name, buf.data(), &len); });
    if (!r) {
      return fail(r.error());
    }
    buf.resize(std::min<std::size_t>(len, buf.size()));
    return native_value(std::move(buf));
  }
  int i = 0;
  ::socklen_t len = sizeof i;
  auto r = sys([&] { return ::getsockopt(fd, level, name, &i, &len); });
  if (!r) {
    return fail(r.error());
  }
  if (t.kind == native_kind::boolean) {
    return native_value(i != 0);
  }
  return native_value(i);
}

}  // namespace otpnet::socket
