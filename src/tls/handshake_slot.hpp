// File: tls/handshake_slot.hpp (private)
//
// One of the handshake slots counted by limits.hpp, held by a handshake
// from its start to its end and given back when dropped.
#pragma once

#include <otpnet/base/errc.hpp>

#include <chrono>
#include <utility>

namespace otpnet::tls::internal {

class handshake_slot {
 public:
  handshake_slot() noexcept = default;
  /// A slot, or an empty one when the cap is reached. @threadsafe
  static handshake_slot try_acquire() noexcept;

  handshake_slot(handshake_slot&& o) noexcept : held_(std::exchange(o.held_, false)), started_(o.started_) {}
  handshake_slot& operator=(handshake_slot&& o) noexcept {
    if (this != &o) {
      end(errc::ecanceled);  // (a held slot replaced: its handshake ends, counted once)
      held_ = std::exchange(o.held_, false);
      started_ = o.started_;
    }
    return *this;
  }
  ~handshake_slot() { release(); }

  explicit operator bool() const noexcept { return held_; }
  void release() noexcept;
  /// Counts the handshake's end in handshake_statistics (ok: succeeded,
  /// with its duration; timeout; busy: refused; ecanceled: cancelled;
  /// anything else: failed), then releases the slot. Once per handshake:
  /// an empty slot counts only a refusal. @threadsafe
  void end(errc outcome) noexcept;

 private:
  explicit handshake_slot(bool held) noexcept
      : held_(held), started_(held ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{}) {}
  bool held_ = false;
  std::chrono::steady_clock::time_point started_;
};

}  // namespace otpnet::tls::internal
