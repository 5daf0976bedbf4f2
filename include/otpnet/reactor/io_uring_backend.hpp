// File: otpnet/reactor/io_uring_backend.hpp
//
// The io_uring backend: readiness through multishot IORING_OP_POLL_ADD, one
// poll request per descriptor, kept armed by the backend, and receives
// completed by the kernel into provided buffers (`submit_recv`). Requests
// (adds, removes, re-arms, receives) are queued in the submission ring and
// submitted once per `poll`, together with the wait
// (io_uring_submit_and_wait_timeout). Obtain one through `backend_selector`
// ("io_uring"), which probes the kernel once.
//
// How it keeps the readiness contract of backend.hpp:
//
//  * Edge-triggered. io_uring polls are edge-triggered unless
//    IORING_POLL_ADD_LEVEL is given (the kernel adds EPOLLET itself; this
//    backend also passes it). A multishot poll posts one completion per
//    wake-up of the descriptor's wait queue that matches the mask, and one
//    at arming time if the descriptor is already ready, as epoll does on
//    EPOLL_CTL_ADD. Completions for one descriptor within one `poll` are
//    merged into one event.
//  * No re-arming by the caller. The kernel ends a multishot poll now and
//    then (a completion without IORING_CQE_F_MORE, e.g. when the completion
//    ring was full); the backend then queues a new poll for the same
//    registration. The new poll checks the descriptor's state when it is
//    armed, so no edge is lost: at worst one is reported twice.
//  * Stale completions. Each request's user data carries the registration's
//    generation (bumped by `add`, `modify` and `remove`); a completion of an
//    older generation, or of a descriptor no longer watched, is dropped
//    here. Events already returned to the caller are the caller's to filter
//    (contract point 6).
//
// Differences from epoll that callers may notice:
//
//  * The kernel's poll request holds a reference to the open file, so a
//    descriptor closed without `remove` stays open (its socket is not shut)
//    until the ring is destroyed. `remove` before `close` is therefore a
//    must here (contract point 6), not a courtesy. A removal is submitted
//    with the next `poll`, so the file is released at the loop's next turn.
//  * `remove` of a descriptor that was closed first returns success (the
//    watch is cancelled and the file released); epoll returns `ebadf`.
//  * `add` checks the descriptor with one fstat (epoll does it in its
//    epoll_ctl): `ebadf` for a closed one, `eperm` for regular files and
//    directories, which are always ready and cannot be watched.
//  * Poll requests belong to the thread that submitted them (their
//    completions are posted by work run on that thread, cooperatively,
//    i.e. when it enters the kernel). When `poll` is first called from
//    another thread (a loop handed over with bind_to_current_thread), the
//    backend replaces every poll request by one of the new thread.
//    Receives in flight (single-shot or multishot) stay the old thread's:
//    their completions come when it next enters the kernel, or ECANCELED
//    when it exits, and cancel_recv_now may answer `ebusy` meanwhile
//    (loops change threads only when their scheduler starts).
//  * An error completion of a poll request (not expected for sockets,
//    pipes or eventfds) is reported once as an error with both directions
//    ready; that registration then stays silent until modified or removed.
//
//
// Receives (`submit_recv`; kernel 6.0+: provided buffer rings and
// synchronous cancellation, for `cancel_recv_now`): an
// IORING_OP_RECV with IOSQE_BUFFER_SELECT on a ring of `recv_buffers`
// buffers of `recv_buffer_size` bytes registered at creation. The kernel
// tries the receive at submission and otherwise waits for bytes itself; it
// picks a buffer for each attempt and puts it back when the attempt finds
// nothing, so a descriptor waiting for bytes holds none (an empty ring,
// though, ends a receive with ENOBUFS even when no bytes wait). A buffer reported by `poll` goes back to the ring at
// the next `poll`. A receive has a generation of its own (so `modify` does not make its bytes stale); `remove` cancels
// it. When the ring is empty the kernel ends the receive with ENOBUFS (counted in the stats). Without buffer ring
// support `supports_recv` is false and the backend is readiness only.
// A multishot receive (`submit_recv_multishot`) is the same request with
// IORING_RECV_MULTISHOT: the kernel keeps it after each completion
// (IORING_CQE_F_MORE), taking a new buffer for each, so the receive stays
// in flight until a completion without that flag. It is never parked. Its
// buffers come from a ring of their own (`stream_buffers`): the kernel
// reads a stream's waiting bytes into as many buffers as they fill, which
// would otherwise leave none for the sockets that answer requests.
// `cancel_recv_now` ends it and gives its completions one per call, in
// order, from those it set aside.
//
// Accepts (`submit_accept`, same kernels): one multishot IORING_OP_ACCEPT
// per listening descriptor; each connection it takes comes as an event with
// its new descriptor. `remove` cancels it, and descriptors it still reports
// afterwards are closed here (nobody else knows them).
//
// Sends (`submit_send`, same kernels): an IORING_OP_SENDMSG with
// MSG_DONTWAIT, queued in the submission ring and made by the kernel when
// the next `poll` submits, in the system call that waits: a loop that
// answers many connections in one turn sends every answer and waits for
// the next event in one call. MSG_DONTWAIT makes the kernel try once, as a
// non-blocking sendmsg would, and complete at once (a short count, or
// EAGAIN: the caller then waits for writability as after a sendmsg), so no
// send is left in the kernel pointing at the caller's bytes after the
// submission. A small send (up to 2 KiB) is copied into an area of the
// backend's and made as one IORING_OP_SEND; a larger one's msghdr and iovec
// array are copied there. The area is kept until the submission (the
// kernel reads it then).
// `remove` makes a send that has not left a no-op; `cancel_send_now`
// does the same, or finds the completion of one that has.
//
// Removals that cannot be queued at once (the submission ring full and the
// kernel refusing more with EBUSY) are kept and queued again by the next
// `poll`, so no request outlives its descriptor's removal.
#pragma once

