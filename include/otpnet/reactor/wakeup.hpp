// File: otpnet/reactor/wakeup.hpp
//
// Cross-thread wake-up of an event loop: an eventfd (EFD_NONBLOCK |
// EFD_CLOEXEC) that the loop watches for reading. `wake` may be called from
// any thread and is coalesced: while a wake is pending (made but not yet
// drained by the loop) further wakes make no system call.
#pragma once

#include <otpnet/base/result.hpp>

#include <atomic>

namespace otpnet::reactor {

/// An eventfd with a pending flag. The descriptor is owned and closed by the
/// destructor.
///
/// Lost-wake-up rule: a producer publishes its work first, then calls
/// `wake`; the loop calls `drain` when the descriptor is readable and only
/// then looks for work. A wake that finds the flag set needs no write, since
/// the loop has not drained yet and will see the work.
class wakeup {
 public:
  /// Opens the eventfd. Errors: `emfile`, `enfile`, `enodev`, `enomem`.
  static result<wakeup> create() noexcept;

  /// Takes over `other`'s descriptor. Only before the wakeup is shared
  /// between threads.
  wakeup(wakeup&& other) noexcept;
  wakeup& operator=(wakeup&&) = delete;
  wakeup(const wakeup&) = delete;
  ~wakeup();

  /// The descriptor to watch for reading (edge-triggered is fine: every
  /// write is a new edge).
  int fd() const noexcept { return fd_; }

  /// Makes the descriptor readable unless a wake is already pending.
  /// @threadsafe. Never fails in practice: the counter cannot overflow
  /// because the loop drains it, and a failed write (a closed loop) is
  /// ignored.
  void wake() noexcept;

  /// Empties the counter, then clears the pending flag. Loop thread only;
  /// look for work after it returns. Returns whether a wake was pending.
  bool drain() noexcept;

  /// Whether a wake is pending (made and not yet drained). @threadsafe, but
  /// only a hint to any thread but the loop's.
  bool pending() const noexcept { return pending_.load(std::memory_order_acquire); }

 private:
  explicit wakeup(int fd) noexcept : fd_(fd) {}

  int fd_;
  std::atomic<bool> pending_{false};
};

}  // namespace otpnet::reactor
