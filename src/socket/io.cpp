#include <otpnet/socket/io.hpp>

#include "internal/syscall.hpp"
#include "socket/io_common.hpp"
#include "socket/socket_state.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <new>

namespace otpnet::socket {

namespace {

using ::otpnet::internal::deadline;
using ::otpnet::internal::eof_means_closed;
using ::otpnet::internal::no_wait;
using ::otpnet::internal::wait_for;

// -- attempts ----------------------------------------------------------------

// The socket of a connection accepted from `st`, however it was accepted.
socket accepted_from(detail::socket_state& st, int fd) {
  st.counters().acc_success.add(1);
  auto mode = st.registered.load(std::memory_order_relaxed) ? open_options::registry_mode::on
                                                            : open_options::registry_mode::off;
  auto ns = detail::make_state(fd, st.dom(), st.typ(), st.proto(), mode, st.owner.load(std::memory_order_relaxed));
  ns->connected.store(true, std::memory_order_relaxed);
  ns->bound.store(true, std::memory_order_relaxed);
  return socket(std::move(ns));
}

// With `peer`, the kernel writes the other end's address into it.
auto accept_attempt(const socket& ls, address* peer = nullptr) {
  return [&ls, peer]() -> result<socket> {
    detail::socket_state& st = *ls.state();
    st.counters().acc_tries.add(1);
    int lfd = st.fd();
    ::socklen_t len = address::capacity();
    auto fd = ::otpnet::internal::sys([&] {
      return ::accept4(lfd, peer != nullptr ? peer->native() : nullptr, peer != nullptr ? &len : nullptr,
                       SOCK_NONBLOCK | SOCK_CLOEXEC);
    });
    if (!fd) {
      if (fd.error() != errc::eagain) {
        st.counters().acc_fails.add(1);
      }
      return fail(fd.error());
    }
    if (peer != nullptr) {
      peer->resize(len);
    }
    try {
      return accepted_from(st, *fd);
    } catch (const std::bad_alloc&) {
      // No memory for the new socket's state: its descriptor goes back
      // (nobody else knows it), and the accept answers enomem.
      int lost = *fd;
      (void)::otpnet::internal::sys_once([lost] { return ::close(lost); });
      st.counters().acc_fails.add(1);
      return fail(errc::enomem);
    }
  };
}

auto connect_attempt(const socket& s, const address& dest) {
  return [&s, &dest]() -> result<void> {
    detail::socket_state& st = *s.state();
    int fd = st.fd();
    // Not retried on EINTR: the attempt then goes on in the background.
    auto r = ::otpnet::internal::sys_once([&] { return ::connect(fd, dest.native(), dest.size()); });
    if (r || r.error() == errc::eisconn) {
      if (r || st.connecting.load(std::memory_order_relaxed)) {
        st.connecting.store(false, std::memory_order_relaxed);
        st.connected.store(true, std::memory_order_relaxed);
        return ok();
      }
      return fail(errc::eisconn);
    }
    switch (r.error()) {
      case errc::einprogress:
      case errc::ealready:
      case errc::eintr:
        st.connecting.store(true, std::memory_order_relaxed);
        return fail(errc::eagain);
      default:
        st.connecting.store(false, std::memory_order_relaxed);
        return fail(r.error());
    }
  };
}

auto recv_attempt(const socket& s, std::span<std::byte> buf, int flags, address* from) {
  return [&s, buf, flags, from]() -> result<std::size_t> {
    detail::socket_state& st = *s.state();
    st.counters().read_tries.add(1);
    int fd = st.fd();
    ::socklen_t len = from != nullptr ? address::capacity() : 0;
    auto n = ::otpnet::internal::sys([&] {
      return ::recvfrom(fd, buf.data(), buf.size(), flags, from != nullptr ? from->native() : nullptr,
                        from != nullptr ? &len : nullptr);
    });
    if (!n) {
      if (n.error() != errc::eagain) {
        st.counters().read_fails.add(1);
      }
      return fail(n.error());
    }
    if (*n == 0 && !buf.empty() && eof_means_closed(st)) {
      return fail(errc::closed);
    }
    if (from != nullptr) {
      from->resize(len);
    }
    if ((flags & MSG_PEEK) == 0) {  // (peeked bytes are counted when they are read)
      st.counters().read_byte.add(static_cast<std::uint64_t>(*n));
      st.counters().read_pkg.add(1);
    }
    return static_cast<std::size_t>(*n);
  };
}

/// Sends until all of `data` is written; `done` keeps the progress across
/// attempts.
auto send_attempt(const socket& s, std::span<const std::byte> data, int flags, const address* dest, std::size_t& done) {
  return [&s, data, flags, dest, &done]() -> result<std::size_t> {
    detail::socket_state& st = *s.state();
    int fd = st.fd();
    do {
      st.counters().write_tries.add(1);
      auto n = ::otpnet::internal::sys([&] {
        return ::sendto(fd, data.data() + done, data.size() - done, flags | MSG_NOSIGNAL,
                        dest != nullptr ? dest->native() : nullptr, dest != nullptr ? dest->size() : 0);
      });
      if (!n) {
        if (n.error() != errc::eagain) {
          st.counters().write_fails.add(1);
        }
        return fail(n.error());
      }
      done += static_cast<std::size_t>(*n);
      st.counters().write_byte.add(static_cast<std::uint64_t>(*n));
    } while (done < data.size());
    st.counters().write_pkg.add(1);
    return done;
  };
}

result<socket> accept_until(const socket& ls, const deadline& dl) {
  return wait_for<socket>(ls, select_tag::accept, dl, accept_attempt(ls));
}
result<void> connect_until(const socket& s, const address& dest, const deadline& dl) {
  return wait_for<void>(s, select_tag::connect, dl, connect_attempt(s, dest));
}
result<std::size_t> recv_until(const socket& s, std::span<std::byte> buf, int flags, const deadline& dl) {
  if (buf.empty()) {
    return std::size_t{0};
  }
  return wait_for<std::size_t>(s, select_tag::recv, dl, recv_attempt(s, buf, flags, nullptr));
}
result<recvfrom_result> recvfrom_until(const socket& s, std::span<std::byte> buf, int flags, const deadline& dl) {
  recvfrom_result out{0, {}};
  auto n = wait_for<std::size_t>(s, select_tag::recvfrom, dl, recv_attempt(s, buf, flags, &out.from));
  if (!n) {
    return fail(n.error());
  }
  out.size = *n;
  return out;
}
result<std::size_t> send_until(const socket& s, std::span<const std::byte> data, int flags, const address* dest,
                               const deadline& dl) {
  std::size_t done = 0;
  auto tag = dest != nullptr ? select_tag::sendto : select_tag::send;
  return wait_for<std::size_t>(s, tag, dl, send_attempt(s, data, flags, dest, done));
}
async_result<std::size_t> send_nowait(const socket& s, std::span<const std::byte> data, int flags, const address* dest,
                                      select_handle h) {
  std::size_t done = 0;
  auto tag = dest != nullptr ? select_tag::sendto : select_tag::send;
  return no_wait<std::size_t>(s, tag, h, send_attempt(s, data, flags, dest, done), &done);
}

}  // namespace

// -- accept ------------------------------------------------------------------

result<socket> accept(const socket& ls) { return accept_until(ls, std::nullopt); }
result<socket> accept(const socket& ls, milliseconds t) {
  return accept_until(ls, ::otpnet::internal::deadline_after(t));
}
async_result<socket> accept(const socket& ls, nowait_t) { return accept(ls, make_select_handle()); }
async_result<socket> accept(const socket& ls, select_handle h) {
  return no_wait<socket>(ls, select_tag::accept, h, accept_attempt(ls));
}
async_result<socket> accept(const socket& ls, select_handle h, address& peer) {
  return no_wait<socket>(ls, select_tag::accept, h, accept_attempt(ls, &peer));
}

result<socket> adopt_accepted(const socket& ls, int fd) {
  detail::use_guard g(ls.state());
  if (!g) {
    (void)::otpnet::internal::sys_once([fd] { return ::close(fd); });
    return fail(errc::closed);
  }
  try {
    ls.state()->counters().acc_tries.add(1);  // the counters' first use allocates them
    return accepted_from(*ls.state(), fd);
  } catch (const std::bad_alloc&) {
    (void)::otpnet::internal::sys_once([fd] { return ::close(fd); });
    return fail(errc::enomem);
  }
}

void count_failed_accept(const socket& ls) noexcept {
  if (ls.state() != nullptr) {
    try {
      ls.state()->counters().acc_tries.add(1);  // the counters' first use allocates them
      ls.state()->counters().acc_fails.add(1);
    } catch (const std::bad_alloc&) {
      // Out of memory: the failure goes uncounted, the listener goes on.
    }
  }
}

// -- connect -----------------------------------------------------------------

result<void> connect(const socket& s, const address& dest) { return connect_until(s, dest, std::nullopt); }
result<void> connect(const socket& s, const address& dest, milliseconds t) {
  return connect_until(s, dest, ::otpnet::internal::deadline_after(t));
}
async_result<void> connect(const socket& s, const address& dest, nowait_t) {
  return connect(s, dest, make_select_handle());
}
async_result<void> connect(const socket& s, const address& dest, select_handle h) {
  return no_wait<void>(s, select_tag::connect, h, connect_attempt(s, dest));
}

result<void> connect(const socket& s) {
  detail::use_guard g(s.state());
  if (!g) {
    return fail(errc::closed);
  }
  detail::socket_state& st = *s.state();
  int fd = st.fd();
  int err = 0;
  ::socklen_t len = sizeof err;
  if (auto r = ::otpnet::internal::sys([&] { return ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len); }); !r) {
    return fail(r.error());
  }
  if (err != 0) {
    st.connecting.store(false, std::memory_order_relaxed);
    return fail(from_errno(err));
  }
  ::sockaddr_storage peer{};
  len = sizeof peer;
  if (auto r = ::otpnet::internal::sys([&] { return ::getpeername(fd, reinterpret_cast<::sockaddr*>(&peer), &len); });
      !r) {
    return fail(st.connecting.load(std::memory_order_relaxed) ? errc::ealready : r.error());
  }
  st.connecting.store(false, std::memory_order_relaxed);
  st.connected.store(true, std::memory_order_relaxed);
  return ok();
}

