// File: otpnet/behaviours/gen_server_return.hpp
//
// The "what next" values gen_server callbacks return (OTP's
// `{reply, Reply, State, Timeout}` and friends), built with the helpers of
// gen_server::behaviour (`ok()`, `reply(v)`, `noreply(500ms)`, `stop(r)`,
// `ignore()`, `continue_with(x)`):
//
//   init            -> init_return      ok | stop | ignore
//   handle_call     -> call_return<R>   reply(R) | noreply | stop | stop with a reply
//   handle_cast     -> cast_return      noreply | stop
//   handle_info     -> cast_return
//   handle_continue -> cast_return
//
// ok, reply and noreply may carry a step: an idle timeout (a
// gen_server::timeout message comes to handle_info if nothing else does in
// that time) or a continuation (handle_continue runs before any message).
#pragma once

#include <otpnet/behaviours/from.hpp>
#include <otpnet/runtime/exit_reason.hpp>
#include <otpnet/runtime/message.hpp>
#include <otpnet/runtime/proc.hpp>

#include <chrono>
#include <memory>
#include <new>
#include <optional>
#include <type_traits>
#include <utility>

namespace otpnet::gen_server {

/// The message handle_info gets when a callback's timeout passes with no
/// message (OTP's `timeout`).
struct timeout {};

namespace detail {

struct next;

/// An optional value whose storage stays uninitialised while empty. The
/// loop makes several per message; GCC 12 zero-fills the whole storage of
/// a default-constructed std::optional (a `rep stos` of about 100 bytes
/// for a `next`), which this does not.
template <class T>
class lazy_slot {
 public:
  lazy_slot() noexcept = default;
  lazy_slot(lazy_slot&& o) noexcept(std::is_nothrow_move_constructible_v<T>) {
    if (o.has_) {
      emplace(std::move(o.s_.first));
    }
  }
  lazy_slot(const lazy_slot&) = delete;
  lazy_slot& operator=(const lazy_slot&) = delete;
  lazy_slot& operator=(lazy_slot&&) = delete;
  ~lazy_slot() { reset(); }

  template <class... A>
  T& emplace(A&&... a) {
    reset();
    ::new (static_cast<void*>(std::addressof(s_.first))) T(std::forward<A>(a)...);
    has_ = true;
    return s_.first;
  }
  void reset() noexcept {
    if (has_) {
      s_.first.~T();
      has_ = false;
    }
  }
  explicit operator bool() const noexcept { return has_; }
  T& operator*() noexcept { return s_.first; }
  T* operator->() noexcept { return std::addressof(s_.first); }

 private:
  ::otpnet::detail::either_storage<T> s_;  // s_.first while has_
  bool has_ = false;
};

/// A value that is either ready or still to be awaited: a callback that is
/// a plain function gives it ready, a coroutine callback gives a task.
template <class T>
class maybe_task {
 public:
  maybe_task(T v) : ready_(true) {  // NOLINT(google-explicit-constructor)
    ::new (static_cast<void*>(std::addressof(s_.first))) T(std::move(v));
  }
  maybe_task(task<T> t) : ready_(false) {  // NOLINT(google-explicit-constructor)
    ::new (static_cast<void*>(std::addressof(s_.second))) task<T>(std::move(t));
  }
  /// Ready, from what converts to T (`return noreply();`).
  template <class U>
  requires(!std::is_same_v<std::remove_cvref_t<U>, T> && !std::is_same_v<std::remove_cvref_t<U>, maybe_task> &&
           std::is_convertible_v<U&&, T>) maybe_task(U&& v)
      : maybe_task(T(std::forward<U>(v))) {}  // NOLINT(google-explicit-constructor)
  maybe_task(maybe_task&& o) noexcept(std::is_nothrow_move_constructible_v<T>) : ready_(o.ready_) {
    if (ready_) {
      ::new (static_cast<void*>(std::addressof(s_.first))) T(std::move(o.s_.first));
    } else {
      ::new (static_cast<void*>(std::addressof(s_.second))) task<T>(std::move(o.s_.second));
    }
  }
  maybe_task(const maybe_task&) = delete;
  maybe_task& operator=(const maybe_task&) = delete;
  maybe_task& operator=(maybe_task&&) = delete;
  ~maybe_task() {
    if (ready_) {
      s_.first.~T();
    } else {
      s_.second.~task<T>();
    }
  }
  bool ready() const noexcept { return ready_; }
  T take_value() { return std::move(s_.first); }
  task<T> take_task() { return std::move(s_.second); }

