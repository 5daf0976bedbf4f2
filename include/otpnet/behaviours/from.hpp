// File: otpnet/behaviours/from.hpp
//
// `gen::from`: the handle of a caller waiting for a reply (OTP's From), and
// `gen::reply(from, value)`. The reply travels in a `reply_box`, an envelope
// the caller allocates with its request; the server fills it in and sends
// it. Caller and server share the box through one atomic state, which is
// how a late reply is dropped instead of reaching the caller's mailbox:
//
//   pending --server replies--> replied      (the box is sent to the caller)
//   pending --caller gives up-> caller_gone  (the server frees it, unsent)
//   pending --from dropped----> server_gone  (the caller frees it)
//
// Whoever moves the state second frees the box, unless the server won
// (replied): then the box is on its way and the caller takes it.
#pragma once

#include <otpnet/runtime/message.hpp>
#include <otpnet/runtime/pid.hpp>
#include <otpnet/runtime/process.hpp>

#include <atomic>
#include <cstdint>
#include <new>
#include <type_traits>
#include <typeinfo>
#include <utility>

namespace otpnet::gen {

namespace detail {

namespace rt = ::otpnet::detail;

/// The envelope type tag every reply box carries.
struct reply_box_tag {};

enum class box_state : std::uint8_t { pending, replied, caller_gone, server_gone };

/// The part of a reply box that does not depend on the reply's type.
struct reply_box_base : rt::envelope {
  std::atomic<box_state> state{box_state::pending};
  /// The type the caller expects, and its mangled name for errors.
  rt::type_tag value_type = nullptr;
  const char* value_name = nullptr;
  /// The type the server offered instead (a mismatch), or nullptr.
  const char* offered_name = nullptr;
  bool has_value = false;
};

/// A reply box for a reply of type R.
template <class R>
struct reply_box final : reply_box_base {
  reply_box() noexcept {
    type = rt::tag_of<reply_box_tag>();
    destroy = &destroy_box;
    value_type = rt::tag_of<R>();
    value_name = typeid(R).name();
  }
  ~reply_box() {
    if (has_value) {
      value.~R();
    }
  }
  reply_box(const reply_box&) = delete;
  reply_box& operator=(const reply_box&) = delete;

  static void destroy_box(rt::envelope* e) noexcept {
    auto* self = static_cast<reply_box*>(e);
    self->~reply_box();
    rt::envelope_free(self, sizeof(reply_box));
  }

  union {
    R value;
  };
};

template <class R>
reply_box<R>* make_reply_box() {
  return ::new (rt::envelope_alloc(sizeof(reply_box<R>))) reply_box<R>();
}

/// Moves the state to `to` and frees the box if the other side had left
/// it already (caller_gone and server_gone are the two ways of leaving).
/// Returns the state before.
inline box_state leave_box(reply_box_base* b, box_state to) noexcept {
  box_state before = b->state.exchange(to, std::memory_order_acq_rel);
  if ((to == box_state::caller_gone && before == box_state::server_gone) ||
      (to == box_state::server_gone && before == box_state::caller_gone)) {
    b->destroy(b);
  }
  return before;
}

}  // namespace detail

/// A caller waiting for a reply. Move-only: exactly one holder may reply.
/// It may be kept past handle_call and passed to another process, which
/// replies instead (a deferred reply). Dropping it without replying leaves
/// the caller to its timeout (or to the server's exit).
class from {
 public:
  from() noexcept = default;
  from(detail::reply_box_base* box, pid caller, ref tag) noexcept : box_(box), caller_(caller), tag_(tag) {}
  from(from&& o) noexcept : box_(std::exchange(o.box_, nullptr)), caller_(o.caller_), tag_(o.tag_) {}
  from& operator=(from&& o) noexcept {
    if (this != &o) {
      drop();
      box_ = std::exchange(o.box_, nullptr);
      caller_ = o.caller_;
      tag_ = o.tag_;
    }
    return *this;
  }
  from(const from&) = delete;
  from& operator=(const from&) = delete;
  ~from() { drop(); }

  /// Whether a reply is still owed through this handle.
  explicit operator bool() const noexcept { return box_ != nullptr; }
  /// The calling process.
  pid caller() const noexcept { return caller_; }
  /// The call's reference (the caller's monitor of the server).
  ref tag() const noexcept { return tag_; }

  /// Sends `v` to the caller, once. Returns false if nothing is owed, if
  /// the caller gave up (timed out, or ended) and the reply was dropped, or
  /// if `v` is not of the type the caller expects (the caller then gets the
  /// error "bad_reply_type"). @threadsafe (any process may reply).
  template <class V>
  bool reply(V&& v) {
    bool typed = stage(std::forward<V>(v));
    return commit() && typed;
  }

  /// Places `v` in the reply without sending it (the server's stop with a
  /// reply runs terminate first). False on a type mismatch.
  template <class V>
  bool stage(V&& v) {
    using value_type = std::remove_cvref_t<V>;
    if (box_ == nullptr) {
      return false;
    }
    if (box_->value_type != ::otpnet::detail::tag_of<value_type>()) {
      box_->offered_name = typeid(value_type).name();
      return false;
    }
    auto* b = static_cast<detail::reply_box<value_type>*>(box_);
    if (b->has_value) {
      b->value.~value_type();
      b->has_value = false;
    }
    ::new (static_cast<void*>(&b->value)) value_type(std::forward<V>(v));
    b->has_value = true;
    return true;
  }

  /// Sends what was staged. False if the caller had given up (the box is
  /// then freed here) or nothing is owed.
  bool commit() noexcept {
    detail::reply_box_base* b = std::exchange(box_, nullptr);
    if (b == nullptr) {
      return false;
    }
    if (b->state.exchange(detail::box_state::replied, std::memory_order_acq_rel) == detail::box_state::pending) {
      return ::otpnet::detail::send_envelope(caller_, b);
    }
    b->destroy(b);  // caller_gone: nobody will read it
    return false;
  }

 private:
  void drop() noexcept {
    if (detail::reply_box_base* b = std::exchange(box_, nullptr)) {
      (void)detail::leave_box(b, detail::box_state::server_gone);
    }
  }

  detail::reply_box_base* box_ = nullptr;
  pid caller_;
  ref tag_;
};

/// Replies to `f` with `v` (OTP's gen_server:reply/2): see from::reply.
template <class V>
bool reply(from& f, V&& v) {
  return f.reply(std::forward<V>(v));
}
template <class V>
bool reply(from&& f, V&& v) {
  return f.reply(std::forward<V>(v));
}

}  // namespace otpnet::gen
