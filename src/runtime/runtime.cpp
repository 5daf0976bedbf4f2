// The runtime's global state (the schedulers) and the process API:
// spawn, send, exit signals, links, monitors, names, receive and timers.
#include <otpnet/runtime/process.hpp>
#include <otpnet/runtime/receive.hpp>
#include <otpnet/runtime/runtime.hpp>
#include <otpnet/runtime/timer.hpp>

#include "runtime/behaviour_names.hpp"
#include "runtime/names.hpp"
#include "runtime/process_table.hpp"
#include "runtime/runtime_state.hpp"
#include "runtime/scheduler.hpp"

#include <future>
#include <mutex>
#include <new>
#include <stdexcept>
#include <system_error>
#include <thread>

namespace otpnet {

namespace internal {

namespace {

std::mutex state_mu;  // start and stop
std::unique_ptr<runtime_state> state;
std::atomic<runtime_state*> live_state{nullptr};
std::atomic<bool> stop_begun{false};  // see runtime::stopping()

}  // namespace

runtime_state* current_state() noexcept { return live_state.load(std::memory_order_acquire); }

runtime_state& checked_state() {
  runtime_state* s = current_state();
  if (s == nullptr) {
    throw std::system_error(make_error_code(errc::invalid), "otpnet runtime not running");
  }
  return *s;
}

thread_local process* thread_mailbox = nullptr;

process* calling_process() noexcept {
  process* p = scheduler::running();
  return p != nullptr ? p : thread_mailbox;
}

scheduler& pick_scheduler(int index) {
  runtime_state& st = checked_state();
  if (index >= 0) {
    return *st.schedulers[static_cast<std::size_t>(index) % st.schedulers.size()];
  }
  if (index == caller_scheduler) {
    if (scheduler* here = scheduler::current(); here != nullptr) {
      return *here;
    }
  }
  scheduler* best = st.schedulers.front().get();
  for (auto& s : st.schedulers) {
    if (s->load() < best->load()) {
      best = s.get();
    }
  }
  return *best;
}

void wake_external(process* p) noexcept {
  external_wait& w = external_of(p);
  std::lock_guard lk(w.mu);
  w.cv.notify_all();
}

bool send_to(pid to, detail::envelope* e) noexcept {
  auto& table = process_table::instance();
  scheduler* here = scheduler::current();
  if (here != nullptr) {
    if (process* p = table.peek_owned(to, here)) {
      here->deliver_local(p, e);
      return true;
    }
  }
  process* p = table.pin(to);
  if (p == nullptr) {
    detail::destroy_envelope(e);
    return false;
  }
  p->inbox.push(e);
  // Pinned: the slot's owner is p's scheduler (nullptr: a plain thread's).
  auto* owner = static_cast<scheduler*>(const_cast<void*>(table.pinned_owner(to)));
  if (owner == nullptr) {
    wake_external(p);
  } else if (!p->remote_pending.exchange(true, std::memory_order_seq_cst)) {
    owner->wake_remote(p);
  }
  table.unpin(to);
  return true;
}

void send_signal(pid to, detail::envelope* e) noexcept { (void)send_to(to, e); }

void drain_own_inbox(process* p) noexcept { p->drain_inbox(); }

void settle_signals_now(process* p) noexcept {
  if (p->signals.empty()) {
    return;
  }
  if (scheduler::running() == p) {
    scheduler::current()->settle_running(p);
  } else if (scheduler::current() == nullptr) {
    apply_thread_signals(p);
  }
}

}  // namespace internal

using internal::calling_process;
using internal::scheduler;

// -- runtime -----------------------------------------------------------------

result<void> runtime::start(const runtime_options& opts) {
  std::lock_guard lk(internal::state_mu);
  if (internal::state) {
    return fail(errc::ealready);
  }
  auto st = std::make_unique<internal::runtime_state>();
  unsigned n = opts.schedulers != 0 ? opts.schedulers : std::max(1u, std::thread::hardware_concurrency());
  for (unsigned i = 0; i < n; ++i) {
    auto loop = reactor::event_loop::create({.backend = opts.backend});
    if (!loop) {
      return fail(loop.error());
    }
    st->schedulers.push_back(
        std::make_unique<scheduler>(i, std::move(*loop), opts.reductions > 0 ? opts.reductions : 2000));
  }
  for (auto& s : st->schedulers) {
    s->start();
  }
  internal::stop_begun.store(false, std::memory_order_seq_cst);
  internal::live_state.store(st.get(), std::memory_order_release);
  internal::state = std::move(st);
  return ok();
}

bool runtime::stopping() noexcept { return internal::stop_begun.load(std::memory_order_seq_cst); }

void runtime::stop(std::chrono::milliseconds grace) {
  std::lock_guard lk(internal::state_mu);
  if (!internal::state) {
    return;
  }
  // Before any process is ended: one that sees its links end meanwhile can
  // tell a stop from a failure.
  internal::stop_begun.store(true, std::memory_order_seq_cst);
  for (auto& s : internal::state->schedulers) {
    s->request_stop(grace);
  }
  for (auto& s : internal::state->schedulers) {
    s->join();
  }
  internal::live_state.store(nullptr, std::memory_order_release);
  internal::state.reset();
}

bool runtime::running() noexcept { return internal::current_state() != nullptr; }

unsigned runtime::schedulers() noexcept {
  auto* s = internal::current_state();
  return s == nullptr ? 0 : static_cast<unsigned>(s->schedulers.size());
}

std::size_t runtime::process_count() noexcept { return internal::process_table::instance().size(); }

namespace detail {
void compact_self() noexcept {
  if (internal::process* p = internal::calling_process()) {
    p->compact();
  }
}
}  // namespace detail

std::vector<scheduler_statistics> runtime::statistics() {
  std::vector<scheduler_statistics> all;
  // From a plain thread, under the start/stop lock, so that a stop cannot
  // free the schedulers while they are read (the call waits for the stop,
  // then finds none). A scheduler's own processes need no lock: their
  // scheduler outlives them, and stop joins it while holding the lock.
  std::unique_lock<std::mutex> lk;
  if (internal::scheduler::current() == nullptr) {
    lk = std::unique_lock(internal::state_mu);
  }
  auto* s = internal::current_state();
  if (s == nullptr) {
    return all;
  }
  std::vector<reactor::counter_reading> readings;
  for (const auto& sched : s->schedulers) {
    scheduler_statistics st;
    st.index = sched->index();
    st.backend = std::string(sched->loop().io_backend().name());
    st.processes = sched->load();
    readings.clear();
    sched->loop().read_counters(readings);
    st.counters.reserve(readings.size());
    for (const auto& r : readings) {
      st.counters.emplace_back(std::string(r.name), r.value);
    }
    all.push_back(std::move(st));
  }
  return all;
}

std::uint64_t scheduler_statistics::counter(std::string_view name) const noexcept {
  for (const auto& [n, v] : counters) {
    if (n == name) {
      return v;
    }
  }
  return 0;
}

std::string scheduler_statistics::to_string() const {
  std::string out = "scheduler " + std::to_string(index) + " (" + backend + "): processes=" + std::to_string(processes);
  for (const auto& [n, v] : counters) {
    out += ' ';
    out += n;
    out += '=';
    out += std::to_string(v);
  }
  return out;
}

// -- spawn and send -------------------------------------------------------------

namespace detail {

spawned spawn_impl(const spawn_options& o, std::unique_ptr<body_base> body,
                   std::coroutine_handle<proc::promise_type> h) {
  scheduler& s = internal::pick_scheduler(o.scheduler);
  auto* p = new internal::process();
  p->body = std::move(body);
  p->root = h;
  p->resume_point = h;
  p->trap_exit = o.trap_exit;
  p->frame_bytes = static_cast<std::uint32_t>(last_frame_size());
  spawned out;
  internal::process* caller = calling_process();
  // Links and monitors are set on both sides before anyone can see the new
  // process: it is not running yet, and the caller is this thread.
  if (caller != nullptr && (o.link || o.monitor)) {
    p->id = internal::process_table::instance().add(p, &s);
    if (o.link) {
      p->rel.add_link(caller->id);
      caller->rel.add_link(p->id);
    }
    if (o.monitor) {
      out.monitor = make_ref();
      p->rel.add_watcher(out.monitor, caller->id);
      caller->rel.add_target(out.monitor, p->id);
    }
  } else {
    p->id = internal::process_table::instance().add(p, &s);
  }
  out.id = p->id;
  if (s.on_this_thread()) {
    s.adopt(p);
  } else {
    s.post([sp = &s, p] { sp->adopt(p); });
  }
  return out;
}

bool send_envelope(pid to, envelope* e) noexcept { return internal::send_to(to, e); }

bool send_envelope(std::string_view name, envelope* e) noexcept {
  pid to = internal::lookup_name(name);
  if (!to) {
    destroy_envelope(e);
    return false;
  }
  return internal::send_to(to, e);
}

}  // namespace detail

pid self() noexcept {
  internal::process* p = calling_process();
  return p != nullptr ? p->id : pid{};
}

// -- exits, links, monitors -----------------------------------------------------

void exit(pid target, exit_reason reason) {
  internal::process* me = calling_process();
  pid from = me != nullptr ? me->id : pid{};
  internal::send_signal(target,
                        detail::make_envelope<internal::sig_exit>(internal::sig_exit{from, std::move(reason), false}));
  if (me != nullptr && target == from) {
    // As OTP's exit/2 handles a signal to oneself before it returns: one
    // that traps exits has the exit_msg now, whatever trap_exit says
    // next. (One that ends the caller ends it at its next wait, or when
    // its body returns: the runtime cannot stop a running coroutine.)
    internal::settle_signals_now(me);
  }
}

void exit(exit_reason reason) { throw exit_exception{std::move(reason)}; }

void link(pid other) {
  internal::process* me = calling_process();
  if (me == nullptr || other == me->id || me->rel.linked(other)) {
    return;
  }
  me->rel.add_link(other);
  if (!internal::send_to(other, detail::make_envelope<internal::sig_link>(internal::sig_link{me->id}))) {
    internal::send_signal(
        me->id, detail::make_envelope<internal::sig_exit>(internal::sig_exit{other, exit_reason::noproc(), true}));
  }
}

void unlink(pid other) {
  internal::process* me = calling_process();
  if (me == nullptr) {
    return;
  }
  me->rel.erase_link(other);
  internal::send_signal(other, detail::make_envelope<internal::sig_unlink>(internal::sig_unlink{me->id}));
}

bool is_linked(pid other) noexcept {
  const internal::process* me = calling_process();
  return me != nullptr && me->rel.linked(other);
}

namespace {

/// `target` if it lives on the calling process's scheduler (and the caller
/// is a process there), else nullptr. Such a target cannot run or end while
/// the caller runs, so a monitor can be set or removed on both sides at
/// once instead of by a signal: the effect is the one the signal would
/// have had when handled, before the target's next message.
internal::process* local_peer(const internal::process* me, pid target) noexcept {
  scheduler* here = scheduler::current();
  if (here == nullptr || me != scheduler::running()) {
    return nullptr;
  }
  return internal::process_table::instance().peek_owned(target, here);
}

}  // namespace

ref monitor(pid target) {
  internal::process* me = calling_process();
  ref r = make_ref();
  if (me == nullptr) {
    return r;
  }
  if (internal::process* t = local_peer(me, target)) {
    t->rel.add_watcher(r, me->id);
    me->rel.add_target(r, target);
    return r;
  }
  if (internal::send_to(target, detail::make_envelope<internal::sig_monitor>(internal::sig_monitor{me->id, r}))) {
    me->rel.add_target(r, target);
  } else {
    internal::send_signal(me->id, detail::make_envelope<down_msg>(down_msg{r, target, exit_reason::noproc()}));
  }
  return r;
}

bool demonitor(ref r, bool flush) {
  internal::process* me = calling_process();
  if (me == nullptr) {
    return false;
  }
  // A down that has arrived ends the monitor (append): take it in first,
  // with the signals ahead of it (a down can wait behind one).
  internal::drain_own_inbox(me);
  internal::settle_signals_now(me);
  const internal::relations::entry* m = me->rel.find_target(r);
  // A down is appended only with its monitor's entry, which it erases
  // (process::append): with the entry here, none is in the mailbox.
  bool down_possible = m == nullptr;
  bool active = m != nullptr && m->other;
  if (active) {
    const pid target = m->other;
    internal::process* t = local_peer(me, target);
    // Local: removed on both sides at once. Otherwise (or set by a signal
    // the target has not handled yet) the target takes the signal before
    // it ends, or as it ends (finalize). If it has ended already, its down
    // is on its way: it is dropped when it comes (process::append).
    bool removed =
        (t != nullptr && t->rel.erase_watcher(r) > 0) ||
        internal::send_to(target, detail::make_envelope<internal::sig_demonitor>(internal::sig_demonitor{r}));
    m = me->rel.find_target(r);  // again: a monitor of itself changed the same relations
    if (removed) {
      me->rel.erase(m);
    } else {
      m->other = pid{};
    }
  }
  if (flush && down_possible) {
    internal::matcher m{[](void* ctx, detail::envelope* e) noexcept {
                          auto* d = detail::payload_if<down_msg>(e);
                          return d != nullptr && d->monitor == *static_cast<ref*>(ctx);
                        },
                        &r};
    while (detail::envelope* e = me->take_match(m, &me->head)) {
      detail::destroy_envelope(e);
    }
    // And one still behind a signal that would end the process (left there
    // by the settling above, for the next service).
    me->signals.erase_if([&r](detail::envelope* e) {
      auto* d = internal::is_signal(e) ? nullptr : detail::payload_if<down_msg>(e);
      if (d == nullptr || d->monitor != r) {
        return false;
      }
      detail::destroy_envelope(e);
      return true;
    });
  }
  return active;
}

bool trap_exit(bool on) {
  internal::process* me = calling_process();
  if (me == nullptr) {
    return false;
  }
  return std::exchange(me->trap_exit, on);
}

bool is_alive(pid p) noexcept {
  auto& t = internal::process_table::instance();
  // A process is dead from the moment its scheduler retires its pid.
  if (t.pin(p) != nullptr) {
    t.unpin(p);
    return true;
  }
  return false;
}

// -- names -------------------------------------------------------------------------

result<void> register_name(std::string name, pid p) {
  return internal::register_process(std::move(name), p);  // (noproc if p is dead, checked under the names' lock)
}

bool unregister_name(std::string_view name) { return internal::unregister_name(name); }
pid whereis(std::string_view name) { return internal::lookup_name(name); }
std::vector<std::string> registered() { return internal::all_names(); }
std::vector<pid> processes() { return internal::process_table::instance().live(); }

namespace {

/// Keeps `behaviour` as its index in the table of names (the same name
/// again, as at each state change of a gen_statem, costs one comparison),
/// or in the extras when the table is full.
void set_behaviour(internal::process& me, const char* behaviour) noexcept {
  if (behaviour == nullptr) {
    me.behaviour_index = 0;
  } else if (internal::behaviour_name_at(me.behaviour_index) != behaviour &&
             !(me.behaviour_index == 0 && me.extras && me.extras->behaviour == behaviour)) {
    // (Kept in the extras, the table being full: no lookup, which would
    // take the table's lock, at each state change.)
    me.behaviour_index = internal::behaviour_index_of(behaviour);
  }
  if (me.behaviour_index == 0 && (behaviour != nullptr || me.extras)) {
    try {
      me.extras_now().behaviour = behaviour;
    } catch (const std::bad_alloc&) {
      // No memory for the extras: the process reports no behaviour.
    }
  }
}

}  // namespace

void set_process_label(const char* behaviour, std::string_view state_name) {
  if (internal::process* me = calling_process()) {
    set_behaviour(*me, behaviour);
    if (state_name.empty()) {
      me->state_index = internal::process::no_state_name;
      return;
    }
    me->extras_now().state_copy.assign(state_name);
    me->state_index = internal::process::copied_state_name;
  }
}

void set_process_label_static(const char* behaviour, const char* state_name) noexcept {
  if (internal::process* me = calling_process()) {
    set_behaviour(*me, behaviour);
    if (state_name == nullptr || *state_name == '\0') {
      me->state_index = internal::process::no_state_name;
    } else if (std::uint16_t i = internal::state_index_of(state_name)) {
      me->state_index = i;
    } else {
      // No room in the table of names: copied, as a dynamic name is.
      try {
        me->extras_now().state_copy.assign(state_name);
        me->state_index = internal::process::copied_state_name;
      } catch (const std::bad_alloc&) {
        me->state_index = internal::process::no_state_name;  // no memory: reported empty
      }
    }
  }
}

// -- receive -----------------------------------------------------------------------

namespace detail {

envelope* receive_now(const receive_matcher& m, bool may_yield) noexcept {
  internal::process* p = scheduler::running();
  internal::drain_own_inbox(p);
  if (may_yield && (scheduler::budget() <= 0 || !p->signals.empty())) {
    return nullptr;
  }
  // A receive that will not wait (after(0)) must see the messages that
  // wait behind a signal: the signals that do not end the process are
  // handled here (one that ends it waits for the next service).
  internal::settle_signals_now(p);
  envelope* e = p->take_match(m, &p->head);
  if (e != nullptr) {
    --scheduler::budget();
    ++p->reductions;
  }
  return e;
}

void receive_suspend(std::coroutine_handle<> h, const receive_matcher& m, long long timeout_ms) noexcept {
  internal::process* p = scheduler::running();
  p->resume_point = h;
  p->waiting_for = m;
  p->matched = nullptr;
  p->timed_out = false;
  if (timeout_ms > 0) {
    scheduler::current()->arm_receive_timer(p, timeout_ms);
  }
  if (scheduler::budget() <= 0 || !p->signals.empty()) {
    // Yield: scanned again from the start when next serviced.
    p->state = internal::pstate::runnable;
    scheduler::current()->make_runnable(p);
  } else {
    p->state = internal::pstate::waiting;
  }
}

envelope* receive_result() noexcept {
  internal::process* p = scheduler::running();
  scheduler::current()->disarm_receive_timer(p);
  p->timed_out = false;
  envelope* e = std::exchange(p->matched, nullptr);
  if (e != nullptr) {
    ++p->reductions;
  }
  return e;
}

void yield_suspend(std::coroutine_handle<> h) noexcept {
  internal::process* p = scheduler::running();
  p->resume_point = h;
  p->waiting_for = {};
  p->state = internal::pstate::runnable;
  scheduler::current()->make_runnable(p);
}

}  // namespace detail

// -- timers ------------------------------------------------------------------------

namespace detail {

timer_ref send_after_impl(std::chrono::milliseconds t, pid to, envelope* e) {
  scheduler* here = scheduler::current();
  // Without memory for the timer the message is freed and bad_alloc
  // thrown to the caller.
  if (here != nullptr) {
    try {
      return {here->index(), here->start_send_timer(t, to, e)};
    } catch (...) {
      destroy_envelope(e);
      throw;
    }
  }
  scheduler& s = internal::pick_scheduler(0);
  std::promise<std::uint64_t> done;
  auto id = done.get_future();
  bool posted = false;
  try {
    posted = s.try_post([&s, t, to, e, &done] {
      try {
        done.set_value(s.start_send_timer(t, to, e));
      } catch (...) {
        destroy_envelope(e);
        done.set_exception(std::current_exception());
      }
    });
  } catch (...) {
    destroy_envelope(e);
    throw;
  }
  if (!posted) {
    // The runtime is stopping and its first scheduler has left its loop:
    // no timer could fire. As for a dead target, nothing is started.
    destroy_envelope(e);
    return {};
  }
  return {s.index(), id.get()};
}

}  // namespace detail

namespace {

scheduler* timer_scheduler(timer_ref t) {
  auto* st = internal::current_state();
  if (st == nullptr || t.scheduler >= st->schedulers.size()) {
    return nullptr;
  }
  return st->schedulers[t.scheduler].get();
}

}  // namespace

std::optional<std::chrono::milliseconds> cancel_timer(timer_ref t) {
  scheduler* s = timer_scheduler(t);
  if (s == nullptr || !t) {
    return std::nullopt;
  }
  if (s->on_this_thread()) {
    return s->cancel_send_timer(t.id);
  }
  if (scheduler::current() == nullptr) {
    // A plain thread may wait for the answer.
    std::promise<std::optional<std::chrono::milliseconds>> done;
    auto left = done.get_future();
    if (!s->try_post([s, id = t.id, &done] { done.set_value(s->cancel_send_timer(id)); })) {
      return std::nullopt;  // its scheduler has left its loop: the timer was dropped with it
    }
    return left.get();
  }
  s->post([s, id = t.id] { (void)s->cancel_send_timer(id); });
  return std::nullopt;
}

std::optional<std::chrono::milliseconds> read_timer(timer_ref t) {
  scheduler* s = timer_scheduler(t);
  if (s == nullptr || !t || !s->on_this_thread()) {
    return std::nullopt;
  }
  return s->read_send_timer(t.id);
}

}  // namespace otpnet
