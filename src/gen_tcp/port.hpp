// File: gen_tcp/port.hpp (private)
//
// The port: what a gen_tcp::socket is. It lives on one scheduler (its
// owner's), registered with that scheduler's reactor, and every field is
// touched only on that thread; work from elsewhere is posted there.
//
// Receive side: bytes are read into a shared chunk only when the active
// mode (or a passive recv) asks for a frame, framed by the decoder, and
// handed out as buffers viewing the chunk. Edge-triggered readiness is
// drained only while frames are wanted; when wanting resumes, the port
// reads at once if an edge came since the queue was last found empty (an
// eagain, or a read shorter than asked), and otherwise waits for the next
// edge instead of making a read that would find nothing.
//
// On a loop whose backend completes receives (io_uring), a plain port reads
// by completion instead: where it would call recv it queues one receive
// (submitted with the loop's next wait, no system call of its own), the
// kernel makes it when bytes come, into a buffer of the backend's, and
// on_recv copies them into the chunk. Readiness is then watched for
// writing only. At most one receive is in flight, queued only while frames
// are wanted, and ended when the owner stops wanting them (a passive recv
// timing out, setopts passive), so flow control holds as before: what
// comes later stays in the kernel. Before anything else reads
// the descriptor (a TLS transport, a hand-over to another loop), the
// receive in flight is ended at once and its bytes kept (cancel_recv_now),
// so that none is lost or reordered. While the owner wants the stream as it
// comes ({active, true}) and the delivery keeps up, the receive is
// multishot where the backend has it: one request, one completion per batch
// of bytes. It is ended, its bytes kept, once that no longer holds:
// asynchronously ({active, once} or N, the sender busy, a stream buffer's
// worth of frames left for the next turn; see wants_stream) or at once
// (passive, a hand-over, TLS, as above), so that what comes after stays in
// the kernel.
//
// Send side: frames go out at once when the queue is empty (or, with
// delay_send, at the end of the scheduler turn, gathered into one writev);
// what the kernel does not take waits in the queue as buffers. On a loop
// whose backend makes sends with its wait (io_uring), a plain port queues
// the send with the loop instead of calling sendmsg (submit_send): the
// kernel makes it when the loop next waits, in the same system call, and
// on_send takes the count. The buffers stay in the queue, unchanged, until
// then; whatever must write the descriptor itself or drop the queue (close,
// a hand-over, a TLS upgrade, a failure) first settles the send in flight
// (cancel_send_now: it never left, or here is what it sent). A short count
// or EAGAIN is followed by a plain sendmsg, which tells whether to wait for
// writability as before. Above the
// high watermark the sender is told busy and reading pauses; below the low
// watermark both resume (DESIGN invariant 4).
#pragma once

#include <otpnet/gen_tcp/buffer.hpp>
#include <otpnet/gen_tcp/options.hpp>
#include <otpnet/gen_tcp/socket.hpp>
#include <otpnet/gen_tcp/transport.hpp>
#include <otpnet/reactor/event_loop.hpp>
#include <otpnet/runtime/message.hpp>
#include <otpnet/runtime/pid.hpp>
#include <otpnet/runtime/port.hpp>
#include <otpnet/socket/socket.hpp>

#include "gen_tcp/buffer_access.hpp"
#include "gen_tcp/send_queue.hpp"
#include "gen_tcp/shared_options.hpp"

#include <sys/uio.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

namespace otpnet::gen_tcp::detail {

/// The answer to a passive recv that had to wait.
struct recv_reply {
  std::uint64_t ticket;
  result<buffer> data;
};

/// The descriptor became ready for a process waiting on it (a TLS
/// handshake in progress), or the port closed (reason closed).
struct io_ready {
  std::uint64_t ticket;
  errc reason;
};

/// The queue went below the low watermark (or the socket failed).
struct drained_note {
  std::uint64_t ticket;
  errc reason;
};

class port final : public std::enable_shared_from_this<port>, public port_resource, private reactor::io_handler {
  /// Only create() makes ports; the constructor is public for make_shared
  /// (the port and its reference counts in one allocation).
  struct create_key {
    explicit create_key() = default;
  };

