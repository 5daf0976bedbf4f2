// File: otpnet/reactor/event_loop.hpp
//
// `event_loop`: one per scheduler thread. It owns a backend, a timer wheel
// and a wake-up descriptor, and runs in turns of three named, bounded
// phases (io, timers, posted; see `event_loop`). `io_handler` is how the
// runtime and the socket layer receive readiness. Cross-thread rules:
// `post`, `wake` and `stop` are @threadsafe; every other method belongs to
// the owner thread and asserts so in debug builds.
#pragma once

#include <otpnet/base/result.hpp>
#include <otpnet/reactor/backend.hpp>
#include <otpnet/reactor/task.hpp>
#include <otpnet/reactor/timer_wheel.hpp>
#include <otpnet/reactor/wakeup.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>
#include <vector>

namespace otpnet::reactor {

/// Receives readiness of the descriptors it was added for, on the loop
/// thread. It may add, modify and remove descriptors (its own included),
/// arm timers and post. Once `event_loop::remove` returns, the handler is
/// not called again for that descriptor, so it may be destroyed.
class io_handler {
 public:
  /// `token` is the one given to `event_loop::add`; see the readiness
  /// contract in backend.hpp for what `r` promises.
  virtual void on_io(std::uint64_t token, readiness r) noexcept = 0;

  /// The completion of a receive queued with `event_loop::submit_recv` or
  /// `submit_recv_multishot`: `result`, `data` and `more` as in `io_event`
  /// (bytes received, 0 at the end of the stream, or a negated errno;
  /// `more`: a multishot receive goes on). `data` is valid during the call
  /// only. Only handlers that submit receives get this; the default ignores
  /// it.
  virtual void on_recv(std::uint64_t token, std::int32_t result, const std::byte* data, bool more) noexcept {
    (void)token;
    (void)result;
    (void)data;
    (void)more;
  }

  /// A connection taken by the multishot accept of
  /// `event_loop::submit_accept`: `result` is its descriptor (the handler
  /// owns it) or a negated errno; `more` false means the accept ended. The
  /// default closes the descriptor.
  virtual void on_accept(std::uint64_t token, std::int32_t result, bool more) noexcept;

  /// The completion of a send queued with `event_loop::submit_send`:
  /// `result` is the bytes sent (possibly fewer than queued) or a negated
  /// errno (EAGAIN: the socket took nothing). Only handlers that submit
  /// sends get this; the default ignores it.
  virtual void on_send(std::uint64_t token, std::int32_t result) noexcept {
    (void)token;
    (void)result;
  }

 protected:
  ~io_handler() = default;
};

/// Settings of a loop.
struct loop_options {
  /// Backend name; empty: OTPNET_BACKEND (or OTPNET_REACTOR), else the
  /// default (see backend_selector).
  std::string_view backend;
  /// Events fetched and dispatched per turn.
  std::size_t max_events = 256;
  /// Timers fired per turn.
  std::size_t max_timers_per_turn = 1024;
  /// Posted tasks run per turn.
  std::size_t max_posted_per_turn = 1024;
  /// The time source for timers; empty: std::chrono::steady_clock::now.
  /// Tests inject a manual clock.
  std::function<timer_wheel::time_point()> clock;
};

/// What one turn did, phase by phase.
struct turn_stats {
  std::size_t io = 0;      ///< handler calls made
  std::size_t timers = 0;  ///< timers fired
  std::size_t posted = 0;  ///< tasks run
  bool woken = false;      ///< a cross-thread wake was consumed
  bool stopped = false;    ///< this turn consumed a stop request

  /// Handler calls, timers and tasks together: zero for an idle turn.
  std::size_t total() const noexcept { return io + timers + posted; }
};

/// The loop. Created on (and owned by) the thread that calls `create`; use
/// `bind_to_current_thread` to hand it to another thread before it runs.
///
/// A turn (`run_once`) has three phases, each bounded (libuv's uv_run, with
/// limits, so that no source of work starves the others):
///
///   1. io      poll the backend (not waiting if work is pending; else until
///              the next timer, at most `max_wait`) and dispatch the batch
///              (at most `max_events`) to each descriptor's `io_handler`;
///   2. timers  fire the timers due by now (at most `max_timers_per_turn`);
///   3. posted  run the tasks posted before the phase began (at most
///              `max_posted_per_turn`; the rest wait for the next turn).
class event_loop {
 public:
  using time_point = timer_wheel::time_point;

