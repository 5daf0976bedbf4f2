#include <otpnet/reactor/io_uring_backend.hpp>

#include "internal/syscall.hpp"

#include <liburing.h>

#include <poll.h>
#include <sys/epoll.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <new>
#include <thread>

namespace otpnet::reactor {

namespace {

// Slot states. A failed registration had its poll end with an error: it is
// still watched (modify and remove work) but has no request in the kernel.
constexpr std::uint8_t slot_free = 0;
constexpr std::uint8_t slot_armed = 1;
constexpr std::uint8_t slot_failed = 2;

// User data of a poll request: generation << 32 | fd. Cancellations carry
// `ignored`, whose low half is no descriptor (descriptors are below 2^31).
constexpr std::uint64_t ignored = UINT64_MAX;

constexpr std::uint64_t user_data(int fd, std::uint32_t generation) noexcept {
  return (std::uint64_t{generation} << 32) | static_cast<std::uint32_t>(fd);
}

// POLLRDHUP shows a half close without a read; the kernel always adds
// POLLERR and POLLHUP. EPOLLET is what the kernel assumes without
// IORING_POLL_ADD_LEVEL; it is passed to say so.
unsigned to_poll(interest what) noexcept {
  unsigned ev = EPOLLET | POLLRDHUP;
  if (has(what, interest::read)) {
    ev |= POLLIN;
  }
  if (has(what, interest::write)) {
    ev |= POLLOUT;
  }
  return ev;
}

// Contract point 4, as for epoll: an error or a full hang-up wakes both
// directions; a half close wakes the reader.
readiness from_poll(unsigned ev) noexcept {
  readiness r;
  r.error = (ev & POLLERR) != 0;
  r.hangup = (ev & (POLLHUP | POLLRDHUP)) != 0;
  bool both = (ev & (POLLERR | POLLHUP)) != 0;
  r.readable = both || (ev & (POLLIN | POLLPRI | POLLRDHUP)) != 0;
  r.writable = both || (ev & POLLOUT) != 0;
  return r;
}

void merge(readiness& into, readiness r) noexcept {
  into.readable = into.readable || r.readable;
  into.writable = into.writable || r.writable;
  into.error = into.error || r.error;
  into.hangup = into.hangup || r.hangup;
}

// liburing returns -errno.
errc from_ret(int ret) noexcept { return from_errno(-ret); }

// Sets up a ring, preferring cooperative task running (5.19+: completions
// are posted when the loop enters the kernel, without interrupting it),
// and checks the features this backend needs: a completion ring that
// never drops (5.5), timeouts in the wait (5.11), and multishot poll,
// which came with 5.13 as resource tags did.
int setup_ring(io_uring& ring, unsigned sq_entries, unsigned cq_entries) noexcept {
  io_uring_params params{};
  params.flags = IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP | IORING_SETUP_COOP_TASKRUN;
  params.cq_entries = cq_entries;
  int ret = io_uring_queue_init_params(sq_entries, &ring, &params);
  if (ret == -EINVAL) {
    params = io_uring_params{};
    params.flags = IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP;
    params.cq_entries = cq_entries;
    ret = io_uring_queue_init_params(sq_entries, &ring, &params);
  }
  if (ret < 0) {
    return ret;
  }
  constexpr unsigned needed = IORING_FEAT_NODROP | IORING_FEAT_EXT_ARG | IORING_FEAT_RSRC_TAGS;
  if ((params.features & needed) != needed) {
    io_uring_queue_exit(&ring);
    return -static_cast<int>(errc::unsupported);
  }
  return 0;
}

// A full submission ring is submitted at once to make room: the only case
// where a request leaves before the next `poll`.
io_uring_sqe* next_sqe(io_uring* ring, io_uring_stats& stats) noexcept {
  io_uring_sqe* sqe = io_uring_get_sqe(ring);
  if (sqe == nullptr) {
    ++stats.submits;
    (void)io_uring_submit(ring);
    sqe = io_uring_get_sqe(ring);
  }
  return sqe;
}

}  // namespace

result<void> probe_io_uring() noexcept {
  io_uring ring{};
  int ret = setup_ring(ring, 2, 4);
  if (ret < 0) {
    return fail(from_ret(ret));
  }
  io_uring_queue_exit(&ring);
  return ok();
}

// -- creation ---------------------------------------------------------------------

result<std::unique_ptr<io_uring_backend>> io_uring_backend::create(const backend_options& opts,
                                                                   const io_uring_options& ring) noexcept {
  std::size_t capacity = std::clamp<std::size_t>(opts.max_events, 1, INT_MAX);
  unsigned sq = std::max(ring.sq_entries, 2U);
  unsigned cq = ring.cq_entries != 0 ? std::max(ring.cq_entries, sq) : sq * 16;
  std::unique_ptr<io_uring> r(new (std::nothrow) io_uring{});
  if (!r) {
    return fail(errc::enomem);
  }
  int ret = setup_ring(*r, sq, cq);
  if (ret < 0) {
    return fail(from_ret(ret));
  }
  bool skip = (r->features & IORING_FEAT_CQE_SKIP) != 0;
  std::unique_ptr<io_uring_backend> b(new (std::nothrow) io_uring_backend(std::move(r), capacity, skip));
  if (!b) {
    io_uring_queue_exit(r.get());  // the constructor never ran: `r` still owns the ring
    return fail(errc::enomem);
  }
  return b;
}

io_uring_backend::io_uring_backend(std::unique_ptr<io_uring> ring, std::size_t capacity, bool skip_success) noexcept
    : ring_(std::move(ring)), capacity_(capacity), skip_success_(skip_success) {}

io_uring_backend::~io_uring_backend() { io_uring_queue_exit(ring_.get()); }

int io_uring_backend::native_handle() const noexcept { return ring_->ring_fd; }

// -- registrations ------------------------------------------------------------------

io_uring_backend::slot* io_uring_backend::find(int fd) noexcept {
  if (fd < 0 || static_cast<std::size_t>(fd) >= slots_.size()) {
    return nullptr;
  }
  slot& s = slots_[static_cast<std::size_t>(fd)];
  return s.state == slot_free ? nullptr : &s;
}

result<void> io_uring_backend::queue_poll(int fd, const slot& s) noexcept {
  io_uring_sqe* sqe = next_sqe(ring_.get(), stats_);
  if (sqe == nullptr) {
    return fail(errc::ebusy);
  }
  io_uring_prep_poll_multishot(sqe, fd, to_poll(s.what));
  io_uring_sqe_set_data64(sqe, user_data(fd, s.generation));
  return ok();
}

// The cancelled request ends with -ECANCELED under the old generation, and
// is dropped as stale; the cancellation's own completion is `ignored` (and
// not posted at all on success where the kernel can skip it).
// IORING_OP_ASYNC_CANCEL rather than IORING_OP_POLL_REMOVE: a poll removal
// fails with -EALREADY while a wake-up of the poll is being processed
// (its task work queued, not yet run), and the request would then stay
// armed, holding the file; a cancellation marks the request and its
// owner completes it.
result<void> io_uring_backend::queue_cancel(int fd, const slot& s) noexcept {
  io_uring_sqe* sqe = next_sqe(ring_.get(), stats_);
  if (sqe == nullptr) {
    return fail(errc::ebusy);
  }
  io_uring_prep_cancel64(sqe, user_data(fd, s.generation), 0);
  io_uring_sqe_set_data64(sqe, ignored);
  if (skip_success_) {
    io_uring_sqe_set_flags(sqe, IOSQE_CQE_SKIP_SUCCESS);
  }
  return ok();
}

result<void> io_uring_backend::add(int fd, std::uint64_t token, interest what) noexcept {
  if (fd < 0) {
    return fail(errc::ebadf);
  }
  if (find(fd) != nullptr) {
    return fail(errc::eexist);
  }
  // epoll_ctl refuses these itself; a poll request would accept them and
  // report "ready" forever.
  struct stat st {};
  auto stat_r = internal::sys([&] { return ::fstat(fd, &st); });
  if (!stat_r) {
    return fail(stat_r.error());
  }
  if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) {
    return fail(errc::eperm);
  }
  auto index = static_cast<std::size_t>(fd);
  if (index >= slots_.size()) {
    try {
      slots_.resize(index + 1);
    } catch (const std::bad_alloc&) {
      return fail(errc::enomem);
    }
  }
  slot& s = slots_[index];
  slot next{token, s.generation + 1 == 0 ? 1 : s.generation + 1, what, slot_armed, 0, 0};
  auto queued = queue_poll(fd, next);
  if (!queued) {
    return queued;
  }
  s = next;
  return ok();
}