#include <otpnet/reactor/backend.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

struct io_uring;
struct io_uring_sqe;

namespace otpnet::reactor {

/// Ring sizes of an io_uring backend. The defaults fit a loop with
/// thousands of descriptors; tests shrink them to force the kernel's
/// corner cases.
struct io_uring_options {
  /// Submission ring entries (a power of two, at least 2 after rounding).
  /// A full ring is submitted early, so this bounds batching, not requests.
  unsigned sq_entries = 256;
  /// Completion ring entries; 0: 16 per submission entry. A full completion
  /// ring makes the kernel end multishot polls, which the backend re-arms.
  unsigned cq_entries = 0;
  /// Provided receive buffers (rounded up to a power of two, at most
  /// 32768); 0 turns `submit_recv` off.
  unsigned recv_buffers = 256;
  /// Bytes per receive buffer: the most one receive returns.
  unsigned recv_buffer_size = 16384;
  /// Provided buffers for multishot receives, in a ring of their own (of
  /// `recv_buffer_size` bytes; rounded up to a power of two, at most
  /// 32768): a stream takes as many as the bytes waiting fill, and must not
  /// take those of the sockets that read one receive at a time. 0 turns
  /// `submit_recv_multishot` off.
  unsigned stream_buffers = 64;
};

/// Counters of one backend, for tests and inspection (loop_counter: read
/// from any thread).
struct io_uring_stats {
  loop_counter submits;            ///< io_uring_enter calls made by `poll` and by a full ring
  loop_counter rearms;             ///< multishot polls the kernel ended and the backend re-armed
  loop_counter stale;              ///< completions dropped for an old generation or a removed descriptor
  loop_counter recvs;              ///< receives submitted (multishot ones included)
  loop_counter recv_multishots;    ///< multishot receives submitted
  loop_counter recv_more;          ///< completions of multishot receives that went on
  loop_counter multishot_refused;  ///< multishot receives the kernel refused (EINVAL): none made since
  loop_counter accepts;            ///< multishot accepts submitted
  loop_counter enobufs;            ///< receives the kernel ended for want of a free buffer
  loop_counter deferred_cancels;   ///< removals queued late because the submission ring was full
  loop_counter deferred_polls;     ///< re-arms queued late because the submission ring was full
  loop_counter voided;             ///< receives, accepts and sends removed before the kernel saw them (no-ops)
  loop_counter sends;              ///< sends submitted
  loop_counter recvs_after_send;   ///< receives parked until their socket's send had completed
};

/// A `backend` over one io_uring instance. Loop-affine, like every backend.
class io_uring_backend final : public backend {
 public:
  /// Sets up a ring with room for `opts.max_events` events per poll (at
  /// least 1). Errors: `enosys`/`eperm` (no io_uring here: an old kernel,
  /// seccomp, or kernel.io_uring_disabled), `unsupported` (a kernel without
  /// multishot poll or extended wait arguments, before 5.13), `emfile`,
  /// `enfile`, `enomem`.
  static result<std::unique_ptr<io_uring_backend>> create(const backend_options& opts = {},
                                                          const io_uring_options& ring = {}) noexcept;