 public:
  /// A port for `raw`, owned by the calling process, on its scheduler.
  /// `start`: the kernel-level options `raw` has already (from its listen
  /// socket); only those opts wants otherwise are set.
  static result<std::shared_ptr<port>> create(otpnet::socket::socket raw, const effective_options& opts,
                                              const socket_defaults& start = {});
  /// std::bad_alloc if the options need a block and none can be had.
  port(create_key, otpnet::socket::socket raw, const effective_options& opts, pid owner, int sched);
  ~port() override;

  // -- owner-thread operations ------------------------------------------------------
  bool on_my_thread() const noexcept;
  result<queued> send(buffer data, bool copied);
  result<queued> send_span(std::span<const std::byte> data);
  /// Tries to answer a passive recv now: a buffer, `eagain` (then the
  /// answer comes as a recv_reply with `ticket`), or an error. `now`: the
  /// caller will not wait (a timeout of 0), so what the kernel holds is
  /// read at once, also where reads are otherwise left to the loop.
  result<buffer> recv(std::size_t length, std::uint64_t ticket, bool now = false);
  void cancel_recv(std::uint64_t ticket) noexcept;
  /// True when drained; else the answer comes as a drained_note. Errors:
  /// closed, the send's error, enomem (no room to wait: nothing changed).
  result<bool> drained(std::uint64_t ticket);
  /// Errors: closed, invalid, enomem (before any change: the options' own
  /// block, or the rare block for a waiting queue's timer; after the
  /// change, should the timer itself find no memory: the port is then
  /// closed, its tcp_error and tcp_closed delivered).
  result<void> setopts(const options& o);
  /// setopts of the active mode alone (the per-frame re-arm of {active,
  /// once}): no copy of the option set. Errors: `invalid` (a count out of
  /// -32767..32767, or a sum above 32767).
  result<void> set_active(active_mode a);
  /// The options, with active N giving the count still to go (inet's).
  effective_options opts() const noexcept {
    effective_options o = *opts_;
    o.active = active_;
    if (o.active.k == active_mode::kind::count) {
      o.active.n = active_left_;
    }
    return o;
  }
  /// Closes once the send queue is written (at once if it is empty). No
  /// memory for the lingering timer: closed at once as close_now (what the
  /// kernel takes now is written, the rest dropped), answering ok, with no
  /// tcp_error or tcp_closed for the owner.
  result<void> close() noexcept;
  /// Closes now; what the kernel does not take at once is dropped.
  result<void> close_now() noexcept;
  result<void> shutdown(otpnet::socket::shutdown_how how);
  stats getstat() const noexcept {
    return {stats_.recv_oct, stats_.recv_cnt, stats_.recv_max, stats_.send_oct,
            stats_.send_cnt, stats_.send_max, queued_bytes_};
  }
  /// A hand-over to another scheduler, between hand_over and
  /// finish_hand_over: the scheduler the port joins and which of the
  /// port's moves this is. The old owner keeps it: once hand_over returns,
  /// the port's fields are the new scheduler's.
  struct hand_over_ticket {
    int to = -1;  // -1: the port stayed on this scheduler
    std::uint8_t nth = 0;
  };
  /// Makes `new_owner` the owner; a port moving to another scheduler
  /// leaves this one now and joins the other in finish_hand_over.
  result<hand_over_ticket> hand_over(pid new_owner);
  /// Joins the new scheduler's reactor (a task posted to it), unless the
  /// port moved on again before the task ran: only the last move joins.
  void finish_hand_over(hand_over_ticket m);

