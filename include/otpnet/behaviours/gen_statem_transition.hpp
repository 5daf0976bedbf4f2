// File: otpnet/behaviours/gen_statem_transition.hpp
//
// What a gen_statem callback returns (OTP's state_callback_result()):
// next_state(S, actions...), keep_state(actions...), repeat_state(actions...)
// or stop(reason, replies...); init may also return ignore(). Built with the
// helpers of gen_statem<...>, which know the state type; this file holds
// the value they build.
#pragma once

#include <otpnet/behaviours/gen_statem_action.hpp>
#include <otpnet/runtime/exit_reason.hpp>

#include <cstdint>
#include <optional>
#include <utility>

namespace otpnet {

/// A callback's answer: what to do next, and the actions to carry out.
template <class State>
class basic_transition {
 public:
  enum class verb : std::uint8_t {
    next_state,    ///< go to `state()` (a state change if it differs)
    keep_state,    ///< stay; no state enter call
    repeat_state,  ///< stay, but make the state enter call again
    stop,          ///< call terminate, then end with `reason()`
    ignore,        ///< from init only: start returns ignore
  };

  explicit basic_transition(verb v) noexcept : verb_(v) {}
  basic_transition(verb v, State s) : verb_(v), state_(std::move(s)) {}
  basic_transition(verb v, exit_reason r) : verb_(v), reason_(std::move(r)) {}

  verb what() const noexcept { return verb_; }
  /// The next state (next_state only).
  const std::optional<State>& state() const noexcept { return state_; }
  std::optional<State>& state() noexcept { return state_; }
  /// The stop reason (stop only).
  const exit_reason& reason() const noexcept { return reason_; }
  action_list& actions() noexcept { return actions_; }

  /// Appends an action, e.g. one reply per waiting caller:
  ///   auto t = keep_state(); for (auto& f : waiting_) t.add(reply(f, v)); return t;
  basic_transition& add(action a) {
    actions_.push_back(std::move(a));
    return *this;
  }
  template <class... A>
  basic_transition& add_all(A&&... a) {
    (actions_.push_back(std::forward<A>(a)), ...);
    return *this;
  }

 private:
  verb verb_;
  std::optional<State> state_;
  exit_reason reason_;
  action_list actions_;
};

}  // namespace otpnet
