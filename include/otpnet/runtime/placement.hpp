// File: otpnet/runtime/placement.hpp
//
// Where a new process runs: the values of spawn_options::scheduler and
// start_options::scheduler besides a scheduler's index.
#pragma once

namespace otpnet {

/// The least loaded scheduler.
inline constexpr int least_loaded_scheduler = -1;
/// The spawning process's own scheduler (the least loaded one when a plain
/// thread spawns). A process that starts many short-lived ones near itself,
/// as a connection supervisor per acceptor does, keeps their messages off
/// other cores.
inline constexpr int caller_scheduler = -2;

}  // namespace otpnet
