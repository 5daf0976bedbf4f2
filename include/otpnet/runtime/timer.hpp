// File: otpnet/runtime/timer.hpp
//
// Timers that deliver messages (erlang:send_after, cancel_timer,
// read_timer). A timer lives on the scheduler of the process that starts it
// (scheduler 0 for a plain thread); the message is sent when it fires.
#pragma once

#include <otpnet/runtime/message.hpp>
#include <otpnet/runtime/pid.hpp>

#include <chrono>
#include <cstdint>
#include <optional>

namespace otpnet {

/// Names a started timer.
struct timer_ref {
  std::uint32_t scheduler = 0;
  std::uint64_t id = 0;  // the scheduler's timer slot and its use
  explicit operator bool() const noexcept { return id != 0; }
};

namespace detail {
timer_ref send_after_impl(std::chrono::milliseconds t, pid to, envelope* e);
}

/// Sends `msg` to `to` after `t`. As OTP's for a pid, the timer is
/// cancelled (its message freed) when the process `to` ends before it
/// fires, and none is started when `to` has ended already (the ref then
/// names nothing: cancel_timer and read_timer answer nothing). A timer
/// aimed at a plain thread's mailbox is not cancelled with it. @threadsafe
template <class T>
timer_ref send_after(std::chrono::milliseconds t, pid to, T&& msg) {
  return detail::send_after_impl(t, to, detail::make_envelope<std::decay_t<T>>(std::forward<T>(msg)));
}

/// Cancels a timer: the time it had left, or nothing if it already fired
/// (or was cancelled). Synchronous on the timer's scheduler; from any other
/// thread the cancel is carried out asynchronously and nothing is returned
/// (OTP's {async, true}). @threadsafe
std::optional<std::chrono::milliseconds> cancel_timer(timer_ref t);

/// The time left, or nothing if fired or cancelled. On the timer's
/// scheduler only; elsewhere nothing.
std::optional<std::chrono::milliseconds> read_timer(timer_ref t);

}  // namespace otpnet
