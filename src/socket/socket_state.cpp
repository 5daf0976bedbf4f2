#include "socket/socket_state.hpp"

#include "internal/syscall.hpp"

#include <unistd.h>

#include <new>

namespace otpnet::socket::detail {

void registry_add(socket_state& s) noexcept;
void registry_remove(socket_state& s) noexcept;
bool registry_default() noexcept;

socket_state::socket_state(int fd, domain d, type t, protocol p) noexcept
    : dom_(static_cast<std::uint8_t>(d)),
      typ_(static_cast<std::uint8_t>(t)),
      proto_(static_cast<std::uint16_t>(p)),
      fd_(fd) {}

socket_state::~socket_state() {
  if (!closed()) {
    (void)close();
  }
  registry_remove(*this);
  delete io_.load(std::memory_order_acquire);
}

socket_io_part& socket_state::io() {
  socket_io_part* w = io_if();
  if (w != nullptr) {
    return *w;
  }
  auto* fresh = new socket_io_part;  // NOLINT(cppcoreguidelines-owning-memory): owned by io_
  if (io_.compare_exchange_strong(w, fresh, std::memory_order_seq_cst)) {
    return *fresh;
  }
  delete fresh;  // NOLINT(cppcoreguidelines-owning-memory): another thread published first
  return *w;
}

std::pair<std::size_t, std::size_t> socket_state::waiter_counts() noexcept {
  socket_io_part* w = io_if();
  if (w == nullptr) {
    return {0, 0};
  }
  std::lock_guard lk(w->mu);
  return {w->queues[0].queue.size(), w->queues[1].queue.size()};
}

bool socket_state::enter() noexcept {
  if ((uses_.fetch_add(1, std::memory_order_acquire) & closed_bit) != 0) {
    leave();
    return false;
  }
  return true;
}

void socket_state::leave() noexcept {
  if (uses_.fetch_sub(1, std::memory_order_acq_rel) == (closed_bit | 1u)) {
    release_fd();
  }
}

void socket_state::release_fd() noexcept {
  int fd = fd_.exchange(-1, std::memory_order_acq_rel);
  if (fd >= 0) {
    // Linux releases the descriptor even when close fails (EINTR included).
    (void)internal::sys_once([fd] { return ::close(fd); });
  }
}

result<void> socket_state::close() noexcept {
  // Held as a use while closing: the descriptor is released only by the
  // last use to leave, so detaching below never touches a number that a
  // concurrent call's leave() already released (and another socket reused).
  uses_.fetch_add(1, std::memory_order_acquire);
  // seq_cst: pairs with ensure_polled (see there).
  std::uint32_t prev = uses_.fetch_or(closed_bit, std::memory_order_seq_cst);
  if ((prev & closed_bit) != 0) {
    leave();
    return fail(errc::closed);
  }
  detach_poller();
  registry_remove(*this);
  if (socket_io_part* w = io_if()) {
    std::lock_guard lk(w->mu);
    for (auto& q : w->queues) {
      while (!q.queue.empty()) {
        serve_head(*this, q, errc::closed);
      }
      q.current.store(nullptr, std::memory_order_relaxed);
    }
  }
  leave();
  return ok();
}

result<void> socket_state::set_poller(poller& p) noexcept {
  socket_io_part* io_part = nullptr;
  try {
    io_part = &io();
  } catch (const std::bad_alloc&) {
    return fail(errc::enomem);
  }
  std::lock_guard lk(io_part->poll_mu);
  if (io_part->attached.load(std::memory_order_relaxed)) {
    return fail(errc::invalid);
  }
  io_part->chosen.store(&p, std::memory_order_release);
  return ok();
}

result<void> socket_state::ensure_polled() noexcept {
  socket_io_part* io_part = io_if();
  if (io_part != nullptr && io_part->attached.load(std::memory_order_acquire)) {
    return ok();
  }
  if (io_part == nullptr) {
    try {
      io_part = &io();
    } catch (const std::bad_alloc&) {
      return fail(errc::enomem);
    }
  }
  std::lock_guard lk(io_part->poll_mu);
  // seq_cst, after the io part's publication: either close() sees the part
  // (and detaches what is attached here) or this sees the socket closed.
  if ((uses_.load(std::memory_order_seq_cst) & closed_bit) != 0) {
    return fail(errc::closed);
  }
  if (io_part->attached.load(std::memory_order_relaxed)) {
    return ok();
  }
  poller* p = io_part->chosen.load(std::memory_order_acquire);
  if (p == nullptr) {
    p = &default_poller();
    io_part->chosen.store(p, std::memory_order_release);
  }
  auto r = p->attach(*this);
  if (r) {
    io_part->attached.store(true, std::memory_order_release);
  }
  return r;
}

void socket_state::forget_poller(poller& p) noexcept {
  socket_io_part* w = io_if();
  if (w == nullptr) {
    return;
  }
  {
    std::lock_guard lk(w->poll_mu);
    if (w->chosen.load(std::memory_order_acquire) != &p) {
      return;
    }
    w->chosen.store(nullptr, std::memory_order_release);
    w->attached.store(false, std::memory_order_release);
  }
  bool waited = false;
  {
    std::lock_guard lk(w->mu);
    for (const auto& q : w->queues) {
      waited = waited || !q.queue.empty() || q.current.load(std::memory_order_relaxed) != nullptr;
    }
  }
  if (waited && !closed()) {
    (void)ensure_polled();  // adding reports what is ready now: no edge lost
  }
}

void socket_state::drop_preference(poller& p) noexcept {
  socket_io_part* w = io_if();
  if (w == nullptr) {
    return;
  }
  std::lock_guard lk(w->poll_mu);
  if (!w->attached.load(std::memory_order_relaxed) && w->chosen.load(std::memory_order_acquire) == &p) {
    w->chosen.store(nullptr, std::memory_order_release);
  }
}

void socket_state::detach_poller() noexcept {
  socket_io_part* w = io_if();
  if (w == nullptr) {
    return;  // never attached (ensure_polled makes the part first)
  }
  std::lock_guard lk(w->poll_mu);
  if (w->attached.load(std::memory_order_relaxed)) {
    w->chosen.load(std::memory_order_acquire)->detach(*this);
    w->attached.store(false, std::memory_order_release);
  }
}

void socket_state::serve_head(socket_state& self, waiter_queue& q, errc reason) noexcept {
  waiter w = q.queue.front();
  q.queue.erase(q.queue.begin());
  q.contended.store(!q.queue.empty(), std::memory_order_release);
  if (reason == errc::ok) {
    q.current.store(w.sink, std::memory_order_relaxed);
  }
  // During destruction (last reference gone) the event names no socket.
  w.sink->notify(select_event{socket(self.weak_from_this().lock()), w.tag, w.handle, reason});
}

void socket_state::on_ready(readiness r) noexcept {
  // No lists: no one has waited yet, and a first waiter publishes them
  // before it reads ready_seq and tries its call, so it sees this
  // readiness by trying.
  socket_io_part* w = io_if();
  if (w == nullptr) {
    return;
  }
  const bool ready[2] = {r.readable, r.writable};
  for (int d = 0; d < 2; ++d) {
    if (!ready[d]) {
      continue;
    }
    waiter_queue& q = w->queues[d];
    // Pairs with park(): bump, then look (see there).
    q.ready_seq.fetch_add(1, std::memory_order_seq_cst);
    if (!q.contended.load(std::memory_order_seq_cst)) {
      continue;
    }
    std::lock_guard lk(w->mu);
    if (q.current.load(std::memory_order_relaxed) == nullptr && !q.queue.empty() && !closed()) {
      serve_head(*this, q, errc::ok);
    }
  }
}

void socket_state::finished(waiter_queue& q, select_sink& sink) noexcept {
  if (q.current.load(std::memory_order_relaxed) != &sink) {
    return;
  }
  std::lock_guard lk(io_if()->mu);  // q is in them: they exist
  if (q.current.load(std::memory_order_relaxed) != &sink) {
    return;
  }
  q.current.store(nullptr, std::memory_order_relaxed);
  // Edge-triggered readiness is not reported again for what is left: hand
  // the turn to the next waiter, which finds out by trying.
  if (!q.queue.empty() && !closed()) {
    serve_head(*this, q, errc::ok);
  }
}

socket_state::wait_decision socket_state::park(waiter_queue& q, const waiter& w, std::uint32_t seen_seq) noexcept {
  std::lock_guard lk(io_if()->mu);  // q is in them: they exist
  if (closed()) {
    return wait_decision::closed;
  }
  for (auto& e : q.queue) {
    if (e.sink == w.sink) {  // a repeated nowait call: one event per caller
      e = w;
      return wait_decision::parked;
    }
  }
  const bool was_current = q.current.load(std::memory_order_relaxed) == w.sink;
  try {
    if (was_current) {
      // A notified waiter that lost the race keeps its place at the front.
      q.queue.insert(q.queue.begin(), w);
      q.current.store(nullptr, std::memory_order_relaxed);
    } else {
      q.queue.push_back(w);
    }
  } catch (const std::bad_alloc&) {
    return wait_decision::no_memory;  // (nothing changed: a current waiter keeps its turn)
  }
  // Dekker-style with on_ready, which bumps ready_seq and then reads
  // `contended` without the lock: both sides write before they read, in one
  // total order (seq_cst), so either the readiness is seen here (retry) or
  // on_ready sees this waiter (and serves it once the lock is free). Checking
  // before queueing would let a report slip between the two.
  q.contended.store(true, std::memory_order_seq_cst);
  if (q.ready_seq.load(std::memory_order_seq_cst) != seen_seq) {
    if (was_current) {
      q.queue.erase(q.queue.begin());
      q.current.store(w.sink, std::memory_order_relaxed);
    } else {
      q.queue.pop_back();
    }
    q.contended.store(!q.queue.empty(), std::memory_order_release);
    return wait_decision::retry;
  }
  w.sink->on_wait(*this);
  return wait_decision::parked;
}

bool socket_state::must_queue(waiter_queue& q, const waiter& w) noexcept {
  if (!q.contended.load(std::memory_order_acquire)) {
    return false;
  }
  std::lock_guard lk(io_if()->mu);  // q is in them: they exist
  if (q.queue.empty() || q.current.load(std::memory_order_relaxed) == w.sink) {
    return false;
  }
  for (auto& e : q.queue) {
    if (e.sink == w.sink) {
      e = w;
      return true;
    }
  }
  try {
    q.queue.push_back(w);
  } catch (const std::bad_alloc&) {
    return false;  // no memory for its place: it tries at once instead of queueing
  }
  w.sink->on_wait(*this);
  return true;
}

socket_state::withdrawn socket_state::withdraw(waiter_queue& q, select_sink& sink, select_handle h) noexcept {
  socket_io_part* w = io_if();
  if (w == nullptr) {
    return closed() ? withdrawn::closed : withdrawn::not_queued;  // (never waited on)
  }
  std::lock_guard lk(w->mu);
  for (auto it = q.queue.begin(); it != q.queue.end(); ++it) {
    if (it->sink == &sink && it->handle == h) {
      q.queue.erase(it);
      q.contended.store(!q.queue.empty(), std::memory_order_release);
      return withdrawn::yes;
    }
  }
  if (q.current.load(std::memory_order_relaxed) == &sink) {
    // Its event is already delivered; it gives up its turn.
    q.current.store(nullptr, std::memory_order_relaxed);
    if (!q.queue.empty() && !closed()) {
      serve_head(*this, q, errc::ok);
    }
  }
  return closed() ? withdrawn::closed : withdrawn::not_queued;
}

bool socket_state::take_over(direction d, select_sink& from, const waiter& to) noexcept {
  socket_io_part* w = io_if();
  if (w == nullptr || &from == to.sink) {
    return false;  // (never waited on: nobody holds a turn)
  }
  // Under the lock (serve_head writes the queue's fields in turn under it:
  // read without it, a turn being handed to `from` could be missed).
  std::lock_guard lk(w->mu);
  waiter_queue& q = w->queues[static_cast<int>(d)];
  bool took = false;
  if (q.current.load(std::memory_order_relaxed) == &from) {
    q.current.store(to.sink, std::memory_order_relaxed);
    took = true;
  }
  for (auto& e : q.queue) {
    if (e.sink == &from) {
      e = to;
      took = true;
    }
  }
  return took;
}

void socket_state::withdraw_sink(select_sink& sink) noexcept {
  socket_io_part* w = io_if();
  if (w == nullptr) {
    return;
  }
  std::lock_guard lk(w->mu);
  for (auto& q : w->queues) {
    std::erase_if(q.queue, [&sink](const waiter& w) { return w.sink == &sink; });
    q.contended.store(!q.queue.empty(), std::memory_order_release);
    if (q.current.load(std::memory_order_relaxed) == &sink) {
      q.current.store(nullptr, std::memory_order_relaxed);
      if (!q.queue.empty() && !closed()) {
        serve_head(*this, q, errc::ok);
      }
    }
  }
}

std::shared_ptr<socket_state> make_state(int fd, domain d, type t, protocol p, open_options::registry_mode mode,
                                         std::uint64_t owner) {
  auto s = std::make_shared<socket_state>(fd, d, t, p);
  s->owner.store(owner, std::memory_order_relaxed);
  bool reg =
      mode == open_options::registry_mode::on || (mode == open_options::registry_mode::default_ && registry_default());
  if (reg) {
    registry_add(*s);
  }
  return s;
}

void deliver_readiness(socket_state& s, readiness r) noexcept { s.on_ready(r); }
int watched_fd(const socket_state& s) noexcept { return s.fd(); }
std::uint64_t& poller_cookie(socket_state& s) noexcept { return s.io_if()->poller_cookie; }  // attached: it exists
void withdraw_sink(socket_state& s, select_sink& sink) noexcept { s.withdraw_sink(sink); }
bool prefer_poller(socket_state& s, poller& p) noexcept { return s.set_poller(p).has_value(); }
void forget_poller(socket_state& s, poller& p) noexcept { s.forget_poller(p); }
void drop_preference(socket_state& s, poller& p) noexcept { s.drop_preference(p); }
std::uint64_t owner_of(const socket_state& s) noexcept { return s.owner.load(std::memory_order_relaxed); }
std::weak_ptr<socket_state> weak_of(socket_state& s) noexcept { return s.weak_from_this(); }

void remember(std::vector<std::weak_ptr<socket_state>>& seen, socket_state& s) {
  std::weak_ptr<socket_state> w = s.weak_from_this();
  std::erase_if(seen, [](const auto& x) { return x.expired(); });
  for (const auto& x : seen) {
    if (!x.owner_before(w) && !w.owner_before(x)) {
      return;
    }
  }
  seen.push_back(std::move(w));
}

}  // namespace otpnet::socket::detail
