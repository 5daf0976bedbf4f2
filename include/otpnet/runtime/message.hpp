// File: otpnet/runtime/message.hpp
//
// Messages: any movable C++ type, moved (never copied) from sender to
// receiver in an `envelope` that is allocated once, linked into mailboxes
// without further allocation, and matched by type. `message` owns one
// received envelope whose type the receiver did not fix in advance.
// Also the messages the runtime itself delivers: `exit_msg` (a trapped exit
// signal, OTP's {'EXIT', From, Reason}) and `down_msg` (a monitor firing).
#pragma once

#include <otpnet/runtime/exit_reason.hpp>
#include <otpnet/runtime/pid.hpp>

#include <atomic>
#include <cstddef>
#include <new>
#include <type_traits>
#include <utility>

namespace otpnet {

namespace detail {

/// A type's identity without RTTI: the address of a per-type object.
using type_tag = const void*;
template <class T>
struct type_tag_of {
  static constexpr char id = 0;
};
template <class T>
constexpr type_tag tag_of() noexcept {
  return &type_tag_of<std::remove_cvref_t<T>>::id;
}

/// Allocation of envelopes: per-thread free lists of a few size classes,
/// so that a steady flow of messages allocates nothing from the heap.
void* envelope_alloc(std::size_t size);
void envelope_free(void* p, std::size_t size) noexcept;

/// The header of every message in a mailbox.
struct envelope {
  /// Link in a mailbox; atomic because other threads append to a process's
  /// inbox (see the runtime's mpsc_queue).
  std::atomic<envelope*> next{nullptr};
  type_tag type = nullptr;
  void (*destroy)(envelope*) noexcept = nullptr;
};

template <class T>
struct envelope_of final : envelope {
  template <class... A>
  explicit envelope_of(A&&... a) : value(std::forward<A>(a)...) {
    type = tag_of<T>();
    destroy = [](envelope* e) noexcept {
      auto* self = static_cast<envelope_of*>(e);
      self->~envelope_of();
      envelope_free(self, sizeof(envelope_of));
    };
  }
  T value;
};

template <class T, class... A>
envelope* make_envelope(A&&... a) {
  void* mem = envelope_alloc(sizeof(envelope_of<T>));
  try {
    return ::new (mem) envelope_of<T>(std::forward<A>(a)...);
  } catch (...) {
    envelope_free(mem, sizeof(envelope_of<T>));
    throw;
  }
}

/// Ends the program with a report line on stderr ("otpnet: out of memory:
/// ..."): a message the runtime must deliver could not be made.
[[noreturn]] void message_out_of_memory(std::size_t bytes) noexcept;

/// make_envelope for the messages the runtime itself owes a process and
/// cannot fail to deliver: a link's exit signal, a monitor's DOWN, a
/// trapped exit, a select message, a port's tcp/tcp_closed/tcp_error. A
/// process that would silently miss one of them breaks the guarantees
/// supervision rests on (a supervisor that never hears of its child's end,
/// an owner that waits for a tcp_closed forever), and their senders have
/// no caller to give an error to. So, as a runtime table's growth does
/// (internal/id_tables.hpp) and as the BEAM does when its allocators fail,
/// a failed allocation ends the program with a report line instead of
/// std::terminate's. (A process's own send throws std::bad_alloc to it.)
template <class T, class... A>
envelope* must_make_envelope(A&&... a) noexcept {
  try {
    return make_envelope<T>(std::forward<A>(a)...);
  } catch (const std::bad_alloc&) {
    message_out_of_memory(sizeof(envelope_of<T>));
  }
}

inline void destroy_envelope(envelope* e) noexcept {
  if (e != nullptr) {
    e->destroy(e);
  }
}

template <class T>
T* payload_if(envelope* e) noexcept {
  return e != nullptr && e->type == tag_of<T>() ? &static_cast<envelope_of<T>*>(e)->value : nullptr;
}

}  // namespace detail

/// One received message of any type.
class message {
 public:
  message() noexcept = default;
  explicit message(detail::envelope* e) noexcept : e_(e) {}
  message(message&& o) noexcept : e_(std::exchange(o.e_, nullptr)) {}
  message& operator=(message&& o) noexcept {
    if (this != &o) {
      detail::destroy_envelope(std::exchange(e_, std::exchange(o.e_, nullptr)));
    }
    return *this;
  }
  ~message() { detail::destroy_envelope(e_); }

  explicit operator bool() const noexcept { return e_ != nullptr; }
  template <class T>
  bool is() const noexcept {
    return e_ != nullptr && e_->type == detail::tag_of<T>();
  }
  /// The payload if it is a T, else nullptr.
  template <class T>
  T* get_if() noexcept {
    return detail::payload_if<T>(e_);
  }
  /// The payload; the caller knows it is a T (checked with is<T>()).
  template <class T>
  T& get() noexcept {
    return *detail::payload_if<T>(e_);
  }
  detail::envelope* release() noexcept { return std::exchange(e_, nullptr); }

 private:
  detail::envelope* e_ = nullptr;
};

/// A trapped exit signal (OTP's {'EXIT', From, Reason}).
struct exit_msg {
  pid from;
  exit_reason reason;
};

/// A monitor fired (OTP's {'DOWN', Ref, process, Pid, Reason}).
struct down_msg {
  ref monitor;
  pid who;
  exit_reason reason;
};

}  // namespace otpnet