  // -- transports (TLS) --------------------------------------------------------------
  /// Bytes read but not yet handed out (a TLS handshake starts with them).
  std::span<const std::byte> unread() const noexcept { return buffered(); }
  /// Whether bytes sent are still waiting for the kernel (queued, or a
  /// send in flight): a transport must not write before them.
  bool sends_pending() const noexcept { return !outq_.empty() || send_in_flight_; }
  /// Why sending failed (ok: it has not): the queue was dropped then.
  errc send_failure() const noexcept { return send_error_; }
  /// Drops `n` bytes of unread() (consumed by a transport's handshake).
  void take_unread(std::size_t n) noexcept { consume(n); }
  /// Makes the port's room for a transport now (its rare block), so that a
  /// handshake can refuse before it changes anything: wait_io and
  /// set_transport then cannot fail. Errors: enomem.
  result<void> prepare_transport() noexcept;
  /// A TLS upgrade has begun on the owner's behalf: a failure of the bytes
  /// queued before it is the handshake's to report (its error, its report
  /// line, the socket closed), so none is delivered to the owner as
  /// tcp_error or tcp_closed. set_transport ends it; a failed handshake
  /// closes the socket.
  void begin_upgrade() noexcept { upgrading_ = true; }
  /// The handshake writes the descriptor itself from now on (its endpoint
  /// is made): a send, from any process, waits in the queue, written
  /// through the transport once set_transport has made it the port's, or
  /// dropped (one report line) by the close that ends a failed handshake.
  /// In the clear it would land among the handshake's records.
  void hold_sends() noexcept { holding_ = true; }
  /// From now on bytes go through `t`, and messages are ssl, ssl_closed...
  /// Errors: enomem (no prepare_transport before, and no memory now; `t`
  /// is dropped and nothing changes).
  result<void> set_transport(std::unique_ptr<transport> t, bool tls) noexcept;
  transport* current_transport() const noexcept { return waits_ ? waits_->tls_transport.get() : nullptr; }
  bool is_tls() const noexcept { return tls_; }
  /// Asks for an io_ready{ticket} when the descriptor is readable (or
  /// writable, with `write`); for a handshake run by the owner. Errors:
  /// enomem, as set_transport; closed (the port is closed, or the flush of
  /// its queue this makes failed: send_failure() says why); what a receive
  /// failed with (stop_completion_reads).
  result<void> wait_io(bool write, std::uint64_t ticket) noexcept;
  void cancel_wait_io(std::uint64_t ticket) noexcept;
  int native_handle() const noexcept { return fd_; }
  /// Reads by readiness from now on, keeping the bytes of a receive in
  /// flight (in unread()); a TLS handshake calls it before taking unread().
  /// Errors: what a receive already failed with (econnreset, ...), or why
  /// the bytes of the one in flight cannot be vouched for.
  result<void> stop_completion_reads() noexcept;

  // -- any thread ---------------------------------------------------------------------
  pid owner() const noexcept { return pid::from_value(owner_.load(std::memory_order_acquire)); }
  const otpnet::socket::socket& raw() const noexcept { return sock_; }
  bool is_closed() const noexcept { return closed_.load(std::memory_order_acquire); }
  /// Closed, or closed by its owner and still writing out its queue (a
  /// lingering close): closed to its owner either way. Port's thread only.
  bool closed_for_owner() const noexcept { return is_closed() || closing_; }
  /// Runs `f(port&)` on the port's thread (now if already there).
  template <class F>
  void run_on_port_thread(F&& f);

  void owner_exited(pid owner) noexcept override;
  bool owned_by(pid p) const noexcept override { return owner() == p; }

 private:
  void on_io(std::uint64_t token, reactor::readiness r) noexcept override;
  void on_recv(std::uint64_t token, std::int32_t result, const std::byte* data, bool more) noexcept override;
  /// The send timer (send_timeout) fired; `mark` is progress_mark_ when
  /// it was armed.
  void on_send_timer(std::uint64_t mark) noexcept;
  void end_of_turn() noexcept override;
  /// The runtime stops and its grace has passed while a close was still
  /// writing out the queue: what is left is dropped, with a report line.
  void abandon() noexcept override;

