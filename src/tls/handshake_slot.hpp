// File: tls/handshake_slot.hpp (private)
//
// One of the handshake slots counted by limits.hpp, held by a handshake
// from its start to its end and given back when dropped.
#pragma once

#include <utility>

namespace otpnet::tls::internal {

class handshake_slot {
 public:
  handshake_slot() noexcept = default;
  /// A slot, or an empty one when the cap is reached. @threadsafe
  static handshake_slot try_acquire() noexcept;

  handshake_slot(handshake_slot&& o) noexcept : held_(std::exchange(o.held_, false)) {}
  handshake_slot& operator=(handshake_slot&& o) noexcept {
    if (this != &o) {
      release();
      held_ = std::exchange(o.held_, false);
    }
    return *this;
  }
  ~handshake_slot() { release(); }

  explicit operator bool() const noexcept { return held_; }
  void release() noexcept;

 private:
  explicit handshake_slot(bool held) noexcept : held_(held) {}
  bool held_ = false;
};

}  // namespace otpnet::tls::internal
