// File: socket/wait.hpp (private to the socket layer)
//
// The two drivers every waitable call is written with. An attempt is a
// callable returning result<T> whose `eagain` means "would block".
//   run_nowait   tries (unless others wait first), and on would-block
//                queues the caller and returns select: OTP's nowait.
//   run_blocking run_nowait on a private sink, waiting on it between tries,
//                until done, failed, or past the deadline (then `timeout`,
//                with the wait withdrawn so that no event is left behind).
#pragma once

#include <otpnet/socket/select.hpp>

#include "socket/socket_state.hpp"

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <type_traits>

namespace otpnet::internal {

namespace detail = socket::detail;
using socket::async_result;
using socket::select_event;
using socket::select_handle;
using socket::select_info;
using socket::select_sink;
using socket::select_tag;

using clock = std::chrono::steady_clock;

/// The sink of one waiting call on a plain thread.
class blocking_sink final : public select_sink {
 public:
  void notify(select_event ev) noexcept override;
  /// Waits for an event; false at the deadline.
  bool wait_until(const std::optional<clock::time_point>& deadline);

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool notified_ = false;
  errc reason_ = errc::ok;
};

inline std::optional<clock::time_point> deadline_after(std::chrono::milliseconds t) {
  return clock::now() + (t.count() < 0 ? std::chrono::milliseconds(0) : t);
}

template <class T, class Attempt>
async_result<T> run_nowait(const socket::socket& s, detail::direction d, select_tag tag, select_handle h,
                           select_sink& sink, detail::socket_counters::counter& waits, Attempt&& attempt,
                           const std::size_t* progress = nullptr) {
  detail::socket_state* st = s.state();
  detail::use_guard guard(st);
  if (!guard) {
    return fail(errc::closed);
  }
  detail::waiter_queue& q = st->queue(d);
  const detail::waiter w{&sink, tag, h};
  auto selected = [&] {
    waits.add(1);
    return select_info{tag, h, progress != nullptr ? *progress : 0};
  };
  if (st->must_queue(q, w)) {
    return selected();
  }
  for (;;) {
    const std::uint32_t seen = q.ready_seq.load(std::memory_order_acquire);
    result<T> r = attempt();
    if (r || r.error() != errc::eagain) {
      st->finished(q, sink);
      return r;
    }
    if (auto polled = st->ensure_polled(); !polled) {
      st->finished(q, sink);
      return fail(polled.error());
    }
    switch (st->park(q, w, seen)) {
      case detail::socket_state::wait_decision::parked:
        return selected();
      case detail::socket_state::wait_decision::closed:
        return fail(errc::closed);
      case detail::socket_state::wait_decision::no_memory:
        return fail(errc::enomem);  // (no place in the queue: nothing waits)
      case detail::socket_state::wait_decision::retry:
        break;
    }
  }
}

template <class T, class Attempt>
result<T> run_blocking(const socket::socket& s, detail::direction d, select_tag tag,
                       const std::optional<clock::time_point>& deadline, detail::socket_counters::counter& waits,
                       Attempt&& attempt) {
  blocking_sink bs;
  const select_handle h = socket::make_select_handle();
  // The caller's nowait calls and this call are one caller: a turn its
  // nowait call holds, or its place in the queue, is this call's now.
  // On every way out (done, failed, closed under it, timed out) nothing of
  // the taken-over wait may still name `bs`, which lives on this stack: a
  // close or a readiness report could notify it after it is gone.
  struct withdraw_on_exit {
    detail::socket_state* st = nullptr;
    blocking_sink* bs = nullptr;
    withdraw_on_exit() = default;
    withdraw_on_exit(const withdraw_on_exit&) = delete;
    withdraw_on_exit& operator=(const withdraw_on_exit&) = delete;
    ~withdraw_on_exit() {
      if (st != nullptr) {
        st->withdraw_sink(*bs);
      }
    }
  } guard;
  if (detail::socket_state* st = s.state()) {
    if (st->take_over(d, socket::current_sink(), detail::waiter{&bs, tag, h})) {
      guard.st = st;
      guard.bs = &bs;
    }
  }
  for (;;) {
    async_result<T> r = run_nowait<T>(s, d, tag, h, bs, waits, attempt);
    if (r.is_ok()) {
      if constexpr (std::is_void_v<T>) {
        return ok();
      } else {
        return std::move(r).value();
      }
    }
    if (r.is_error()) {
      return fail(r.error());
    }
    if (!bs.wait_until(deadline)) {
      s.state()->withdraw(s.state()->queue(d), bs, h);
      return fail(errc::timeout);
    }
  }
}

}  // namespace otpnet::internal