result<void> io_uring_backend::modify(int fd, std::uint64_t token, interest what) noexcept {
  slot* s = find(fd);
  if (s == nullptr) {
    return fail(errc::enoent);
  }
  if (s->state == slot_armed) {
    auto cancelled = queue_cancel(fd, *s);
    if (!cancelled) {
      return cancelled;
    }
  }
  // A new generation: completions of the old request, already posted or
  // not, are dropped; the new request reports the state as it is now.
  s->generation = s->generation + 1 == 0 ? 1 : s->generation + 1;
  s->token = token;
  s->what = what;
  s->state = slot_armed;
  auto queued = queue_poll(fd, *s);
  if (!queued) {
    s->state = slot_failed;
  }
  return queued;
}

result<void> io_uring_backend::remove(int fd) noexcept {
  slot* s = find(fd);
  if (s == nullptr) {
    return fail(errc::enoent);
  }
  result<void> r = ok();
  if (s->state == slot_armed) {
    r = queue_cancel(fd, *s);
  }
  s->state = slot_free;
  return r;
}

// Poll requests belong to the thread that submitted them: their completions
// are posted by task work run on that thread (cooperatively: only when it
// enters the kernel), and they are cancelled when it exits. When the loop
// moves to another thread, every request is replaced by one of the new
// thread, under a new generation.
void io_uring_backend::rearm_all() noexcept {
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    slot& s = slots_[i];
    if (s.state == slot_free) {
      continue;
    }
    (void)modify(static_cast<int>(i), s.token, s.what);
  }
}

