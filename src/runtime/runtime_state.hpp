// File: runtime/runtime_state.hpp (private)
//
// The running runtime: its schedulers, and helpers the runtime's files
// share.
#pragma once

#include "runtime/process_record.hpp"
#include "runtime/scheduler.hpp"

#include <memory>
#include <vector>

namespace otpnet::internal {

struct runtime_state {
  std::vector<std::unique_ptr<scheduler>> schedulers;
};

/// The running runtime, or nullptr.
runtime_state* current_state() noexcept;
/// The running process, or this plain thread's mailbox, or nullptr.
process* calling_process() noexcept;
/// Delivers `e` to `to`; false (and `e` destroyed) if it is dead.
bool send_to(pid to, detail::envelope* e) noexcept;
void send_signal(pid to, detail::envelope* e) noexcept;
/// Moves what other threads sent `p` into its local list and signal list.
void drain_own_inbox(process* p) noexcept;

extern thread_local process* thread_mailbox;

}  // namespace otpnet::internal
