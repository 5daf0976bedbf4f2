// File: runtime/scheduler.hpp (private)
//
// A scheduler: one thread, one reactor event loop, one run queue. Its loop
// has three steps (libuv-style named phases, each bounded):
//   1. wake-ups  take the processes other threads made runnable;
//   2. run       resume up to `max_runs` processes from the run queue;
//   3. io        run the reactor turn: socket readiness, timers, posted
//                tasks; it waits only when the run queue is empty.
// Processes never move between schedulers.
#pragma once

#include <otpnet/reactor/event_loop.hpp>
#include <otpnet/runtime/port.hpp>
#include <otpnet/runtime/runtime.hpp>
#include <otpnet/socket/poller.hpp>

#include "internal/id_tables.hpp"
#include "runtime/mpsc_queue.hpp"
#include "runtime/process_record.hpp"

#include <atomic>
#include <memory>
#include <optional>
#include <thread>
#include <unordered_set>
#include <vector>

namespace otpnet::internal {

class scheduler final : private reactor::io_handler, private reactor::timer_handler {
 public:
  scheduler(unsigned index, std::unique_ptr<reactor::event_loop> loop, int reductions);
  ~scheduler();
  scheduler(const scheduler&) = delete;
  scheduler& operator=(const scheduler&) = delete;

  void start();
  /// Kills every process here, then stops the thread once the lingering
  /// resources here have finished, or `grace` has passed (they are
  /// abandoned then). @threadsafe
  void request_stop(std::chrono::milliseconds grace) noexcept;
  void join();

  unsigned index() const noexcept { return index_; }
  bool on_this_thread() const noexcept { return current() == this; }
  /// The scheduler whose thread is calling, or nullptr. (Inline: the
  /// receive path asks it for the running process's scheduler.)
  static scheduler* current() noexcept { return this_scheduler; }
  /// The process running on this thread now, or nullptr.
  static process* running() noexcept { return running_process; }
  /// The reductions the running process has left in this run (set when it
  /// is resumed: only the running process has any, so they are kept here
  /// rather than in every process's record).
  static int& budget() noexcept { return running_budget; }

  /// Live processes here. @threadsafe (approximate)
  std::size_t load() const noexcept { return live_.load(std::memory_order_relaxed); }

  /// After a stop request: every process here has ended and nothing is
  /// queued for this scheduler. Its thread ends once every scheduler of the
  /// runtime is quiet (each wakes the others when it becomes quiet); until
  /// then a process still running on another one may spawn here (or post
  /// here), and what comes is ended here, so that nothing is left for a
  /// loop that no longer runs. @threadsafe
  bool quiet() const noexcept { return quiet_.load(std::memory_order_seq_cst); }

  // -- owner thread -------------------------------------------------------------

  /// Takes a new process: it starts when first run.
  void adopt(process* p) noexcept;
  /// Delivers from this thread: a message goes to the mailbox, a signal to
  /// the signal list, and the process is scheduled if that can wake it.
  void deliver_local(process* p, detail::envelope* e) noexcept;
  /// Puts `p` on the run queue (once).
  void make_runnable(process* p) noexcept;
  /// The running process's signals that do not end it, handled now (a
  /// receive that will not wait; demonitor's flush): handle_signals(p, false).
  void settle_running(process* p) noexcept { (void)handle_signals(p, false); }
  reactor::event_loop& loop() noexcept { return *loop_; }
  socket::poll_set& polls() noexcept { return polls_; }

  /// Starts and cancels a receive timeout for `p`. Arming only records the
  /// timeout: it goes on the timer wheel at the end of the run phase, if
  /// `p` still waits then. Most receives with a timeout (a call's 5 s) are
  /// answered within the phase, and then cost neither a clock read nor a
  /// wheel insert and cancel. A deferred timeout counts from the end of the
  /// phase, so it fires late by at most the rest of that phase (timers fire
  /// only between phases anyway), never early.
  void arm_receive_timer(process* p, long long ms) noexcept;
  void disarm_receive_timer(process* p) noexcept;

  /// send_after timers.
  std::uint64_t start_send_timer(std::chrono::milliseconds t, pid to, detail::envelope* e);
  /// Frees the messages of the send timers still armed (the runtime stops).
  void drop_send_timers() noexcept;
  std::optional<std::chrono::milliseconds> cancel_send_timer(std::uint64_t id) noexcept;
  /// Cancels the send timers here aimed at `to`, which has ended (OTP
  /// cancels a timer whose receiver is gone).
  void cancel_timers_to(pid to) noexcept;
  /// After `ended` was retired with `marks`: cancels its timers here, and
  /// asks the other schedulers to cancel theirs.
  void cancel_timers_of(pid ended, std::uint32_t marks) noexcept;
  std::optional<std::chrono::milliseconds> read_send_timer(std::uint64_t id) const noexcept;

