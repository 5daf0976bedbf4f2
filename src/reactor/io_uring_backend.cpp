#include <otpnet/reactor/io_uring_backend.hpp>

#include "internal/syscall.hpp"

#include <liburing.h>

#include <poll.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstring>
#include <new>
#include <optional>
#include <thread>
#include <utility>

namespace otpnet::reactor {

namespace {

// Slot states. A failed registration had its poll end with an error: it is
// still watched (modify and remove work) but has no request in the kernel.
// A quiet one was added for no direction (interest::none: a descriptor
// used only for operations, such as a listen socket under a multishot
// accept): no poll either, so that nothing holds its file but the
// operations, and a close after remove shuts it at once.
constexpr std::uint8_t slot_free = 0;
constexpr std::uint8_t slot_armed = 1;
constexpr std::uint8_t slot_failed = 2;
constexpr std::uint8_t slot_quiet = 3;
// A poll to re-arm (the kernel ended a multishot one, or the loop moved to
// another thread) that the ring had no room for: queued by the next poll
// (late_polls_), so that the descriptor is not left without edges.
constexpr std::uint8_t slot_waiting = 4;

// User data of a poll request: generation << 32 | fd; of a receive, the
// receive's generation << 32 | recv_bit | fd; of an accept, the same with
// accept_bit; of a send, its generation << 32 | both bits | fd
// (descriptors are below 2^30). Cancellations carry `ignored`, whose low
// half is no descriptor.
constexpr std::uint64_t ignored = UINT64_MAX;
constexpr std::uint32_t recv_bit = 0x80000000U;
constexpr std::uint32_t accept_bit = 0x40000000U;
constexpr std::uint32_t send_bits = recv_bit | accept_bit;
constexpr std::uint32_t fd_mask = accept_bit - 1;

// Room for the msghdr and iovecs of the sends queued between two
// submissions; a send that finds it full submits what is queued first.
constexpr std::size_t send_iov_room = 4096;
// A send of at most this many bytes is copied into the area and made as
// one IORING_OP_SEND: cheaper in the kernel than a SENDMSG, which copies
// the msghdr and imports the iovecs (about 150 ns a send on the machine of
// docs/performance.md against a few ns for copying a small frame).
constexpr std::size_t send_copy_max = 2048;
constexpr std::size_t send_byte_room = 131072;

constexpr std::uint64_t user_data(int fd, std::uint32_t generation) noexcept {
  return (std::uint64_t{generation} << 32) | static_cast<std::uint32_t>(fd);
}

constexpr std::uint64_t recv_data(int fd, std::uint32_t generation) noexcept {
  return user_data(fd, generation) | recv_bit;
}

constexpr std::uint64_t accept_data(int fd, std::uint32_t generation) noexcept {
  return user_data(fd, generation) | accept_bit;
}

constexpr std::uint64_t send_data(int fd, std::uint16_t generation) noexcept {
  return user_data(fd, generation) | send_bits;
}

// What an operation's user data names (its two kind bits).
constexpr std::uint32_t kind_of(std::uint64_t data) noexcept {
  return data == ignored ? 0 : static_cast<std::uint32_t>(data) & send_bits;
}

constexpr std::uint32_t next_generation(std::uint32_t g) noexcept { return g + 1 == 0 ? 1 : g + 1; }

// The buffer group of the receive buffers (one ring per io_uring).
constexpr std::uint16_t recv_group = 0;
// Multishot receives take theirs from a second group, whose buffer ids
// follow every id the first can have (at most 32768 buffers each).
constexpr std::uint16_t stream_group = 1;
constexpr std::uint16_t stream_first_id = 32768;
// Whether a buffer id is a stream buffer's (only streams_ hands them out).
constexpr bool stream_id(std::uint16_t id) noexcept { return id >= stream_first_id; }

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

}  // namespace

// The msghdr and iovec arrays of the sends queued since the last
// submission, allocated once: the kernel reads them when it takes the
// entries, after which the area is reused.
struct io_uring_backend::send_area {
  std::vector<::msghdr> msgs;
  std::vector<::iovec> iovs;
  std::vector<std::byte> bytes;  // small sends, copied
  std::size_t msgs_used = 0;
  std::size_t iovs_used = 0;
  std::size_t bytes_used = 0;

  bool has_room(std::size_t n) const noexcept { return msgs_used < msgs.size() && iovs_used + n <= iovs.size(); }
  bool has_bytes(std::size_t n) const noexcept { return bytes_used + n <= bytes.size(); }
};

// A full submission ring is submitted at once to make room: the only case
// where a request leaves before the next `poll`.
io_uring_sqe* io_uring_backend::next_sqe() noexcept {
  if (refuse_entries_) [[unlikely]] {
    return nullptr;
  }
  io_uring* ring = ring_.get();
  io_uring_sqe* sqe = io_uring_get_sqe(ring);
  if (sqe == nullptr) {
    submit_queued();
    sqe = io_uring_get_sqe(ring);
  }
  return sqe;
}

// Submits what is queued before the next poll (to make room, or so that
// the kernel has read an entry).
void io_uring_backend::submit_queued() noexcept {
  ++stats_.submits;
  (void)io_uring_submit(ring_.get());
  submitted();
}

// A completion set aside by an earlier cancel_*_now, taken out of held_.
std::optional<io_uring_backend::completion> io_uring_backend::take_held(std::uint64_t target) noexcept {
  for (auto it = held_.begin(); it != held_.end(); ++it) {
    if (it->data == target) {
      completion c = *it;
      held_.erase(it);
      return c;
    }
  }
  return std::nullopt;
}

void io_uring_backend::submitted() noexcept {
  if (sends_ && io_uring_sq_ready(ring_.get()) == 0) {
    queued_sends_ = 0;
    sends_->msgs_used = 0;
    sends_->iovs_used = 0;
    sends_->bytes_used = 0;
  }
}

namespace {

// IORING_REGISTER_SYNC_CANCEL of the request with user data `target`, no
// time limit: 0, -ENOENT (not found: done, or never submitted), or -errno.
int register_sync_cancel(io_uring* ring, std::uint64_t target) noexcept {
  io_uring_sync_cancel_reg reg{};
  reg.addr = target;
  reg.timeout.tv_sec = -1;
  reg.timeout.tv_nsec = -1;
  return io_uring_register_sync_cancel(ring, &reg);
}

}  // namespace

// The ring of provided buffers: the entries the kernel takes buffers from,
// and the memory they point into, each an anonymous mapping (pages are
// touched only when a receive writes them). Unmapped after the ring is
// gone (io_uring_queue_exit unregisters it).
struct io_uring_backend::buffer_ring {
  io_uring_buf_ring* entries = nullptr;
  std::size_t entries_bytes = 0;
  std::byte* memory = nullptr;
  std::size_t memory_bytes = 0;
  unsigned count = 0;
  unsigned size = 0;
  std::uint16_t first_id = 0;  // the id of the first buffer (ids run on from it)

