#include "gen_tcp/port.hpp"

#include <otpnet/runtime/process.hpp>
#include <otpnet/socket/option.hpp>
#include <otpnet/socket/registry.hpp>

#include "internal/syscall.hpp"

#include <spdlog/spdlog.h>

#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <limits>
#include <new>

namespace otpnet::gen_tcp::detail {

namespace so = otpnet::socket;

namespace {

constexpr int pump_budget = 64;      // frames delivered per pump before yielding
constexpr std::size_t max_iov = 64;  // iovecs per sendmsg
// References to a read chunk taken at a time for the views of its frames:
// one atomic operation per this many frames (a read of 16 pipelined frames
// takes them with the chunk, without any).
constexpr std::uint8_t view_credit = 32;
// (An item's frame count is 16 bits.)
constexpr std::uint16_t max_frames_per_item = std::numeric_limits<std::uint16_t>::max();
// The most a port buffers for one frame: its offsets and a chunk's
// capacity are 32 bits.
constexpr std::size_t max_buffered = std::numeric_limits<std::uint32_t>::max();

/// Replies and notes the port owes a waiting process (runtime/process.hpp).
using otpnet::detail::must_send;

// Whether this scheduler's thread has said that its loop's kernel refuses
// multishot receives (one loop per scheduler thread, one line per loop).
thread_local bool multishot_refusal_reported = false;

}  // namespace

// A port lives as long as its connection: 248 bytes, so that with
// make_shared's counts (16) it takes a 272-byte malloc chunk.
static_assert(sizeof(void*) != 8 || sizeof(port) <= 248, "a port outgrew its malloc chunk");

// -- life cycle ---------------------------------------------------------------------

port::port(create_key, so::socket raw, const effective_options& opts, pid owner, int sched)
    : sock_(std::move(raw)),
      fd_(sock_.native_handle()),
      sched_(sched),
      opts_(opts),
      active_(opts.active),
      owner_(owner.value()) {
  if (active_.k == active_mode::kind::count) {
    active_left_ = active_.n;
  }
}

port::~port() { drop_chunk(); }

void port::drop_chunk() noexcept {
  if (chunk_ != nullptr) {
    chunk_release(chunk_, 1U + std::exchange(chunk_credit_, 0));
    chunk_ = nullptr;
  }
}

result<std::shared_ptr<port>> port::create(so::socket raw, const effective_options& opts,
                                           const socket_defaults& start) {
  int sched = otpnet::detail::current_scheduler();
  pid me = self();
  if (sched < 0 || !me) {
    return fail(errc::invalid);
  }
  if (!raw.is_open()) {
    return fail(errc::closed);
  }
  auto p = std::make_shared<port>(create_key{}, std::move(raw), opts, me, sched);
  if (opts.nodelay != start.nodelay) {
    (void)so::setopt(p->sock_, so::opt::tcp::nodelay, opts.nodelay);
  }
  if (opts.keepalive != start.keepalive) {
    (void)so::setopt(p->sock_, so::opt::socket::keepalive, opts.keepalive);
  }
  if (opts.recbuf > 0 && opts.recbuf != start.recbuf) {
    (void)so::setopt(p->sock_, so::opt::socket::rcvbuf, opts.recbuf);
  }
  if (opts.sndbuf > 0 && opts.sndbuf != start.sndbuf) {
    (void)so::setopt(p->sock_, so::opt::socket::sndbuf, opts.sndbuf);
  }
  (void)so::set_owner(p->sock_, me.value());
  p->self_ = p;
  if (errc e = p->register_io(); e != errc::ok) {
    // Unwatched, it would wait for readiness that never comes: the
    // adoption fails with the loop's reason (eexist: this scheduler's loop
    // watches the descriptor already, for another port; enomem). The
    // socket is the caller's again: it closes with its last handle.
    p->report(e, "the reactor cannot watch the socket");
    p->self_.reset();
    return fail(e);
  }
  otpnet::detail::attach_resource(me, p);
  if (p->wants_frames()) {
    // Completions: queues the first receive. By readiness the add reports
    // bytes already there (register_io): this reads nothing until then.
    p->pump();
  }
  return p;
}

bool port::on_my_thread() const noexcept {
  return otpnet::detail::current_scheduler() == sched_.load(std::memory_order_acquire);
}

errc port::register_io() noexcept {
  read_maybe_ready_ = true;  // bytes may have come while unwatched
  if (reactor::event_loop* loop = otpnet::detail::current_loop()) {
    completions_ = current_transport() == nullptr && !readiness_only_ && loop->supports_recv();
    auto what = completions_ ? reactor::interest::write : reactor::interest::read_write;
    auto added = loop->add(fd_, what, *this, 0);
    registered_ = added.has_value();
    completions_ = completions_ && registered_;
    ring_sends_ = completions_ && loop->supports_send();
    // Watched by readiness: the add reports bytes already there as an edge
    // (backend.hpp, point 1), so no read is tried before it comes (on a
    // fresh connection it would mostly find nothing).
    read_maybe_ready_ = !registered_ || completions_;
    first_event_pending_ = !read_maybe_ready_;
    if (!registered_) {
      return added.error();  // (enomem: the loop's table could not grow; or the kernel's refusal)
    }
  }
  return errc::ok;
}

// Removal cancels a receive in flight; its bytes are dropped (the port is
// closing; a hand-over ends the receive with cancel_recv_now first).
void port::unregister_io() noexcept {
  if (registered_) {
    if (reactor::event_loop* loop = otpnet::detail::current_loop()) {
      // Closing (close_now closes the socket next), and no descriptor
      // from outside: the close ends the watch (remove_before_close).
      if (closed_.load(std::memory_order_relaxed) && !sock_.adopted()) {
        (void)loop->remove_before_close(fd_);
      } else {
        (void)loop->remove(fd_);
      }
    }
    registered_ = false;
  }
  recv_in_flight_ = false;
  recv_multishot_ = false;
  recv_ending_ = false;
  send_in_flight_ = false;  // (made a no-op by the removal if it had not left)
}

result<void> port::stop_completion_reads() noexcept {
  // What is queued goes out now, as far as the kernel takes it: the
  // transport writes the descriptor itself from here on (a handshake's
  // first bytes must come after what was sent before it).
  ring_sends_ = false;
  if (send_in_flight_ || (!outq_.empty() && send_error_ == errc::ok)) {
    flush(true);
    if (is_closed()) {
      return fail(errc::closed);  // the send in flight failed
    }
  }
  if (completions_) {
    completions_ = false;
    read_maybe_ready_ = true;
    if (reactor::event_loop* loop = otpnet::detail::current_loop()) {
      if (recv_in_flight_) {
        end_recv_now(*loop, true);
      }
      // Reports what is ready now. A failure leaves no read interest: the
      // connection could only stall, so it fails with the reason.
      if (registered_) {
        if (auto m = loop->modify(fd_, reactor::interest::read_write); !m && recv_error_ == errc::ok) {
          recv_error_ = m.error();
        }
      }
    }
  }
  readiness_only_ = true;
  if (recv_error_ != errc::ok) {
    return fail(recv_error_);
  }
  return ok();
}

// Ends the receive in flight before anything else reads the socket, keeping
// its bytes (a multishot receive's, every completion, in order). Should the
// backend not vouch for them (it could not end it), the connection fails
// with that reason at its next read (the backend cancels the receive when
// the port unregisters).
void port::end_recv_now(reactor::event_loop& loop, bool must) noexcept {
  for (;;) {
    auto ev = loop.cancel_recv_now(fd_);
    if (!ev) {
      if (must) {
        // A multishot receive would read on: asked to end all the same (its
        // bytes are dropped: completions_ is off, or the port moves).
        if (recv_multishot_ && !recv_ending_) {
          (void)loop.cancel_recv(fd_);
        }
        recv_in_flight_ = false;
        recv_multishot_ = false;
        recv_ending_ = false;
        if (recv_error_ == errc::ok) {
          recv_error_ = ev.error();
        }
      } else if (recv_multishot_ && !recv_ending_) {
        // It would read on: asked to end, its last completions come to
        // on_recv, their bytes kept.
        recv_ending_ = loop.cancel_recv(fd_).has_value();
      }
      // (Not a must, as when the owner merely stops wanting frames: the
      // receive stays in flight and its bytes are kept when it completes.)
      return;
    }
    absorb(ev->result, ev->data);
    if (!ev->more) {
      note_multishot_end(ev->result);
      recv_in_flight_ = false;
      recv_multishot_ = false;
      recv_ending_ = false;
      return;
    }
  }
}

// The last completion of a receive: if it was a multishot one that ended
// having taken nothing (EINTR) because the kernel refuses them (the loop
// makes none from now on), the scheduler says so, once.
void port::note_multishot_end(std::int32_t result) noexcept {
  if (!recv_multishot_ || result != -EINTR || multishot_refusal_reported) {
    return;
  }
  reactor::event_loop* loop = otpnet::detail::current_loop();
  if (loop != nullptr && !loop->supports_recv_multishot()) {
    multishot_refusal_reported = true;
    report(errc::einval,
           "the kernel refused a multishot receive; {active, true} sockets of this scheduler read with single-shot "
           "receives from now on");
  }
}

// A process waiting for readiness or in a passive recv is told the socket
// is closed (close and close_now).
void port::answer_waiters_closed() noexcept {
  if (!waits_) {
    return;
  }
  if (waits_->io_ticket != 0) {
    must_send(waits_->io_pid, io_ready{std::exchange(waits_->io_ticket, 0), errc::closed});
  }
  if (waits_->recv_ticket != 0) {
    must_send(waits_->recv_pid, recv_reply{std::exchange(waits_->recv_ticket, 0), fail(errc::closed)});
  }
}

void port::owner_exited(pid who) noexcept {
  // (Not on this thread: the port is moving to its owner's scheduler, the
  // owner_ store made and the sched_ one not yet; the join task there
  // finds the owner dead and closes it.)
  // A lingering close (close() with data queued) goes on: the owner's end
  // does not cut its queue short, as inet's close blocks its caller until
  // the queue is written (the port keeps itself; the send timeout bounds
  // the linger).
  if (who == owner() && on_my_thread() && !is_closed() && !closing_) {
    (void)close_now();
  }
}

result<void> port::close() noexcept {
  if (closed_.load(std::memory_order_acquire) || closing_) {
    return fail(errc::closed);
  }
  // From here no message for the socket reaches the owner: a send that
  // fails in the flush below closes the port quietly (fail_send), its
  // report line saying what was dropped.
  closing_ = true;
  if (!outq_.empty() && send_error_ == errc::ok) {
    flush(true);
  }
  if (is_closed()) {
    return ok();  // (written out and closed by after_progress, or the send failed)
  }
  if (holding_ && !outq_.empty()) {
    // The end of a handshake that failed: what was sent meanwhile would have
    // gone through TLS, and may not go in the clear.
    report(errc::closed, "close: the TLS handshake did not finish; what was sent during it is dropped");
  }
  // (An empty queue lingers too while a transport's goodbye, TLS's
  // close_notify, finds the socket's buffer full: it goes before the close.)
  if (holding_ || send_error_ != errc::ok || (outq_.empty() && !goodbye_blocked())) {
    (void)close_now();
    return ok();
  }
  // Queued data goes out first (as inet's close does): the port stays
  // until the queue is written, fails, or the send timeout passes; nothing
  // more is read or delivered meanwhile.
  if (opts_->send_timeout.count() <= 0) {
    effective_options lingering = *opts_;
    lingering.send_timeout = std::chrono::milliseconds(30000);  // never linger forever
    if (!opts_.assign(lingering)) {
      (void)close_now();  // no memory for the limit: dropped rather than kept forever
      return ok();
    }
  }
  // No memory for the timer: the same. Not fail_send, whose tcp_error and
  // tcp_closed would reach the owner after close() (as after OTP's
  // gen_tcp:close, no more messages come from a closed port).
  if (make_waits() != errc::ok || !start_send_timer()) {
    (void)close_now();  // (what the kernel takes now is written first)
    return ok();
  }
  // The runtime's stop waits for it (up to its grace): otherwise a server
  // that stops right after its handlers close (a drain) cuts their last
  // answers short. Without that (no memory, the grace over): the same.
  if (!otpnet::detail::linger_begin(*this)) {
    (void)close_now();
    return ok();
  }
  lingering_ = true;
  // Nothing more is read: a process waiting in recv (or for readiness)
  // learns now that the socket is closed, as it would at once.
  answer_waiters_closed();
  active_ = passive;
  // The descriptor is the port's alone now: the owner's end, which closes
  // the sockets it owns, leaves it to finish the linger.
  (void)so::set_owner(sock_, 0);
  return ok();
}

result<void> port::close_now() noexcept {
  if (closed_.load(std::memory_order_acquire)) {
    return fail(errc::closed);
  }
  // What was queued goes out first, as far as the kernel takes it now.
  if (!outq_.empty() && send_error_ == errc::ok) {
    flush(true);
  }
  if (closed_.load(std::memory_order_acquire)) {
    return fail(errc::closed);  // (the send in flight failed: fail_send closed it)
  }
  if (closed_.exchange(true, std::memory_order_acq_rel)) {
    return fail(errc::closed);
  }
  (void)goodbye_blocked();  // (a goodbye still without room is dropped now)
  answer_waiters_closed();
  unregister_io();
  cancel_send_timer();
  drop_chunk();
  rstart_ = rend_ = 0;
  outq_.clear();
  queued_bytes_ = 0;
  notify_drained(errc::closed);
  (void)so::close(sock_);
  if (lingering_) {
    lingering_ = false;
    otpnet::detail::linger_end(*this);
  }
  // Last: this may be the last reference.
  std::shared_ptr<port> keep = std::move(self_);
  return ok();
}

void port::abandon() noexcept {
  if (is_closed()) {
    return;
  }
  // (It will not be called again: the runtime has taken it off its list.)
  lingering_ = false;
  report(errc::timeout, "close: the runtime stopped before the peer read what was queued; it is dropped");
  (void)close_now();
}

result<void> port::shutdown(so::shutdown_how how) {
  if (is_closed() || closing_) {
    return fail(errc::closed);
  }
  if (how != so::shutdown_how::read) {
    // Sends answer closed from now on, whether the FIN waits for the queue
    // or goes now (a send would otherwise be written before a pending FIN,
    // or fail with EPIPE and take the read side down with the port).
    write_shut_ = true;
  }
  flush();
  if (!outq_.empty() && how != so::shutdown_how::read) {
    // The write side closes once what is queued is written.
    pending_shutdown_ = static_cast<std::int8_t>(how);
    return ok();
  }
  return shutdown_now(how);
}

result<void> port::shutdown_now(so::shutdown_how how) noexcept {
  if (how != so::shutdown_how::read && goodbye_blocked()) {
    // TLS: close_notify goes before the FIN, so the FIN waits for it (the
    // next writable event tries again; the send timeout bounds the wait).
    pending_shutdown_ = static_cast<std::int8_t>(how);
    arm_send_timer();
    return ok();
  }
  return so::shutdown(sock_, how);
}

bool port::goodbye_blocked() noexcept {
  transport* t = current_transport();
  return t != nullptr && t->shutdown() == transport::status::would_block;
}

result<port::hand_over_ticket> port::hand_over(pid new_owner) {
  // Closed by its owner and writing out its queue (a lingering close) is
  // closed for the owner too (inet's controlling_process after close): it
  // stays where its scheduler's stop waits for it (linger_begin).
  if (is_closed() || closing_) {
    return fail(errc::closed);
  }
  int target = otpnet::detail::scheduler_of(new_owner);
  if (target < 0) {
    return fail(errc::noproc);
  }
  const bool same_thread = target == sched_.load(std::memory_order_acquire);
  // What was queued to send goes now, while the caller still owns the port
  // (on another scheduler nothing of it may run on this thread once it has
  // moved; on this one, so that the answer is the same): the send in flight
  // is settled and the delayed flush made. A send that fails here delivers
  // its error and close to the caller, after the messages it holds for the
  // port, and the port stays with it, closed.
  if (flush_scheduled_ || send_in_flight_) {
    flush_scheduled_ = false;
    flush(true);
    if (is_closed()) {
      return fail(errc::closed);
    }
  }
  (void)so::set_owner(sock_, new_owner.value());
  owner_.store(new_owner.value(), std::memory_order_release);
  if (same_thread) {
    if (!joining_) {  // (joining: the join task attaches the owner of then)
      otpnet::detail::attach_resource(new_owner, weak_from_this());
    }
    return hand_over_ticket{};
  }
  // The send timer of this loop goes.
  cancel_send_timer();
  // A receive in flight ends here, its bytes kept: the other loop must not
  // read before them.
  if (recv_in_flight_) {
    if (reactor::event_loop* loop = otpnet::detail::current_loop()) {
      end_recv_now(*loop, true);
    }
  }
  // Leave this scheduler now: from here on only the new owner's scheduler
  // touches the port. It joins that reactor in finish_hand_over, after the
  // caller has forwarded the messages it already had (so those arrive
  // first). Readiness is edge-triggered and adding reports what is ready,
  // so nothing that arrives in between is missed.
  unregister_io();
  // (Both published to the new scheduler by the store below; from the store
  // on, this thread touches none of the port's fields.)
  joining_ = true;
  const hand_over_ticket m{target, ++moves_};
  sched_.store(target, std::memory_order_release);
  return m;
}

void port::finish_hand_over(hand_over_ticket m) {
  if (m.to < 0) {
    return;
  }
  (void)otpnet::detail::post_to_scheduler(m.to, [self = shared_from_this(), m] {
    // The port is this scheduler's, this is its last move, and it has not
    // joined yet: otherwise a later move's task joins (the new owner handed
    // it on before this ran; joining_ also covers moves_ wrapping).
    if (self->sched_.load(std::memory_order_acquire) != m.to || self->moves_ != m.nth || !self->joining_ ||
        self->is_closed()) {
      return;
    }
    if (errc e = self->register_io(); e != errc::ok) {
      // The new owner learns it as from a failed read: tcp_error, then
      // tcp_closed, and the port closes.
      self->fail_receive(e, "the reactor cannot watch the socket");
      return;
    }
    if (!self->outq_.empty()) {
      self->arm_send_timer();  // on this loop now
      if (self->is_closed()) {
        return;  // (the timer found no memory: fail_send)
      }
    }
    self->joining_ = false;
    const pid owner = self->owner();
    otpnet::detail::attach_resource(owner, self);
    if (!is_alive(owner)) {
      (void)self->close_now();
      return;
    }
    self->pump();
    self->flush();
  });
}

void port::report(errc reason, const char* what) noexcept {
  try {
    // The client, where the socket still knows it (one system call, on an
    // error path only: no address is kept per connection for this).
    std::string peer;
    if (auto p = so::peername(sock_)) {
      peer = ", peer " + p->to_string();
    }
    spdlog::warn("gen_tcp: socket {} (owner {}{}): {}: {}", fd_, owner().to_string(), peer, what, format_error(reason));
  } catch (...) {
    // Reporting must not fail the connection further.
  }
}

socket port::handle() noexcept {
  // A copy of self_ is one atomic increment; shared_from_this locks a weak
  // reference (a compare-and-swap loop), once per frame delivered.
  return socket(self_ ? self_ : shared_from_this());
}

void port::deliver(otpnet::detail::envelope* e) noexcept { (void)otpnet::detail::send_envelope(owner(), e); }

namespace {

/// The message M of the port's flavour: tcp... or ssl... Its owner must
/// get it: without memory for it the program ends with a report line
/// (runtime/message.hpp, must_make_envelope).
template <template <class> class M, class... A>
otpnet::detail::envelope* flavoured(bool tls, A&&... a) noexcept {
  if (tls) {
    return otpnet::detail::must_make_envelope<M<ssl_tag>>(M<ssl_tag>{std::forward<A>(a)...});
  }
  return otpnet::detail::must_make_envelope<M<tcp_tag>>(M<tcp_tag>{std::forward<A>(a)...});
}

}  // namespace

// -- receive -----------------------------------------------------------------------------

// {active, true} only ({active, N} is flow control: it reads no further ahead
// than {active, once} does), and only while the delivery keeps up: a
// multishot receive reads on whether or not the frames it brings are
// delivered, so it ends once a stream buffer's worth (16 KiB) of bytes is
// left undelivered past the pump's budget for the turn, and is made again
// when the port next needs bytes. (Bytes of a frame still arriving are not
// a backlog: they wait for the rest of it.)
bool port::wants_stream() const noexcept {
  return active_.k == active_mode::kind::always && !busy_ && recv_ticket() == 0 &&
         !(pump_posted_ && rend_ - rstart_ >= read_chunk_size) && wants_frames();
}

bool port::wants_frames() const noexcept {
  if (is_closed() || closing_ || receive_failed_ || end_delivered_) {
    return false;
  }
  if (recv_ticket() != 0) {
    return true;
  }
  switch (active_.k) {
    case active_mode::kind::passive:
      return false;
    case active_mode::kind::count:
      return active_left_ > 0;
    default:
      return true;
  }
}

std::span<const std::byte> port::buffered() const noexcept {
  return chunk_ != nullptr ? std::span<const std::byte>(chunk_->data() + rstart_, rend_ - rstart_)
                           : std::span<const std::byte>();
}

void port::note_line_scanned(std::size_t n) noexcept {
  if (n >= read_chunk_size && (waits_ || make_waits() == errc::ok)) {
    waits_->line_scanned = static_cast<std::uint32_t>(n);  // (n < max_buffered: read_some stops there)
  }
}

void port::consume(std::size_t n) noexcept {
  if (n != 0 && waits_) {
    waits_->line_scanned = 0;  // (the bytes it counted from are gone)
  }
  rstart_ += static_cast<std::uint32_t>(n);
  if (rstart_ == rend_ && chunk_ != nullptr) {
    // Nothing buffered: an idle connection holds no chunk.
    drop_chunk();
    rstart_ = rend_ = 0;
  }
}

port::read_outcome port::read_some(std::size_t need) noexcept {
  transport* tp = current_transport();
  if (tp == nullptr) {
    if (recv_error_ != errc::ok) {
      fail_receive(recv_error_, "receive failed");
      return read_outcome::error;
    }
    if (completions_) {
      if (!recv_plain_once_) {
        return queue_recv();
      }
      recv_plain_once_ = false;  // no buffer was free: one plain read
      read_maybe_ready_ = true;
    }
  }
  if (!read_maybe_ready_ && tp == nullptr) {
    return read_outcome::would_block;  // drained since the last edge
  }
  std::size_t have = rend_ - rstart_;
  // Room for what the frame still needs, but grown as bytes arrive (at
  // most doubling), never what a header merely announces: a peer that
  // claims 4 GiB gets memory only for what it actually sends. The chunk
  // changes only when less than a read chunk (or less than the frame
  // still needs) is free: a frame that arrives in many reads is copied
  // once per doubling, not once per read.
  if (have >= max_buffered) {
    // (A line with no delimiter yet, without packet_size: the offsets are
    // 32 bits. Length-prefixed frames stop at their header.)
    fail_receive(errc::emsgsize, "frame larger than a buffer can hold (4 GiB)");
    return read_outcome::error;
  }
  std::size_t grown = std::min(std::max(read_chunk_size, 2 * have), max_buffered);
  std::size_t want = need != 0 ? std::max(have + 1, std::min(need, grown)) : grown;
  if (!make_room(want, std::min(want - have, read_chunk_size))) {
    fail_receive(errc::enomem, "no memory for the frame being received");
    return read_outcome::error;
  }
  std::byte* at = chunk_->data() + rend_;
  std::size_t room = chunk_->capacity - rend_;
  if (tp != nullptr) {
    transport::io_result t = tp->read(at, room);
    switch (t.st) {
      case transport::status::ok:
        stats_.recv_oct += t.n;
        rend_ += static_cast<std::uint32_t>(t.n);
        return read_outcome::got_bytes;
      case transport::status::would_block:
        consume(0);
        return read_outcome::would_block;
      case transport::status::eof:
        return read_outcome::eof;
      case transport::status::error:
        fail_receive(t.reason, "receive failed");
        return read_outcome::error;
    }
  }
  auto n = ::otpnet::internal::sys([&] { return ::otpnet::internal::recv_nocancel(fd_, at, room, 0); });
  if (!n) {
    if (n.error() == errc::eagain) {
      // Nothing buffered: give the chunk back (consume(0) does when empty),
      // so that an idle connection holds no memory (a pooled chunk is one
      // pointer swap away when bytes come).
      read_maybe_ready_ = false;
      consume(0);
      return completions_ ? queue_recv() : read_outcome::would_block;
    }
    fail_receive(n.error(), "receive failed");
    return read_outcome::error;
  }
  if (*n == 0) {
    return read_outcome::eof;
  }
  stats_.recv_oct += static_cast<std::uint64_t>(*n);
  rend_ += static_cast<std::uint32_t>(*n);
  if (static_cast<std::size_t>(*n) < room && !peer_hup_seen_) {
    // A stream socket's recv returns less than asked only when its queue
    // ran dry: bytes arriving after this raise a new edge.
    read_maybe_ready_ = false;
  }
  return read_outcome::got_bytes;
}

bool port::make_room(std::size_t want, std::size_t min_free) noexcept {
  std::size_t have = rend_ - rstart_;
  try {
    if (chunk_ == nullptr) {
      chunk_ = chunk_alloc(want, 1 + view_credit);
      chunk_credit_ = view_credit;
      rstart_ = rend_ = 0;
    } else if (chunk_->capacity - rend_ < min_free) {
      // The frame being assembled has too little room after it: move it to
      // the front (no view of this chunk is out) or to a new chunk.
      if (chunk_->refs.load(std::memory_order_acquire) == 1U + chunk_credit_ && chunk_->capacity >= want) {
        std::memmove(chunk_->data(), chunk_->data() + rstart_, have);
      } else {
        gen_tcp::detail::chunk* c = chunk_alloc(want, 1 + view_credit);
        std::memcpy(c->data(), chunk_->data() + rstart_, have);
        drop_chunk();
        chunk_ = c;
        chunk_credit_ = view_credit;
      }
      rstart_ = 0;
      rend_ = static_cast<std::uint32_t>(have);
    }
  } catch (const std::bad_alloc&) {
    return false;
  }
  return true;
}

// Completion mode: the read is a receive queued with the loop, answered by
// on_recv. A port that cannot queue one (the backend's ring refused it)
// reads by readiness from then on.
port::read_outcome port::queue_recv() noexcept {
  consume(0);  // an idle port holds no chunk: the backend lends the buffer
  if (recv_in_flight_) {
    return read_outcome::would_block;
  }
  reactor::event_loop* loop = otpnet::detail::current_loop();
  bool multishot = loop != nullptr && wants_stream() && loop->supports_recv_multishot();
  auto queued = loop == nullptr ? result<void>(fail(errc::unsupported))
                : multishot     ? loop->submit_recv_multishot(fd_)
                                : loop->submit_recv(fd_);
  if (queued) {
    recv_in_flight_ = true;
    recv_multishot_ = multishot;
    recv_ending_ = false;
  } else if (queued.error() == errc::ebusy) {
    post_pump();  // the submission ring is full for now: again next turn
  } else if (auto r = stop_completion_reads(); !r) {
    // Nor by readiness (the loop refused that too, or an earlier receive
    // failed): the receive fails now, rather than wait for an event that
    // cannot come.
    if (!is_closed()) {
      fail_receive(r.error(), "receive failed");
    }
    return read_outcome::error;
  }
  return read_outcome::would_block;  // by readiness from now on
}

void port::absorb(std::int32_t result, const std::byte* data) noexcept {
  if (recv_error_ != errc::ok) {
    // A completion before this one was dropped (no memory, too large): the
    // stream has a hole from there, so nothing after it is taken, not even
    // its end; the next read fails the receive with the error.
    return;
  }
  if (result > 0) {
    auto n = static_cast<std::size_t>(result);
    std::size_t have = rend_ - rstart_;
    // A pooled chunk while the frame fits one; past that grown by doubling,
    // as read_some does: a frame that arrives in many completions is copied
    // once per doubling.
    std::size_t want = have + n <= read_chunk_size ? read_chunk_size : std::max(2 * have, have + n);
    if (have + n > max_buffered) {
      recv_error_ = errc::emsgsize;  // the next read fails the receive, with a report line
      return;
    }
    if (!make_room(std::min(want, max_buffered), n)) {
      recv_error_ = errc::enomem;  // the next read fails the receive, with a report line
      return;
    }
    std::memcpy(chunk_->data() + rend_, data, n);
    rend_ += static_cast<std::uint32_t>(n);
    stats_.recv_oct += n;
  } else if (result == 0) {
    peer_closed_ = true;
  } else if (result == -ENOBUFS) {
    recv_plain_once_ = true;
    // Once per burst: at most one line a minute, process-wide.
    static std::atomic<std::int64_t> last_report{std::numeric_limits<std::int64_t>::min() / 2};
    std::int64_t now =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
    std::int64_t last = last_report.load(std::memory_order_relaxed);
    if (now - last >= 60 && last_report.compare_exchange_strong(last, now, std::memory_order_relaxed)) {
      try {
        spdlog::warn(
            "gen_tcp: the reactor's receive buffers ran out (OTPNET_URING_RECV_BUFFERS; for {active, true} "
            "sockets OTPNET_URING_STREAM_BUFFERS); connections read with plain calls until buffers come back "
            "(reported at most once a minute)");
      } catch (...) {
      }
    }
  } else if (result != -ECANCELED && result != -EINTR) {
    // (EINTR: a receive handed to a kernel worker was interrupted; like a
    // cancellation it took nothing, and the next read queues another.)
    recv_error_ = from_errno(-result);
  }
}

void port::deliver_frame(buffer frame) noexcept {
  ++stats_.recv_cnt;
  stats_.saw_recv(frame.size());
  if (recv_ticket() != 0) {
    must_send(waits_->recv_pid, recv_reply{std::exchange(waits_->recv_ticket, 0), std::move(frame)});
    return;
  }
  deliver(flavoured<basic_data>(tls_, handle(), std::move(frame)));
  switch (active_.k) {
    case active_mode::kind::once:
      active_ = passive;
      break;
    case active_mode::kind::count:
      if (--active_left_ <= 0) {
        active_ = passive;
        deliver(flavoured<basic_passive>(tls_, handle()));
      }
      break;
    default:
      break;
  }
}

void port::deliver_end() noexcept {
  end_delivered_ = true;
  if (recv_ticket() != 0) {
    must_send(waits_->recv_pid, recv_reply{std::exchange(waits_->recv_ticket, 0), fail(errc::closed)});
  } else {
    deliver(flavoured<basic_closed>(tls_, handle()));
  }
  if (opts_->exit_on_close) {
    flush();
    (void)close_now();
  }
}

void port::fail_receive(errc reason, const char* what) noexcept {
  receive_failed_ = true;
  report(reason, what);
  if (recv_ticket() != 0) {
    must_send(waits_->recv_pid, recv_reply{std::exchange(waits_->recv_ticket, 0), fail(reason)});
  } else {
    socket me = handle();
    deliver(flavoured<basic_error>(tls_, me, reason));
    deliver(flavoured<basic_closed>(tls_, me));
  }
  (void)close_now();
}

void port::pump() noexcept {
  if (pumping_ || joining_) {
    return;  // (joining: finish_hand_over's task pumps once the loop watches the socket)
  }
  pumping_ = true;
  int budget = pump_budget;
  while (budget > 0 && wants_frames() && !busy_) {
    std::size_t passive_len = recv_ticket() != 0 && opts_->packet == packet_type::raw ? waits_->recv_length : 0;
    decoded d;
    if (passive_len != 0) {
      std::size_t have = rend_ - rstart_;
      d = have >= passive_len ? decoded{decoded::status::frame, 0, passive_len, 0}
                              : decoded{decoded::status::need_more, 0, 0, passive_len};
    } else {
      std::span<const std::byte> buf = buffered();
      d = decode(opts_->spec(), buf, line_scanned());
      if (d.st == decoded::status::need_more && opts_->packet == packet_type::line) {
        note_line_scanned(buf.size());
      }
    }
    if (d.st == decoded::status::frame) {
      if (chunk_credit_ == 0) {
        chunk_->refs.fetch_add(view_credit, std::memory_order_relaxed);
        chunk_credit_ = view_credit;
      }
      --chunk_credit_;
      buffer f = adopt_view(chunk_, rstart_ + static_cast<std::uint32_t>(d.header), static_cast<std::uint32_t>(d.body));
      consume(d.header + d.body);
      deliver_frame(std::move(f));
      --budget;
      continue;
    }
    if (d.st == decoded::status::too_big ||
        (d.st == decoded::status::need_more && d.need > std::numeric_limits<std::uint32_t>::max())) {
      // (Or larger than a buffer can hold: 32-bit sizes.)
      fail_receive(errc::emsgsize, "frame larger than packet_size");
      break;
    }
    if (peer_closed_) {
      deliver_end();
      break;
    }
    read_outcome r = read_some(d.need);
    if (r == read_outcome::would_block || r == read_outcome::error) {
      break;
    }
    if (r == read_outcome::eof) {
      peer_closed_ = true;
    }
  }
  pumping_ = false;
  if (budget == 0 && wants_frames() && !busy_) {
    post_pump();  // bounded work per turn: the rest after the others had theirs
  }
  if (recv_multishot_) {
    stop_wanting();  // (a multishot receive the delivery no longer keeps up with ends)
  }
}

void port::post_pump() noexcept {
  if (!pump_posted_) {
    pump_posted_ = true;
    (void)otpnet::detail::post_to_scheduler(sched_.load(std::memory_order_acquire), [self = shared_from_this()] {
      // The port may have moved to another scheduler since.
      self->run_on_port_thread([](port& p) {
        p.pump_posted_ = false;
        p.pump();
      });
    });
  }
}

result<buffer> port::recv(std::size_t length, std::uint64_t ticket, bool now) {
  if (is_closed() || closing_) {
    return fail(errc::closed);  // (closing: nothing more is read)
  }
  if (active_.k != active_mode::kind::passive || recv_ticket() != 0 ||
      (length != 0 && opts_->packet != packet_type::raw)) {
    return fail(errc::invalid);
  }
  if (end_delivered_ || receive_failed_) {
    return fail(errc::closed);
  }
  if (errc e = make_waits(); e != errc::ok) {
    return fail(e);
  }
  waits_->recv_ticket = ticket;
  waits_->recv_length = length;
  waits_->recv_pid = self();
  if (first_event_pending_) {
    read_maybe_ready_ = true;  // bytes may wait since before the registration
  }
  if (now && completions_) {
    // A receive queued with the loop would complete after the caller has
    // given up: end the one in flight (its bytes kept) and read plainly.
    if (recv_in_flight_) {
      if (reactor::event_loop* loop = otpnet::detail::current_loop()) {
        end_recv_now(*loop, false);
      }
    }
    recv_plain_once_ = !recv_in_flight_;
  }
  // Served now if the bytes are there or readable; else from on_io.
  pump();
  if (recv_ticket() == 0) {
    return fail(errc::ealready);  // answered: the reply is in the mailbox
  }
  return fail(errc::eagain);
}

void port::cancel_recv(std::uint64_t ticket) noexcept {
  if (waits_ && waits_->recv_ticket == ticket) {
    waits_->recv_ticket = 0;
    stop_wanting();
  }
}

// Frames are no longer wanted (a passive recv timed out, the owner made
// the socket passive): a receive in flight ends now, so that what comes
// next stays in the kernel, as inet's does; bytes it already took are
// kept for the next read. Rare (not on the {active, once} path, where the
// receive completes before the frame is delivered).
// A multishot receive ends too when frames are still wanted, but no longer
// as a stream it may read ahead of (wants_stream: another mode, the sender
// busy, the delivery behind): asynchronously, its last bytes kept when they
// come (on_recv).
void port::stop_wanting() noexcept {
  if (!recv_in_flight_ || is_closed()) {
    return;
  }
  reactor::event_loop* loop = otpnet::detail::current_loop();
  if (loop == nullptr) {
    return;
  }
  if (!wants_frames()) {
    end_recv_now(*loop, false);
  } else if (recv_multishot_ && !recv_ending_ && !wants_stream()) {
    recv_ending_ = loop->cancel_recv(fd_).has_value();
  }
}

// -- send -----------------------------------------------------------------------------------

result<std::size_t> port::write_iov(const ::iovec* iov, std::size_t n) noexcept {
  if (transport* tp = current_transport()) {
    transport::io_result t = tp->writev(iov, n);
    switch (t.st) {
      case transport::status::ok:
        return t.n;
      case transport::status::would_block:
        return fail(errc::eagain);
      default:
        return fail(t.reason == errc::ok ? errc::epipe : t.reason);
    }
  }
  ::msghdr m{};
  m.msg_iov = const_cast<::iovec*>(iov);
  m.msg_iovlen = n;
  auto r = ::otpnet::internal::sys([&] { return ::otpnet::internal::sendmsg_nocancel(fd_, &m, MSG_NOSIGNAL); });
  if (!r) {
    return fail(r.error());
  }
  return static_cast<std::size_t>(*r);
}

result<queued> port::send(buffer data, bool copied) {
  (void)copied;
  if (is_closed() || closing_ || write_shut_) {
    return fail(errc::closed);
  }
  if (send_error_ != errc::ok) {
    return fail(send_error_);
  }
  out_item it;
  std::size_t h = encode_header(opts_->packet, data.size(), it.header.data());
  if (h == SIZE_MAX) {
    return fail(errc::emsgsize);
  }
  if (errc e = make_send_timer_room(); e != errc::ok) {
    return fail(e);
  }
  stats_.saw_send(data.size());
  // A frame sent back as it came has its header in front of it, and the
  // frame it followed in the read before that: one piece of memory.
  if (h != 0 && absorb_prefix(data, it.header.data(), h)) {
    h = 0;
  }
  it.hlen = static_cast<std::uint8_t>(h);
  // A send in flight points at the headers inside the queue: the queue may
  // not move while it does. Growing it is rare (its capacity doubles).
  bool resend = false;
  if (send_in_flight_ && outq_.size() == outq_.capacity()) {
    if (errc e = settle_send(); e != errc::ok) {
      fail_send(e);
      return fail(e);
    }
    resend = !outq_.empty();
  }
  std::size_t adding = h + data.size();
  bool was_empty = outq_.empty();
  // Joined to the last item when it continues it. Not to one partly
  // written (getstat counts an item's frames once all of it is written, so
  // frames joined to a waiting item would be counted late), nor while a send
  // made from the queue is in flight (simpler: its completion finds the
  // queue's items as they were).
  if (h != 0 || was_empty || send_in_flight_ || outq_.back().sent != 0 || outq_.back().frames == max_frames_per_item ||
      !absorb_next(outq_.back().data, data)) {
    it.data = std::move(data);
    outq_.push_back(std::move(it));  // (may throw bad_alloc: nothing counted yet)
  } else {
    ++outq_.back().frames;
    forget_view(data);  // its reference is the item's now
  }
  queued_bytes_ += adding;
  if (opts_->delay_send) {
    if (!flush_scheduled_) {
      flush_scheduled_ = true;
      // The scheduler holds the port until the hook has run, even if it
      // closes meanwhile.
      otpnet::detail::at_end_of_turn(shared_from_this());
    }
  } else if (was_empty || resend) {
    flush();  // (a queue that was not empty waits for writability)
  }
  if (send_error_ != errc::ok) {
    return fail(send_error_);
  }
  if (queued_bytes_ > opts_->high_watermark) {
    busy_ = true;
  }
  return queued{queued_bytes_, busy_};
}

result<queued> port::send_span(std::span<const std::byte> data) {
  if (is_closed() || closing_ || write_shut_) {
    return fail(errc::closed);
  }
  if (send_error_ != errc::ok) {
    return fail(send_error_);
  }
  if (!outq_.empty() || opts_->delay_send || holding_) {
    return send(buffer::copy_of(data), true);
  }
  // Nothing queued: write straight from the caller's bytes, and copy only
  // what the kernel did not take.
  std::array<std::byte, 4> header{};
  std::size_t h = encode_header(opts_->packet, data.size(), header.data());
  if (h == SIZE_MAX) {
    return fail(errc::emsgsize);
  }
  // Before the write: what the kernel does not take waits, timed.
  if (errc e = make_send_timer_room(); e != errc::ok) {
    return fail(e);
  }
  ::iovec iov[2] = {{header.data(), h}, {const_cast<std::byte*>(data.data()), data.size()}};
  auto n = h != 0 ? write_iov(iov, 2) : write_iov(iov + 1, 1);
  std::size_t total = h + data.size();
  if (!n && n.error() != errc::eagain) {
    fail_send(n.error());
    return fail(n.error());
  }
  std::size_t sent = n ? static_cast<std::size_t>(*n) : 0;
  stats_.send_oct += sent;
  if (sent == total) {
    ++stats_.send_cnt;
    stats_.saw_send(data.size());
    return queued{0, false};
  }
  out_item it;
  it.header = header;
  it.hlen = static_cast<std::uint8_t>(h);
  if (sent >= h) {
    it.data = buffer::copy_of(data.subspan(sent - h));
    it.hlen = 0;
  } else {
    it.data = buffer::copy_of(data);
    it.sent = static_cast<std::uint32_t>(sent);
  }
  queued_bytes_ += total - sent;
  outq_.push_back(std::move(it));
  arm_send_timer();
  if (send_error_ != errc::ok) {
    return fail(send_error_);
  }
  if (queued_bytes_ > opts_->high_watermark) {
    busy_ = true;
  }
  return queued{queued_bytes_, busy_};
}

void port::end_of_turn() noexcept {
  if (!on_my_thread()) {
    return;  // moved since: hand_over flushed; sends there schedule their own
  }
  flush_scheduled_ = false;
  flush();
}

void port::flush(bool direct, bool progressed) noexcept {
  if (is_closed() || holding_) {
    return;  // (holding: set_transport flushes)
  }
  if (send_in_flight_) {
    if (!direct) {
      return;  // its completion goes on with the queue
    }
    if (errc e = settle_send(); e != errc::ok) {
      fail_send(e);
      return;
    }
    progressed = true;  // (or nothing: then after_progress has nothing to do)
  }
  progressed = write_out(direct) || progressed;
  if (send_error_ != errc::ok || is_closed()) {
    return;
  }
  if (progressed || outq_.empty()) {
    after_progress();
  }
}

bool port::write_out(bool direct) noexcept {
  bool progressed = false;
  while (!outq_.empty()) {
    ::iovec iov[max_iov];
    std::size_t n_iov = gather(iov, max_iov);
    if (n_iov == 0) {
      account_sent(0);  // only empty items (zero-length raw sends)
      progressed = true;
      continue;
    }
    if (ring_sends_ && !direct && current_transport() == nullptr) {
      reactor::event_loop* loop = otpnet::detail::current_loop();
      if (loop != nullptr && loop->submit_send(fd_, iov, n_iov)) {
        send_in_flight_ = true;
        return progressed;
      }
      // (No room in the ring: a plain sendmsg.)
    }
    auto n = write_iov(iov, n_iov);
    if (!n) {
      if (n.error() == errc::eagain) {
        arm_send_timer();
        break;
      }
      fail_send(n.error());
      return progressed;
    }
    progressed = true;
    account_sent(static_cast<std::size_t>(*n));
  }
  return progressed;
}

std::size_t port::gather(::iovec* iov, std::size_t room) const noexcept {
  std::size_t n_iov = 0;
  for (auto it = outq_.begin(); it != outq_.end() && n_iov + 2 <= room; ++it) {
    std::size_t skip = it->sent;
    if (skip < it->hlen) {
      iov[n_iov++] = {const_cast<std::byte*>(it->header.data()) + skip, it->hlen - skip};
      skip = 0;
    } else {
      skip -= it->hlen;
    }
    if (it->data.size() > skip) {
      iov[n_iov++] = {const_cast<std::byte*>(it->data.data()) + skip, it->data.size() - skip};
    }
  }
  return n_iov;
}

void port::account_sent(std::size_t n) noexcept {
  ++progress_mark_;
  std::size_t left = n;
  stats_.send_oct += left;
  queued_bytes_ -= left;
  std::size_t done = 0;
  while (left > 0 && done < outq_.size()) {
    out_item& item = outq_[done];
    std::size_t remaining = item.hlen + item.data.size() - item.sent;
    if (left >= remaining) {
      left -= remaining;
      stats_.send_cnt += item.frames;
      ++done;
    } else {
      item.sent += static_cast<std::uint32_t>(left);
      left = 0;
    }
  }
  // Empty items (a zero-length raw send) complete without bytes.
  while (done < outq_.size() && outq_[done].hlen + outq_[done].data.size() == outq_[done].sent) {
    stats_.send_cnt += outq_[done].frames;
    ++done;
  }
  outq_.erase(outq_.begin(), outq_.begin() + static_cast<std::ptrdiff_t>(done));
}

// The count of a send that had left is taken; one that had not never will
// (ECANCELED), and its bytes are still at the head of the queue. Should the
// loop not find its completion, what it sent is unknown: writing the queue
// again could repeat bytes, so the sending side fails instead.
errc port::settle_send() noexcept {
  if (!send_in_flight_) {
    return errc::ok;
  }
  send_in_flight_ = false;
  reactor::event_loop* loop = otpnet::detail::current_loop();
  if (loop == nullptr) {
    return errc::ebusy;
  }
  auto ev = loop->cancel_send_now(fd_);
  if (!ev) {
    return ev.error();
  }
  if (ev->result >= 0) {
    account_sent(static_cast<std::size_t>(ev->result));
    return errc::ok;
  }
  if (ev->result == -ECANCELED || ev->result == -EAGAIN) {
    return errc::ok;
  }
  return from_errno(-ev->result);
}

void port::on_send(std::uint64_t, std::int32_t result) noexcept {
  if (!send_in_flight_) {
    return;  // settled already
  }
  auto keep = weak_from_this().lock();  // a delivery may close it
  send_in_flight_ = false;
  if (!keep || is_closed()) {
    return;
  }
  if (result < 0 && result != -EAGAIN && result != -ECANCELED) {
    fail_send(from_errno(-result));
    return;
  }
  if (result >= 0) {
    account_sent(static_cast<std::size_t>(result));
  }
  // What is left: the rest of a short send (the socket's buffer is full, a
  // plain sendmsg says so and makes the port wait for writability), or
  // frames queued since, which go with the loop's next wait.
  bool whole = result >= 0 && (outq_.empty() || outq_.front().sent == 0);
  flush(!whole, result >= 0);
}

void port::after_progress() noexcept {
  if (outq_.empty() && pending_shutdown_ >= 0) {
    (void)shutdown_now(static_cast<so::shutdown_how>(std::exchange(pending_shutdown_, std::int8_t{-1})));
  }
  if (outq_.empty() && closing_) {
    if (goodbye_blocked()) {
      arm_send_timer();  // (written at the next writable event, or timed out)
      return;
    }
    (void)close_now();
    return;
  }
  if (outq_.empty() && outq_.capacity() > 16) {
    outq_ = {};  // a burst is over: an idle connection keeps no queue
  }
  if (outq_.empty() && pending_shutdown_ < 0) {
    cancel_send_timer();  // (a shutdown still waiting for room for its goodbye keeps it)
  }
  if (busy_ && queued_bytes_ <= opts_->low_watermark) {
    busy_ = false;
    notify_drained(errc::ok);
    if (wants_frames()) {
      pump();  // reading resumes
    }
  }
}

void port::notify_drained(errc reason) noexcept {
  if (!waits_) {
    return;
  }
  for (auto& [who, ticket] : waits_->drain_waiters) {
    must_send(who, drained_note{ticket, reason});
  }
  waits_->drain_waiters.clear();
}

result<bool> port::drained(std::uint64_t ticket) {
  if (is_closed()) {
    return fail(errc::closed);
  }
  if (send_error_ != errc::ok) {
    return fail(send_error_);
  }
  if (!busy_) {
    return true;
  }
  if (errc e = make_waits(); e != errc::ok) {
    return fail(e);
  }
  try {
    waits_->drain_waiters.emplace_back(self(), ticket);
  } catch (const std::bad_alloc&) {
    return fail(errc::enomem);  // (the list could not grow: nothing changed)
  }
  return false;
}

void port::arm_send_timer() noexcept {
  if (!start_send_timer()) {
    // Without memory the queue cannot be timed: the sending side fails
    // (enomem, the send in progress answers it) rather than wait untimed.
    fail_send(errc::enomem);
  }
}

bool port::start_send_timer() noexcept {
  if (send_timer_armed_ || opts_->send_timeout.count() <= 0) {
    return true;
  }
  reactor::event_loop* loop = otpnet::detail::current_loop();
  if (loop == nullptr) {
    return true;
  }
  // The block is there already: a send that may wait made it (send,
  // send_span: refused with enomem when it could not), as did setopts and
  // close for a queue already waiting. The wheel may have to grow.
  if (make_waits() != errc::ok) {
    return false;
  }
  try {
    waits_->send_timer = loop->start_timer(opts_->send_timeout, waits_->send_timer_to, progress_mark_);
  } catch (...) {
    // Not only std::bad_alloc: whatever start_timer throws (a length_error,
    // a throwing clock) would otherwise end the process here (noexcept).
    return false;
  }
  send_timer_armed_ = true;
  return true;
}

void port::cancel_send_timer() noexcept {
  if (!send_timer_armed_) {
    return;
  }
  if (reactor::event_loop* loop = otpnet::detail::current_loop()) {
    (void)loop->cancel_timer(waits_->send_timer);
  }
  send_timer_armed_ = false;
}

void port::on_send_timer(std::uint64_t mark) noexcept {
  auto keep = weak_from_this().lock();  // fail_send may close it (and free the timer's relay)
  send_timer_armed_ = false;
  // (A close or shutdown waiting with an empty queue waits for room for
  // TLS's close_notify: timed the same.)
  if (is_closed() || (outq_.empty() && !closing_ && pending_shutdown_ < 0)) {
    return;
  }
  if (opts_->send_timeout.count() <= 0) {
    return;  // send_timeout was set to 0 (infinity) since the timer started: the queue waits untimed
  }
  if (send_in_flight_) {
    arm_send_timer();  // it completes with the loop's next wait
    return;
  }
  if (mark != progress_mark_) {
    arm_send_timer();  // it moved since: give it another period
    return;
  }
  fail_send(errc::timeout);
}

void port::fail_send(errc reason) noexcept {
  (void)settle_send();  // the queue goes: a send in flight must not point into it
  send_error_ = reason;
  report(reason, reason == errc::timeout ? "send timed out: the peer does not read" : "send failed");
  outq_.clear();
  queued_bytes_ = 0;
  busy_ = false;
  notify_drained(reason);
  if (waits_ && waits_->io_ticket != 0) {
    // A transport waiting for the queue to leave (a handshake about to
    // begin) waits no more.
    must_send(waits_->io_pid, io_ready{std::exchange(waits_->io_ticket, 0), reason});
  }
  if (closing_) {
    // Its owner closed it (close() answered ok) and the queue was being
    // written out: as after inet's close, the owner hears nothing more. The
    // report line says what was dropped.
    (void)close_now();
    return;
  }
  // The owner has had the socket's end already (tcp_closed, tcp_error and
  // tcp_closed, or a recv's closed; exit_on_close false keeps it open for
  // sending): the send's caller gets the error, the owner no second end
  // (inet's TCP_ADDF_CLOSE_SENT). The report line above says what failed.
  // Or a TLS handshake is under way: it answers with the error.
  const bool ended = end_delivered_ || receive_failed_ || upgrading_;
  if (!ended) {
    deliver(flavoured<basic_error>(tls_, handle(), reason));
  }
  if (reason != errc::timeout || opts_->send_timeout_close) {
    if (!ended) {
      deliver(flavoured<basic_closed>(tls_, handle()));
    }
    (void)close_now();
    return;
  }
  if (pending_shutdown_ >= 0) {
    // The FIN asked for after the queue goes now that the queue is gone; a
    // goodbye (TLS's close_notify) still without room is tried once more
    // and then given up, not waited for again.
    auto how = static_cast<so::shutdown_how>(std::exchange(pending_shutdown_, std::int8_t{-1}));
    (void)goodbye_blocked();  // (a pending shutdown writes: never `read`)
    (void)so::shutdown(sock_, how);
  }
  if (wants_frames()) {
    pump();  // reading paused while busy; on io_uring nothing else resumes it
  }
}

// -- options ------------------------------------------------------------------------------

namespace {

// The fields only_active must know of: a field added to `options` changes
// its size and stops the build here until only_active checks it too.
static_assert(sizeof(void*) != 8 || sizeof(options) == 136, "a new option: add it to only_active");

/// Whether `o` names the active mode and nothing else: the re-arm a
/// handler makes per frame, which takes the short way.
bool only_active(const options& o) noexcept {
  return o.active && !o.packet && !o.packet_size && !o.line_delimiter && !o.line_length && !o.high_watermark &&
         !o.low_watermark && !o.send_timeout && !o.send_timeout_close && !o.exit_on_close && !o.delay_send &&
         !o.nodelay && !o.keepalive && !o.recbuf && !o.sndbuf && !o.backlog && !o.reuseaddr && !o.reuseport &&
         !o.ipv6_v6only;
}

}  // namespace

port::active_change port::resolve_active(active_mode a) const noexcept {
  if (a.k != active_mode::kind::count) {
    return {a, false};
  }
  // inet adds N to the current count; none left is passive.
  int base = active_.k == active_mode::kind::count ? active_left_ : 0;
  int sum = base + a.n;
  if (sum > 0) {
    return {active_n(sum), false};
  }
  return {passive, active_.k != active_mode::kind::passive};
}

result<void> port::setopts(const options& o) {
  if (is_closed()) {
    return fail(errc::closed);
  }
  if (only_active(o)) {
    return set_active(*o.active);
  }
  effective_options next = *opts_;
  next.active = active_;
  options req = o;
  bool counted_down = false;
  if (o.active) {
    active_change c = resolve_active(*o.active);
    req.active = c.mode;
    counted_down = c.counted_down;
  }
  // Validated whole before anything changes or is sent.
  if (!next.apply(req)) {
    return fail(errc::invalid);
  }
  // A queue already waiting gets its timer's block now, where the caller
  // can be told.
  if (next.send_timeout.count() > 0 && !outq_.empty() && make_waits() != errc::ok) {
    return fail(errc::enomem);
  }
  bool nodelay_changes = o.nodelay && *o.nodelay != opts_->nodelay;
  bool keepalive_changes = o.keepalive && *o.keepalive != opts_->keepalive;
  // Shared with this port's siblings until now: a change is a block of its own.
  if (!opts_.assign(next)) {
    return fail(errc::enomem);
  }
  if (waits_) {
    waits_->line_scanned = 0;  // the framing or its delimiter may have changed
  }
  if (counted_down) {
    deliver(flavoured<basic_passive>(tls_, handle()));
  }
  if (nodelay_changes) {
    (void)so::setopt(sock_, so::opt::tcp::nodelay, *o.nodelay);
  }
  if (keepalive_changes) {
    (void)so::setopt(sock_, so::opt::socket::keepalive, *o.keepalive);
  }
  if (o.recbuf && *o.recbuf > 0) {
    (void)so::setopt(sock_, so::opt::socket::rcvbuf, *o.recbuf);
  }
  if (o.sndbuf && *o.sndbuf > 0) {
    (void)so::setopt(sock_, so::opt::socket::sndbuf, *o.sndbuf);
  }
  active_ = next.active;
  if (o.active) {
    active_left_ = active_.k == active_mode::kind::count ? active_.n : 0;
  }
  // (Else the count goes on where it was: active_.n is the N last set, not
  // what is left of it.)
  if (busy_ && queued_bytes_ <= opts_->low_watermark) {
    after_progress();
  }
  if (wants_frames()) {
    pump();
  }
  stop_wanting();
  // A queue that stalled before send_timeout was set has no timer, and
  // nothing else would arm one: a peer that never reads brings no writable
  // event, and later sends join a queue that is not empty. Without memory
  // for the timer the sending side fails (enomem, tcp_error, tcp_closed).
  if (!outq_.empty() && opts_->send_timeout.count() > 0 && !send_timer_armed_ && !is_closed()) {
    arm_send_timer();
    if (send_error_ != errc::ok) {
      return fail(send_error_);
    }
  }
  return ok();
}

result<void> port::set_active(active_mode a) {
  if (is_closed()) {
    return fail(errc::closed);
  }
  if (a.k == active_mode::kind::count && (a.n < -32767 || a.n > 32767)) {
    return fail(errc::invalid);  // as effective_options::apply
  }
  active_change c = resolve_active(a);
  // The same bound as effective_options::apply (a sum above it is refused).
  if (c.mode.k == active_mode::kind::count && c.mode.n > 32767) {
    return fail(errc::invalid);
  }
  if (c.counted_down) {
    deliver(flavoured<basic_passive>(tls_, handle()));
  }
  active_ = c.mode;
  active_left_ = c.mode.k == active_mode::kind::count ? c.mode.n : 0;
  if (wants_frames()) {
    pump();
  }
  stop_wanting();
  return ok();
}

// -- readiness ------------------------------------------------------------------------------

void port::on_recv(std::uint64_t, std::int32_t result, const std::byte* data, bool more) noexcept {
  auto keep = weak_from_this().lock();  // a delivery may close it
  if (!completions_) {
    // A receive end_recv_now could not end (the port then failed with the
    // reason): nothing more of it is taken; another reader has the socket.
    return;
  }
  recv_in_flight_ = more;
  if (!more) {
    note_multishot_end(result);
    recv_multishot_ = false;
    recv_ending_ = false;
  }
  if (!keep || is_closed()) {
    return;
  }
  absorb(result, data);
  if (wants_frames() && !busy_) {
    pump();  // (which ends a multishot receive no longer wanted, as below)
  } else if (recv_multishot_) {
    // A multishot receive reads on: once the stream is no longer wanted as
    // it comes, it ends (its last bytes come here and are kept), so that
    // the rest stays in the kernel.
    stop_wanting();
  }
}

void port::on_io(std::uint64_t, reactor::readiness r) noexcept {
  auto keep = weak_from_this().lock();  // a delivery may close it
  first_event_pending_ = false;
  bool trouble = r.error || r.hangup;
  if (r.readable || trouble) {
    read_maybe_ready_ = true;
  }
  if (trouble) {
    peer_hup_seen_ = true;
  }
  if (waits_ && waits_->io_ticket != 0 && (trouble || (waits_->io_write ? r.writable : r.readable))) {
    must_send(waits_->io_pid, io_ready{std::exchange(waits_->io_ticket, 0), errc::ok});
  }
  // (With an empty queue: a close or shutdown waiting for room for TLS's
  // close_notify.)
  if (r.writable && (!outq_.empty() || closing_ || pending_shutdown_ >= 0)) {
    flush();
  }
  // A TLS read may have stopped for want of writability.
  if ((r.readable || trouble || (tls_ && r.writable)) && wants_frames() && !busy_) {
    pump();
  }
}

result<void> port::prepare_transport() noexcept {
  if (errc e = make_waits(); e != errc::ok) {
    return fail(e);
  }
  return ok();
}

result<void> port::set_transport(std::unique_ptr<transport> t, bool tls) noexcept {
  if (errc e = make_waits(); e != errc::ok) {
    return fail(e);  // (the handshake prepared the block before it began)
  }
  (void)stop_completion_reads();  // the transport reads the descriptor itself (the handshake checked)
  waits_->tls_transport = std::move(t);
  tls_ = tls;
  upgrading_ = false;
  holding_ = false;
  if (!outq_.empty()) {
    // What was sent during the handshake (hold_sends), through the
    // transport now. (A failure is fail_send's to tell, as for any send;
    // a closed port wants no frames below.)
    flush();
  }
  if (wants_frames()) {
    pump();
  }
  return ok();
}

result<void> port::wait_io(bool write, std::uint64_t ticket) noexcept {
  if (is_closed()) {
    return fail(errc::closed);
  }
  if (errc e = make_waits(); e != errc::ok) {
    return fail(e);
  }
  // Readable events are what is waited for. Its flush of the queue may
  // find the connection failed since the caller looked (a reset): the port
  // closes then and no event will come, so the wait is refused rather than
  // registered (and so after a receive that failed).
  if (auto r = stop_completion_reads(); !r || is_closed()) {
    return fail(is_closed() ? errc::closed : r.error());
  }
  waits_->io_ticket = ticket;
  waits_->io_write = write;
  waits_->io_pid = self();
  return ok();
}

void port::cancel_wait_io(std::uint64_t ticket) noexcept {
  if (waits_ && waits_->io_ticket == ticket) {
    waits_->io_ticket = 0;
  }
}

errc port::make_waits() noexcept {
  if (!waits_) {
    waits_.reset(new (std::nothrow) waits());
    if (!waits_) {
      return errc::enomem;
    }
    waits_->send_timer_to.target = this;
  }
  return errc::ok;
}

errc port::make_send_timer_room() noexcept {
  if (opts_->send_timeout.count() <= 0) {
    return errc::ok;
  }
  errc e = make_waits();
  if (e != errc::ok) {
    report(e, "no memory for the send timer: the send is refused");
  }
  return e;
}

}  // namespace otpnet::gen_tcp::detail
