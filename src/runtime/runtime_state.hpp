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
/// Handles the signals in the calling process's list now, so that what
/// waits behind them is in its mailbox: for a process on its scheduler,
/// those that do not end it (see scheduler::handle_signals); for a plain
/// thread's mailbox, all (mailbox.cpp).
void settle_signals_now(process* p) noexcept;
/// A plain thread's mailbox: applies its signals as a trapping process does.
void apply_thread_signals(process* p) noexcept;
/// The end of `p` (a process or a plain thread's mailbox), once no sender can
/// reach it: answers the link and monitor requests left in its signal list
/// (a monitor followed by its demonitor gets no down), closes sockets handed
/// to it that it still owns, and sends its exit to links, its downs to
/// watchers and demonitors to what it watched.
void settle_exit(process* p, const exit_reason& why) noexcept;

extern thread_local process* thread_mailbox;

}  // namespace otpnet::internal
