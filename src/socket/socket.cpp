#include <otpnet/socket/socket.hpp>

#include "internal/syscall.hpp"
#include "socket/socket_state.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <new>

namespace otpnet::socket {

namespace {

result<int> int_opt(int fd, int level, int name) {
  int v = 0;
  ::socklen_t len = sizeof v;
  return ::otpnet::internal::sys([&] { return ::getsockopt(fd, level, name, &v, &len); }).map([&](int) { return v; });
}

/// Puts an adopted descriptor in the state every otpnet socket is in.
result<void> make_nonblocking_cloexec(int fd) {
  auto fl = ::otpnet::internal::sys([&] { return ::fcntl(fd, F_GETFL); });
  if (!fl) {
    return fail(fl.error());
  }
  if (auto r = ::otpnet::internal::sys([&] { return ::fcntl(fd, F_SETFL, *fl | O_NONBLOCK); }); !r) {
    return fail(r.error());
  }
  return ::otpnet::internal::sys([&] { return ::fcntl(fd, F_SETFD, FD_CLOEXEC); }).map([](int) {});
}

template <class F>
result<address> name_of(const socket& s, F&& call) {
  detail::use_guard g(s.state());
  if (!g) {
    return fail(errc::closed);
  }
  address a;
  ::socklen_t len = address::capacity();
  auto r = ::otpnet::internal::sys([&] { return call(s.state()->fd(), a.native(), &len); });
  if (!r) {
    return fail(r.error());
  }
  a.resize(len);
  return a;
}

}  // namespace

int socket::native_handle() const noexcept { return state_ ? state_->fd() : -1; }

bool socket::is_open() const noexcept { return state_ && !state_->closed(); }
bool socket::adopted() const noexcept { return state_ && state_->adopted; }

result<socket> open(domain d, type t, protocol p, const open_options& opts) {
  auto fd = ::otpnet::internal::sys([&] {
    return ::socket(static_cast<int>(d), static_cast<int>(t) | SOCK_NONBLOCK | SOCK_CLOEXEC, static_cast<int>(p));
  });
  if (!fd) {
    return fail(fd.error());
  }
  if (p == protocol::default_) {
    // Record what the kernel chose, as info() should tell.
    if (auto proto = int_opt(*fd, SOL_SOCKET, SO_PROTOCOL)) {
      p = static_cast<protocol>(*proto);
    }
  }
  return socket(detail::make_state(*fd, d, t, p, opts.registry, opts.owner));
}

result<socket> open(int fd, const open_options& opts) {
  auto dom = int_opt(fd, SOL_SOCKET, SO_DOMAIN);
  if (!dom) {
    return fail(dom.error());
  }
  auto typ = int_opt(fd, SOL_SOCKET, SO_TYPE);
  auto proto = int_opt(fd, SOL_SOCKET, SO_PROTOCOL);
  if (!typ || !proto) {
    return fail(!typ ? typ.error() : proto.error());
  }
  int own = fd;
  if (opts.dup) {
    auto d = ::otpnet::internal::sys([&] { return ::fcntl(fd, F_DUPFD_CLOEXEC, 0); });
    if (!d) {
      return fail(d.error());
    }
    own = *d;
  }
  if (auto r = make_nonblocking_cloexec(own); !r) {
    if (opts.dup) {
      (void)::otpnet::internal::sys_once([own] { return ::close(own); });
    }
    return fail(r.error());
  }
  auto st = detail::make_state(own, static_cast<domain>(*dom), static_cast<type>(*typ), static_cast<protocol>(*proto),
                               opts.registry, opts.owner);
  st->adopted = true;  // with a dup too: the caller's descriptor shares the open file
  int listening = int_opt(own, SOL_SOCKET, SO_ACCEPTCONN).value_or(0);
  st->listening.store(listening != 0, std::memory_order_relaxed);
  ::sockaddr_storage ss{};
  ::socklen_t len = sizeof ss;
  if (::otpnet::internal::sys([&] { return ::getpeername(own, reinterpret_cast<::sockaddr*>(&ss), &len); })) {
    st->connected.store(true, std::memory_order_relaxed);
  }
  return socket(std::move(st));
}

result<std::uint16_t> bind(const socket& s, const address& a) {
  detail::use_guard g(s.state());
  if (!g) {
    return fail(errc::closed);
  }
  int fd = s.state()->fd();
  if (auto r = ::otpnet::internal::sys([&] { return ::bind(fd, a.native(), a.size()); }); !r) {
    return fail(r.error());
  }
  s.state()->bound.store(true, std::memory_order_relaxed);
  if (a.family() != domain::inet && a.family() != domain::inet6) {
    return std::uint16_t{0};
  }
  if (a.port() != 0) {
    return a.port();
  }
  auto bound = sockname(s);
  if (!bound) {
    return fail(bound.error());
  }
  return bound->port();
}

result<void> listen(const socket& s, int backlog) {
  detail::use_guard g(s.state());
  if (!g) {
    return fail(errc::closed);
  }
  int fd = s.state()->fd();
  try {
    // A listen socket counts every accept: its counters now, so that no
    // accept, made when memory may be short, is the first to allocate them.
    (void)s.state()->counters();
  } catch (const std::bad_alloc&) {
    return fail(errc::enomem);
  }
  if (auto r = ::otpnet::internal::sys([&] { return ::listen(fd, backlog); }); !r) {
    return fail(r.error());
  }
  s.state()->listening.store(true, std::memory_order_relaxed);
  s.state()->bound.store(true, std::memory_order_relaxed);
  return ok();
}

result<void> shutdown(const socket& s, shutdown_how how) {
  detail::use_guard g(s.state());
  if (!g) {
    return fail(errc::closed);
  }
  int fd = s.state()->fd();
  return ::otpnet::internal::sys([&] { return ::shutdown(fd, static_cast<int>(how)); }).map([](int) {});
}

result<void> close(const socket& s) {
  if (s.state() == nullptr) {
    return fail(errc::closed);
  }
  return s.state()->close();
}

result<address> sockname(const socket& s) { return name_of(s, ::getsockname); }
result<address> peername(const socket& s) { return name_of(s, ::getpeername); }

}  // namespace otpnet::socket