  /// Destroys the ring; the kernel cancels its poll requests.
  ~io_uring_backend() override;

  io_uring_backend(const io_uring_backend&) = delete;
  io_uring_backend& operator=(const io_uring_backend&) = delete;

  // -- backend (contracts and errors: see backend.hpp) -------------------------

  /// "io_uring".
  std::string_view name() const noexcept override { return "io_uring"; }
  /// multishot_recv_available (1: this kernel and ring make multishot
  /// receives), then the fields of io_uring_stats, by their names.
  void read_counters(std::vector<counter_reading>& out) const override;
  /// fstat, then queues a multishot poll.
  result<void> add(int fd, std::uint64_t token, interest what) noexcept override;
  /// Queues the removal of the current poll and a new one under a new
  /// generation; the new poll reports an edge already pending.
  result<void> modify(int fd, std::uint64_t token, interest what) noexcept override;
  /// Queues the removal of the poll; completions still in flight are dropped.
  result<void> remove(int fd) noexcept override;
  /// Gives back the buffers of the previous batch, submits what is queued
  /// and waits for completions, in one system call.
  result<std::size_t> poll(std::span<io_event> out, std::optional<std::chrono::milliseconds> timeout) noexcept override;
  /// True when the kernel took the buffer ring at creation.
  bool supports_recv() const noexcept override { return buffers_ != nullptr; }
  /// Queues an IORING_OP_RECV into a provided buffer. After a receive that
  /// left the socket empty the entry is made later (parked): at the next
  /// poll, or once the socket's send in flight has completed and at most one
  /// poll more (see docs/reactor.md).
  result<void> submit_recv(int fd) noexcept override;
  /// True with `supports_recv` on kernels with multishot receives (6.0+,
  /// as `supports_accept`), and a ring of stream buffers; false from the
  /// first multishot receive the kernel refuses (EINVAL at once).
  bool supports_recv_multishot() const noexcept override { return streams_ != nullptr && !multishot_refused_; }
  /// Queues an IORING_OP_RECV with IORING_RECV_MULTISHOT into provided
  /// buffers, at once (never parked).
  result<void> submit_recv_multishot(int fd) noexcept override;
  /// Queues an IORING_OP_ASYNC_CANCEL of the receive in flight.
  result<void> cancel_recv(int fd) noexcept override;
  /// True on kernels with synchronous cancellation (6.0+).
  bool supports_accept() const noexcept override { return ops_; }
  /// Queues a multishot IORING_OP_ACCEPT.
  result<void> submit_accept(int fd) noexcept override;
  /// IORING_REGISTER_SYNC_CANCEL of the accept.
  result<void> cancel_accept(int fd) noexcept override;
  /// IORING_REGISTER_SYNC_CANCEL, then the receive's completion; the others
  /// posted meanwhile wait for the next poll.
  result<io_event> cancel_recv_now(int fd) noexcept override;
  /// True with `supports_accept` (6.0+).
  bool supports_send() const noexcept override { return ops_; }
  /// Queues an IORING_OP_SENDMSG with MSG_DONTWAIT.
  result<void> submit_send(int fd, const ::iovec* iov, std::size_t n) noexcept override;
  /// Makes a send still in the submission ring a no-op, or takes the
  /// completion of one the kernel made; the others wait for the next poll.
  result<io_event> cancel_send_now(int fd) noexcept override;

