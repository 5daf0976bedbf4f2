// File: otpnet/behaviours/gen_statem_state.hpp
//
// The states of a state-functions gen_statem: `state_fn<Fsm>` names one
// member function of Fsm. It points to a `state_def`, one constant per
// member function, holding a thunk that calls it and the function's name
// (taken from the compiler's signature text at compile time), so that a
// state is one pointer, comparing states is one compare, and process_info
// shows "wait_for_data" at no cost. A state function returns a transition
// (called inline), task<transition> (awaited by the loop), or
// maybe_task<transition> (either, chosen at each call).
#pragma once

#include <otpnet/behaviours/gen_server_return.hpp>
#include <otpnet/behaviours/gen_statem_event.hpp>
#include <otpnet/runtime/proc.hpp>

#include <array>
#include <cstddef>
#include <memory>
#include <new>
#include <string_view>
#include <type_traits>

namespace otpnet {

namespace detail {

/// A callback's answer: ready (a plain function's transition) or pending
/// (a coroutine's task, which the loop must await). Made for every event,
/// so it leaves its storage uninitialised until one is emplaced: two
/// std::optional members were zero-filled by GCC (a `rep stos` of about
/// 200 bytes per event, 2 % of otpnet-echo's CPU in the pipeline benchmark).
template <class T>
class statem_outcome {
 public:
  statem_outcome() noexcept = default;
  statem_outcome(const statem_outcome&) = delete;
  statem_outcome& operator=(const statem_outcome&) = delete;
  ~statem_outcome() {
    if (has_ == held::ready) {
      s_.first.~T();
    } else if (has_ == held::pending) {
      s_.second.~task<T>();
    }
  }

  /// Builds the transition from `f()` in place (no move of the callback's
  /// return value).
  template <class F>
  void emplace_ready(F&& f) {
    ::new (static_cast<void*>(std::addressof(s_.first))) T(std::forward<F>(f)());
    has_ = held::ready;
  }
  template <class F>
  void emplace_pending(F&& f) {
    ::new (static_cast<void*>(std::addressof(s_.second))) task<T>(std::forward<F>(f)());
    has_ = held::pending;
  }
  /// From a callback that returns maybe_task<T>: ready or pending, as it says.
  template <class F>
  void emplace_either(F&& f) {
    gen_server::maybe_task<T> r = std::forward<F>(f)();
    if (r.ready()) {
      emplace_ready([&] { return r.take_value(); });
    } else {
      emplace_pending([&] { return r.take_task(); });
    }
  }

  /// Fills `out` from `f()`, whichever of the three a callback returns.
  template <class F>
  void emplace_from(F&& f) {
    using returned = decltype(std::forward<F>(f)());
    if constexpr (std::is_same_v<returned, T>) {
      emplace_ready(std::forward<F>(f));
    } else if constexpr (std::is_same_v<returned, gen_server::maybe_task<T>>) {
      emplace_either(std::forward<F>(f));
    } else {
      emplace_pending(std::forward<F>(f));
    }
  }

  bool is_pending() const noexcept { return has_ == held::pending; }
  /// The transition; only after emplace_ready.
  T& ready() noexcept { return s_.first; }
  /// The task; only after emplace_pending.
  task<T>& pending() noexcept { return s_.second; }

 private:
  enum class held : unsigned char { none, ready, pending };
  either_storage<T, task<T>> s_;  // s_.first when ready, s_.second when pending
  held has_ = held::none;
};

template <class Fsm>
struct state_def {
  void (*run)(Fsm&, event&, void* outcome);
  const char* name;
};

/// The unqualified name of the member function F ("wait_for_data").
template <auto F>
constexpr auto member_name() {
  std::string_view p = __PRETTY_FUNCTION__;  // GCC "[with auto F = &x::f; ...]", Clang "[F = &x::f]"
  std::string_view key = "F = ";
  auto start = p.find(key);
  std::array<char, 64> out{};
  if (start == std::string_view::npos) {
    return out;
  }
  start += key.size();
  std::string_view full = p.substr(start, p.find_first_of(";]", start) - start);
  if (auto colon = full.rfind("::"); colon != std::string_view::npos) {
    full = full.substr(colon + 2);
  }
  for (std::size_t i = 0; i < full.size() && i + 1 < out.size(); ++i) {
    out[i] = full[i];
  }
  return out;
}
template <auto F>
inline constexpr auto member_name_v = member_name<F>();

/// Calls (f.*F)(e) into the statem_outcome at `out`.
template <class Fsm, auto F>
void run_state(Fsm& f, event& e, void* out) {
  using transition = typename Fsm::transition;
  auto& o = *static_cast<statem_outcome<transition>*>(out);
  o.emplace_from([&] { return (f.*F)(e); });
}

template <class Fsm, auto F>
inline constexpr state_def<Fsm> state_def_v{&run_state<Fsm, F>, member_name_v<F>.data()};

}  // namespace detail

/// A state of a state-functions machine: names one member function.
/// Obtained with gen_statem<Fsm>::state_of<&Fsm::f>().
template <class Fsm>
class state_fn {
 public:
  constexpr state_fn() noexcept = default;
  constexpr explicit state_fn(const detail::state_def<Fsm>* d) noexcept : d_(d) {}
  /// The member function's name, e.g. "wait_for_data".
  std::string_view name() const noexcept { return c_name(); }
  /// The same, as a string with static storage.
  const char* c_name() const noexcept { return d_ != nullptr ? d_->name : ""; }
  const detail::state_def<Fsm>* def() const noexcept { return d_; }
  friend constexpr bool operator==(state_fn, state_fn) noexcept = default;

 private:
  const detail::state_def<Fsm>* d_ = nullptr;
};

}  // namespace otpnet