 private:
  ::otpnet::detail::either_storage<T, task<T>> s_;  // s_.first while ready_, else s_.second
  bool ready_;
};

/// handle_continue to run before the next message: its argument, in an
/// envelope, and the function that passes it to the server's callback.
class continuation {
 public:
  using run_fn = maybe_task<next> (*)(void* server, ::otpnet::detail::envelope* arg);
  continuation() noexcept = default;
  continuation(::otpnet::detail::envelope* arg, run_fn run) noexcept : arg_(arg), run_(run) {}
  continuation(continuation&& o) noexcept : arg_(std::exchange(o.arg_, nullptr)), run_(o.run_) {}
  continuation& operator=(continuation&& o) noexcept {
    if (this != &o) {
      ::otpnet::detail::destroy_envelope(std::exchange(arg_, std::exchange(o.arg_, nullptr)));
      run_ = o.run_;
    }
    return *this;
  }
  ~continuation() { ::otpnet::detail::destroy_envelope(arg_); }
  explicit operator bool() const noexcept { return arg_ != nullptr; }
  /// Runs it (once): the argument moves into the callback.
  maybe_task<next> run(void* server);

 private:
  ::otpnet::detail::envelope* arg_ = nullptr;
  run_fn run_ = nullptr;
};

/// What the loop does while it waits for the next message.
struct step {
  std::optional<std::chrono::milliseconds> timeout;
  continuation cont;
  /// Hibernate first (see hibernate_t).
  bool hibernate = false;
};

}  // namespace detail

/// The `hibernate` of ok, reply and noreply (OTP's `hibernate` in place
/// of a timeout): before it waits for the next message, the server calls
/// its `handle_hibernate()`, if it has one, to give back what it holds for
/// speed only (caches, buffers grown by a burst), and the runtime gives
/// back the spare capacity of the process's own tables. A C++ process has
/// no heap to collect and its frame stays, so this is what hibernation
/// can do here; a server that waits long between bursts returns it.
struct hibernate_t {
  explicit constexpr hibernate_t() = default;
};
inline constexpr hibernate_t hibernate{};

/// `ok(...)` of init.
struct ok_t {
  detail::step then;
};
/// `noreply(...)` of any handler.
struct noreply_t {
  detail::step then;
};
/// `stop(reason)` of any callback.
struct stop_t {
  exit_reason reason;
};
/// `ignore()` of init.
struct ignore_t {};

/// What init returns.
class init_return {
 public:
  enum class kind : unsigned char { ok, stop, ignore };
  init_return(ok_t o) : kind_(kind::ok), then_(std::move(o.then)) {}          // NOLINT(google-explicit-constructor)
  init_return(stop_t s) : kind_(kind::stop), reason_(std::move(s.reason)) {}  // NOLINT(google-explicit-constructor)
  init_return(ignore_t) : kind_(kind::ignore) {}                              // NOLINT(google-explicit-constructor)
  kind what() const noexcept { return kind_; }
  const exit_reason& reason() const noexcept { return reason_; }
  detail::step& then() noexcept { return then_; }

 private:
  kind kind_;
  detail::step then_;
  exit_reason reason_;
};

/// What handle_cast, handle_info and handle_continue return.
class cast_return {
 public:
  enum class kind : unsigned char { noreply, stop };
  cast_return(noreply_t n) : kind_(kind::noreply), then_(std::move(n.then)) {}  // NOLINT(google-explicit-constructor)
  cast_return(stop_t s) : kind_(kind::stop), reason_(std::move(s.reason)) {}    // NOLINT(google-explicit-constructor)
  kind what() const noexcept { return kind_; }
  const exit_reason& reason() const noexcept { return reason_; }
  detail::step& then() noexcept { return then_; }

 private:
  kind kind_;
  detail::step then_;
  exit_reason reason_;
};

/// What handle_call returns when its reply is an R.
template <class R>
class call_return {
 public:
  enum class kind : unsigned char { reply, noreply, stop };
  call_return(noreply_t n) : kind_(kind::noreply), then_(std::move(n.then)) {}  // NOLINT(google-explicit-constructor)
  call_return(stop_t s) : kind_(kind::stop), reason_(std::move(s.reason)) {}    // NOLINT(google-explicit-constructor)
  /// reply(v): what behaviour::reply builds.
  call_return(R v, detail::step then) : kind_(kind::reply), value_(std::move(v)), then_(std::move(then)) {}
  /// stop(reason, v): reply v after terminate.
  call_return(exit_reason why, R v) : kind_(kind::stop), value_(std::move(v)), reason_(std::move(why)) {}

  kind what() const noexcept { return kind_; }
  const exit_reason& reason() const noexcept { return reason_; }
  detail::step& then() noexcept { return then_; }
  /// The reply (reply, or stop with a reply).
  std::optional<R>& value() noexcept { return value_; }

 private:
  kind kind_;
  std::optional<R> value_;
  detail::step then_;
  exit_reason reason_;
};

namespace detail {

/// The loop's view of any callback's return.
struct next {
  enum class kind : unsigned char { go_on, stop };
  kind what = kind::go_on;
  step then;
  exit_reason reason;
  /// stop with a reply: the caller, its reply staged, answered after
  /// terminate.
  gen::from pending_reply;
};

inline maybe_task<next> continuation::run(void* server) {
  ::otpnet::detail::envelope* a = std::exchange(arg_, nullptr);
  return run_(server, a);
}

}  // namespace detail

/// A callback's return, ready now or a task to await (see gen_server.hpp).
using detail::maybe_task;

}  // namespace otpnet::gen_server