// -- polling ----------------------------------------------------------------------------

// One system call: submits the queued requests and, when `wait`, waits for
// a completion until `timeout` (no value: no limit). Without `wait` the call
// is made only when there is something to submit or no completion at hand;
// it also runs the task work that posts completions (cooperative mode) and
// flushes completions that overflowed the ring.
result<void> io_uring_backend::enter(bool wait, std::optional<std::chrono::milliseconds> timeout) noexcept {
  io_uring* ring = ring_.get();
  int ret = 0;
  if (wait) {
    io_uring_cqe* cqe = nullptr;
    __kernel_timespec ts{};
    if (timeout) {
      auto ms = std::max<std::int64_t>(timeout->count(), 0);
      ts.tv_sec = ms / 1000;
      ts.tv_nsec = (ms % 1000) * 1000000;
    }
    ret = io_uring_submit_and_wait_timeout(ring, &cqe, 1, timeout ? &ts : nullptr, nullptr);
  } else if (io_uring_sq_ready(ring) != 0 || io_uring_cq_ready(ring) == 0 || io_uring_cq_has_overflow(ring)) {
    ret = io_uring_submit_and_get_events(ring);
  } else {
    return ok();
  }
  ++stats_.submits;
  // ETIME: the wait timed out; EAGAIN/EBUSY: completions are backed up
  // (they are reaped now, and the next call submits the rest).
  if (ret >= 0 || ret == -ETIME || ret == -EAGAIN || ret == -EBUSY) {
    return ok();
  }
  return fail(from_ret(ret));
}