  buffer_ring() = default;
  buffer_ring(const buffer_ring&) = delete;
  buffer_ring& operator=(const buffer_ring&) = delete;
  ~buffer_ring() {
    if (memory != nullptr) {
      ::munmap(memory, memory_bytes);
    }
    if (entries != nullptr) {
      ::munmap(entries, entries_bytes);
    }
  }

  int mask() const noexcept { return io_uring_buf_ring_mask(count); }
  std::byte* at(unsigned id) const noexcept { return memory + std::size_t{id - first_id} * size; }

  // Maps both areas, registers the ring with `ring` as buffer group `bgid`
  // and hands the kernel every buffer, with ids from `first`. -errno when
  // the kernel has no buffer rings (before 5.19: EINVAL) or memory is short.
  int set_up(io_uring* ring, unsigned n, unsigned bytes, std::uint16_t bgid, std::uint16_t first) noexcept {
    count = n;
    size = bytes;
    first_id = first;
    entries_bytes = sizeof(io_uring_buf) * count;
    void* e = ::mmap(nullptr, entries_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (e == MAP_FAILED) {
      return -ENOMEM;
    }
    entries = static_cast<io_uring_buf_ring*>(e);
    memory_bytes = std::size_t{count} * size;
    void* m = ::mmap(nullptr, memory_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) {
      return -ENOMEM;
    }
    memory = static_cast<std::byte*>(m);
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<std::uintptr_t>(entries);
    reg.ring_entries = count;
    reg.bgid = bgid;
    int ret = io_uring_register_buf_ring(ring, &reg, 0);
    if (ret < 0) {
      return ret;
    }
    io_uring_buf_ring_init(entries);
    for (unsigned i = 0; i < count; ++i) {
      io_uring_buf_ring_add(entries, at(first_id + i), size, static_cast<std::uint16_t>(first_id + i), mask(),
                            static_cast<int>(i));
    }
    io_uring_buf_ring_advance(entries, static_cast<int>(count));
    return 0;
  }
};

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
  if (ring.recv_buffers != 0 && ring.recv_buffer_size != 0) {
    // A ring of buffers, or none: without it the backend is readiness only.
    unsigned n = std::bit_ceil(std::min(ring.recv_buffers, 32768U));
    auto buffers = std::unique_ptr<buffer_ring>(new (std::nothrow) buffer_ring);
    try {
      b->lent_.reserve(n);
      b->late_cancels_.reserve(16);
      b->late_polls_.reserve(16);
    } catch (const std::bad_alloc&) {
      return fail(errc::enomem);
    }
    // Receives need synchronous cancellation too (6.0): asked for a
    // request that does not exist, a kernel that has it says ENOENT.
    bool can_cancel = register_sync_cancel(b->ring_.get(), ignored - 1) == -ENOENT;
    b->ops_ = can_cancel;
    if (can_cancel) {
      auto area = std::unique_ptr<send_area>(new (std::nothrow) send_area);
      try {
        if (area) {
          area->msgs.resize(sq);
          area->iovs.resize(send_iov_room);
          area->bytes.resize(send_byte_room);
          b->sends_ = std::move(area);
        }
      } catch (const std::bad_alloc&) {
        b->ops_ = false;
      }
      if (!b->sends_) {
        b->ops_ = false;  // accepts and sends come together
      }
    }
    if (can_cancel && buffers && buffers->set_up(b->ring_.get(), n, ring.recv_buffer_size, recv_group, 0) == 0) {
      b->buffers_ = std::move(buffers);
      // Multishot receives (6.0, as sync cancellation) from a ring of
      // their own; without it, single-shot receives only.
      if (ring.stream_buffers != 0) {
        unsigned ns = std::bit_ceil(std::min(ring.stream_buffers, 32768U));
        auto streams = std::unique_ptr<buffer_ring>(new (std::nothrow) buffer_ring);
        try {
          b->lent_.reserve(std::size_t{n} + ns);
          if (streams &&
              streams->set_up(b->ring_.get(), ns, ring.recv_buffer_size, stream_group, stream_first_id) == 0) {
            b->streams_ = std::move(streams);
          }
        } catch (const std::bad_alloc&) {
          // (none then)
        }
      }
    }
  }
  return b;
}

io_uring_backend::io_uring_backend(std::unique_ptr<io_uring> ring, std::size_t capacity, bool skip_success) noexcept
    : ring_(std::move(ring)), capacity_(capacity), skip_success_(skip_success) {}

// The ring goes first (it unregisters the buffer ring); buffers_ then
// unmaps the buffers.
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
  io_uring_sqe* sqe = next_sqe();
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
result<void> io_uring_backend::queue_cancel(std::uint64_t target) noexcept {
  io_uring_sqe* sqe = next_sqe();
  if (sqe == nullptr) {
    return fail(errc::ebusy);
  }
  io_uring_prep_cancel64(sqe, target, 0);
  io_uring_sqe_set_data64(sqe, ignored);
  if (skip_success_) {
    io_uring_sqe_set_flags(sqe, IOSQE_CQE_SKIP_SUCCESS);
  }
  return ok();
}

// A request that must end (its descriptor is going) is cancelled now or, if
// the ring has no room, by the next poll: never forgotten, since it would
// hold the file open.
void io_uring_backend::cancel_or_defer(std::uint64_t target) noexcept {
  if (!queue_cancel(target)) {
    ++stats_.deferred_cancels;
    try {
      late_cancels_.push_back(target);
    } catch (const std::bad_alloc&) {
      // Out of memory as well: the request ends with the ring.
    }
  }
}

result<void> io_uring_backend::add(int fd, std::uint64_t token, interest what) noexcept {
  if (fd < 0 || static_cast<std::uint32_t>(fd) > fd_mask) {
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
  // recv_generation goes on: a receive of the descriptor's previous
  // registration may still complete, and must be found stale.
  slot next{};
  next.token = token;
  next.generation = next_generation(s.generation);
  next.what = what;
  next.state = slot_armed;
  next.recv_generation = s.recv_generation;
  next.send_generation = s.send_generation;  // (as recv_generation)
  if (what == interest::none) {
    next.state = slot_quiet;
    s = next;
    return ok();
  }
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
  // Without room in the ring, the cancel and the new poll are queued by
  // the next poll (as a re-arm is): neither is lost, and the caller's
  // change holds.
  if (s->state == slot_armed) {
    cancel_or_defer(user_data(fd, s->generation));
  }
  // A new generation: completions of the old request, already posted or
  // not, are dropped; the new request reports the state as it is now. A
  // receive in flight stays (its generation is its own).
  s->generation = next_generation(s->generation);
  s->token = token;
  s->what = what;
  if (what == interest::none) {
    s->state = slot_quiet;
    return ok();
  }
  arm_or_defer(fd, *s);
  if (s->state == slot_failed) {
    return fail(errc::enomem);  // (no room, and no memory to remember it)
  }
  return ok();
}

result<void> io_uring_backend::remove(int fd) noexcept {
  slot* s = find(fd);
  if (s == nullptr) {
    return fail(errc::enoent);
  }
  if (s->state == slot_armed) {
    cancel_or_defer(user_data(fd, s->generation));
  }
  // A receive that never had an entry (parked, or ended before it got
  // one) has nothing in the kernel to cancel.
  if (s->recv_in_flight) {
    if (!s->recv_parked && !s->recv_unmade && op_reached_kernel(s->op_entry, recv_data(fd, s->recv_generation))) {
      cancel_or_defer(recv_data(fd, s->recv_generation));
    }
    s->recv_in_flight = false;  // its completion is stale from now on
  }
  unpark(*s);  // (a parked receive has no entry: nothing to end)
  if (s->send_in_flight) {
    // One the kernel took is done (it does not wait); one not taken yet
    // must not send from buffers the caller frees next.
    (void)send_reached_kernel(*s, fd);
    s->send_in_flight = false;
  }
  if (s->accept_armed) {
    if (op_reached_kernel(s->op_entry, accept_data(fd, s->recv_generation))) {
      cancel_or_defer(accept_data(fd, s->recv_generation));
    }
    s->accept_armed = false;  // connections it still reports are closed
  }
  s->state = slot_free;
  return ok();
}

// A receive or accept names its descriptor by number, and the kernel takes
// the file when it reads the entry. The caller of remove closes the
// descriptor next, and a new socket may get the number before the next
// poll: an entry still in the ring would then read that socket's first
// bytes (or take a connection from a new listen socket), and its completion
// would be dropped as stale. So an entry the kernel has not read becomes a
// no-op where it is (no system call), also one handed over by a submission
// that stopped short: without SQPOLL the kernel reads entries only inside
// this thread's io_uring_enter, and submitting it instead could stop short
// again and leave it naming the number (as send_reached_kernel does).
bool io_uring_backend::op_reached_kernel(std::uint32_t entry, std::uint64_t data) noexcept {
  io_uring_sq& sq = ring_->sq;
  unsigned kernel_head = io_uring_smp_load_acquire(sq.khead);
  // Entries kernel_head..sqe_head are handed over, sqe_head..sqe_tail not
  // yet (running counts; the entry must still hold this operation, as an
  // old count may name a reused entry).
  bool in_ring = entry - kernel_head < sq.sqe_tail - kernel_head && sq.sqes[entry & *sq.kring_mask].user_data == data;
  if (!in_ring) {
    return true;  // read by the kernel: it holds the file
  }
  io_uring_sqe* sqe = &sq.sqes[entry & *sq.kring_mask];
  io_uring_prep_nop(sqe);
  io_uring_sqe_set_data64(sqe, ignored);
  ++stats_.voided;
  return false;
}

// A send the kernel has not read is made a no-op in place, also one handed
// over by a submission the kernel refused (it reads entries only inside
// this thread's io_uring_enter, no SQPOLL here): submitting it instead
// could fail again and leave it pointing at bytes the caller frees.
bool io_uring_backend::send_reached_kernel(const slot& s, int fd) noexcept {
  io_uring_sq& sq = ring_->sq;
  unsigned kernel_head = io_uring_smp_load_acquire(sq.khead);
  std::uint32_t entry = s.send_entry;
  io_uring_sqe* sqe = &sq.sqes[entry & *sq.kring_mask];
  if (entry - kernel_head < sq.sqe_tail - kernel_head && sqe->user_data == send_data(fd, s.send_generation)) {
    io_uring_prep_nop(sqe);
    io_uring_sqe_set_data64(sqe, ignored);
    ++stats_.voided;
    if (queued_sends_ != 0) {
      --queued_sends_;
    }
    return false;
  }
  return true;
}

// What every operation starts with: a watched descriptor with no operation
// in flight, an entry of the submission ring, a new operation generation.
result<std::pair<io_uring_backend::slot*, io_uring_sqe*>> io_uring_backend::start_op(int fd, bool supported) noexcept {
  slot* s = find(fd);
  if (s == nullptr) {
    return fail(errc::enoent);
  }
  if (!supported) {
    return fail(errc::unsupported);
  }
  if (s->recv_in_flight || s->accept_armed) {
    return fail(errc::ealready);
  }
  io_uring_sqe* sqe = next_sqe();
  if (sqe == nullptr) {
    return fail(errc::ebusy);
  }
  s->recv_generation = next_generation(s->recv_generation);
  return std::pair{s, sqe};
}

// A receive on a socket that the last one left empty is parked: it gets
// no entry yet. If its socket has a send in flight at the next poll (an
// answer queued in the same turn), it waits for that send's completion,
// and then for one more poll if that poll would not wait anyway (it makes
// sends); else it gets its entry at the next poll. In a request-response
// exchange the peer's next request cannot be there before the answer has
// left, so a receive made with the answer would find nothing and wait
// through a poll (arming it, the wake-up, task work that polls again). Made
// a turn or two later, once the other sockets' completions have been
// handled, it finds the bytes at submission more often than not (poll arms
// per receive in the ping-pong benchmark: 1.0 made with the answer, 0.58
// one turn later, 0.35 two). Bytes that come meanwhile wait hardly longer
// than they would have: a receive waiting in the kernel is completed by
// task work that runs only when this thread next passes through the
// kernel, in a busy loop mostly the call that makes the parked receive.
result<void> io_uring_backend::submit_recv(int fd) noexcept {
  slot* s = find(fd);
  if (s == nullptr) {
    return fail(errc::enoent);
  }
  if (buffers_ == nullptr) {
    return fail(errc::unsupported);
  }
  if (s->recv_in_flight || s->accept_armed) {
    return fail(errc::ealready);
  }
  std::uint32_t generation = next_generation(s->recv_generation);
  bool parked = false;
  if (s->recv_drained) {
    try {
      make_held_room(1);  // where it ends if the ring refuses its entry later
      parked_.push_back(parked_recv{fd, generation});
      parked = true;
    } catch (const std::bad_alloc&) {
      // Queued now, then.
    }
  }
  io_uring_sqe* sqe = parked ? nullptr : next_sqe();
  if (!parked && sqe == nullptr) {
    return fail(errc::ebusy);
  }
  begin_recv(*s, generation, parked, false);
  parked_count_ += parked ? 1 : 0;
  if (!parked) {
    prep_recv(sqe, fd, *s, false);
  }
  return ok();
}

// Never parked: a multishot receive is for a socket read as its bytes come,
// not one that answers requests, so the entry is made now and the kernel
// tries it at submission.
result<void> io_uring_backend::submit_recv_multishot(int fd) noexcept {
  auto op = start_op(fd, supports_recv_multishot());
  if (!op) {
    return fail(op.error());
  }
  auto [s, sqe] = *op;
  begin_recv(*s, s->recv_generation, false, true);
  s->op_entry = ring_->sq.sqe_tail - 1;
  // (Length 0: each completion fills at most one provided buffer; the
  // kernel refuses a length with IORING_RECV_MULTISHOT before 6.10.)
  io_uring_prep_recv_multishot(sqe, fd, nullptr, 0, refuse_multishot_ ? MSG_WAITALL : 0);
  io_uring_sqe_set_flags(sqe, IOSQE_BUFFER_SELECT);
  sqe->buf_group = stream_group;
  io_uring_sqe_set_data64(sqe, recv_data(fd, s->recv_generation));
  return ok();
}

// A receive's state in its slot as it begins (counted in the stats).
void io_uring_backend::begin_recv(slot& s, std::uint32_t generation, bool parked, bool multishot) noexcept {
  s.recv_generation = generation;
  s.recv_in_flight = true;
  s.recv_parked = parked;
  s.recv_listed = parked;
  s.recv_multishot = multishot;
  s.recv_went_on = false;
  s.recv_answered = false;
  s.recv_held = false;
  s.recv_unmade = false;
  ++stats_.recvs;
  stats_.recv_multishots += multishot ? 1 : 0;
}

// The entry of a parked receive. Without room in the ring (a submission the
// kernel refused), the receive ends as interrupted, having taken nothing
// (held for the next poll), and its owner queues another. Its completion
// goes into the room held_ kept for it since it parked (make_held_room),
// so this never allocates: a receive that ended without a completion
// would leave its socket unread for good (its owner waits for one).
void io_uring_backend::queue_recv(int fd, slot& s, bool poll_first) noexcept {
  unpark(s);
  s.recv_answered = false;
  s.recv_held = false;
  io_uring_sqe* sqe = next_sqe();
  if (sqe == nullptr) {
    held_.push_back(completion{recv_data(fd, s.recv_generation), -EINTR, 0});  // (room kept: no allocation)
    s.recv_unmade = true;
    return;
  }
  prep_recv(sqe, fd, s, poll_first);
}

// held_ keeps room for the completion of every parked receive: a parked
// receive ends with one pushed there when its entry cannot be made
// (queue_recv) or when it is cancelled (cancel_recv), neither of which may
// fail. Grows geometrically, so that parking many receives one by one
// costs amortised constant time.
void io_uring_backend::make_held_room(std::size_t extra) {
  std::size_t need = held_.size() + parked_count_ + extra;
  if (need > held_.capacity()) {
    held_.reserve(std::max(need, 2 * held_.capacity()));
  }
}

void io_uring_backend::unpark(slot& s) noexcept {
  if (s.recv_parked) {
    s.recv_parked = false;
    --parked_count_;
  }
}

void io_uring_backend::prep_recv(io_uring_sqe* sqe, int fd, slot& s, bool poll_first) noexcept {
  s.op_entry = ring_->sq.sqe_tail - 1;
  io_uring_prep_recv(sqe, fd, nullptr, buffers_->size, 0);
  if (poll_first) {
    // The socket was empty at the last receive: waiting first spares a
    // try that would most likely find nothing.
    sqe->ioprio |= IORING_RECVSEND_POLL_FIRST;
  }
  io_uring_sqe_set_flags(sqe, IOSQE_BUFFER_SELECT);
  sqe->buf_group = recv_group;
  io_uring_sqe_set_data64(sqe, recv_data(fd, s.recv_generation));
}

// At the start of a poll: the parked receives get their entries, except
// those whose socket's first send since is still in flight (listed again
// by after_send) and those answered by a completed send when the poll will
// not wait (`soon`), which are kept for one more poll, once. One parked with no send
// waits for bytes first (IORING_RECVSEND_POLL_FIRST): its socket was empty.
// An entry of another generation is stale (its receive ended, or its
// descriptor was removed, and the number may be watched again, with a
// receive listed anew): dropped, so that each receive is acted on once, and
// only its own.
void io_uring_backend::release_parked(bool soon) noexcept {
  std::size_t kept = 0;
  for (std::size_t i = 0; i < parked_.size(); ++i) {
    int fd = parked_[i].fd;
    slot* s = find(fd);
    if (s == nullptr || !s->recv_parked || !s->recv_listed || s->recv_generation != parked_[i].generation) {
      continue;
    }
    s->recv_listed = false;
    if (s->send_in_flight && !s->recv_answered) {
      continue;  // listed again by after_send (which it waits for once: later sends do not hold it)
    }
    if (s->recv_answered && soon && !s->recv_held) {
      s->recv_held = true;
      s->recv_listed = true;
      parked_[kept++] = parked_[i];
      continue;
    }
    queue_recv(fd, *s, !s->recv_answered);
  }
  parked_.resize(kept);
}

// (Once: a receive parked and answered in the same turn is listed already.)
void io_uring_backend::list_parked(int fd, slot& s) noexcept {
  if (s.recv_listed) {
    return;
  }
  try {
    parked_.push_back(parked_recv{fd, s.recv_generation});
    s.recv_listed = true;
  } catch (const std::bad_alloc&) {
    queue_recv(fd, s, false);
  }
}

// The send of `s` is over: a receive parked behind it is listed for the
// next poll.
void io_uring_backend::after_send(int fd, slot& s) noexcept {
  s.send_in_flight = false;
  if (s.recv_parked) {
    stats_.recvs_after_send += s.recv_answered ? 0 : 1;
    s.recv_answered = true;
    list_parked(fd, s);
  }
}

result<void> io_uring_backend::submit_accept(int fd) noexcept {
  auto op = start_op(fd, ops_);
  if (!op) {
    return fail(op.error());
  }
  auto [s, sqe] = *op;
  s->accept_armed = true;
  s->op_entry = ring_->sq.sqe_tail - 1;
  io_uring_prep_multishot_accept(sqe, fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  io_uring_sqe_set_data64(sqe, accept_data(fd, s->recv_generation));
  ++stats_.accepts;
  return ok();
}

result<void> io_uring_backend::submit_send(int fd, const ::iovec* iov, std::size_t n) noexcept {
  slot* s = find(fd);
  if (s == nullptr) {
    return fail(errc::enoent);
  }
  if (!sends_) {
    return fail(errc::unsupported);
  }
  if (s->send_in_flight) {
    return fail(errc::ealready);
  }
  if (n == 0) {
    return fail(errc::invalid);
  }
  // Beyond the area, the rest is the caller's next send (a short count).
  n = std::min(n, sends_->iovs.size());
  std::size_t total = 0;
  for (std::size_t i = 0; i < n && total <= send_copy_max; ++i) {
    total += iov[i].iov_len;
  }
  bool copy = total <= send_copy_max;
  auto room = [&] { return copy ? sends_->has_bytes(total) : sends_->has_room(n); };
  if (!room()) {
    submit_queued();
    if (!room()) {
      return fail(errc::ebusy);
    }
  }
  io_uring_sqe* sqe = next_sqe();  // (a submission here only frees more room)
  if (sqe == nullptr) {
    return fail(errc::ebusy);
  }
  if (copy) {
    std::byte* to = &sends_->bytes[sends_->bytes_used];
    sends_->bytes_used += total;
    std::size_t at = 0;
    for (std::size_t i = 0; i < n; ++i) {
      if (iov[i].iov_len != 0) {
        std::memcpy(to + at, iov[i].iov_base, iov[i].iov_len);
        at += iov[i].iov_len;
      }
    }
    io_uring_prep_send(sqe, fd, to, total, MSG_NOSIGNAL | MSG_DONTWAIT);
  } else {
    ::iovec* copy_of = &sends_->iovs[sends_->iovs_used];
    std::copy(iov, iov + n, copy_of);
    sends_->iovs_used += n;
    ::msghdr& m = sends_->msgs[sends_->msgs_used++];
    m = ::msghdr{};
    m.msg_iov = copy_of;
    m.msg_iovlen = n;
    io_uring_prep_sendmsg(sqe, fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
  }
  s->send_generation = static_cast<std::uint16_t>(s->send_generation + 1);
  s->send_in_flight = true;
  s->send_entry = ring_->sq.sqe_tail - 1;
  io_uring_sqe_set_data64(sqe, send_data(fd, s->send_generation));
  ++stats_.sends;
  ++queued_sends_;
  return ok();
}

// Submits what is queued, then cancels `target` synchronously
// (IORING_REGISTER_SYNC_CANCEL): 0 or -ENOENT (done already) once the kernel
// is through with it; -EBUSY when the submission ring kept entries (the
// request may be among them, where a cancellation cannot find it).
int io_uring_backend::sync_cancel(std::uint64_t target) noexcept {
  io_uring* ring = ring_.get();
  ++stats_.submits;
  int ret = io_uring_submit(ring);
  submitted();
  if ((ret < 0 && ret != -EBUSY && ret != -EAGAIN) || io_uring_sq_ready(ring) != 0) {
    return -EBUSY;
  }
  if (fail_sync_cancels_) [[unlikely]] {
    return -EIO;
  }
  return register_sync_cancel(ring, target);
}

// Synchronous (IORING_REGISTER_SYNC_CANCEL): once it returns the kernel
// takes no more connections, so a caller that parks knows later ones stay
// in the backlog. What it took before, and the final ECANCELED, are
// reported by the next poll.
result<void> io_uring_backend::cancel_accept(int fd) noexcept {
  slot* s = find(fd);
  if (s == nullptr || !s->accept_armed) {
    return fail(errc::enoent);
  }
  // Failing that (the request still queued here, or the kernel refusing),
  // at least asynchronously, in the batch after it.
  std::uint64_t target = accept_data(fd, s->recv_generation);
  if (int ret = sync_cancel(target); ret < 0 && ret != -ENOENT) {
    cancel_or_defer(target);
  }
  return ok();
}

result<void> io_uring_backend::cancel_recv(int fd) noexcept {
  slot* s = find(fd);
  if (s == nullptr || !s->recv_in_flight) {
    return fail(errc::enoent);
  }
  if (s->recv_unmade) {
    return ok();  // ending already, without an entry: nothing to cancel
  }
  if (s->recv_parked) {
    // Ends as a cancelled receive would, at the next poll (in the room
    // kept for it: no allocation), with no request for the kernel: it has
    // no entry, and neither remove nor a second cancel_recv queues one.
    unpark(*s);
    held_.push_back(completion{recv_data(fd, s->recv_generation), -ECANCELED, 0});
    s->recv_unmade = true;
    return ok();
  }
  cancel_or_defer(recv_data(fd, s->recv_generation));
  return ok();
}

// Poll requests belong to the thread that submitted them: their completions
// are posted by task work run on that thread (cooperatively: only when it
// enters the kernel), and they are cancelled when it exits. When the loop
// moves to another thread, every poll request is replaced by one of the new
// thread, under a new generation. Receives in flight are not: they stay the
// old thread's (see the header).
void io_uring_backend::rearm_all() noexcept {
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    slot& s = slots_[i];
    if (s.state == slot_free || s.state == slot_quiet) {
      continue;
    }
    const int fd = static_cast<int>(i);
    if (s.state == slot_armed) {
      cancel_or_defer(user_data(fd, s.generation));
    }
    s.generation = next_generation(s.generation);
    arm_or_defer(fd, s);
  }
}

// Queues the poll of `s` (armed) or, if the ring has no room, has the next
// poll queue it: a re-arm must not be dropped, or the descriptor would get
// no edge again and its owner would wait forever. Only out of memory as
// well does the slot fail (its next modify arms it again).
void io_uring_backend::arm_or_defer(int fd, slot& s) noexcept {
  s.state = slot_armed;
  if (queue_poll(fd, s)) {
    return;
  }
  ++stats_.deferred_polls;
  try {
    late_polls_.push_back(parked_recv{fd, s.generation});
    s.state = slot_waiting;
  } catch (const std::bad_alloc&) {
    s.state = slot_failed;
  }
}

// The polls deferred by arm_or_defer, in order, while the ring has room;
// those whose slot has moved on since (removed, modified) are dropped.
void io_uring_backend::queue_late_polls() noexcept {
  std::size_t done = 0;
  for (; done < late_polls_.size(); ++done) {
    auto [fd, generation] = late_polls_[done];
    slot* s = find(fd);
    if (s == nullptr || s->state != slot_waiting || s->generation != generation) {
      continue;
    }
    if (!queue_poll(fd, *s)) {
      break;  // still no room: the rest wait for the next poll
    }
    s->state = slot_armed;
  }
  late_polls_.erase(late_polls_.begin(), late_polls_.begin() + static_cast<std::ptrdiff_t>(done));
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
  submitted();
  // ETIME: the wait timed out; EAGAIN/EBUSY: completions are backed up
  // (they are reaped now, and the next call submits the rest).
  if (ret >= 0 || ret == -ETIME || ret == -EAGAIN || ret == -EBUSY) {
    return ok();
  }
  return fail(from_ret(ret));
}

// Moves completions to `out`, merging those of one descriptor, until the
// ring is empty or `out` is full: first those set aside by cancel_recv_now,
// then the ring's. Stale completions are dropped; a poll the kernel ended
// is queued again.
std::size_t io_uring_backend::reap(std::span<io_event> out) noexcept {
  std::size_t n = 0;
  std::size_t used = 0;
  while (used < held_.size() && take(held_[used], out, n)) {
    ++used;
  }
  held_.erase(held_.begin(), held_.begin() + static_cast<std::ptrdiff_t>(used));
  if (!held_.empty()) {
    return n;  // out is full; the ring's come after these
  }
  io_uring* ring = ring_.get();
  unsigned seen = 0;
  unsigned head = 0;
  io_uring_cqe* cqe = nullptr;
  io_uring_for_each_cqe(ring, head, cqe) {
    if (!take(completion{io_uring_cqe_get_data64(cqe), cqe->res, cqe->flags}, out, n)) {
      break;  // left in the ring for the next poll
    }
    ++seen;
  }
  io_uring_cq_advance(ring, seen);
  return n;
}

// One completion: reported to out[n] (or merged into an earlier event of its
// descriptor), or dropped. False, and nothing done, when it would need a new
// entry and `out` is full.
bool io_uring_backend::take(const completion& c, std::span<io_event> out, std::size_t& n) noexcept {
  std::uint32_t kind = kind_of(c.data);
  bool is_recv = kind == recv_bit;
  bool is_accept = kind == accept_bit;
  bool is_send = kind == send_bits;
  auto fd = static_cast<int>(c.data & fd_mask);
  auto generation = static_cast<std::uint32_t>(c.data >> 32);
  slot* s = c.data == ignored ? nullptr : find(fd);
  bool has_buffer = (c.flags & IORING_CQE_F_BUFFER) != 0;
  auto buffer_id = static_cast<std::uint16_t>(c.flags >> IORING_CQE_BUFFER_SHIFT);
  bool current = false;
  if (s != nullptr) {
    if (is_recv) {
      current = s->recv_in_flight && s->recv_generation == generation;
    } else if (is_send) {
      current = s->send_in_flight && s->send_generation == generation;
    } else if (is_accept) {
      current = s->accept_armed && s->recv_generation == generation;
    } else {
      current = s->generation == generation;
    }
  }
  if (!current) {
    stats_.stale += c.data == ignored ? 0 : 1;
    if (has_buffer) {
      lent_.push_back(buffer_id);  // back to the kernel with the next poll
    }
    if (is_accept && c.res >= 0) {
      (void)internal::sys_once([fd = c.res] { return ::close(fd); });  // nobody else knows it
    }
    return true;
  }
  if (is_accept) {
    if (n == out.size()) {
      return false;
    }
    bool more = (c.flags & IORING_CQE_F_MORE) != 0;
    s->accept_armed = more;
    out[n++] = io_event{s->token, readiness{}, event_kind::accept, c.res, nullptr, more};
    return true;
  }
  if (is_recv) {
    if (n == out.size()) {
      return false;
    }
    out[n++] = finish_recv(*s, c);
    return true;
  }
  if (is_send) {
    if (n == out.size()) {
      return false;
    }
    out[n++] = io_event{s->token, readiness{}, event_kind::send, c.res};
    after_send(fd, *s);
    return true;
  }
  bool more = (c.flags & IORING_CQE_F_MORE) != 0;
  bool report = c.res != -ECANCELED;
  bool merged = s->batch == batch_ && s->batch_index < n;
  if (report && !merged && n == out.size()) {
    return false;
  }
  if (report) {
    readiness r = c.res >= 0 ? from_poll(static_cast<unsigned>(c.res))
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
    if (c.res >= 0 || c.res == -ECANCELED) {
      ++stats_.rearms;
      arm_or_defer(fd, *s);
    } else {
      s->state = slot_failed;
    }
  }
  return true;
}

// The event of a receive's completion; its buffer is lent until the next
// poll. A multishot receive stays in flight while the kernel says it goes on.
io_event io_uring_backend::finish_recv(slot& s, const completion& c_in) noexcept {
  completion c = c_in;
  if (s.recv_multishot && !s.recv_went_on && c.res == -EINVAL) {
    // A kernel that refuses the multishot flag (it is probed only through
    // sync cancellation, of the same release): none from now on, and this
    // one ends as interrupted, having taken nothing, so that its owner
    // queues a single-shot one (which reports a real EINVAL).
    multishot_refused_ = true;
    ++stats_.multishot_refused;
    c.res = -EINTR;
  }
  bool more = s.recv_multishot && (c.flags & IORING_CQE_F_MORE) != 0;
  stats_.recv_more += more ? 1 : 0;
  s.recv_in_flight = more;
  s.recv_multishot = more;
  s.recv_went_on = more;
  s.recv_unmade = false;
  s.recv_drained = c.res > 0 && static_cast<unsigned>(c.res) < buffers_->size;
  stats_.enobufs += c.res == -ENOBUFS ? 1 : 0;
  const std::byte* bytes = nullptr;
  if ((c.flags & IORING_CQE_F_BUFFER) != 0) {
    auto id = static_cast<std::uint16_t>(c.flags >> IORING_CQE_BUFFER_SHIFT);
    bytes = ring_of(id).at(id);
    lent_.push_back(id);
  }
  return io_event{s.token, readiness{}, event_kind::recv, c.res, bytes, more};
}

// Submits what is queued (the receive may not have left yet), cancels it
// synchronously (IORING_REGISTER_SYNC_CANCEL returns once it is done: -ENOENT
// when it had completed already), then lets the kernel post what it owes
// and sets every completion aside, in order, for the next poll, except the
// receive's, which is the answer. Its buffer is lent until the next poll.
// A multishot receive's later completions are among those set aside (after
// the answer, in order): the next calls take them from there, one each,
// until the last (no IORING_CQE_F_MORE; the cancellation's ECANCELED if
// nothing else ended it). One set aside before the first call (by another
// descriptor's) is taken first, before any cancellation, as it comes first
// in the stream; the cancellation follows once none is left.
result<io_event> io_uring_backend::cancel_recv_now(int fd) noexcept {
  slot* s = find(fd);
  if (s == nullptr || !s->recv_in_flight) {
    return fail(errc::enoent);
  }
  std::uint64_t target = recv_data(fd, s->recv_generation);
  if (s->recv_parked) {
    unpark(*s);  // never made: it took nothing
    return finish_recv(*s, completion{target, -ECANCELED, 0});
  }
  // Set aside already by an earlier call (for another descriptor)?
  if (auto c = take_held(target)) {
    return finish_recv(*s, *c);
  }
  // The receive may still wait in the submission ring: it must reach the
  // kernel, or the cancellation finds nothing and the answer never comes.
  int ret = sync_cancel(target);
  if (ret == -EBUSY) {
    return fail(errc::ebusy);  // still in flight: remove() cancels it
  }
  if (ret < 0 && ret != -ENOENT) {
    return fail(from_ret(ret));
  }
  if (auto c = take_now(target)) {
    return finish_recv(*s, *c);
  }
  // Done by the kernel's word, yet not posted (its completion is owed by
  // another thread's task work: the loop changed threads with a receive in
  // flight), or no memory to set the others aside. Its bytes cannot be
  // vouched for: an error, and the receive stays in flight so that
  // remove() cancels it.
  return fail(errc::ebusy);
}

// A send does not wait in the kernel (MSG_DONTWAIT): once taken it is done
// and its completion posted, so no cancellation is needed, only the
// completion.
result<io_event> io_uring_backend::cancel_send_now(int fd) noexcept {
  slot* s = find(fd);
  if (s == nullptr || !s->send_in_flight) {
    return fail(errc::enoent);
  }
  std::uint64_t target = send_data(fd, s->send_generation);
  if (!send_reached_kernel(*s, fd)) {
    // Nothing was sent: a receive parked behind it is listed as it was,
    // not as answered (it keeps POLL_FIRST and is not held).
    s->send_in_flight = false;
    if (s->recv_parked) {
      list_parked(fd, *s);
    }
    return io_event{s->token, readiness{}, event_kind::send, -ECANCELED};
  }
  std::optional<completion> c = take_held(target);
  if (!c) {
    c = take_now(target);
  }
  if (!c) {
    return fail(errc::ebusy);  // (stays in flight: its completion is dropped when it comes)
  }
  after_send(fd, *s);
  return io_event{s->token, readiness{}, event_kind::send, c->res};
}

// Lets the kernel post what it owes and sets every completion aside, in
// order, for the next poll, except `target`'s, which is returned. Nothing
// when it is not posted after a few passes, or memory is short.
std::optional<io_uring_backend::completion> io_uring_backend::take_now(std::uint64_t target) noexcept {
  io_uring* ring = ring_.get();
  for (int pass = 0; pass < 4; ++pass) {
    ++stats_.submits;
    (void)io_uring_submit_and_get_events(ring);
    submitted();
    unsigned seen = 0;
    unsigned head = 0;
    io_uring_cqe* cqe = nullptr;
    std::optional<completion> answer;
    io_uring_for_each_cqe(ring, head, cqe) {
      completion c{io_uring_cqe_get_data64(cqe), cqe->res, cqe->flags};
      ++seen;
      if (!answer && c.data == target) {
        answer = c;
        continue;
      }
      try {
        make_held_room(1);  // (and the room kept for parked receives)
        held_.push_back(c);
      } catch (const std::bad_alloc&) {
        io_uring_cq_advance(ring, seen - 1);
        if (answer) {
          return answer;  // (the one that failed stays in the ring)
        }
        return std::nullopt;
      }
    }
    io_uring_cq_advance(ring, seen);
    if (answer) {
      return answer;
    }
  }
  return std::nullopt;
}

// The buffers the previous poll reported (their bytes have been used by
// now, contract of io_event::data) and those of stale completions go back
// to the kernel, in one release of the ring's tail.
void io_uring_backend::give_back_buffers() noexcept {
  if (lent_.empty()) {
    return;
  }
  int added[2] = {0, 0};  // per ring (by stream_id): the entries added so far, past its tail
  for (std::uint16_t id : lent_) {
    buffer_ring& r = ring_of(id);
    io_uring_buf_ring_add(r.entries, r.at(id), r.size, id, r.mask(), added[stream_id(id) ? 1 : 0]++);
  }
  if (added[0] != 0) {
    io_uring_buf_ring_advance(buffers_->entries, added[0]);
  }
  if (added[1] != 0) {
    io_uring_buf_ring_advance(streams_->entries, added[1]);
  }
  lent_.clear();
}

io_uring_backend::buffer_ring& io_uring_backend::ring_of(std::uint16_t id) const noexcept {
  return stream_id(id) ? *streams_ : *buffers_;
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
  give_back_buffers();
  // This poll's system call will not wait when it makes sends (each posts
  // its completion there) or has no time to.
  release_parked((timeout && timeout->count() == 0) || queued_sends_ != 0);
  for (std::size_t i = 0; i < late_cancels_.size();) {
    if (queue_cancel(late_cancels_[i])) {
      late_cancels_[i] = late_cancels_.back();
      late_cancels_.pop_back();
    } else {
      ++i;
    }
  }
  for (int pass = 0;; ++pass) {
    std::optional<std::chrono::milliseconds> left = timeout;
    if (may_wait && timeout) {
      left = std::chrono::ceil<std::chrono::milliseconds>(deadline - clock::now());
      if (pass > 0 && left->count() <= 0) {
        return std::size_t{0};
      }
    }
    if (pass > 0 && may_wait && !parked_.empty()) {
      // Only stale completions came: a receive held for this poll (its
      // socket answered, the poll expected not to wait) must not sit out
      // the wait that follows without an entry.
      release_parked(false);
    }
    // Re-arms deferred for want of room (here or by the last pass's reap:
    // the last submission may have made room). While one still waits this
    // poll sleeps a millisecond at most, so that its descriptor does not
    // sit out a long wait unwatched, nor the loop spin while the kernel
    // takes no entry.
    if (!late_polls_.empty()) {
      queue_late_polls();
      if (!late_polls_.empty() && (!left || left->count() > 1)) {
        left = std::chrono::milliseconds(1);
      }
    }
    // Completions set aside by cancel_recv_now are at hand too.
    bool wait = may_wait && io_uring_cq_ready(ring_.get()) == 0 && held_.empty();
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

void io_uring_backend::read_counters(std::vector<counter_reading>& out) const {
  const io_uring_stats& s = stats_;
  // (streams_ is set at creation, before the loop runs: read-only since.)
  out.push_back({"multishot_recv_available", streams_ != nullptr ? 1U : 0U});
  for (const counter_reading& c :
       {counter_reading{"submits", s.submits}, counter_reading{"rearms", s.rearms}, counter_reading{"stale", s.stale},
        counter_reading{"recvs", s.recvs}, counter_reading{"recv_multishots", s.recv_multishots},
        counter_reading{"recv_more", s.recv_more}, counter_reading{"multishot_refused", s.multishot_refused},
        counter_reading{"accepts", s.accepts}, counter_reading{"enobufs", s.enobufs},
        counter_reading{"deferred_cancels", s.deferred_cancels}, counter_reading{"deferred_polls", s.deferred_polls},
        counter_reading{"voided", s.voided}, counter_reading{"sends", s.sends},
        counter_reading{"recvs_after_send", s.recvs_after_send}}) {
    out.push_back(c);
  }
}

}  // namespace otpnet::reactor
