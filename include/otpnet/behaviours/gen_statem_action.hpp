// File: otpnet/behaviours/gen_statem_action.hpp
//
// gen_statem actions (OTP's action()): what a callback asks for besides the
// next state. event_timeout / state_timeout / generic_timeout (each with
// optional content) and their cancels; postpone(); next_event(v); and
// replies, built by gen_statem<...>::reply(from, v) (a member, so that it
// never competes with gen::reply(from, v), which replies at once). An
// action owns its content (one envelope, the only allocation it makes); a
// timeout without content and a reply allocate nothing (the caller made
// the reply's box); a name (generic timeouts) is the one other. An action
// is 56 bytes: it is held in the state machine's frame for the machine's
// whole life, so its rarely used parts stay out of it. `action_list` holds
// one transition's actions, the first two inline.
#pragma once

#include <otpnet/behaviours/from.hpp>
#include <otpnet/behaviours/gen_statem_event.hpp>
#include <otpnet/runtime/message.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace otpnet {

/// One action. Move-only: it owns its content until the state machine
/// carries it out (or it is dropped, which frees the content).
class action {
 public:
  enum class verb : std::uint8_t {
    reply,
    event_timeout,
    state_timeout,
    generic_timeout,
    cancel_state_timeout,
    cancel_timeout,
    postpone,
    next_event,
    hibernate,
  };

  explicit action(verb v) noexcept : verb_(v) {}
  action(action&& o) noexcept
      : verb_(o.verb_),
        kind_(o.kind_),
        time_(o.time_),
        content_(std::exchange(o.content_, nullptr)),
        to_(std::move(o.to_)),
        name_(std::move(o.name_)) {}
  action& operator=(action&& o) noexcept {
    if (this != &o) {
      detail::destroy_envelope(std::exchange(content_, std::exchange(o.content_, nullptr)));
      verb_ = o.verb_;
      kind_ = o.kind_;
      time_ = o.time_;
      to_ = std::move(o.to_);
      name_ = std::move(o.name_);
    }
    return *this;
  }
  ~action() { detail::destroy_envelope(content_); }

  verb what() const noexcept { return verb_; }
  /// next_event: the kind of the inserted event.
  event_kind kind() const noexcept { return kind_; }
  /// Timeouts: the time (never negative).
  std::chrono::milliseconds time() const noexcept { return time_; }
  /// reply: the caller, its reply staged; commit() sends it.
  gen::from& to() noexcept { return to_; }
  /// generic_timeout, cancel_timeout: the name.
  const std::string& name() const noexcept { return name_ ? *name_ : no_name(); }
  /// Takes the name (generic_timeout), which may be null (empty).
  std::unique_ptr<std::string> release_name() noexcept { return std::move(name_); }
  /// Takes the content (timeout content, inserted event).
  detail::envelope* release_content() noexcept { return std::exchange(content_, nullptr); }

  // -- construction (use the free functions below) ---------------------------------
  action& with_kind(event_kind k) noexcept {
    kind_ = k;
    return *this;
  }
  action& with_time(std::chrono::milliseconds t) noexcept {
    time_ = t.count() < 0 ? std::chrono::milliseconds(0) : t;
    return *this;
  }
  action& with_content(detail::envelope* e) noexcept {
    detail::destroy_envelope(std::exchange(content_, e));
    return *this;
  }
  action& with_to(gen::from f) noexcept {
    to_ = std::move(f);
    return *this;
  }
  action& with_name(std::string n) {
    name_ = std::make_unique<std::string>(std::move(n));
    return *this;
  }

 private:
  static const std::string& no_name() noexcept {
    static const std::string empty;
    return empty;
  }

  verb verb_;
  event_kind kind_ = event_kind::internal;
  std::chrono::milliseconds time_{0};
  detail::envelope* content_ = nullptr;
  gen::from to_;
  std::unique_ptr<std::string> name_;  // generic_timeout, cancel_timeout only
};

/// An event timeout: an event_timeout event after `t` unless another event
/// comes first (any event, inserted and retried ones too, cancels it).
inline action event_timeout(std::chrono::milliseconds t) {
  return std::move(action(action::verb::event_timeout).with_time(t));
}
template <class T>
action event_timeout(std::chrono::milliseconds t, T&& content) {
  return std::move(event_timeout(t).with_content(detail::make_envelope<std::decay_t<T>>(std::forward<T>(content))));
}