  // -- receive ---------------------------------------------------------------------------
  /// Whether frames are wanted as they come, with nothing holding them back
  /// (a multishot receive may read ahead).
  bool wants_stream() const noexcept;
  /// Delivers what is wanted, reading as needed, within a budget.
  void pump() noexcept;
  bool wants_frames() const noexcept;
  /// Reads once into the chunk; false when nothing more can be read now.
  enum class read_outcome : std::uint8_t { got_bytes, would_block, eof, error };
  read_outcome read_some(std::size_t need) noexcept;
  /// Queues the receive of completion mode (unless one is in flight).
  read_outcome queue_recv() noexcept;
  /// Ends the receive in flight now (cancel_recv_now), keeping its bytes.
  /// When that fails: with `must` the connection fails with the reason at
  /// its next read; without, the receive stays in flight.
  void end_recv_now(reactor::event_loop& loop, bool must) noexcept;
  /// Runs pump at the next turn (once, however often asked).
  void post_pump() noexcept;
  /// Ends a receive in flight once frames are no longer wanted.
  void stop_wanting() noexcept;
  /// Takes in a receive's completion: bytes, the end, or an error kept for
  /// the next read.
  void absorb(std::int32_t result, const std::byte* data) noexcept;
  /// At a receive's last completion: says once per scheduler that its
  /// kernel refuses multishot receives, if that is how this one ended.
  void note_multishot_end(std::int32_t result) noexcept;
  /// Makes sure at least `min_free` bytes are free after rend_: when they
  /// are not, the buffered bytes move to the front of the chunk or to a new
  /// one that holds `want` bytes from rstart_ (what is buffered included).
  /// So a frame that grows by doubling `want` is copied once per doubling,
  /// not once per read. False (nothing changed) if no memory was found.
  bool make_room(std::size_t want, std::size_t min_free) noexcept;
  void deliver_frame(buffer frame) noexcept;
  void deliver_end() noexcept;
  /// Ends the port as a failed receive does: a report line `what: reason`,
  /// then tcp_error and tcp_closed to the owner (or the error to a passive
  /// recv waiting), and the port closes.
  void fail_receive(errc reason, const char* what) noexcept;
  /// Tells a process waiting for readiness or in a passive recv that the
  /// socket is closed.
  void answer_waiters_closed() noexcept;
  std::span<const std::byte> buffered() const noexcept;
  void consume(std::size_t n) noexcept;
  /// Lets chunk_ go: the port's reference and the credit it took ahead.
  void drop_chunk() noexcept;

  // -- send ---------------------------------------------------------------------------
  /// Shuts `how` down now; a TLS transport sends close_notify first (when
  /// the socket has no room for it, the shutdown waits as pending_shutdown_).
  result<void> shutdown_now(otpnet::socket::shutdown_how how) noexcept;
  /// Asks the transport for its goodbye (TLS's close_notify): true if the
  /// socket had no room for it yet (ask again when writable).
  bool goodbye_blocked() noexcept;
  /// Writes the queue out: by a send queued with the loop (unless `direct`
  /// or it cannot), else by sendmsg until it is written or the kernel takes
  /// no more. `direct` settles a send in flight first. `progressed`: bytes
  /// went already (a send's completion), so after_progress runs anyway.
  void flush(bool direct = false, bool progressed = false) noexcept;
  /// Sends what the queue holds: true when bytes went (or empty items
  /// completed), false when nothing went or a send was queued.
  bool write_out(bool direct) noexcept;
  /// Fills `iov` from the queue: the number of entries used.
  std::size_t gather(::iovec* iov, std::size_t room) const noexcept;
  /// Drops what `n` bytes written covered from the queue.
  void account_sent(std::size_t n) noexcept;
  /// Ends the send in flight (see the file comment) and takes its count.
  /// Its error, if it failed, is returned (and not yet reported).
  errc settle_send() noexcept;
  void on_send(std::uint64_t token, std::int32_t result) noexcept override;
  result<std::size_t> write_iov(const ::iovec* iov, std::size_t n) noexcept;
  void after_progress() noexcept;
  void fail_send(errc reason) noexcept;
  /// Starts the send timer (send_timeout) for the queue; its block was
  /// made when the send was queued (make_send_timer_room). A timer that
  /// cannot be started (no memory) fails the sending side with enomem.
  void arm_send_timer() noexcept;
  /// The same without failing: false when the timer cannot be started
  /// (nothing changed); true when started, armed already, or not wanted.
  bool start_send_timer() noexcept;
  void cancel_send_timer() noexcept;
  void notify_drained(errc reason) noexcept;

  // -- options ---------------------------------------------------------------------------
  /// What setting active mode `a` makes of the current one: {active, N}
  /// adds N to the count left, and a count that reaches 0 is passive (with
  /// a tcp_passive message if the socket was not passive already).
  struct active_change {
    active_mode mode;
    bool counted_down;
  };
  active_change resolve_active(active_mode a) const noexcept;

  /// The socket that messages carry: this port.
  socket handle() noexcept;
  void deliver(otpnet::detail::envelope* e) noexcept;
  errc register_io() noexcept;  // errc::ok, or why the loop would not watch the socket
  void unregister_io() noexcept;
  void report(errc reason, const char* what) noexcept;

  struct out_item {
    buffer data;
    std::array<std::byte, 4> header{};
    std::uint8_t hlen = 0;
    // Frames in it: frames sent back as they came, one after another from
    // one read, share one item (and go out as one piece of memory). The item
    // keeps the reference of each frame joined to it (frames - 1 beyond its
    // own) and drops them all at once.
    std::uint16_t frames = 1;
    std::uint32_t sent = 0;  // bytes of header+data already written

