#include "runtime/scheduler.hpp"

#include <otpnet/runtime/exception_reason.hpp>
#include <otpnet/runtime/socket_select.hpp>

#include "runtime/names.hpp"
#include "runtime/process_table.hpp"
#include "runtime/reports.hpp"
#include "runtime/runtime_state.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <memory>
#include <typeinfo>

namespace otpnet::internal {

namespace {

constexpr std::uint32_t poll_token = 1;
constexpr std::uint64_t recv_timer_tag = std::uint64_t{1} << 63;
// The stop's grace (send timers' tokens are below 2^32, receive timers'
// have the top bit).
constexpr std::uint64_t grace_token = std::uint64_t{1} << 32;
constexpr int max_runs = 256;
constexpr int max_remote_wakeups = 1024;  // per turn
constexpr int poll_batch = 256;           // socket readiness events per dispatch

}  // namespace

void send_signal(pid to, detail::envelope* e) noexcept;

scheduler::scheduler(unsigned index, std::unique_ptr<reactor::event_loop> loop, int reductions)
    : index_(index), loop_(std::move(loop)), reductions_(reductions) {}

scheduler::~scheduler() { join(); }

void scheduler::start() {
  thread_ = std::thread([this] {
    loop_->bind_to_current_thread();
    this_scheduler = this;
    if (polls_.fd() >= 0) {
      if (auto added = loop_->add(polls_.fd(), reactor::interest::read, *this, poll_token); !added) {
        // (A small descriptor number: practically only the kernel's ENOMEM.)
        try {
          spdlog::critical(
              "otpnet: scheduler {}: its poll set cannot be watched ({}): the sockets it polls for "
              "the socket module will get no select messages",
              index_, format_error(added.error()));
        } catch (...) {
        }
      }
    }
    run();
    // A plain thread's send_after or cancel_timer that comes from now on is
    // refused instead of waiting for a loop that no longer runs; one that
    // came before is run here (its timer then dropped with the others).
    loop_->close_posts();
    if (polls_.fd() >= 0) {
      (void)loop_->remove(polls_.fd());
    }
    drop_send_timers();
    this_scheduler = nullptr;
  });
}

void scheduler::request_stop(std::chrono::milliseconds grace) noexcept {
  // (Read by kill_all, which the post below orders after this. At most a
  // year: the loop's deadline is a time point that must not overflow.)
  grace_ = std::min(grace, std::chrono::milliseconds(std::chrono::hours(24 * 365)));
  stopping_.store(true, std::memory_order_release);
  loop_->post([this] { kill_all(); });
  loop_->wake();
}

void scheduler::join() {
  if (thread_.joinable()) {
    thread_.join();
  }
}

// -- the loop ------------------------------------------------------------------

void scheduler::run() {
  for (;;) {
    // 1. wake-ups from other threads. An exchange, not a store: it orders
    // the pops below after it (a store could pass them, so that a push
    // made meanwhile found the flag still set, woke nobody, and was not
    // seen by the pops either).
    (void)remote_signalled_.exchange(false, std::memory_order_acq_rel);
    // Bounded: senders on other schedulers that keep a process's inbox
    // busy re-queue it as fast as it is taken; the rest waits a turn (the
    // loop then does not sleep: remote_ is not empty).
    int woken = 0;
    while (woken++ < max_remote_wakeups) {
      run_node* n = remote_.pop();
      if (n == nullptr) {
        break;
      }
      auto* p = static_cast<process*>(n);
      p->remote_pending.store(false, std::memory_order_seq_cst);
      if (p->state == pstate::dead) {
        delete p;  // it ended while queued here: freed by the last holder
        continue;
      }
      if (!p->adopted) {
        continue;  // adopt() will run it, inbox included
      }
      drain_inbox(p);
      if (!p->signals.empty() || p->state == pstate::waiting) {
        make_runnable(p);
      }
    }
    // 2. run
    for (int i = 0; i < max_runs && runq_head_ != nullptr; ++i) {
      process* p = runq_head_;
      runq_head_ = p->next_run;
      if (runq_head_ == nullptr) {
        runq_tail_ = nullptr;
      }
      p->in_runq = false;
      service(p);
    }
    run_end_hooks();
    arm_deferred_timers();
    if (shutting_down_ && live_.load(std::memory_order_acquire) == 0 && lingering_.empty() && runq_head_ == nullptr &&
        remote_.empty() && !loop_->has_pending_work()) {
      // Done here; the thread ends once every scheduler is (see quiet()).
      // What another scheduler's process posted or sent here before its
      // scheduler became quiet is seen by the checks after all_quiet.
      if (!quiet_.exchange(true, std::memory_order_seq_cst)) {
        wake_others();  // one of them may be waiting for this one
      }
      if (all_quiet() && remote_.empty() && !loop_->has_pending_work()) {
        break;
      }
    } else if (shutting_down_) {
      quiet_.store(false, std::memory_order_seq_cst);
    }
    // 3. io, timers, posted tasks: wait only with nothing to run (a quiet
    // scheduler waiting for the others is woken by each that becomes quiet)
    bool idle = runq_head_ == nullptr && remote_.empty();
    (void)loop_->run_once(idle ? std::nullopt : std::optional(std::chrono::milliseconds(0)));
  }
}

void scheduler::wake_others() noexcept {
  if (runtime_state* st = current_state()) {
    for (const auto& s : st->schedulers) {
      if (s.get() != this) {
        s->loop_->wake();
      }
    }
  }
}

bool scheduler::all_quiet() noexcept {
  runtime_state* st = current_state();  // (set until every scheduler has been joined)
  if (st == nullptr) {
    return true;
  }
  for (const auto& s : st->schedulers) {
    if (!s->quiet()) {
      return false;
    }
  }
  return true;
}

void scheduler::run_end_hooks() noexcept {
  // A hook may queue hooks for the next turn: swap first.
  end_hooks_running_.swap(end_hooks_);
  for (const auto& h : end_hooks_running_) {
    h->end_of_turn();
  }
  end_hooks_running_.clear();  // may release the last reference to a hook's owner
}

void scheduler::adopt(process* p) noexcept {
  if (shutting_down_) {
    // Spawned while the runtime stops: it never runs.
    p->adopted = true;
    live_.fetch_add(1, std::memory_order_relaxed);
    finalize(p, exit_reason::shutdown());
    return;
  }
  p->adopted = true;
  live_.fetch_add(1, std::memory_order_relaxed);
  p->state = pstate::runnable;
  make_runnable(p);
}

void scheduler::make_runnable(process* p) noexcept {
  if (p->in_runq) {
    return;
  }
  p->in_runq = true;
  p->next_run = nullptr;
  if (runq_tail_ == nullptr) {
    runq_head_ = runq_tail_ = p;
  } else {
    runq_tail_->next_run = p;
    runq_tail_ = p;
  }
}

void scheduler::wake_remote(process* p) noexcept {
  remote_.push(p);
  if (!remote_signalled_.exchange(true, std::memory_order_acq_rel)) {
    loop_->wake();
  }
}

void scheduler::deliver_local(process* p, detail::envelope* e) noexcept {
  if (is_signal(e)) {
    p->drain_inbox();  // (what other threads sent before goes first, as for a message)
    p->queue_in_signals(e);
    if (p->adopted) {
      make_runnable(p);  // (one spawned here and not yet adopted: adopt() runs it, signals first)
    }
    return;
  }
  // What other threads sent before this send was made goes first: a
  // message that causally precedes this one must not be overtaken.
  p->drain_inbox();
  if (!p->signals.empty()) {
    // Behind a signal still to handle (see drain_inbox).
    p->queue_in_signals(e);
    if (p->adopted) {
      make_runnable(p);
    }
    return;
  }
  p->append(e);
  if (p->state == pstate::waiting) {
    make_runnable(p);
  }
}

void scheduler::drain_inbox(process* p) noexcept { p->drain_inbox(); }

// -- running a process -------------------------------------------------------------

void scheduler::service(process* p) noexcept {
  if (p->state == pstate::dead) {
    return;
  }
  drain_inbox(p);
  if (!handle_signals(p)) {
    return;
  }
  if (p->state == pstate::waiting || (p->state == pstate::runnable && p->waiting_for.test != nullptr)) {
    if (p->matched == nullptr) {
      // A match that arrived with the timeout still wins, as in Erlang.
      p->matched = p->take_match(p->waiting_for, p->state == pstate::waiting ? p->scan_link : &p->head);
      if (p->matched == nullptr && !p->timed_out) {
        p->state = pstate::waiting;
        return;
      }
    }
  }
  resume(p);
}

void scheduler::resume(process* p) noexcept {
  p->waiting_for = {};
  p->state = pstate::running;
  running_budget = reductions_;
  running_process = p;
  {
    socket::sink_scope scope(*p);
    p->resume_point.resume();
  }
  running_process = nullptr;
  if (p->root.done()) {
    exit_reason why = reason_of(p->root.promise().error);
    if (why.is_normal()) {
      // exit(self(), r) before the body returned, with no wait between: as
      // OTP handles a signal to oneself before exit/2 returns, it ends the
      // process with r (killed for kill), not normal.
      why = own_exit(p).value_or(std::move(why));
    }
    finalize(p, why);
    return;
  }
  if (p->state == pstate::running) {
    p->state = pstate::runnable;  // a bare yield
  }
  if (!p->signals.empty()) {
    make_runnable(p);
  }
}

std::optional<exit_reason> scheduler::own_exit(process* p) noexcept {
  for (std::size_t i = 0; i < p->signals.size(); ++i) {
    detail::envelope* e = p->signals.begin()[i];
    if (!is_signal(e)) {
      continue;
    }
    auto* x = detail::payload_if<sig_exit>(e);
    if (x == nullptr || x->from != p->id || x->from_link) {
      continue;
    }
    if (x->reason.what() == exit_reason::kind::kill) {
      return exit_reason::killed();
    }
    if (!p->trap_exit) {
      return std::move(x->reason);  // (the signal is destroyed unread by finalize)
    }
  }
  return std::nullopt;
}

bool scheduler::handle_signals(process* p, bool may_end) noexcept {
  // In place, then erased at once (messages behind a signal can make the
  // list long); a signal that ends the process first erases those handled,
  // so that finalize settles only the rest.
  std::size_t i = 0;
  for (; i < p->signals.size(); ++i) {
    detail::envelope* e = p->signals.begin()[i];
    if (!is_signal(e)) {
      p->append(e);  // a message that came behind a signal: its turn now
      continue;
    }
    std::unique_ptr<detail::envelope, void (*)(detail::envelope*)> guard(e, &detail::destroy_envelope);
    if (auto* x = detail::payload_if<sig_exit>(e)) {
      if (x->from_link && !p->rel.linked(x->from)) {
        continue;  // unlinked meanwhile
      }
      bool untrappable = x->reason.what() == exit_reason::kind::kill && !x->from_link;
      // exit(self(), normal) ends the process that does not trap exits, with
      // normal (OTP's exception to "normal does not end a process").
      bool ends = !x->reason.is_normal() || (x->from == p->id && !x->from_link);
      if (!may_end && (untrappable || (!p->trap_exit && ends))) {
        (void)guard.release();  // left, with what follows, for the next service
        p->signals.erase_front(i);
        return true;
      }
      if (x->from_link) {
        p->rel.erase_link(x->from);
      }
      if (untrappable) {
        guard.reset();
        p->signals.erase_front(i + 1);
        finalize(p, exit_reason::killed());
        return false;
      }
      if (p->trap_exit) {
        // In its place among the messages (not deliver_local: the list is
        // being handled).
        p->append(detail::must_make_envelope<exit_msg>(exit_msg{x->from, x->reason}));
      } else if (ends) {
        exit_reason why = x->reason;
        guard.reset();
        p->signals.erase_front(i + 1);
        finalize(p, why);
        return false;
      }
    } else if (auto* l = detail::payload_if<sig_link>(e)) {
      if (!p->rel.linked(l->from)) {
        p->rel.add_link(l->from);
      }
    } else if (auto* u = detail::payload_if<sig_unlink>(e)) {
      p->rel.erase_link(u->from);
    } else if (auto* m = detail::payload_if<sig_monitor>(e)) {
      p->rel.add_watcher(m->r, m->from);
    } else if (auto* d = detail::payload_if<sig_demonitor>(e)) {
      p->rel.erase_watcher(d->r);
    } else if (auto* a = detail::payload_if<sig_adopt_socket>(e)) {
      p->track(*a->sock);
    }
  }
  p->signals.clear();
  return true;
}

void scheduler::finalize(process* p, const exit_reason& why) noexcept {
  disarm_receive_timer(p);
  if (p->root) {
    p->root.destroy();  // runs the destructors of everything the body held
    p->root = {};
  }
  p->body.reset();
  p->state = pstate::exiting;
  if (!why.is_normal() && !why.is_shutdown() && why.what() != exit_reason::kind::killed) {
    report_crash(p->id, why);
  }
  // Resources first (a gen_tcp port deregisters and closes its own socket),
  // then the raw sockets: closing a port's socket under it first frees its
  // descriptor number, which another thread may reuse before the port's
  // epoll_ctl(DEL) on that number.
  p->release_resources([&](port_resource& r) { r.owner_exited(p->id); });
  // Sockets: no select event may reach the dead process, and the ones it
  // still owns close (their other users see `closed`).
  if (p->extras) {
    for (auto& w : p->extras->sockets) {
      if (auto s = w.lock()) {
        socket::detail::withdraw_sink(*s, *p);
        // A socket this process preferred for its scheduler but never waited
        // on must not keep pointing at the scheduler's poll set, which may go
        // before the socket does (runtime::stop).
        socket::detail::drop_preference(*s, polls_);
        if (socket::detail::owner_of(*s) == p->id.value()) {
          (void)socket::close(socket::socket(std::move(s)));
        }
      }
    }
    p->extras->sockets.clear();
  }
  // Retired first, then its name dropped: a register_name racing with the
  // end sees the pid dead, or has its name dropped here.
  const std::uint32_t marks = process_table::instance().retire(p->id);
  cancel_timers_of(p->id, marks);
  unregister_process(p->id);
  // No sender can reach p any more: what is left in its queues is final.
  drain_inbox(p);
  settle_exit(p, why);
  while (detail::envelope* e = p->head.load(std::memory_order_relaxed)) {
    p->head.store(e->next.load(std::memory_order_relaxed), std::memory_order_relaxed);
    detail::destroy_envelope(e);
  }
  detail::destroy_envelope(p->matched);
  p->matched = nullptr;
  live_.fetch_sub(1, std::memory_order_acq_rel);
  if (p->in_runq) {
    // Unlink from the local run queue.
    process** link = &runq_head_;
    process* prev = nullptr;
    while (*link != nullptr && *link != p) {
      prev = *link;
      link = &(*link)->next_run;
    }
    if (*link == p) {
      *link = p->next_run;
      if (runq_tail_ == p) {
        runq_tail_ = prev;
      }
    }
  }
  p->state = pstate::dead;
  // Still in the remote wake-up queue: freed when taken out of it.
  if (!p->remote_pending.load(std::memory_order_seq_cst)) {
    delete p;
  }
}

void scheduler::kill_all() noexcept {
  shutting_down_ = true;
  // Its processes are found in the process table (no list of them is kept
  // here: 8 bytes a process, and a place in each record). One spawned here
  // but not yet adopted is finalised when it is (shutting_down_).
  process_table::instance().each_owned(this, [this](process* p) {
    if (p->adopted && p->state != pstate::running) {  // (running: cannot happen, tasks run between processes)
      finalize(p, exit_reason::shutdown());
    }
  });
  // Closes still writing out their queues (their owners ended, here just
  // now or before) may go on for the grace; the loop runs until they are
  // done (the quiet check above counts them). A loop's timer that is not
  // due does not keep it running, so this one needs no cancel.
  if (grace_.count() <= 0) {
    abandon_lingering();
  } else {
    try {
      (void)loop_->start_timer(grace_, *this, grace_token);
    } catch (...) {
      abandon_lingering();  // no memory for the timer: no grace either
    }
  }
  loop_->wake();
}

bool scheduler::linger_begin(port_resource& r) noexcept {
  if (grace_over_) {
    return false;
  }
  try {
    return lingering_.insert(&r).second;
  } catch (...) {
    return false;
  }
}

void scheduler::linger_end(port_resource& r) noexcept { (void)lingering_.erase(&r); }

void scheduler::abandon_lingering() noexcept {
  grace_over_ = true;
  // Each abandon ends its linger (linger_end erases it): take them first.
  while (!lingering_.empty()) {
    port_resource* r = *lingering_.begin();
    lingering_.erase(lingering_.begin());
    r->abandon();
  }
}

// -- timers and io --------------------------------------------------------------------

void scheduler::arm_receive_timer(process* p, long long ms) noexcept {
  disarm_receive_timer(p);
  if (ms > std::numeric_limits<std::uint32_t>::max()) {
    // More milliseconds than 32 bits hold (49 days): armed at once.
    p->recv_timer = loop_->start_timer(std::chrono::milliseconds(ms), *this, recv_timer_tag | p->id.value());
    p->recv_timer_armed = true;
    return;
  }
  p->recv_timeout_ms = static_cast<std::uint32_t>(ms);
  p->timer_wait_index = static_cast<std::uint32_t>(timer_waits_.size());
  timer_waits_.push_back(p);
}

void scheduler::disarm_receive_timer(process* p) noexcept {
  if (p->timer_wait_index != process::no_timer_wait) {
    // Swap-and-pop: the receive ended before its timeout reached the wheel.
    process* last = timer_waits_.back();
    timer_waits_[p->timer_wait_index] = last;
    last->timer_wait_index = p->timer_wait_index;
    timer_waits_.pop_back();
    p->timer_wait_index = process::no_timer_wait;
  }
  if (p->recv_timer_armed) {
    (void)loop_->disarm_timer(p->recv_timer);
    p->recv_timer_armed = false;
  }
}

void scheduler::arm_deferred_timers() noexcept {
  if (timer_waits_.empty()) {
    return;
  }
  const reactor::timer_wheel::time_point now = loop_->now();  // one clock read for all of them
  for (process* p : timer_waits_) {
    p->timer_wait_index = process::no_timer_wait;
    p->recv_timer = loop_->start_timer_at(now + std::chrono::milliseconds(p->recv_timeout_ms), *this,
                                          recv_timer_tag | p->id.value());
    p->recv_timer_armed = true;
  }
  timer_waits_.clear();
}

void scheduler::on_timer(std::uint64_t token) noexcept {
  if (token == grace_token) {
    abandon_lingering();
    return;
  }
  if ((token & recv_timer_tag) != 0) {
    process* p = process_table::instance().peek_owned(pid::from_value(token & ~recv_timer_tag), this);
    if (p != nullptr && p->recv_timer_armed) {
      p->recv_timer_armed = false;
      p->timed_out = true;
      make_runnable(p);
    }
    return;
  }
  auto idx = static_cast<std::uint32_t>(token);
  untrack_timer(idx);
  send_timer& t = send_timers_[idx];
  detail::envelope* e = std::exchange(t.msg, nullptr);
  pid to = t.to;
  free_send_timers_.push_back(idx);
  (void)detail::send_envelope(to, e);
}

// The runtime stops with timers still to fire (send_after to a process
// that is gone now): their messages are freed here, on the scheduler's
// thread, with the timers.
void scheduler::drop_send_timers() noexcept {
  timers_by_target_.clear();
  for (std::uint32_t idx = 0; idx < send_timers_.size(); ++idx) {
    send_timer& st = send_timers_[idx];
    st.tracked = false;
    if (st.msg != nullptr) {
      (void)free_send_timer(idx);
    }
  }
}

std::optional<std::chrono::milliseconds> scheduler::free_send_timer(std::uint32_t idx) noexcept {
  send_timer& st = send_timers_[idx];
  auto left = loop_->cancel_timer(st.handle);
  detail::destroy_envelope(std::exchange(st.msg, nullptr));
  free_send_timers_.push_back(idx);
  return left;
}

void scheduler::track_timer(std::uint32_t idx) {
  send_timer& st = send_timers_[idx];
  // (table_allocator: a table that cannot grow ends the program.)
  auto [it, fresh] = timers_by_target_.try_emplace(st.to, idx);
  st.prev = no_timer;
  st.next = no_timer;
  if (!fresh) {
    st.next = it->second;
    send_timers_[it->second].prev = idx;
    it->second = idx;
  }
  st.tracked = true;
}

void scheduler::untrack_timer(std::uint32_t idx) noexcept {
  send_timer& st = send_timers_[idx];
  if (!st.tracked) {
    return;
  }
  st.tracked = false;
  if (st.next != no_timer) {
    send_timers_[st.next].prev = st.prev;
  }
  if (st.prev != no_timer) {
    send_timers_[st.prev].next = st.next;
  } else if (st.next != no_timer) {
    timers_by_target_[st.to] = st.next;  // (the entry exists: no growth)
  } else {
    timers_by_target_.erase(st.to);
    shrink_if_sparse(timers_by_target_);
  }
  st.prev = no_timer;
  st.next = no_timer;
}

void scheduler::cancel_timers_to(pid to) noexcept {
  // One at a time, each taken off the list before it is freed: a message's
  // destructor may cancel another timer of the list (an RAII guard in it),
  // which then finds the list as it is.
  for (auto it = timers_by_target_.find(to); it != timers_by_target_.end(); it = timers_by_target_.find(to)) {
    std::uint32_t idx = it->second;
    untrack_timer(idx);
    (void)free_send_timer(idx);
  }
}

void scheduler::cancel_timers_of(pid ended, std::uint32_t marks) noexcept {
  if ((marks & process_table::timers_here) != 0) {
    cancel_timers_to(ended);
  }
  if ((marks & process_table::timers_elsewhere) == 0) {
    return;
  }
  // Timers started by processes of other schedulers (or plain threads, on
  // scheduler 0): which of them is not recorded (two bits per pid), so
  // each is asked. The mark was set before the timer was made, on the
  // timer's own thread, so the request finds it there.
  runtime_state* st = current_state();
  if (st == nullptr) {
    return;
  }
  for (auto& other : st->schedulers) {
    if (other.get() == this) {
      continue;
    }
    try {
      other->post([s = other.get(), ended] { s->cancel_timers_to(ended); });
    } catch (...) {
      // No memory to ask: those timers fire into nothing, as without this.
    }
  }
}

std::uint64_t scheduler::start_send_timer(std::chrono::milliseconds t, pid to, detail::envelope* e) {
  // A timer aimed at a process is cancelled when the process ends, as
  // OTP's are (for a pid): none is started for one that has ended, and the
  // process's pid is marked, for its end to find this one (see
  // cancel_timers_of). A plain thread's mailbox is not followed: its
  // timers fire into nothing once it is gone.
  process_table& table = process_table::instance();
  bool follow = false;
  if (table.pin(to) == nullptr) {
    detail::destroy_envelope(e);
    return (std::uint64_t{no_timer} << 32) | 1;  // names no slot: cancel and read answer nothing
  }
  if (const void* owner = table.pinned_owner(to); owner != nullptr) {
    table.mark(to, owner == this ? process_table::timers_here : process_table::timers_elsewhere);
    follow = true;
  }
  table.unpin(to);
  std::uint32_t idx;
  if (!free_send_timers_.empty()) {
    idx = free_send_timers_.back();
    free_send_timers_.pop_back();
  } else {
    idx = static_cast<std::uint32_t>(send_timers_.size());
    send_timers_.emplace_back();
  }
  send_timer& st = send_timers_[idx];
  try {
    st.handle = loop_->start_timer(t, *this, idx);
  } catch (...) {
    free_send_timers_.push_back(idx);  // (if this fails too, the slot is only lost)
    throw;
  }
  st.to = to;
  st.msg = e;
  if (++st.use == 0) {
    st.use = 1;  // (an id is never 0: timer_ref's "none")
  }
  if (follow) {
    track_timer(idx);
  }
  return (static_cast<std::uint64_t>(idx) << 32) | st.use;
}

std::optional<std::chrono::milliseconds> scheduler::cancel_send_timer(std::uint64_t id) noexcept {
  auto idx = static_cast<std::uint32_t>(id >> 32);
  if (idx >= send_timers_.size() || send_timers_[idx].msg == nullptr ||
      send_timers_[idx].use != static_cast<std::uint32_t>(id)) {
    return std::nullopt;
  }
  untrack_timer(idx);
  return free_send_timer(idx);
}

std::optional<std::chrono::milliseconds> scheduler::read_send_timer(std::uint64_t id) const noexcept {
  auto idx = static_cast<std::uint32_t>(id >> 32);
  if (idx >= send_timers_.size() || send_timers_[idx].msg == nullptr ||
      send_timers_[idx].use != static_cast<std::uint32_t>(id)) {
    return std::nullopt;
  }
  return loop_->read_timer(send_timers_[idx].handle);
}

void scheduler::on_io(std::uint64_t token, reactor::readiness) noexcept {
  if (token == poll_token) {
    // The poll set's registrations are edge-triggered, so a dispatch that
    // returns fewer events than it could take has emptied the set's ready
    // list. An event that comes in after that readies the set's descriptor
    // again and brings another on_io: asking once more to be sure would
    // cost an epoll_wait per wake-up that finds nothing.
    while (polls_.dispatch(0, poll_batch).value_or(0) == poll_batch) {
    }
  }
}

// -- socket readiness as messages ---------------------------------------------------------

void process::on_wait(socket::detail::socket_state& s) noexcept { track(s); }

void process::notify(socket::select_event ev) noexcept {
  (void)detail::send_envelope(
      id, detail::must_make_envelope<socket_select>(socket_select{std::move(ev.sock), ev.tag, ev.handle, ev.reason}));
}

void settle_exit(process* p, const exit_reason& why) noexcept {
  for (detail::envelope* e : p->signals) {
    // Link and monitor requests that raced with the exit are answered now.
    if (auto* l = detail::payload_if<sig_link>(e)) {
      send_signal(l->from, detail::must_make_envelope<sig_exit>(sig_exit{p->id, why, true}));
    } else if (auto* m = detail::payload_if<sig_monitor>(e)) {
      // Answered with the others below, unless a demonitor later in this
      // list takes it back (a demonitor with flush promises no down after).
      p->rel.add_watcher(m->r, m->from);
    } else if (auto* d = detail::payload_if<sig_demonitor>(e)) {
      p->rel.erase_watcher(d->r);
    } else if (auto* a = detail::payload_if<sig_adopt_socket>(e)) {
      if (socket::detail::owner_of(*a->sock) == p->id.value()) {
        (void)socket::close(socket::socket(a->sock));
      }
    }
    detail::destroy_envelope(e);
  }
  p->signals.clear();
  p->rel.each(relations::kind::link, [&](const relations::entry& l) {
    send_signal(l.other, detail::must_make_envelope<sig_exit>(sig_exit{p->id, why, true}));
  });
  p->rel.each(relations::kind::monitored_by, [&](const relations::entry& w) {
    send_signal(w.other, detail::must_make_envelope<down_msg>(down_msg{w.r(), p->id, why}));
  });
  p->rel.each(relations::kind::monitoring, [&](const relations::entry& m) {
    if (m.other) {  // a null target was demonitored already
      send_signal(m.other, detail::must_make_envelope<sig_demonitor>(sig_demonitor{m.r()}));
    }
  });
}

}  // namespace otpnet::internal
