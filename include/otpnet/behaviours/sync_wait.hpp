// File: otpnet/behaviours/sync_wait.hpp
//
// `sync_wait(task)`: the blocking form of every behaviour API, for plain
// threads (main, a test). It runs the task in a short-lived helper process
// and blocks the calling thread until the task finishes:
//
//   auto r = sync_wait(gen_server::call<int>(srv, get{}, 5s));
//
// The helper owns the waiting (its monitors, its reply boxes), so the
// calling thread's own mailbox, if it has one, never sees any of it. Never
// call it from a process: that would block a scheduler thread.
#pragma once

#include <otpnet/runtime/proc.hpp>
#include <otpnet/runtime/process.hpp>

#include <condition_variable>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <type_traits>
#include <utility>

namespace otpnet {

namespace detail {

template <class T>
struct sync_state {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  std::exception_ptr error;
  std::conditional_t<std::is_void_v<T>, bool, std::optional<T>> value{};

  void finish(std::exception_ptr e) {
    std::lock_guard lk(mu);
    if (!done) {
      done = true;
      error = std::move(e);
      cv.notify_all();
    }
  }
};

/// Wakes the waiting thread if the helper ends without a result (the
/// runtime stops, or something kills it).
template <class T>
struct sync_guard {
  std::shared_ptr<sync_state<T>> st;
  explicit sync_guard(std::shared_ptr<sync_state<T>> s) : st(std::move(s)) {}
  sync_guard(sync_guard&&) noexcept = default;
  sync_guard& operator=(sync_guard&&) = delete;
  sync_guard(const sync_guard&) = delete;
  sync_guard& operator=(const sync_guard&) = delete;
  ~sync_guard();
};

/// The exception a plain thread gets when the helper was ended before it
/// finished.
std::exception_ptr sync_abandoned();

template <class T>
sync_guard<T>::~sync_guard() {
  if (st) {
    st->finish(sync_abandoned());
  }
}

}  // namespace detail

/// Runs `t` in a helper process and blocks the calling plain thread until
/// it finishes; returns its value or rethrows its exception. Throws
/// std::system_error if the runtime is not running, or if the helper was
/// ended first (the runtime stopped).
template <class T>
T sync_wait(task<T> t) {
  auto st = std::make_shared<detail::sync_state<T>>();
  spawn([t = std::move(t), guard = detail::sync_guard<T>(st)]() mutable -> proc {
    std::exception_ptr error;
    try {
      if constexpr (std::is_void_v<T>) {
        co_await std::move(t);
      } else {
        T v = co_await std::move(t);
        std::lock_guard lk(guard.st->mu);
        guard.st->value.emplace(std::move(v));
      }
    } catch (...) {
      error = std::current_exception();
    }
    guard.st->finish(std::move(error));
  });
  std::unique_lock lk(st->mu);
  st->cv.wait(lk, [&] { return st->done; });
  if (st->error) {
    std::rethrow_exception(st->error);
  }
  if constexpr (!std::is_void_v<T>) {
    return std::move(*st->value);
  }
}

}  // namespace otpnet
