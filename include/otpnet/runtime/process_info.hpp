// File: otpnet/runtime/process_info.hpp
//
// process_info(pid): what erlang:process_info/1 tells, as a snapshot.
#pragma once

#include <otpnet/runtime/pid.hpp>
#include <otpnet/runtime/proc.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace otpnet {

struct process_info_t {
  pid id;
  /// "runnable", "running", "waiting", "exiting".
  std::string status;
  std::size_t message_queue_len = 0;
  std::vector<pid> links;
  std::vector<pid> monitors;      ///< processes it monitors
  std::vector<pid> monitored_by;  ///< processes that monitor it
  std::string registered_name;
  bool trap_exit = false;
  std::uint64_t reductions = 0;
  /// Bytes: the process record, its coroutine frames are not counted
  /// (see docs/runtime.md for how memory is measured), its mailbox.
  std::size_t memory = 0;
  unsigned scheduler = 0;
  /// Set by behaviours: "gen_server", "gen_statem", "supervisor"...
  std::string behaviour;
  std::string state_name;
};

/// A snapshot of `p`, or nothing if it is dead. Synchronous: it is taken
/// on `p`'s scheduler, and the calling thread waits (at most 5 s) for it.
/// From a process on that same scheduler it is read directly. @threadsafe
std::optional<process_info_t> process_info(pid p);

/// The same from a process, without holding its scheduler: the snapshot is
/// taken on `p`'s scheduler and comes back as a message, while the calling
/// process is suspended (at most `timeout`: nothing then). A reply that
/// would come after the timeout is not sent, so none is left in the
/// mailbox. From a process on `p`'s scheduler, or for a dead pid, it is
/// answered at once. For a tool that asks about many processes (the admin
/// endpoint's /processes) from a process.
task<std::optional<process_info_t>> process_info_async(pid p,
                                                       std::chrono::milliseconds timeout = std::chrono::seconds(5));

/// What processes_info_async found.
struct process_list {
  /// Snapshots, in pid order (slot, then generation), at most `max` taken
  /// per scheduler.
  std::vector<process_info_t> processes;
  /// Schedulers that did not answer within the timeout (their processes
  /// are missing).
  unsigned unanswered = 0;
};

/// Snapshots of the live processes (observer's process list), from a
/// process: one task per scheduler takes those of its own, up to `max`, and
/// sends them back in one message; the caller waits for all of them
/// against one deadline, `timeout`. As with process_info_async, no answer
/// is sent after the caller gave up, and its scheduler is not held.
task<process_list> processes_info_async(std::size_t max, std::chrono::milliseconds timeout = std::chrono::seconds(2));

}  // namespace otpnet
