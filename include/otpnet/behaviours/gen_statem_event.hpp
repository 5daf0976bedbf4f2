// File: otpnet/behaviours/gen_statem_event.hpp
//
// What a gen_statem callback receives: an `event`, which is OTP's pair
// (EventType, EventContent) in one object. Its kind is call (with a `from`
// to reply to), cast, info (any other message), one of the three timeout
// kinds, internal (inserted by a next_event action) or enter (a state enter
// call). Its content is the message, read by type: `e.info<T>()`.
// Calls and casts are those of the shared request protocol (call.hpp:
// gen::call, gen::cast), so any client that calls a gen_server calls a
// gen_statem the same way.
#pragma once

#include <otpnet/behaviours/call.hpp>
#include <otpnet/behaviours/from.hpp>
#include <otpnet/runtime/message.hpp>
#include <otpnet/runtime/pid.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace otpnet {

/// The kind of a gen_statem event (OTP's event_type()).
enum class event_kind : std::uint8_t {
  call,             ///< from gen::call; reply through event::caller()
  cast,             ///< from gen::cast
  info,             ///< any other message
  event_timeout,    ///< OTP `timeout`: no event came for the given time
  state_timeout,    ///< the state lasted the given time
  generic_timeout,  ///< OTP `{timeout, Name}`: a named timer expired
  internal,         ///< inserted by a next_event action
  enter,            ///< a state enter call (callback_mode state_enter)
};

/// "call", "cast", "info", "timeout", "state_timeout", ...
std::string_view to_string(event_kind k) noexcept;

/// One event, as a callback sees it. It does not own its content: the
/// state machine does, and destroys it after the callback unless the
/// callback postponed it. Valid only during the callback.
class event {
 public:
  event(event_kind k, detail::envelope* e, const std::string* timeout_name = nullptr) noexcept
      : e_(e), name_kind_(reinterpret_cast<std::uintptr_t>(timeout_name) | static_cast<std::uintptr_t>(k)) {}

  event_kind type() const noexcept { return stored_kind(); }
  bool is(event_kind k) const noexcept { return stored_kind() == k; }

  /// The content if it is a T, whatever the kind; else nullptr. A timeout
  /// without content, and an enter call, have none.
  template <class T>
  T* get() const noexcept {
    if (e_ == nullptr) {
      return nullptr;
    }
    if (e_->type == detail::tag_of<gen::detail::call_tag>() || e_->type == detail::tag_of<gen::detail::cast_tag>()) {
      auto* r = static_cast<gen::detail::request_header*>(e_);
      return r->req_type == detail::tag_of<T>() ? static_cast<T*>(r->payload) : nullptr;
    }
    return detail::payload_if<T>(e_);
  }

  /// The request of a call of T, or nullptr.
  template <class T>
  T* call() const noexcept {
    return stored_kind() == event_kind::call ? get<T>() : nullptr;
  }
  /// The message of a cast of T, or nullptr.
  template <class T>
  T* cast() const noexcept {
    return stored_kind() == event_kind::cast ? get<T>() : nullptr;
  }
  /// A plain message of type T, or nullptr.
  template <class T>
  T* info() const noexcept {
    return stored_kind() == event_kind::info ? get<T>() : nullptr;
  }
  /// An event of type T inserted by next_event(T), or nullptr.
  template <class T>
  T* internal() const noexcept {
    return stored_kind() == event_kind::internal ? get<T>() : nullptr;
  }

  /// Whom to reply to (call events only). Move it into a reply action, or
  /// keep it to reply later (a deferred reply); it is move-only, since one
  /// holder replies. Precondition: type() == event_kind::call.
  gen::from& caller() const noexcept { return static_cast<gen::detail::call_header*>(e_)->reply_to; }

  /// The name of a generic timeout; empty for other kinds.
  std::string_view timeout_name() const noexcept {
    const std::string* name = stored_name();
    return name != nullptr ? std::string_view(*name) : std::string_view();
  }
  /// Whether this is the generic timeout `name`.
  bool is_timeout(std::string_view name) const noexcept {
    return stored_kind() == event_kind::generic_timeout && timeout_name() == name;
  }

 private:
  // The kind rides in the low bits of the timeout name's address (a
  // std::string is 8-aligned; eight kinds take 3 bits): 16 bytes where the
  // kind's own byte and padding made 24. The event being handled lives in
  // the machine's frame, for the process's whole life.
  static constexpr std::uintptr_t kind_mask = 7;
  static_assert(alignof(std::string) > kind_mask && static_cast<std::uintptr_t>(event_kind::enter) <= kind_mask,
                "event_kind (enter is the last) must fit below a std::string's alignment");
  event_kind stored_kind() const noexcept { return static_cast<event_kind>(name_kind_ & kind_mask); }
  const std::string* stored_name() const noexcept {
    return reinterpret_cast<const std::string*>(name_kind_ & ~kind_mask);  // NOLINT(performance-no-int-to-ptr)
  }

  detail::envelope* e_;
  std::uintptr_t name_kind_;
};

}  // namespace otpnet