// -- recv --------------------------------------------------------------------

result<std::size_t> recv(const socket& s, std::span<std::byte> buf, int flags) {
  return recv_until(s, buf, flags, std::nullopt);
}
result<std::size_t> recv(const socket& s, std::span<std::byte> buf, int flags, milliseconds t) {
  return recv_until(s, buf, flags, ::otpnet::internal::deadline_after(t));
}
async_result<std::size_t> recv(const socket& s, std::span<std::byte> buf, int flags, nowait_t) {
  return recv(s, buf, flags, make_select_handle());
}
async_result<std::size_t> recv(const socket& s, std::span<std::byte> buf, int flags, select_handle h) {
  if (buf.empty()) {
    return std::size_t{0};
  }
  return no_wait<std::size_t>(s, select_tag::recv, h, recv_attempt(s, buf, flags, nullptr));
}

result<recvfrom_result> recvfrom(const socket& s, std::span<std::byte> buf, int flags) {
  return recvfrom_until(s, buf, flags, std::nullopt);
}
result<recvfrom_result> recvfrom(const socket& s, std::span<std::byte> buf, int flags, milliseconds t) {
  return recvfrom_until(s, buf, flags, ::otpnet::internal::deadline_after(t));
}
async_result<recvfrom_result> recvfrom(const socket& s, std::span<std::byte> buf, int flags, nowait_t) {
  return recvfrom(s, buf, flags, make_select_handle());
}
async_result<recvfrom_result> recvfrom(const socket& s, std::span<std::byte> buf, int flags, select_handle h) {
  recvfrom_result out{0, {}};
  auto n = no_wait<std::size_t>(s, select_tag::recvfrom, h, recv_attempt(s, buf, flags, &out.from));
  if (n.is_ok()) {
    out.size = n.value();
    return out;
  }
  if (const auto* sel = n.select_info()) {
    return *sel;
  }
  return fail(n.error());
}