/// A state timeout: a state_timeout event after `t` unless the state
/// changes first. Setting it again restarts it; keep_state keeps it.
inline action state_timeout(std::chrono::milliseconds t) {
  return std::move(action(action::verb::state_timeout).with_time(t));
}
template <class T>
action state_timeout(std::chrono::milliseconds t, T&& content) {
  return std::move(state_timeout(t).with_content(detail::make_envelope<std::decay_t<T>>(std::forward<T>(content))));
}
inline action cancel_state_timeout() { return action(action::verb::cancel_state_timeout); }

/// A generic timeout named `name`: a generic_timeout event after `t`. It
/// survives state changes; only cancel_timeout(name) or setting the same
/// name again (which restarts it) stops it.
inline action generic_timeout(std::string name, std::chrono::milliseconds t) {
  return std::move(action(action::verb::generic_timeout).with_time(t).with_name(std::move(name)));
}
template <class T>
action generic_timeout(std::string name, std::chrono::milliseconds t, T&& content) {
  return std::move(generic_timeout(std::move(name), t)
                       .with_content(detail::make_envelope<std::decay_t<T>>(std::forward<T>(content))));
}
inline action cancel_timeout(std::string name) {
  return std::move(action(action::verb::cancel_timeout).with_name(std::move(name)));
}

/// Postpones the current event: it is retried after the next state change.
/// Not allowed in a state enter call.
inline action postpone() { return action(action::verb::postpone); }
/// Hibernate once the transition is carried out (OTP's hibernate action):
/// the machine's handle_hibernate(), if it has one, then the runtime's
/// compaction of the process record (see gen_server::hibernate_t).
inline action hibernate() { return action(action::verb::hibernate); }

/// Inserts an event of kind `k` (internal, cast or info; never call) with
/// content `v`,
/// to be handled before any queued or mailbox event; several keep their
/// order. Not allowed in a state enter call.
template <class T>
action next_event(event_kind k, T&& v) {
  if (k == event_kind::call) {
    throw std::invalid_argument("next_event: a call cannot be inserted");
  }
  using value_type = std::decay_t<T>;
  detail::envelope* e = k == event_kind::cast
                            ? gen::detail::new_envelope<gen::detail::cast_envelope<value_type>>(std::forward<T>(v))
                            : detail::make_envelope<value_type>(std::forward<T>(v));
  return std::move(action(action::verb::next_event).with_kind(k).with_content(e));
}
template <class T>
action next_event(T&& v) {
  return next_event(event_kind::internal, std::forward<T>(v));
}

/// The actions of one transition, in order; the first `inline_n` without
/// a heap allocation.
class action_list {
 public:
  static constexpr std::size_t inline_n = 2;

  action_list() noexcept = default;
  action_list(action_list&& o) noexcept : n_(o.n_), more_(std::move(o.more_)) {
    for (std::size_t i = 0; i < std::min(n_, inline_n); ++i) {
      ::new (slot(i)) action(std::move(*o.slot(i)));
    }
    o.clear();
  }
  action_list& operator=(action_list&& o) noexcept {
    if (this != &o) {
      clear();
      n_ = o.n_;
      more_ = std::move(o.more_);
      for (std::size_t i = 0; i < std::min(n_, inline_n); ++i) {
        ::new (slot(i)) action(std::move(*o.slot(i)));
      }
      o.clear();
    }
    return *this;
  }
  ~action_list() { clear(); }

  void push_back(action a) {
    if (n_ < inline_n) {
      ::new (slot(n_)) action(std::move(a));
    } else {
      more_.push_back(std::move(a));
    }
    ++n_;
  }
  std::size_t size() const noexcept { return n_; }
  bool empty() const noexcept { return n_ == 0; }
  action& operator[](std::size_t i) noexcept { return i < inline_n ? *slot(i) : more_[i - inline_n]; }

  void clear() noexcept {
    for (std::size_t i = 0; i < std::min(n_, inline_n); ++i) {
      slot(i)->~action();
    }
    more_.clear();
    n_ = 0;
  }

 private:
  action* slot(std::size_t i) noexcept { return std::launder(reinterpret_cast<action*>(&buf_[i * sizeof(action)])); }

  alignas(action) unsigned char buf_[inline_n * sizeof(action)];
  std::size_t n_ = 0;
  std::vector<action> more_;
};

}  // namespace otpnet
