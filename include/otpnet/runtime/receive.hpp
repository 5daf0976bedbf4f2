// File: otpnet/runtime/receive.hpp
//
// Selective receive for process bodies (C++20 coroutines):
//   T  m = co_await receive<T>();                  first T in the mailbox
//   T  m = co_await receive<T>(pred);              first T with pred(m)
//   std::optional<T> m = co_await receive<T>(after(500ms));
//   std::optional<T> m = co_await receive<T>(pred, after(500ms));
//   message m = co_await receive_any();            whatever comes first
//   co_await sleep(10ms);  co_await yield();
// Messages that do not match stay in the mailbox in their order. A receive
// with no match and no timeout waits; `after(0ms)` only looks. Each match
// costs a reduction: a process that used up its budget yields to the other
// processes of its scheduler before it gets the message.
#pragma once

#include <otpnet/runtime/message.hpp>

#include <chrono>
#include <coroutine>
#include <optional>
#include <type_traits>
#include <utility>

namespace otpnet {

/// A receive timeout.
struct after {
  std::chrono::milliseconds timeout;
  constexpr explicit after(std::chrono::milliseconds t) noexcept : timeout(t) {}
};

namespace detail {

struct receive_matcher {
  bool (*test)(void* ctx, envelope* e) noexcept = nullptr;
  void* ctx = nullptr;
};

/// Looks for a match now (await_ready): the envelope, or nullptr when the
/// caller must suspend (no match; or, if `may_yield`, budget used up or
/// signals to handle).
envelope* receive_now(const receive_matcher& m, bool may_yield) noexcept;
/// Suspends the calling process until a match or the timeout (< 0: none).
void receive_suspend(std::coroutine_handle<> h, const receive_matcher& m, long long timeout_ms) noexcept;
/// After resumption: the matched envelope, or nullptr on timeout.
envelope* receive_result() noexcept;
/// Suspends and puts the caller at the back of its run queue.
void yield_suspend(std::coroutine_handle<> h) noexcept;

template <class T, class Pred, bool Timed>
class receive_awaiter {
 public:
  receive_awaiter(Pred p, long long timeout_ms) : pred_(std::move(p)), timeout_ms_(timeout_ms) {}

  bool await_ready() noexcept {
    got_ = receive_now(matcher(), timeout_ms_ != 0);
    return got_ != nullptr || timeout_ms_ == 0;
  }
  void await_suspend(std::coroutine_handle<> h) noexcept { receive_suspend(h, matcher(), timeout_ms_); }
  auto await_resume() {
    if (got_ == nullptr && timeout_ms_ != 0) {
      got_ = receive_result();
    }
    message m(got_);
    if constexpr (std::is_same_v<T, message>) {
      if constexpr (Timed) {
        return m ? std::optional<message>(std::move(m)) : std::optional<message>();
      } else {
        return m;
      }
    } else if constexpr (Timed) {
      return m ? std::optional<T>(std::move(m.get<T>())) : std::optional<T>();
    } else {
      return T(std::move(m.get<T>()));
    }
  }

 private:
  static bool test(void* ctx, envelope* e) noexcept {
    auto* self = static_cast<receive_awaiter*>(ctx);
    if constexpr (std::is_same_v<T, message>) {
      return self->pred_(e);
    } else {
      T* v = payload_if<T>(e);
      return v != nullptr && self->pred_(*v);
    }
  }
  receive_matcher matcher() noexcept { return {&test, this}; }

  Pred pred_;
  long long timeout_ms_;
  envelope* got_ = nullptr;
};

struct always {
  template <class A>
  bool operator()(const A&) const noexcept {
    return true;
  }
};

}  // namespace detail

/// Waits for the first message of type T (that satisfies `pred`).
template <class T, class Pred = detail::always>
requires std::is_invocable_r_v<bool, Pred&, T&>
auto receive(Pred pred = {}) { return detail::receive_awaiter<T, Pred, false>(std::move(pred), -1); }

/// As receive<T>(pred), giving std::nullopt after the timeout.
template <class T, class Pred>
requires std::is_invocable_r_v<bool, Pred&, T&>
auto receive(Pred pred, after t) {
  return detail::receive_awaiter<T, Pred, true>(std::move(pred), t.timeout.count() < 0 ? 0 : t.timeout.count());
}
template <class T>
auto receive(after t) {
  return detail::receive_awaiter<T, detail::always, true>({}, t.timeout.count() < 0 ? 0 : t.timeout.count());
}

/// Waits for the first message of any type; with a timeout, optional.
inline auto receive_any() { return detail::receive_awaiter<message, detail::always, false>({}, -1); }
inline auto receive_any(after t) {
  return detail::receive_awaiter<message, detail::always, true>({}, t.timeout.count() < 0 ? 0 : t.timeout.count());
}

/// Suspends the caller for `t` (a receive that matches nothing).
inline auto sleep(std::chrono::milliseconds t) {
  struct never {
    bool operator()(const detail::envelope*) const noexcept { return false; }
  };
  return detail::receive_awaiter<message, never, true>({}, t.count() <= 0 ? 1 : t.count());
}

/// Lets the other runnable processes of the scheduler run first.
inline auto yield() {
  struct awaiter {
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h) noexcept { detail::yield_suspend(h); }
    void await_resume() const noexcept {}
  };
  return awaiter{};
}

}  // namespace otpnet
