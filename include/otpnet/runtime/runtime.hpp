// File: otpnet/runtime/runtime.hpp
//
// Starting and stopping the process runtime: one scheduler thread per core
// by default, each with its own reactor (event loop) and run queue. There
// is one runtime per OS process, like one BEAM node; the free functions of
// process.hpp, receive.hpp and timer.hpp act on it. A plain thread (main,
// a test) starts it, talks to processes through a `mailbox`, and stops it.
#pragma once

#include <otpnet/base/result.hpp>

#include <chrono>
#include <cstddef>
#include <string>

namespace otpnet {

struct runtime_options {
  /// Scheduler threads; 0 = one per core.
  unsigned schedulers = 0;
  /// Messages a process may take in one turn before it yields its
  /// scheduler to the others (a reduction budget).
  int reductions = 2000;
  /// Reactor backend name ("epoll", "io_uring"); empty: OTPNET_BACKEND (or its
  /// old name OTPNET_REACTOR), else the default (epoll).
  std::string backend;
};

class runtime {
 public:
  /// Starts the schedulers. Errors: `ealready` if a runtime is running,
  /// the reactor's errors (`unsupported` backend, emfile, ...).
  static result<void> start(const runtime_options& opts = {});

  /// Ends every process (exit reason `shutdown`, as an untrappable stop:
  /// each one's frame is destroyed, its links and monitors fire, the
  /// sockets it owns are closed), then stops and joins the schedulers.
  /// Waits at most `grace` for the schedulers to finish. From a plain
  /// thread only. No-op if not running.
  static void stop(std::chrono::milliseconds grace = std::chrono::milliseconds(10000));

  static bool running() noexcept;
  /// Number of scheduler threads (0 when not running).
  static unsigned schedulers() noexcept;
  /// Live processes, over all schedulers (mailboxes of plain threads too).
  static std::size_t process_count() noexcept;
};

}  // namespace otpnet
