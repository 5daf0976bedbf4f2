// File: otpnet/behaviours/start_options.hpp
//
// `start_options`: how a behaviour process is started (OTP's start
// options): a registered name, the scheduler, trap_exit from the first
// instruction, and how long init may take.
#pragma once

#include <otpnet/behaviours/wait_time.hpp>
#include <otpnet/runtime/placement.hpp>

#include <string>

namespace otpnet {

struct start_options {
  /// Registered before init runs; a taken name fails the start with
  /// "already_started" (and the holder's pid in start_result::id()).
  std::string name;
  /// Scheduler index (modulo the schedulers), least_loaded_scheduler or
  /// caller_scheduler (runtime/placement.hpp).
  int scheduler = least_loaded_scheduler;
  /// Trap exits from the start, so that no exit signal can come before
  /// init sets it.
  bool trap_exit = false;
  /// How long init may take; past it the process is killed and the start
  /// fails with `timeout`.
  wait_time timeout = infinity;
};

}  // namespace otpnet
