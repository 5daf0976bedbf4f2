// File: otpnet/behaviours/gen_statem_core.hpp
//
// The part of the gen_statem engine that does not depend on the user's
// type: the queue of inserted and postponed events, the three kinds of
// timeouts, the choice of the next event, and carrying out actions. The
// templated loop in gen_statem.hpp drives it. In otpnet::detail because
// that loop, a header template, needs it; user code never touches it.
//
// Timeouts are deadlines kept here, not timers: the loop waits for the
// mailbox with `receive(after(earliest deadline))`, so re-arming a state
// timeout on every message costs a store, and a process waiting for
// messages holds exactly one timer in its scheduler's wheel.
#pragma once

#include <otpnet/behaviours/gen_statem_action.hpp>
#include <otpnet/behaviours/gen_statem_event.hpp>
#include <otpnet/runtime/exit_reason.hpp>
#include <otpnet/runtime/message.hpp>
#include <otpnet/runtime/pid.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace otpnet::detail {

class statem_core {
 public:
  using clock = std::chrono::steady_clock;

  /// What select() found.
  enum class pick : std::uint8_t {
    event,         ///< current() is the next event to handle
    wait,          ///< wait for the mailbox (wait_ms(); < 0: no limit)
    parent_exit,   ///< the parent's exit signal (trapped): stop with reason()
    stop_request,  ///< statem::stop (gen_server::stop): stop with reason()
  };

  explicit statem_core(pid parent) noexcept : parent_(parent) {}
  ~statem_core();
  statem_core(const statem_core&) = delete;
  statem_core& operator=(const statem_core&) = delete;

  // -- choosing the next event -------------------------------------------------------

  /// In order: an inserted or retried event; a due timeout (an event
  /// timeout only if the mailbox is empty); a mailbox message. Calling
  /// process only: it reads the mailbox without waiting.
  pick select();
  /// Classifies a message received after a wait. std::bad_alloc if a stop
  /// request's or the parent's exit reason (not normal) finds no memory.
  pick accept(envelope* e);
  long long wait_ms() const noexcept { return wait_ms_; }
  /// The stop reason (normal until one is set).
  const exit_reason& reason() const noexcept { return rare_ ? rare_->reason : normal_reason; }
  /// Sets the stop reason; the engine sets it for the stops it finds. A
  /// reason other than normal is kept in the rare parts (made by the first
  /// use: a machine stops once): std::bad_alloc if there is no memory.
  void set_reason(exit_reason r) {
    if (rare_ || !r.is_normal()) {
      rare().reason = std::move(r);
    }
  }
  /// Starts the time of the timeouts set since the clock was last read: a
  /// timeout's time runs from here at the latest, so it never fires early.
  /// The loop calls it before the process waits (for the mailbox, a
  /// coroutine callback or a turn), so that a handled event that sets a
  /// timeout and finds the next event already waiting reads no clock.
  void settle() noexcept {
    if (unsettled_) {
      settle_relative();
    }
  }

  /// The event being handled.
  event current() const noexcept { return {cur_kind_, cur_e_, rare_ ? rare_->cur_name.get() : nullptr}; }
  /// Ends the current event (not postponed): frees its content.
  void drop_current() noexcept;

  // -- after a callback ----------------------------------------------------------------

  /// Carries out the actions of a transition of the current event (or, with
  /// `in_enter`, of a state enter call), after a state change if `changed`.
  /// Returns nullptr, or the name of the error that stops the machine:
  /// "bad_state_enter_action" (postpone or next_event in an enter call).
  const char* apply(action_list& actions, bool changed, bool in_enter);
  /// Sends the replies of a stop transition (before terminate, as OTP's
  /// stop_and_reply does); drops every other action.
  void send_replies(action_list& actions) noexcept;

 private:
  // The core lives in the machine's frame for its whole life: what only
  // some machines use (a generic timeout's name, inserted and postponed
  // events, event and generic timeouts) costs a pointer until it is used.
  struct item {
    event_kind kind = event_kind::info;
    envelope* e = nullptr;
    std::unique_ptr<std::string> name;  // a generic timeout's
  };
  struct timer {
    clock::time_point deadline;
    // With `relative` set in seq, deadline holds only the time, counted
    // from the next settle.
    std::uint64_t seq = 0;  // when it was set; 0: not armed
    bool armed() const noexcept { return seq != 0; }
    std::uint64_t order() const noexcept { return seq & ~relative; }
  };
  static constexpr std::uint64_t relative = std::uint64_t{1} << 63;
  /// The event and generic timers, with their content beside them (the
  /// state timer's, rare, is in the rare parts: see content_of).
  struct content_timer : timer {
    envelope* content = nullptr;
  };
  struct named_timer : content_timer {
    std::unique_ptr<std::string> name;
  };
  struct rare_parts {
    // Events to handle before the mailbox; the back is handled next.
    std::vector<item> queue;
    content_timer event_timer;
    // Postponed events, oldest first.
    std::vector<item> postponed;
    std::vector<named_timer> generic;
    // The current event's timeout name (a generic timeout's): only a
    // machine with generic timeouts, which has these parts, has one.
    std::unique_ptr<std::string> cur_name;
    // The stop reason, when it is not normal (set once, as it stops): 24
    // bytes less in every machine's frame.
    exit_reason reason;
    // The state timeout's content, when it has one: 8 bytes less in every
    // machine's frame (the echo server's idle timeout has none).
    envelope* state_content = nullptr;
  };
  static inline const exit_reason normal_reason{};

  void arm(timer& t, action& a);
  void disarm(timer& t) noexcept;
  /// Where `t`'s content is kept; nullptr for the state timer of a core
  /// without rare parts (it has none).
  envelope** content_of(timer& t) noexcept {
    if (&t == &state_timer_) {
      return rare_ ? &rare_->state_content : nullptr;
    }
    return &static_cast<content_timer&>(t).content;
  }
  bool others_armed(const timer& t) const noexcept;
  void settle_at(clock::time_point now) noexcept;
  void settle_relative() noexcept;
  /// The armed timer with the earliest (deadline, seq), or nullptr.
  timer* earliest() noexcept;
  void fire(timer& t);
  void begin(item it) noexcept;
  rare_parts& rare();
  named_timer* find_generic(const std::string& name) noexcept;

  pid parent_;
  // The current event (its name, if any, in the rare parts): its kind and
  // the flags below share one word, where an item and the flags took 32
  // bytes of the machine's frame.
  envelope* cur_e_ = nullptr;
  timer state_timer_;
  std::unique_ptr<rare_parts> rare_;
  std::uint64_t seq_ = 0;
  long long wait_ms_ = -1;
  // (Last: the 4 bytes of padding after them are the machine's, which
  // keeps its flags there: see statem_machine.)
  event_kind cur_kind_ = event_kind::info;
  bool have_cur_ = false;
  // A timer was set since select last looked, and wait_ms_ holds its time.
  bool fresh_ = false;
  // A timer is relative (its time only, set since the clock was last
  // read). At most one is, and only when no other timer is armed.
  bool unsettled_ = false;
};

}  // namespace otpnet::detail