    out_item() noexcept = default;
    out_item(out_item&& o) noexcept
        : data(std::move(o.data)), header(o.header), hlen(o.hlen), frames(std::exchange(o.frames, 1)), sent(o.sent) {}
    out_item& operator=(out_item&& o) noexcept {
      if (this != &o) {
        gen_tcp::detail::release_view(data, frames - 1U);
        data = std::move(o.data);
        header = o.header;
        hlen = o.hlen;
        frames = std::exchange(o.frames, 1);
        sent = o.sent;
      }
      return *this;
    }
    out_item(const out_item&) = delete;
    out_item& operator=(const out_item&) = delete;
    ~out_item() { gen_tcp::detail::release_view(data, frames - 1U); }
  };

  otpnet::socket::socket sock_;
  // (Small fields are grouped to leave no padding: a port lives as long
  // as its connection.)
  int fd_;
  std::atomic<int> sched_;
  shared_options opts_;  // all but the active mode, shared with the ports that have the same
  active_mode active_;
  std::atomic<std::uint64_t> owner_;
  std::shared_ptr<port> self_;  // keeps the port alive while open
  std::atomic<bool> closed_{false};
  bool registered_ = false;
  std::uint8_t moves_ = 0;             // hand-overs to another scheduler (mod 256)
  bool closing_ = false;               // closed by its owner; writing out the queue
  std::int8_t pending_shutdown_ = -1;  // a shutdown waiting for the queue (a shutdown_how)
  bool busy_ = false;                  // (send side, kept here: no padding)
  bool flush_scheduled_ = false;
  bool send_timer_armed_ = false;

  // receive
  gen_tcp::detail::chunk* chunk_ = nullptr;
  std::uint32_t rstart_ = 0;
  std::uint32_t rend_ = 0;
  int active_left_ = 0;  // for active N
  bool peer_closed_ = false;
  // Whether a read may find bytes: set by every readable (or error, hang-up)
  // event and on registration, cleared when a plain read finds the kernel's
  // queue empty (eagain, or fewer bytes than asked for). While clear, no
  // read is tried: the next edge sets it. Saves the eagain read that
  // re-arming {active, once} would otherwise make after each frame. A TLS
  // transport ignores it (its library may hold bytes the socket no longer
  // has).
  bool read_maybe_ready_ = true;
  // A hang-up or error event was seen: the end of the stream (or a reset)
  // may wait behind the bytes a short read took, with no edge to come for
  // it, so reads stay speculative from then on.
  bool peer_hup_seen_ = false;
  // Completion mode (see the file comment): reads are receives queued with
  // the loop; one is in flight; the next read is a plain call (the backend
  // had no free buffer); the port left the mode for good (TLS).
  bool completions_ = false;
  bool recv_in_flight_ = false;
  bool recv_plain_once_ : 1 = false;
  bool readiness_only_ : 1 = false;
  // The receive in flight is multishot (frames wanted as they come: active
  // true or N); its end was asked for (the owner stopped wanting a stream).
  bool recv_multishot_ : 1 = false;
  bool recv_ending_ : 1 = false;
  bool write_shut_ : 1 = false;  // shutdown(write) asked: sends answer closed
  // Handed to another scheduler and not yet watched by its loop: the new
  // owner's calls deliver and read nothing until then (finish_hand_over's
  // task pumps), so that nothing overtakes the messages the old owner is
  // still forwarding. Set before sched_ names the new scheduler.
  bool joining_ : 1 = false;
  bool upgrading_ : 1 = false;  // a TLS handshake owns the failures (begin_upgrade)
  bool holding_ : 1 = false;    // sends wait for the handshake's end (hold_sends)
  bool lingering_ : 1 = false;  // a close writing out the queue, known to the runtime (linger_begin)
  // References to chunk_ taken ahead for the views pump hands out (each
  // view takes one without an atomic operation); given back with the port's
  // own when it lets the chunk go.
  std::uint8_t chunk_credit_ = 0;
  errc recv_error_ = errc::ok;  // an error a receive completed with, for the next read
  bool receive_failed_ = false;
  bool end_delivered_ = false;
  bool pumping_ = false;
  bool pump_posted_ = false;
  bool tls_ = false;             // (with the flags above: no padding of its own)
  bool ring_sends_ = false;      // sends go with the loop's wait (submit_send)
  bool send_in_flight_ = false;  // one was queued and has not completed
  // Registered by readiness and no event came yet: the add reports bytes
  // already there as its first event, so reads wait for it, except a
  // passive recv, whose caller may not wait for the loop (a timeout of 0).
  bool first_event_pending_ = false;