  // -- any thread -------------------------------------------------------------------

  /// Wakes `p` for its inbox (after a push by another thread).
  void wake_remote(process* p) noexcept;
  /// Runs `t` on this scheduler's thread.
  void post(reactor::task t) { loop_->post(std::move(t)); }
  /// False once the scheduler's thread has left its loop (see
  /// event_loop::try_post).
  bool try_post(reactor::task t) { return loop_->try_post(std::move(t)); }

  int reductions() const noexcept { return reductions_; }

  /// Queues `h` to run after this run phase.
  void at_end_of_turn(std::shared_ptr<port_resource> h) noexcept { end_hooks_.push_back(std::move(h)); }

  /// See detail::linger_begin and linger_end (runtime/port.hpp).
  bool linger_begin(port_resource& r) noexcept;
  void linger_end(port_resource& r) noexcept;

 private:
  static constinit inline thread_local scheduler* this_scheduler = nullptr;
  static constinit inline thread_local process* running_process = nullptr;
  static constinit inline thread_local int running_budget = 0;
  void run();
  /// Handles inbox and signals, then resumes `p` if it can go on.
  void service(process* p) noexcept;
  void drain_inbox(process* p) noexcept;
  /// Applies the pending signals; false if one ended the process. With
  /// `may_end` false (the running process itself, whose receive will not
  /// wait), stops before a signal that would end it, leaving it and what
  /// follows for its next service.
  bool handle_signals(process* p, bool may_end = true) noexcept;
  /// The reason a pending exit signal `p` sent itself ends it with, if one
  /// would (for a body that returned before it waited again).
  static std::optional<exit_reason> own_exit(process* p) noexcept;
  void resume(process* p) noexcept;
  /// Ends `p` (not running): frame, links, monitors, names, sockets, slot.
  void finalize(process* p, const exit_reason& why) noexcept;
  void kill_all() noexcept;
  /// The stop's grace is over: closes what still lingers.
  void abandon_lingering() noexcept;
  /// Whether every scheduler of the runtime is quiet().
  static bool all_quiet() noexcept;
  /// Wakes every other scheduler's loop (this one just became quiet).
  void wake_others() noexcept;
  void run_end_hooks() noexcept;
  /// Puts the receive timeouts deferred during the run phase on the wheel.
  void arm_deferred_timers() noexcept;

  void on_io(std::uint64_t token, reactor::readiness r) noexcept override;
  void on_timer(std::uint64_t token) noexcept override;

  struct send_timer {
    pid to;
    detail::envelope* msg = nullptr;
    reactor::timer_handle handle{};
    /// Bumped at each use of the slot: a timer_ref names the slot and its
    /// use, so that one that fired cannot reach the slot's next timer (the
    /// wheel's generation is its node's, and a new node starts at 1).
    std::uint32_t use = 0;
    /// The other timers here aimed at the same process (its list's head is
    /// in timers_by_target_), so that its end cancels them all.
    std::uint32_t prev = no_timer;
    std::uint32_t next = no_timer;
    bool tracked = false;  // in timers_by_target_ (a process's, not a mailbox's)
  };
  static constexpr std::uint32_t no_timer = ~std::uint32_t{0};
  void track_timer(std::uint32_t idx);
  void untrack_timer(std::uint32_t idx) noexcept;
  /// Frees slot `idx`, its message and its place in the wheel: the time
  /// it had left.
  std::optional<std::chrono::milliseconds> free_send_timer(std::uint32_t idx) noexcept;

  unsigned index_;
  std::unique_ptr<reactor::event_loop> loop_;
  int reductions_;
  socket::poll_set polls_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  bool shutting_down_ = false;          // kill_all ran: no process runs any more
  bool grace_over_ = false;             // and the stop's grace has passed
  std::chrono::milliseconds grace_{0};  // (written before kill_all is posted)
  // Resources still lingering after their owner let them go (closes
  // writing out their queues): the stop waits for them. Few, and rare.
  std::unordered_set<port_resource*> lingering_;
  std::atomic<std::size_t> live_{0};
  std::atomic<bool> quiet_{false};  // see quiet()
  // Run queue: owner-only intrusive FIFO through process::next_run.
  process* runq_head_ = nullptr;
  process* runq_tail_ = nullptr;
  // Processes that other threads woke.
  mpsc_queue<run_node, &run_node::next> remote_;
  std::atomic<bool> remote_signalled_{false};
  std::vector<send_timer> send_timers_;
  id_map<pid, std::uint32_t> timers_by_target_;  // the first of each process's list
  std::vector<process*> timer_waits_;            // deferred receive timeouts
  std::vector<std::uint32_t> free_send_timers_;
  std::vector<std::shared_ptr<port_resource>> end_hooks_;  // held until they have run
  std::vector<std::shared_ptr<port_resource>> end_hooks_running_;
};

}  // namespace otpnet::internal
