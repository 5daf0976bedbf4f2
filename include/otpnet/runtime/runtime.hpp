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
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

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

/// What one scheduler has done since the runtime started, for inspection
/// (in the spirit of erlang:statistics): logs, a status page, tests.
struct scheduler_statistics {
  unsigned index = 0;
  /// Its reactor backend: "epoll" or "io_uring".
  std::string backend;
  /// Live processes placed on it.
  std::size_t processes = 0;
  /// Counters since the start, by name: the loop's (turns; io_calls, the
  /// handler calls of its events; timers_fired; tasks_run), then the
  /// backend's (epoll: waits, events, ctls; io_uring: submits, recvs,
  /// recv_multishots, recv_more, multishot_refused, accepts, enobufs, sends
  /// and the rest of io_uring_stats).
  std::vector<std::pair<std::string, std::uint64_t>> counters;

  /// The counter `name`; 0 if this backend has none of that name.
  std::uint64_t counter(std::string_view name) const noexcept;
  /// "scheduler 0 (epoll): processes=3 turns=120 io_calls=45 ...".
  std::string to_string() const;
};

class runtime {
 public:
  /// Starts the schedulers. Errors: `ealready` if a runtime is running,
  /// the reactor's errors (`unsupported` backend, emfile, ...).
  static result<void> start(const runtime_options& opts = {});

  /// Ends every process (exit reason `shutdown`, as an untrappable stop:
  /// each one's frame is destroyed, its links and monitors fire, the
  /// sockets it owns are closed), then stops and joins the schedulers.
  /// A socket closed with data still queued (gen_tcp's close writes it out
  /// first, as inet's lingers) is given up to `grace` to finish; one still
  /// writing then is closed with what is left dropped, and a report line.
  /// From a plain thread only. No-op if not running.
  static void stop(std::chrono::milliseconds grace = std::chrono::milliseconds(10000));

  static bool running() noexcept;
  /// A stop has begun (runtime::stop is ending every process), until the
  /// next start. @threadsafe
  static bool stopping() noexcept;
  /// Number of scheduler threads (0 when not running).
  static unsigned schedulers() noexcept;
  /// Live processes, over all schedulers (mailboxes of plain threads too).
  static std::size_t process_count() noexcept;
  /// Each scheduler's statistics, in index order; empty when not running.
  /// Callable from any thread or process while the runtime runs (not
  /// during stop); the counters are read as they are, without stopping
  /// the schedulers.
  static std::vector<scheduler_statistics> statistics();
};

}  // namespace otpnet
