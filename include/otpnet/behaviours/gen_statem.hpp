// File: otpnet/behaviours/gen_statem.hpp
//
// gen_statem: a state machine process whose loop the library owns (OTP's
// gen_statem). The user's type derives from gen_statem<Fsm> (state
// functions: one member function per state) or gen_statem<Fsm, State>
// (handle_event: one function for all states, State any equality-comparable
// type), and is started with statem::start_link<Fsm>(args...), which
// constructs Fsm(args...) in the new process and calls init(). Clients use
// statem::call / cast / stop (the same protocol as gen_server's).
//
// Callbacks (members of Fsm):
//   transition init()                        required; first state and actions
//   transition <state>(event& e)             state functions, one per state
//   transition handle_event(event& e, const State& s)      handle_event mode
//   void terminate(const exit_reason& why)   optional; on every stop but a kill
//   static constexpr bool state_enter = true;              optional flag
//   std::string_view state_name(const State&) const        optional label
// Any of init, the state functions, handle_event and terminate may be
// coroutines (task<transition>, task<void>) and co_await (calls, sockets).
// A state function or handle_event that waits only sometimes may return
// maybe_task<transition>: a transition when done at once (no coroutine is
// made), or the task of a coroutine it calls when it must wait (it may
// hold the event and members; the event lives until it ends).
//
// Returns (built by the base's static helpers):
//   next_state<&Fsm::f>(actions...)   go to state f (state functions mode)
//   next_state(s, actions...)         go to state s (a change if s != state())
//   keep_state(actions...)            stay; the state timeout keeps running
//   repeat_state(actions...)          stay, and repeat the state enter call
//   stop(reason, replies...)          send replies, terminate, end with reason
//   ignore()                          init only: start returns ignore
// Actions (gen_statem_action.hpp): reply(e.caller(), v) (a member, like the
// helpers above); event_timeout(t[, v]), cancelled by any event;
// state_timeout(t[, v]), cancelled by a state change; generic_timeout(name,
// t[, v]), cancelled only by cancel_timeout(name) or re-armed by the same
// name; cancel_state_timeout(); postpone(), retried after the next state
// change; next_event(v), handled before any other event, several in order.
//
// Events (gen_statem_event.hpp): e.type() is call (e.call<T>(), e.caller()),
// cast, info, event_timeout, state_timeout, generic_timeout, internal or
// enter. A state enter call (flag on) follows every state change and every
// repeat_state, and the first state after init; it may keep the state and
// set timeouts or reply, but not change state, postpone or insert events
// (the machine stops with bad_state_enter_return / bad_state_enter_action).
//
// An exception escaping a callback stops the machine with it as reason
// (after terminate). If the machine traps exits, its parent's exit stops it
// with the parent's reason. process_info shows behaviour "gen_statem" and
// the current state's name. Threading: every callback runs in the
// machine's own process, one at a time.
#pragma once

#include <otpnet/behaviours/from.hpp>
#include <otpnet/behaviours/gen_statem_action.hpp>
#include <otpnet/behaviours/gen_statem_call.hpp>
#include <otpnet/behaviours/gen_statem_engine.hpp>
#include <otpnet/behaviours/gen_statem_event.hpp>
#include <otpnet/behaviours/gen_statem_start.hpp>
#include <otpnet/behaviours/gen_statem_state.hpp>
#include <otpnet/behaviours/gen_statem_transition.hpp>
#include <otpnet/runtime/exit_reason.hpp>

#include <optional>
#include <type_traits>
#include <utility>

namespace otpnet {

/// The base of every state machine; see the top of this file.
template <class Fsm, class State = void>
class gen_statem {
 public:
  static constexpr bool state_functions = std::is_void_v<State>;
  using state_type = std::conditional_t<state_functions, state_fn<Fsm>, State>;
  using transition = basic_transition<state_type>;
  using verb = typename transition::verb;
  /// A return that is ready or still to be awaited (see the top of this file).
  template <class T>
  using maybe_task = gen_server::maybe_task<T>;

  // -- transitions ---------------------------------------------------------------------

  /// The state of member function F (state functions mode).
  template <auto F>
  requires state_functions static state_type state_of() noexcept { return state_type(&detail::state_def_v<Fsm, F>); }
  /// Go to the state of member function F (state functions mode).
  template <auto F, class... A>
  requires state_functions static transition next_state(A&&... actions) {
    transition t(verb::next_state, state_of<F>());
    t.add_all(std::forward<A>(actions)...);
    return t;  // (named, so that it is built in place: no move of the actions)
  }
  /// Go to state `s`; a state change if it differs from state().
  template <class... A>
  static transition next_state(state_type s, A&&... actions) {
    transition t(verb::next_state, std::move(s));
    t.add_all(std::forward<A>(actions)...);
    return t;
  }
  template <class... A>
  static transition keep_state(A&&... actions) {
    transition t(verb::keep_state);
    t.add_all(std::forward<A>(actions)...);
    return t;
  }
  template <class... A>
  static transition repeat_state(A&&... actions) {
    transition t(verb::repeat_state);
    t.add_all(std::forward<A>(actions)...);
    return t;
  }
  /// Stops with `why` after sending the replies among `actions` (OTP's
  /// stop_and_reply); other actions are dropped.
  template <class... A>
  static transition stop(exit_reason why, A&&... actions) {
    transition t(verb::stop, std::move(why));
    t.add_all(std::forward<A>(actions)...);
    return t;
  }
  static transition stop() { return transition(verb::stop, exit_reason::normal()); }
  /// From init only: the start returns ignore.
  static transition ignore() { return transition(verb::ignore); }

  /// The reply action (OTP {reply, From, Reply}): `v` goes to the caller
  /// when the transition is carried out. Takes the from (move-only: one
  /// holder replies). If `v` is not the type the caller asked for, the
  /// caller gets "bad_reply_type".
  template <class V>
  static action reply(gen::from& to, V&& v) {
    (void)to.stage(std::forward<V>(v));
    return std::move(action(action::verb::reply).with_to(std::move(to)));
  }
  template <class V>
  static action reply(gen::from&& to, V&& v) {
    return reply(to, std::forward<V>(v));
  }

  // -- the machine's state -------------------------------------------------------------

  /// The current state. Set from init on; read it in any callback.
  const state_type& state() const noexcept { return *state_; }
  /// The state before the last state change (or repeat_state): in a state
  /// enter call, the state it came from.
  const state_type& previous_state() const noexcept { return *previous_; }

 private:
  friend struct detail::statem_access;

  /// A state function's slot needs no flag: a null state_fn is "none yet".
  struct fn_slot {
    state_type v;
    state_type& operator*() noexcept { return v; }
    const state_type& operator*() const noexcept { return v; }
    fn_slot& operator=(state_type s) noexcept {
      v = s;
      return *this;
    }
  };
  using slot = std::conditional_t<state_functions, fn_slot, std::optional<state_type>>;
  slot state_;
  slot previous_;
};

}  // namespace otpnet