  /// A loop over the backend `opts.backend` names. Errors: those of
  /// `backend_selector::create` and `wakeup::create`.
  static result<std::unique_ptr<event_loop>> create(loop_options opts = {}) noexcept;

  /// A loop over `b` (a backend chosen elsewhere, or a test double).
  /// Errors: those of `wakeup::create`, and of `b->add` for its descriptor.
  static result<std::unique_ptr<event_loop>> create(std::unique_ptr<backend> b, loop_options opts = {}) noexcept;

  /// Closes the backend and the wake-up descriptor. Descriptors still added
  /// are not closed (the loop never owns them). Owner thread only.
  ~event_loop();

  event_loop(const event_loop&) = delete;
  event_loop& operator=(const event_loop&) = delete;

  // -- running ----------------------------------------------------------------

  /// One turn: io, timers, posted (see the file comment). The io phase waits
  /// at most `max_wait` (no value: until an event, a timer or a wake), and
  /// not at all when work is pending or `stop` was called. A stop request is
  /// consumed by the turn and reported in `turn_stats::stopped`. Errors: `invalid`
  /// (called from inside a turn, by a handler or task), and a broken
  /// backend (`poll`'s errors), after which the loop should be abandoned.
  result<turn_stats> run_once(std::optional<std::chrono::milliseconds> max_wait);

  /// One turn that waits (`block`) as long as needed or not at all.
  result<turn_stats> poll_once(bool block) {
    return run_once(block ? std::nullopt : std::optional(std::chrono::milliseconds(0)));
  }

  /// Runs turns until one consumes a stop request (made before or during
  /// `run`). Errors: as `run_once`.
  result<void> run();

  /// Requests a stop: the current or next turn does not wait and reports
  /// `stopped`, which makes `run` return. @threadsafe
  void stop() noexcept;

  /// Whether the next turn has work it will not wait for: due timers,
  /// posted tasks, or a stop request.
  bool has_pending_work() const noexcept { return pending_work(now()); }

  // -- descriptors --------------------------------------------------------------

  /// Starts watching `fd` (edge-triggered, see backend.hpp): readiness goes
  /// to `h.on_io(token, ...)`; what is ready already is reported by the
  /// next poll. `h` must outlive the registration. A watch the kernel kept
  /// for the same open file under the same number (after
  /// `remove_before_close`, when a dup kept the file open) is taken over.
  /// Errors: `ebadf` (negative or not open), `eexist` (already added),
  /// `enomem` (the registration table could not grow to `fd`), and the
  /// backend's. The token is 32 bits (a slot, an index): the table holds
  /// an entry per descriptor number, 16 bytes with it.
  result<void> add(int fd, interest what, io_handler& h, std::uint32_t token);

  /// Changes the interest of an added `fd`. Errors: `enoent` (not added),
  /// and the backend's.
  result<void> modify(int fd, interest what);

  /// Stops watching `fd`; call before closing it. From the return on, no
  /// readiness is delivered for this registration, even from the batch
  /// being dispatched. The registration is forgotten even if the backend
  /// reports an error (`ebadf`: `fd` was closed first). Errors: `enoent`
  /// (not added), and the backend's.
  result<void> remove(int fd);

  /// `remove` for a descriptor the caller closes right after, before the
  /// loop runs again: on epoll, no system call (the close ends the watch;
  /// see backend::remove_before_close for a descriptor whose open file is
  /// shared: its later events are dropped here, like a removed one's).
  /// Errors: as `remove`.
  result<void> remove_before_close(int fd);

  /// Whether the backend completes receives (`submit_recv`).
  bool supports_recv() const noexcept { return backend_->supports_recv(); }

  /// Queues one receive on an added stream descriptor, into a buffer of the
  /// backend's; its completion goes to the handler's `on_recv`. At most one
  /// per descriptor; `remove` cancels it. Errors: `enoent` (not added), and
  /// the backend's (`unsupported`, `ealready`, `ebusy`).
  result<void> submit_recv(int fd);