// Moves completions to `out`, merging those of one descriptor, until the
// ring is empty or `out` is full. Stale completions are dropped; a poll the
// kernel ended is queued again.
std::size_t io_uring_backend::reap(std::span<io_event> out) noexcept {
  io_uring* ring = ring_.get();
  std::size_t n = 0;
  unsigned seen = 0;
  unsigned head = 0;
  io_uring_cqe* cqe = nullptr;
  io_uring_for_each_cqe(ring, head, cqe) {
    std::uint64_t data = io_uring_cqe_get_data64(cqe);
    auto fd = static_cast<int>(data & UINT32_MAX);
    slot* s = data == ignored ? nullptr : find(fd);
    if (s == nullptr || s->generation != static_cast<std::uint32_t>(data >> 32)) {
      stats_.stale += data == ignored ? 0 : 1;
      ++seen;
      continue;
    }
    bool more = (cqe->flags & IORING_CQE_F_MORE) != 0;
    bool report = cqe->res != -ECANCELED;
    bool merged = s->batch == batch_ && s->batch_index < n;
    if (report && !merged && n == out.size()) {
      break;  // left in the ring for the next poll
    }
    ++seen;
    if (report) {
      readiness r = cqe->res >= 0 ? from_poll(static_cast<unsigned>(cqe->res))
                                  : readiness{.readable = true, .writable = true, .error = true};
      if (merged) {
        merge(out[s->batch_index].ready, r);
      } else {
        out[n] = io_event{s->token, r};
        s->batch = batch_;
        s->batch_index = static_cast<std::uint32_t>(n++);
      }
    }
    if (!more) {
      // Ended by the kernel: a mask (ring full) or a cancellation not ours
      // is re-armed; an error is reported once and not retried, so that a
      // descriptor that cannot be polled does not spin the loop.
      if (cqe->res >= 0 || cqe->res == -ECANCELED) {
        ++stats_.rearms;
        if (!queue_poll(fd, *s)) {
          s->state = slot_failed;
        }
      } else {
        s->state = slot_failed;
      }
    }
  }
  io_uring_cq_advance(ring, seen);
  return n;
}

// Waits (unless the timeout is zero or completions are at hand), reaps, and
// repeats while only stale completions came and time is left, so that a
// caller that waits sees an event or its timeout, as with epoll_wait. With
// a zero timeout a second pass submits the re-arms the first one queued.
result<std::size_t> io_uring_backend::poll(std::span<io_event> out,
                                           std::optional<std::chrono::milliseconds> timeout) noexcept {
  out = out.first(std::min(out.size(), capacity_));
  if (out.empty()) {
    return fail(errc::einval);
  }
  using clock = std::chrono::steady_clock;
  bool may_wait = !timeout || timeout->count() > 0;
  auto deadline = may_wait && timeout ? clock::now() + *timeout : clock::time_point{};
  if (poller_ != std::this_thread::get_id()) {
    if (poller_ != std::thread::id{}) {
      rearm_all();
    }
    poller_ = std::this_thread::get_id();
  }
  ++batch_;
  for (int pass = 0;; ++pass) {
    std::optional<std::chrono::milliseconds> left = timeout;
    if (may_wait && timeout) {
      left = std::chrono::ceil<std::chrono::milliseconds>(deadline - clock::now());
      if (pass > 0 && left->count() <= 0) {
        return std::size_t{0};
      }
    }
    bool wait = may_wait && io_uring_cq_ready(ring_.get()) == 0;
    auto entered = enter(wait, left);
    if (!entered) {
      if (entered.error() == errc::eintr) {
        return std::size_t{0};  // contract: reported as no events, not retried
      }
      return fail(entered.error());
    }
    std::size_t n = reap(out);
    if (n > 0) {
      return n;
    }
    if (!may_wait && (pass > 0 || io_uring_sq_ready(ring_.get()) == 0)) {
      return std::size_t{0};
    }
  }
}

}  // namespace otpnet::reactor
