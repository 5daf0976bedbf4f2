#include <otpnet/runtime/process.hpp>
#include <otpnet/runtime/receive.hpp>
#include <otpnet/runtime/socket_io.hpp>
#include <otpnet/runtime/socket_select.hpp>
#include <otpnet/socket/registry.hpp>

#include "runtime/process_table.hpp"
#include "runtime/runtime_state.hpp"

namespace otpnet::socket::co {

namespace {

using clock = std::chrono::steady_clock;

/// Puts `s` on the calling process's scheduler (unless it is watched
/// already) and tracks it for the process's exit.
void prepare(const socket& s) noexcept {
  internal::process* p = internal::scheduler::running();
  if (p == nullptr || s.state() == nullptr) {
    return;
  }
  (void)detail::prefer_poller(*s.state(), internal::scheduler::current()->polls());
  p->track(*s.state());
}

/// The nowait loop every waiting call shares: `call(handle)` returns an
/// async_result<T>; on select, wait for its event (until the deadline),
/// then repeat.
template <class T, class Call>
task<result<T>> waiting(socket s, wait_time timeout, Call call) {
  prepare(s);
  std::optional<clock::time_point> deadline;
  if (timeout) {
    deadline = clock::now() + *timeout;
  }
  const select_handle h = make_select_handle();
  for (;;) {
    async_result<T> r = call(h);
    if (r.is_ok()) {
      if constexpr (std::is_void_v<T>) {
        co_return ok();
      } else {
        co_return std::move(r).value();
      }
    }
    if (r.is_error()) {
      co_return fail(r.error());
    }
    auto is_mine = [h](const socket_select& m) { return m.handle == h; };
    std::optional<socket_select> ev;
    if (deadline) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - clock::now());
      ev = co_await receive<socket_select>(is_mine, after(std::max(left, std::chrono::milliseconds(0))));
    } else {
      ev = co_await receive<socket_select>(is_mine);
    }
    if (!ev) {
      // Timed out: withdraw the wait; if its event was already delivered,
      // take it out of the mailbox, so nothing stale is left behind.
      if (!cancel(s, *r.select_info())) {
        (void)co_await receive<socket_select>(is_mine, after(std::chrono::milliseconds(0)));
      }
      co_return fail(errc::timeout);
    }
    if (ev->reason != errc::ok) {
      co_return fail(ev->reason);
    }
  }
}

}  // namespace

result<socket> open(domain d, type t, protocol p) {
  auto s = ::otpnet::socket::open(d, t, p, {.owner = self().value()});
  if (s) {
    prepare(*s);
  }
  return s;
}

result<void> adopt(const socket& s) {
  if (!s.is_open()) {
    return fail(errc::closed);
  }
  if (auto r = set_owner(s, self().value()); !r) {
    return r;
  }
  prepare(s);
  return ok();
}

result<void> controlling_process(const socket& s, pid new_owner) {
  if (s.state() == nullptr || !s.is_open()) {
    return fail(errc::closed);
  }
  if (detail::owner_of(*s.state()) != self().value()) {
    return fail(errc::invalid);
  }
  if (auto r = set_owner(s, new_owner.value()); !r) {
    return r;
  }
  if (!internal::send_to(new_owner, otpnet::detail::make_envelope<internal::sig_adopt_socket>(
                                        internal::sig_adopt_socket{s.shared_state()}))) {
    (void)set_owner(s, self().value());
    return fail(errc::noproc);
  }
  return ok();
}

task<result<socket>> accept(socket ls, wait_time timeout) {
  auto r = co_await waiting<socket>(ls, timeout, [&ls](select_handle h) { return ::otpnet::socket::accept(ls, h); });
  if (r) {
    (void)adopt(*r);
  }
  co_return r;
}

task<result<void>> connect(socket s, address dest, wait_time timeout) {
  co_return co_await waiting<void>(s, timeout,
                                   [&s, &dest](select_handle h) { return ::otpnet::socket::connect(s, dest, h); });
}

task<result<std::size_t>> recv(socket s, std::span<std::byte> buf, int flags, wait_time timeout) {
  if (buf.empty()) {
    co_return std::size_t{0};
  }
  co_return co_await waiting<std::size_t>(
      s, timeout, [&s, buf, flags](select_handle h) { return ::otpnet::socket::recv(s, buf, flags, h); });
}

task<result<recvfrom_result>> recvfrom(socket s, std::span<std::byte> buf, int flags, wait_time timeout) {
  co_return co_await waiting<recvfrom_result>(
      s, timeout, [&s, buf, flags](select_handle h) { return ::otpnet::socket::recvfrom(s, buf, flags, h); });
}

task<result<std::size_t>> send(socket s, std::span<const std::byte> data, int flags, wait_time timeout) {
  // A select carries the progress: repeat with the rest.
  std::size_t done = 0;
  auto r = co_await waiting<std::size_t>(s, timeout, [&](select_handle h) -> async_result<std::size_t> {
    auto a = ::otpnet::socket::send(s, data.subspan(done), flags, h);
    if (a.is_ok()) {
      return done + a.value();
    }
    if (const auto* sel = a.select_info()) {
      done += sel->progress;
    }
    return a;
  });
  co_return r;
}

task<result<std::size_t>> sendto(socket s, std::span<const std::byte> data, address dest, int flags,
                                 wait_time timeout) {
  co_return co_await waiting<std::size_t>(s, timeout, [&s, data, &dest, flags](select_handle h) {
    return ::otpnet::socket::sendto(s, data, dest, flags, h);
  });
}

}  // namespace otpnet::socket::co