  /// The ring's descriptor, for inspection (tests, /proc). Do not close it.
  int native_handle() const noexcept;

  /// The most events one poll returns.
  std::size_t capacity() const noexcept { return capacity_; }

  /// What the backend did so far.
  const io_uring_stats& stats() const noexcept { return stats_; }

 private:
  struct slot {
    std::uint64_t token = 0;
    std::uint32_t generation = 0;
    interest what = interest::none;
    std::uint8_t state = 0;             // free, armed, failed (see the .cpp)
    std::uint16_t send_generation = 0;  // of the send in flight
    std::uint32_t batch = 0;            // the poll call that last reported it
    std::uint32_t batch_index = 0;      // its place in that poll's output
    std::uint32_t recv_generation = 0;  // of the receive or the accept in flight
    std::uint32_t op_entry = 0;         // its entry in the submission ring (a running count)
    bool recv_in_flight : 1 = false;
    bool accept_armed : 1 = false;
    bool send_in_flight : 1 = false;
    bool recv_drained : 1 = false;    // the last receive left the socket empty (it was short)
    bool recv_parked : 1 = false;     // the receive in flight has no entry yet (see submit_recv)
    bool recv_listed : 1 = false;     // in parked_
    bool recv_answered : 1 = false;   // parked behind a send that has completed since
    bool recv_held : 1 = false;       // and kept parked for one poll that would not wait
    bool recv_unmade : 1 = false;     // ended without an entry: its completion waits in held_
    bool recv_multishot : 1 = false;  // the receive in flight goes on after each completion
    bool recv_went_on : 1 = false;    // and one of its completions did
    std::uint32_t send_entry = 0;     // the send's entry in the submission ring
  };
  static_assert(sizeof(void*) != 8 || sizeof(slot) == 40, "a slot per descriptor: keep it small");

  // The provided buffers: a ring shared with the kernel and the memory its
  // entries point into (one mapping each).
  struct buffer_ring;

  // The msghdr and iovec arrays of queued sends.
  struct send_area;

  // A receive listed for the next poll: its descriptor and its generation
  // (an entry left by an earlier receive, or by an earlier registration of
  // the same descriptor number, names another generation: it is dropped).
  struct parked_recv {
    int fd;
    std::uint32_t generation;
  };

  // What reap needs of a completion queue entry.
  struct completion {
    std::uint64_t data;
    std::int32_t res;
    std::uint32_t flags;
  };

  io_uring_backend(std::unique_ptr<io_uring> ring, std::size_t capacity, bool skip_success) noexcept;