  // send
  send_queue<out_item> outq_;  // one item in place: no heap block for one frame at a time
  std::size_t queued_bytes_ = 0;
  errc send_error_ = errc::ok;
  // Bumped by every send that made progress; the send timer's token. 32
  // bits: it would have to wrap exactly within one send_timeout to fool it.
  std::uint32_t progress_mark_ = 0;

  // getstat's counters; its send_pend is queued_bytes_. The largest frames
  // in 32 bits (a frame's length is a buffer's; a larger raw send_span
  // counts as 4 GiB - 1), where 64 bits each made the port 16 bytes
  // larger (see the static_assert in port.cpp).
  struct counters {
    std::uint64_t recv_oct = 0, recv_cnt = 0;
    std::uint64_t send_oct = 0, send_cnt = 0;
    std::uint32_t recv_max = 0, send_max = 0;
    void saw_recv(std::size_t n) noexcept { recv_max = std::max(recv_max, clamp32(n)); }
    void saw_send(std::size_t n) noexcept { send_max = std::max(send_max, clamp32(n)); }
    static std::uint32_t clamp32(std::size_t n) noexcept {
      return static_cast<std::uint32_t>(std::min<std::size_t>(n, UINT32_MAX));
    }
  };
  counters stats_;

  /// Takes the send timer's firing to the port: the wheel's handler,
  /// kept in the rare parts (a base of the port took a virtual table
  /// pointer in every port).
  struct send_timer_relay final : reactor::timer_handler {
    port* target = nullptr;
    void on_timer(std::uint64_t mark) noexcept override { target->on_send_timer(mark); }
  };

  // What few ports use, allocated on first use: a passive recv waiting, a
  // transport waiting for readiness, callers of drained(), the transport
  // itself (TLS), and the send timer (send_timeout: armed only while the
  // kernel takes no more; the block is made by the first send, where no
  // memory can be the send's answer). A plain port's reads and writes
  // test waits_ where they tested the transport's pointer: one load and a
  // comparison either way.
  struct waits {
    std::uint64_t recv_ticket = 0;  // a passive recv waiting (0: none)
    std::size_t recv_length = 0;
    pid recv_pid;
    std::uint64_t io_ticket = 0;  // a transport's wait (0: none)
    pid io_pid;
    bool io_write = false;
    std::vector<std::pair<pid, std::uint64_t>> drain_waiters;
    std::unique_ptr<transport> tls_transport;
    send_timer_relay send_timer_to;
    reactor::timer_handle send_timer;
    // Line framing: the buffered bytes from rstart_ known to hold no
    // delimiter, kept for a line longer than a read chunk only, so that
    // each read searches what it added, not the whole line again.
    std::uint32_t line_scanned = 0;
  };
  std::unique_ptr<waits> waits_;
  /// Makes the rare block unless there is one (it stays for the port's
  /// life). Errors: enomem.
  errc make_waits() noexcept;
  /// A send that may wait in the queue needs the block for its timer
  /// (send_timeout): made before the send changes anything, so that no
  /// queued send goes untimed. Errors: enomem, with a report line.
  errc make_send_timer_room() noexcept;
  std::uint64_t recv_ticket() const noexcept { return waits_ ? waits_->recv_ticket : 0; }
  std::size_t line_scanned() const noexcept { return waits_ ? waits_->line_scanned : 0; }
  /// After a need_more over `n` buffered bytes of a line: remembers them
  /// when the line is long (the block is made then; without memory the
  /// next search starts from the front, which is only slower).
  void note_line_scanned(std::size_t n) noexcept;
};

template <class F>
void port::run_on_port_thread(F&& f) {
  if (on_my_thread()) {
    f(*this);
    return;
  }
  (void)otpnet::detail::post_to_scheduler(
      sched_.load(std::memory_order_acquire),
      [self = shared_from_this(), fn = std::forward<F>(f)]() mutable { self->run_on_port_thread(std::move(fn)); });
}

}  // namespace otpnet::gen_tcp::detail