  /// Whether the backend takes multishot receives (`submit_recv_multishot`).
  bool supports_recv_multishot() const noexcept { return backend_->supports_recv_multishot(); }

  /// Queues a receive that goes on after each completion (see
  /// backend::submit_recv_multishot); each goes to the handler's `on_recv`,
  /// with `more` true until the last. Errors: as `submit_recv`.
  result<void> submit_recv_multishot(int fd);

  /// Asks the kernel to end the receive in flight on `fd`; `on_recv` still
  /// gets its last completion (bytes that came first, or ECANCELED) at a
  /// later turn. Errors: `enoent`, the backend's.
  result<void> cancel_recv(int fd);

  /// Whether the backend accepts connections itself (`submit_accept`).
  bool supports_accept() const noexcept { return backend_->supports_accept(); }

  /// Starts a multishot accept on an added listening descriptor; each
  /// connection goes to the handler's `on_accept`. `remove` cancels it.
  /// Errors: `enoent` (not added), and the backend's.
  result<void> submit_accept(int fd);

  /// Stops the accept on `fd` before returning; `on_accept` still gets what
  /// it took before, then ECANCELED with `more` false. Errors: `enoent`.
  result<void> cancel_accept(int fd);

  /// Ends the receive in flight on `fd` now and returns its completion
  /// (see backend::cancel_recv_now); `on_recv` is not called for it. The
  /// bytes (`data`) stay valid until the next turn. A multishot receive's
  /// completions come one per call, in order, until one with `more` false:
  /// first those of the batch being dispatched (taken out of it), then the
  /// backend's. Errors: `enoent`, the backend's.
  result<io_event> cancel_recv_now(int fd);

  /// The backend, for inspection (its name; a test's look at its counters).
  const backend& io_backend() const noexcept { return *backend_; }

  /// Appends the loop's counters since it was made (turns; handler calls,
  /// timers fired and tasks run, as turn_stats counts them), then its
  /// backend's. Callable from any thread (runtime::statistics).
  void read_counters(std::vector<counter_reading>& out) const;

  /// Whether the backend makes sends with its wait (`submit_send`).
  bool supports_send() const noexcept { return backend_->supports_send(); }

  /// Queues one send of `iov` on an added stream descriptor, made with the
  /// loop's next wait; its completion goes to the handler's `on_send`. The
  /// bytes must stay as they are until then, or until `cancel_send_now`
  /// or `remove` (see backend::submit_send). At most one per descriptor.
  /// Errors: `enoent` (not added), and the backend's (`unsupported`,
  /// `ealready`, `ebusy`, `invalid`).
  result<void> submit_send(int fd, const ::iovec* iov, std::size_t n);

  /// Ends the send in flight on `fd` now and returns its completion, even
  /// one already fetched in the batch being dispatched; `on_send` is not
  /// called for it. `result` is the bytes sent, or ECANCELED when nothing
  /// was. Errors: `enoent` (none in flight), the backend's.
  result<io_event> cancel_send_now(int fd);

  /// Number of descriptors added and not removed (the wake-up's excluded).
  std::size_t watched_count() const noexcept { return watched_; }

  // -- timers -------------------------------------------------------------------

  /// The loop's clock: the injected one or steady_clock.
  time_point now() const { return clock_ ? clock_() : timer_wheel::clock::now(); }

  /// Arms a timer firing `delay` from now; `h.on_timer(token)` runs in the
  /// timers phase. `h` must outlive the timer.
  timer_handle start_timer(std::chrono::milliseconds delay, timer_handler& h, std::uint64_t token);

  /// Arms a timer firing at the absolute `deadline`.
  timer_handle start_timer_at(time_point deadline, timer_handler& h, std::uint64_t token);

  /// Disarms a timer: its time left, or no value if it already fired or was
  /// cancelled (OTP's cancel_timer returning false).
  std::optional<std::chrono::milliseconds> cancel_timer(timer_handle t) noexcept;

  /// Disarms a timer without reading the clock: whether it was armed.
  bool disarm_timer(timer_handle t) noexcept;