// -- send --------------------------------------------------------------------

result<std::size_t> send(const socket& s, std::span<const std::byte> data, int flags) {
  return send_until(s, data, flags, nullptr, std::nullopt);
}
result<std::size_t> send(const socket& s, std::span<const std::byte> data, int flags, milliseconds t) {
  return send_until(s, data, flags, nullptr, ::otpnet::internal::deadline_after(t));
}
async_result<std::size_t> send(const socket& s, std::span<const std::byte> data, int flags, nowait_t) {
  return send_nowait(s, data, flags, nullptr, make_select_handle());
}
async_result<std::size_t> send(const socket& s, std::span<const std::byte> data, int flags, select_handle h) {
  return send_nowait(s, data, flags, nullptr, h);
}

result<std::size_t> sendto(const socket& s, std::span<const std::byte> data, const address& dest, int flags) {
  return send_until(s, data, flags, &dest, std::nullopt);
}
result<std::size_t> sendto(const socket& s, std::span<const std::byte> data, const address& dest, int flags,
                           milliseconds t) {
  return send_until(s, data, flags, &dest, ::otpnet::internal::deadline_after(t));
}
async_result<std::size_t> sendto(const socket& s, std::span<const std::byte> data, const address& dest, int flags,
                                 nowait_t) {
  return send_nowait(s, data, flags, &dest, make_select_handle());
}
async_result<std::size_t> sendto(const socket& s, std::span<const std::byte> data, const address& dest, int flags,
                                 select_handle h) {
  return send_nowait(s, data, flags, &dest, h);
}

// -- cancel ------------------------------------------------------------------

result<void> cancel(const socket& s, const select_info& info) {
  detail::socket_state* st = s.state();
  if (st == nullptr) {
    return fail(errc::closed);
  }
  switch (st->withdraw(st->queue(::otpnet::internal::direction_of(info.tag)), current_sink(), info.handle)) {
    case detail::socket_state::withdrawn::yes:
      return ok();
    case detail::socket_state::withdrawn::closed:
      return fail(errc::closed);  // (its abort was delivered before this answer)
    case detail::socket_state::withdrawn::not_queued:
      break;
  }
  return fail(errc::invalid);
}

}  // namespace otpnet::socket
