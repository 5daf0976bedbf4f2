// File: apps/otpnet-echo/signals.hpp
//
// How otpnet-echo takes its signals: the main thread alone, by sigwait.
// `signal_set` blocks SIGTERM, SIGINT, SIGHUP and SIGUSR1 (the internal
// wake-up) when it is made, before any other thread starts, so that every
// thread inherits the mask and no handler ever runs. `drainer` runs the
// listener's drain on a thread of its own and publishes its result through
// an atomic flag, then wakes the main thread; the main thread meanwhile
// still answers signals: SIGHUP reloads, a second SIGTERM or SIGINT stops
// at once.
#pragma once

#include <otpnet/behaviours/outcome.hpp>
#include <otpnet/listener/tcp_listener.hpp>

#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <thread>

namespace otpnet::echo {

class drainer;

class signal_set {
 public:
  /// Blocks the signals on the calling thread (call it first in main).
  signal_set();
  signal_set(const signal_set&) = delete;
  signal_set& operator=(const signal_set&) = delete;

  /// Waits for SIGTERM or SIGINT and returns it; calls `on_hup` for each
  /// SIGHUP meanwhile. Returns 0 if `ended()` holds at a wake().
  int wait_stop(const std::function<void()>& on_hup, const std::function<bool()>& ended) const;
  /// Waits until `d` is done (true), or until a SIGTERM or SIGINT comes
  /// first (false: stop at once); calls `on_hup` for each SIGHUP.
  bool wait_drained(const drainer& d, const std::function<void()>& on_hup) const;
  /// Waits until `done()` holds at a wake() (true), or until a SIGTERM or
  /// SIGINT comes first (false); calls `on_hup` for each SIGHUP.
  bool wait_for(const std::function<bool()>& done, const std::function<void()>& on_hup) const;
  /// Wakes wait_drained. @threadsafe
  void wake() const noexcept;

 private:
  int next() const noexcept;

  sigset_t set_{};
  pthread_t waiter_;
};

class drainer {
 public:
  /// Starts draining `listener` with `deadline`; `wake` is woken when done.
  drainer(std::string listener, std::chrono::milliseconds deadline, const signal_set& wake);
  ~drainer();
  drainer(const drainer&) = delete;
  drainer& operator=(const drainer&) = delete;

  /// The drain has answered. @threadsafe
  bool done() const noexcept { return done_.load(std::memory_order_acquire); }
  /// Its answer. Precondition: done().
  const outcome<listener::drain_result>& result() const noexcept { return *result_; }

 private:
  // Written by the thread before `done_` is set (release), read after it
  // is seen (acquire): never at the same time.
  std::optional<outcome<listener::drain_result>> result_;
  std::atomic<bool> done_{false};
  std::thread thread_;
};

}  // namespace otpnet::echo