  /// The time left of a timer, or no value if it already fired or was
  /// cancelled (OTP's read_timer).
  std::optional<std::chrono::milliseconds> read_timer(timer_handle t) const noexcept;

  /// Armed timers.
  std::size_t timer_count() const noexcept { return timers_.size(); }

  // -- thread-safe signaling --------------------------------------------------

  /// Queues `t` to run on the loop thread in a later posted phase, in post
  /// order, and wakes the loop if it sleeps. @threadsafe
  void post(task t);
  /// As `post`, unless `close_posts` has been called: then `t` is
  /// destroyed unrun and the answer is false, so that a caller waiting for
  /// what `t` would do does not wait for ever. @threadsafe
  bool try_post(task t);
  /// For a loop that will not run again (its thread is ending): runs what
  /// was posted so far, and refuses whatever `try_post` offers from now on
  /// (`post` still queues, for the loop's destruction to drop). Owner
  /// thread only.
  void close_posts();

  /// Interrupts a waiting poll (coalesced; no system call if a wake is
  /// already pending). @threadsafe
  void wake() noexcept { wakeup_.wake(); }

  // -- thread affinity ------------------------------------------------------------

  /// Makes the calling thread the owner. Call before the loop runs there,
  /// while no other thread runs it (posts may race with it: none is lost).
  void bind_to_current_thread() noexcept;

  /// Whether the calling thread is the owner. @threadsafe
  bool in_owner_thread() const noexcept { return owner_.load(std::memory_order_relaxed) == std::this_thread::get_id(); }

  /// Aborts with a message (in debug builds) unless called from the owner
  /// thread: calling a loop-affine method elsewhere is a programming error.
  void assert_in_owner_thread() const noexcept {
#ifndef NDEBUG
    if (!in_owner_thread()) {
      abort_not_owner();
    }
#endif
  }

 private:
  struct registration {
    io_handler* handler = nullptr;
    std::uint32_t token = 0;
    std::uint32_t generation = 0;
  };
  static_assert(sizeof(registration) == 16, "a registration per descriptor number: keep it two words");

  event_loop(std::unique_ptr<backend> b, wakeup w, loop_options& opts) noexcept;
  [[noreturn]] static void abort_not_owner() noexcept;

  result<void> io_phase(std::optional<std::chrono::milliseconds> max_wait, turn_stats& stats);
  /// Whether `fd` is added.
  bool watched(int fd) const noexcept;
  std::size_t posted_phase();
  bool posted_pending() const noexcept;
  bool pending_work(time_point t) const noexcept;
  /// `op()` (a backend operation on `fd`), on the owner thread, if `fd` is
  /// added; else `enoent`.
  template <class F>
  auto on_watched(int fd, F&& op) -> decltype(op());
  /// The next completion of kind `k` for the watched `fd` in the batch
  /// being dispatched, taken out of it (its entry then names no descriptor
  /// and is skipped), else what `from_backend` returns; either with the
  /// registration's token.
  template <class F>
  result<io_event> take_completion(int fd, event_kind k, F&& from_backend);

  std::unique_ptr<backend> backend_;
  wakeup wakeup_;
  std::function<time_point()> clock_;
  timer_wheel timers_;
  std::vector<io_event> events_;
  std::size_t batch_next_ = 0;      // the batch being dispatched: the next event
  std::size_t batch_end_ = 0;       // and its end
  std::vector<registration> regs_;  // indexed by descriptor
  std::size_t watched_ = 0;
  std::size_t max_timers_;
  std::size_t max_posted_;
  std::atomic<std::thread::id> owner_;
  std::atomic<bool> stop_{false};
  bool in_turn_ = false;
  loop_counter turns_;
  loop_counter io_calls_;
  loop_counter timers_fired_;
  loop_counter tasks_run_;

  // Posted tasks: producers append to incoming_ under the mutex; the loop
  // swaps it with the drained running_ and runs running_ from run_next_.
  mutable std::mutex post_mutex_;
  std::vector<task> incoming_;
  std::atomic<bool> has_incoming_{false};
  bool posts_closed_ = false;  // (under post_mutex_) see close_posts
  std::vector<task> running_;
  std::size_t run_next_ = 0;
};

}  // namespace otpnet::reactor