  result<void> queue_poll(int fd, const slot& s) noexcept;
  void arm_or_defer(int fd, slot& s) noexcept;
  void queue_late_polls() noexcept;
  io_uring_sqe* next_sqe() noexcept;
  void submit_queued() noexcept;
  std::optional<completion> take_held(std::uint64_t target) noexcept;
  // Whether the receive or accept of `s` was taken by the kernel (else it
  // is made a no-op in the ring, or submitted if it cannot be).
  bool op_reached_kernel(std::uint32_t entry, std::uint64_t data) noexcept;
  // Whether the send of `s` was read by the kernel (and so is done); if
  // not, it is made a no-op where it is.
  bool send_reached_kernel(const slot& s, int fd) noexcept;
  // After a submission: the send area is free again once the ring is empty.
  void submitted() noexcept;
  // Takes a completion for `target` out of held_ and then the completion
  // ring (setting the others aside in held_), entering the kernel to flush
  // those it still owes.
  std::optional<completion> take_now(std::uint64_t target) noexcept;
  result<std::pair<slot*, io_uring_sqe*>> start_op(int fd, bool supported) noexcept;
  // The slot's state as a receive begins: `generation`, parked or not,
  // multishot or not, nothing answered, held or unmade.
  void begin_recv(slot& s, std::uint32_t generation, bool parked, bool multishot) noexcept;
  // Queues the entry of the receive in flight of `s`, parked until now.
  void queue_recv(int fd, slot& s, bool poll_first) noexcept;
  // Room in held_ for the completion of every parked receive and `extra`
  // more (throws std::bad_alloc).
  void make_held_room(std::size_t extra);
  void unpark(slot& s) noexcept;
  void prep_recv(io_uring_sqe* sqe, int fd, slot& s, bool poll_first) noexcept;
  // Parked receives get their entries, now or after their socket's send
  // (`soon`: this poll will not wait).
  void release_parked(bool soon) noexcept;
  void list_parked(int fd, slot& s) noexcept;
  void after_send(int fd, slot& s) noexcept;
  int sync_cancel(std::uint64_t target) noexcept;
  result<void> queue_cancel(std::uint64_t target) noexcept;
  void cancel_or_defer(std::uint64_t target) noexcept;
  void give_back_buffers() noexcept;
  // The ring a buffer id names (streams_' ids start at stream_first_id).
  buffer_ring& ring_of(std::uint16_t id) const noexcept;
  result<void> enter(bool wait, std::optional<std::chrono::milliseconds> timeout) noexcept;
  std::size_t reap(std::span<io_event> out) noexcept;
  bool take(const completion& c, std::span<io_event> out, std::size_t& n) noexcept;
  io_event finish_recv(slot& s, const completion& c) noexcept;
  slot* find(int fd) noexcept;
  void rearm_all() noexcept;

  std::unique_ptr<io_uring> ring_;
  std::vector<slot> slots_;  // indexed by descriptor
  std::size_t capacity_;
  bool skip_success_;  // IOSQE_CQE_SKIP_SUCCESS is supported
  std::uint32_t batch_ = 0;
  std::thread::id poller_;  // the thread that submitted the armed requests
  io_uring_stats stats_;
  std::unique_ptr<buffer_ring> buffers_;     // null: no submit_recv
  std::unique_ptr<buffer_ring> streams_;     // those of multishot receives; null: none
  bool multishot_refused_ = false;           // the kernel answered one with EINVAL
  bool ops_ = false;                         // sync cancel (6.0+): accepts, and receives with buffers_
  std::vector<std::uint16_t> lent_;          // buffers reported by the last poll
  std::vector<std::uint64_t> late_cancels_;  // removals the ring had no room for
  std::vector<parked_recv> late_polls_;      // re-arms the ring had no room for (fd, generation)
  std::vector<completion> held_;             // set aside by cancel_recv_now, reaped first
  std::vector<parked_recv> parked_;          // receives that wait for the next poll
  std::size_t parked_count_ = 0;             // receives parked (each has room kept in held_)
  std::size_t queued_sends_ = 0;             // send entries not yet submitted (voided ones excepted)
  // What the queued sends point to, read by the kernel at submission.
  std::unique_ptr<send_area> sends_;
  // Faults for the tests, set through io_uring_backend_testing
  // (tests/support/io_uring_seam.hpp). The ring takes no entry, as when it
  // is full and the kernel refuses the submission that would make room.
  // Multishot receives carry MSG_WAITALL, which the kernel refuses with
  // EINVAL, as a kernel without them would. Synchronous cancellations fail
  // (EIO), as when the kernel refuses one: cancel_recv_now cannot end a
  // receive, and cancel_accept falls back to an asynchronous cancel.
  bool refuse_entries_ = false;
  bool refuse_multishot_ = false;
  bool fail_sync_cancels_ = false;
  friend struct io_uring_backend_testing;
};

/// Whether io_uring can back a reactor on this kernel: sets up and tears
/// down a small ring. Errors as `io_uring_backend::create`. The selector
/// calls it once and remembers the answer.
result<void> probe_io_uring() noexcept;

}  // namespace otpnet::reactor
