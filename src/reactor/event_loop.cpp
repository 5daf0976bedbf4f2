#include <otpnet/reactor/backend_selector.hpp>
#include <otpnet/reactor/event_loop.hpp>

#include "internal/syscall.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <new>

namespace otpnet::reactor {

namespace {

// Backend tokens are (generation << 32 | fd). Descriptors are below 2^31,
// so no registration token can equal the wake-up's.
constexpr std::uint64_t wake_token = UINT64_MAX;
// An event taken out of its batch (cancel_send_now): no descriptor.
constexpr std::uint64_t dead_token = UINT64_MAX - 1;

constexpr std::uint64_t make_token(int fd, std::uint32_t generation) noexcept {
  return (std::uint64_t{generation} << 32) | static_cast<std::uint32_t>(fd);
}

}  // namespace

result<std::unique_ptr<event_loop>> event_loop::create(loop_options opts) noexcept {
  auto b = backend_selector::create(opts.backend, backend_options{.max_events = opts.max_events});
  if (!b) {
    return fail(b.error());
  }
  return create(std::move(*b), std::move(opts));
}

result<std::unique_ptr<event_loop>> event_loop::create(std::unique_ptr<backend> b, loop_options opts) noexcept {
  if (!b) {
    return fail(errc::invalid);
  }
  auto w = wakeup::create();
  if (!w) {
    return fail(w.error());
  }
  std::unique_ptr<event_loop> loop(new (std::nothrow) event_loop(std::move(b), std::move(*w), opts));
  if (!loop) {
    return fail(errc::enomem);
  }
  auto added = loop->backend_->add(loop->wakeup_.fd(), wake_token, interest::read);
  if (!added) {
    return fail(added.error());
  }
  return loop;
}

event_loop::event_loop(std::unique_ptr<backend> b, wakeup w, loop_options& opts) noexcept
    : backend_(std::move(b)),
      wakeup_(std::move(w)),
      clock_(std::move(opts.clock)),
      timers_(now()),
      events_(std::max<std::size_t>(opts.max_events, 1)),
      max_timers_(std::max<std::size_t>(opts.max_timers_per_turn, 1)),
      max_posted_(std::max<std::size_t>(opts.max_posted_per_turn, 1)),
      owner_(std::this_thread::get_id()) {}

// Tasks still queued are destroyed without running.
event_loop::~event_loop() = default;

void event_loop::abort_not_owner() noexcept {
  std::fputs("otpnet: event_loop used from a thread that does not own it\n", stderr);
  std::abort();
}

void event_loop::bind_to_current_thread() noexcept {
  owner_.store(std::this_thread::get_id(), std::memory_order_seq_cst);
}

// -- running ------------------------------------------------------------------

result<turn_stats> event_loop::run_once(std::optional<std::chrono::milliseconds> max_wait) {
  assert_in_owner_thread();
  if (in_turn_) {
    return fail(errc::invalid);  // run_once from a handler or task
  }
  in_turn_ = true;
  turn_stats stats;
  auto io = io_phase(max_wait, stats);
  if (io) {
    stats.timers = timers_.advance(now(), max_timers_);
    stats.posted = posted_phase();
  }
  in_turn_ = false;
  ++turns_;
  io_calls_ += stats.io;
  timers_fired_ += stats.timers;
  tasks_run_ += stats.posted;
  if (!io) {
    return fail(io.error());
  }
  stats.stopped = stop_.exchange(false, std::memory_order_acq_rel);
  return stats;
}

void event_loop::read_counters(std::vector<counter_reading>& out) const {
  out.push_back({"turns", turns_.get()});
  out.push_back({"io_calls", io_calls_.get()});
  out.push_back({"timers_fired", timers_fired_.get()});
  out.push_back({"tasks_run", tasks_run_.get()});
  backend_->read_counters(out);
}

result<void> event_loop::run() {
  assert_in_owner_thread();
  for (;;) {
    auto r = run_once(std::nullopt);
    if (!r) {
      return fail(r.error());
    }
    if (r->stopped) {
      return ok();
    }
  }
}

void event_loop::stop() noexcept {
  stop_.store(true, std::memory_order_release);
  wakeup_.wake();
}

bool event_loop::pending_work(time_point t) const noexcept {
  assert_in_owner_thread();
  if (stop_.load(std::memory_order_acquire) || posted_pending()) {
    return true;
  }
  auto next = timers_.next_timeout(t);
  return next && next->count() == 0;
}

// Phase 1. The wait is zero when work is pending, else until the next timer
// step, capped by max_wait. Tokens carry the registration's generation, so
// an event for a descriptor removed (or removed and re-added) by an earlier
// handler of the same batch is dropped here.
result<void> event_loop::io_phase(std::optional<std::chrono::milliseconds> max_wait, turn_stats& stats) {
  std::optional<std::chrono::milliseconds> timeout = max_wait;
  time_point t = now();
  if (pending_work(t)) {
    timeout = std::chrono::milliseconds(0);
  } else if (auto next = timers_.next_timeout(t); next && (!timeout || *next < *timeout)) {
    timeout = next;
  }
  auto n = backend_->poll(events_, timeout);
  if (!n) {
    return fail(n.error());
  }
  batch_end_ = *n;
  for (std::size_t i = 0; i < *n; ++i) {
    batch_next_ = i + 1;
    const io_event& ev = events_[i];
    if (ev.token == wake_token) {
      wakeup_.drain();
      stats.woken = true;
      continue;
    }
    auto fd = static_cast<std::size_t>(ev.token & UINT32_MAX);
    auto generation = static_cast<std::uint32_t>(ev.token >> 32);
    if (fd >= regs_.size() || regs_[fd].handler == nullptr || regs_[fd].generation != generation) {
      // Its registration went earlier in this batch. A connection the
      // kernel accepted for it is nobody's now: closed, not leaked.
      if (ev.kind == event_kind::accept && ev.result >= 0) {
        (void)internal::sys_once([fd = ev.result] { return ::close(fd); });
      }
      continue;
    }
    const registration& r = regs_[fd];
    // r may dangle once the handler adds descriptors (regs_ grows): copy.
    io_handler* h = r.handler;
    if (ev.kind == event_kind::recv) {
      h->on_recv(r.token, ev.result, ev.data, ev.more);
    } else if (ev.kind == event_kind::send) {
      h->on_send(r.token, ev.result);
    } else if (ev.kind == event_kind::accept) {
      h->on_accept(r.token, ev.result, ev.more);
    } else {
      h->on_io(r.token, ev.ready);
    }
    ++stats.io;
  }
  batch_next_ = batch_end_ = 0;
  return ok();
}

// Phase 3. Runs what was queued when the phase began, at most max_posted_;
// tasks posted meanwhile (by these tasks too) wait for the next turn.
std::size_t event_loop::posted_phase() {
  if (run_next_ == running_.size()) {
    if (!has_incoming_.load(std::memory_order_acquire)) {
      return 0;
    }
    running_.clear();  // keeps the capacity: no allocation in steady state
    run_next_ = 0;
    std::lock_guard lock(post_mutex_);
    std::swap(incoming_, running_);
    has_incoming_.store(false, std::memory_order_relaxed);
  }
  std::size_t end = std::min(running_.size(), run_next_ + max_posted_);
  std::size_t ran = 0;
  for (; run_next_ < end; ++run_next_, ++ran) {
    running_[run_next_]();
    running_[run_next_].reset();
  }
  return ran;
}

bool event_loop::posted_pending() const noexcept {
  return run_next_ < running_.size() || has_incoming_.load(std::memory_order_seq_cst);
}

void event_loop::post(task t) {
  {
    std::lock_guard lock(post_mutex_);
    incoming_.push_back(std::move(t));
    has_incoming_.store(true, std::memory_order_seq_cst);
  }
  // The owner is not waiting in poll while it runs this, and its next turn
  // will not wait because posted work is pending: no wake needed. seq_cst
  // here and in bind_to_current_thread/posted_pending: during a hand-off,
  // either this sees the new owner (and wakes) or the new owner sees the task.
  if (owner_.load(std::memory_order_seq_cst) != std::this_thread::get_id()) {
    wakeup_.wake();
  }
}

bool event_loop::try_post(task t) {
  {
    std::lock_guard lock(post_mutex_);
    if (posts_closed_) {
      return false;  // (t is destroyed by the caller's frame, outside the lock)
    }
    incoming_.push_back(std::move(t));
    has_incoming_.store(true, std::memory_order_seq_cst);
  }
  if (owner_.load(std::memory_order_seq_cst) != std::this_thread::get_id()) {
    wakeup_.wake();
  }
  return true;
}

void event_loop::close_posts() {
  assert_in_owner_thread();
  {
    std::lock_guard lock(post_mutex_);
    posts_closed_ = true;
  }
  // What try_post accepted before the close runs here (its callers may be
  // waiting for it); tasks posting more run those too.
  while (posted_pending()) {
    (void)posted_phase();
  }
}

// -- descriptors ----------------------------------------------------------------

result<void> event_loop::add(int fd, interest what, io_handler& h, std::uint32_t token) {
  assert_in_owner_thread();
  if (fd < 0) {
    return fail(errc::ebadf);
  }
  auto index = static_cast<std::size_t>(fd);
  if (index >= regs_.size()) {
    // The table grows to the highest descriptor: out of memory is this
    // add's failure, reported as such (callers are noexcept and handle
    // errors), not an exception through them.
    try {
      regs_.resize(index + 1);
    } catch (const std::bad_alloc&) {
      return fail(errc::enomem);
    }
  }
  registration& r = regs_[index];
  if (r.handler != nullptr) {
    return fail(errc::eexist);
  }
  std::uint32_t generation = r.generation + 1 == 0 ? 1 : r.generation + 1;
  auto added = backend_->add(fd, make_token(fd, generation), what);
  if (!added && added.error() == errc::eexist) {
    // Not added here, yet watched: a watch left by remove_before_close on
    // a file that a dup kept open and that came back under this number.
    added = backend_->modify(fd, make_token(fd, generation), what);
  }
  if (!added) {
    return added;
  }
  r = registration{&h, token, generation};
  ++watched_;
  return ok();
}

bool event_loop::watched(int fd) const noexcept {
  return fd >= 0 && static_cast<std::size_t>(fd) < regs_.size() &&
         regs_[static_cast<std::size_t>(fd)].handler != nullptr;
}

result<void> event_loop::modify(int fd, interest what) {
  assert_in_owner_thread();
  if (!watched(fd)) {
    return fail(errc::enoent);
  }
  return backend_->modify(fd, make_token(fd, regs_[static_cast<std::size_t>(fd)].generation), what);
}

result<void> event_loop::remove(int fd) {
  assert_in_owner_thread();
  if (!watched(fd)) {
    return fail(errc::enoent);
  }
  regs_[static_cast<std::size_t>(fd)].handler = nullptr;
  --watched_;
  return backend_->remove(fd);
}

result<void> event_loop::remove_before_close(int fd) {
  assert_in_owner_thread();
  if (!watched(fd)) {
    return fail(errc::enoent);
  }
  regs_[static_cast<std::size_t>(fd)].handler = nullptr;
  --watched_;
  return backend_->remove_before_close(fd);
}

result<void> event_loop::submit_recv(int fd) {
  return on_watched(fd, [&] { return backend_->submit_recv(fd); });
}

result<void> event_loop::submit_recv_multishot(int fd) {
  return on_watched(fd, [&] { return backend_->submit_recv_multishot(fd); });
}

result<void> event_loop::cancel_recv(int fd) {
  return on_watched(fd, [&] { return backend_->cancel_recv(fd); });
}

void io_handler::on_accept(std::uint64_t, std::int32_t result, bool) noexcept {
  if (result >= 0) {
    (void)internal::sys_once([result] { return ::close(result); });
  }
}

result<void> event_loop::submit_accept(int fd) {
  return on_watched(fd, [&] { return backend_->submit_accept(fd); });
}

result<void> event_loop::cancel_accept(int fd) {
  return on_watched(fd, [&] { return backend_->cancel_accept(fd); });
}

// A multishot receive may have several completions in the batch being
// dispatched; called by its handler while one of them is dispatched, the
// next ones come first, in order, taken out of the batch, and only then
// what the backend still has.
result<io_event> event_loop::cancel_recv_now(int fd) {
  return take_completion(fd, event_kind::recv, [&] { return backend_->cancel_recv_now(fd); });
}

template <class F>
auto event_loop::on_watched(int fd, F&& op) -> decltype(op()) {
  assert_in_owner_thread();
  if (!watched(fd)) {
    return fail(errc::enoent);
  }
  return std::forward<F>(op)();
}

template <class F>
result<io_event> event_loop::take_completion(int fd, event_kind k, F&& from_backend) {
  return on_watched(fd, [&]() -> result<io_event> {
    const registration& r = regs_[static_cast<std::size_t>(fd)];
    std::uint64_t token = make_token(fd, r.generation);
    for (std::size_t i = batch_next_; i < batch_end_; ++i) {
      io_event& ev = events_[i];
      if (ev.kind == k && ev.token == token) {
        io_event found = ev;
        found.token = r.token;
        ev.token = dead_token;
        return found;
      }
    }
    result<io_event> ev = std::forward<F>(from_backend)();
    if (ev) {
      ev->token = r.token;
    }
    return ev;
  });
}

result<void> event_loop::submit_send(int fd, const ::iovec* iov, std::size_t n) {
  return on_watched(fd, [&] { return backend_->submit_send(fd, iov, n); });
}

// A completion already fetched, not yet dispatched, is taken out of the
// batch, as for receives.
result<io_event> event_loop::cancel_send_now(int fd) {
  return take_completion(fd, event_kind::send, [&] { return backend_->cancel_send_now(fd); });
}

// -- timers ---------------------------------------------------------------------

timer_handle event_loop::start_timer(std::chrono::milliseconds delay, timer_handler& h, std::uint64_t token) {
  assert_in_owner_thread();
  return timers_.insert(now() + delay, h, token);
}

timer_handle event_loop::start_timer_at(time_point deadline, timer_handler& h, std::uint64_t token) {
  assert_in_owner_thread();
  return timers_.insert(deadline, h, token);
}

std::optional<std::chrono::milliseconds> event_loop::cancel_timer(timer_handle t) noexcept {
  assert_in_owner_thread();
  return timers_.cancel(t, now());
}

bool event_loop::disarm_timer(timer_handle t) noexcept {
  assert_in_owner_thread();
  return timers_.disarm(t);
}

std::optional<std::chrono::milliseconds> event_loop::read_timer(timer_handle t) const noexcept {
  assert_in_owner_thread();
  return timers_.remaining(t, now());
}

}  // namespace otpnet::reactor
