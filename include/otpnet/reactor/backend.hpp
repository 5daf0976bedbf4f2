// File: otpnet/reactor/backend.hpp
//
// The seam between an event loop and the kernel's event facility: the
// `backend` interface (epoll; io_uring, which also completes receives), the
// `interest` a descriptor is registered with, and the `io_event` batch that
// `poll` returns. A backend works on file descriptors and opaque 64-bit
// tokens; it knows nothing of sockets as objects, of handlers or of
// processes.
//
// THE READINESS CONTRACT (every backend honours it, every caller relies on it)
//
//  1. Registration is made once per descriptor, edge-triggered, usually for
//     both directions. There is no re-arming after an event. What is ready
//     when a descriptor is added is reported (as an edge) by the next poll,
//     so no read need be tried just after adding.
//  2. An event means "something may have changed": after a readable event,
//     operate (recv, accept, read) until the call reports `eagain`; after a
//     writable event, send until `eagain` or until there is nothing left.
//     A direction that was not drained to `eagain` gets no new event until
//     its state changes again.
//  3. Spurious readiness is normal: an event may come with nothing to read,
//     or twice for one change. A would-block (`eagain`) after readiness is
//     not an error; it ends the drain.
//  4. `error` and `hangup` are hints. An error or a full hang-up marks both
//     directions ready, a half close by the peer marks `readable`, so that
//     whoever waits makes the call that tells the truth (the pending error,
//     an end of file, `epipe`).
//  5. Try the operation speculatively before waiting: a send is attempted
//     first and write readiness is only awaited after `eagain`.
//  6. Remove a descriptor before closing it: `remove`, or, when it is
//     closed right after, `remove_before_close`, with which epoll leaves the
//     removal to the close and saves a system call. Events already fetched
//     for it may still be in the caller's batch, and after
//     `remove_before_close` of a descriptor whose open file lives on in
//     another descriptor (a dup, a fork's copy), new ones may come under
//     its old token until that one closes too: the caller filters them
//     (the event loop does so with generation-checked tokens).
#pragma once

#include <otpnet/base/relaxed_counter.hpp>
#include <otpnet/base/result.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

struct iovec;

namespace otpnet::reactor {

/// A loop's counters (io_uring_stats, the loop's own): written by the
/// loop's thread, read by any (base/relaxed_counter.hpp).
using loop_counter = relaxed_counter;

/// One counter of a backend or a loop, read for inspection
/// (runtime::statistics). `name` is a static string.
struct counter_reading {
  std::string_view name;
  std::uint64_t value = 0;
};

/// The directions a descriptor is watched for: a bit set of `read` and
/// `write`. Registration is always edge-triggered (see the contract above).
enum class interest : std::uint8_t {
  none = 0,
  read = 1,
  write = 2,
  read_write = 3,
};

/// The union of two interests: `interest::read | interest::write`.
constexpr interest operator|(interest a, interest b) noexcept {
  return static_cast<interest>(static_cast<std::uint8_t>(a) | static_cast<std::uint8_t>(b));
}

/// True if `set` includes every direction of `dir`.
constexpr bool has(interest set, interest dir) noexcept {
  return (static_cast<std::uint8_t>(set) & static_cast<std::uint8_t>(dir)) == static_cast<std::uint8_t>(dir);
}

/// What the kernel reported for one descriptor. Both directions may be set
/// in one event: handle both (never `if readable ... else if writable`).
/// `error` and `hangup` are hints (contract point 4): an error or a full
/// hang-up comes with both directions set, a half close with `readable`.
struct readiness {
  bool readable = false;
  bool writable = false;
  /// The descriptor has a pending error (EPOLLERR): the next call returns it.
  bool error = false;
  /// The peer hung up, fully (EPOLLHUP) or its write side (EPOLLRDHUP).
  bool hangup = false;

  friend bool operator==(readiness, readiness) = default;
};

/// What an entry of a poll batch reports.
enum class event_kind : std::uint8_t {
  /// Readiness of a watched descriptor (`io_event::ready`).
  readiness,
  /// The completion of a receive queued with `backend::submit_recv`
  /// (`io_event::result`, `io_event::data`).
  recv,
  /// A connection taken by the multishot accept of `backend::submit_accept`
  /// (`io_event::result`: its descriptor, or a negated errno;
  /// `io_event::more`).
  accept,
  /// The completion of a send queued with `backend::submit_send`
  /// (`io_event::result`: the bytes sent, or a negated errno).
  send,
};

/// One entry of a poll batch: the token given at registration and what is
/// ready, or what a receive completed with.
struct io_event {
  std::uint64_t token = 0;
  readiness ready;
  event_kind kind = event_kind::readiness;
  /// recv: the bytes received (> 0), 0 at the end of the stream, or a
  /// negated errno: ECANCELED (cancelled, or ended with its thread), ENOBUFS
  /// (every receive buffer was in use: receive with a plain call, then queue
  /// again), ECONNRESET and the socket's other errors.
  std::int32_t result = 0;
  /// recv with result > 0: the bytes, in a buffer of the backend's that
  /// stays valid until the next `poll` (copy what is kept).
  const std::byte* data = nullptr;
  /// accept, and recv of a multishot receive: the request goes on and
  /// reports more events (false: it ended, with this event; queue another
  /// to go on). Always false for a receive of `submit_recv`.
  bool more = false;
};

/// Settings shared by every backend.
struct backend_options {
  /// Most events one `poll` returns; also the size of the backend's event
  /// array, allocated once.
  std::size_t max_events = 256;
};

/// A kernel event facility. One backend belongs to one event loop and is used
/// from that loop's thread only: no method is thread-safe. Wake-ups from
/// other threads go through a `wakeup` descriptor registered like any other.
///
/// Completion backends (io_uring) also take receives: `submit_recv` queues
/// one on a watched descriptor, the kernel makes it when bytes arrive, into
/// a buffer the backend provides at that moment (so a descriptor waiting
/// for bytes holds no memory of its own), and `poll` reports it in the same
/// batch as readiness, as an `event_kind::recv` entry. Callers ask
/// `supports_recv` and keep the readiness path (recv after a readable event)
/// where it is false, as it is for epoll.
class backend {
 public:
  virtual ~backend() = default;

  /// The backend's name as the selector knows it ("epoll").
  virtual std::string_view name() const noexcept = 0;

  /// Appends the backend's counters since it was made (system calls,
  /// events, receives...). Unlike the rest, callable from any thread: each
  /// is a loop_counter.
  virtual void read_counters(std::vector<counter_reading>& out) const = 0;

  /// Starts watching `fd` for `what`, edge-triggered, reporting `token` in
  /// its events. `interest::none` watches for nothing (errors and hang-ups
  /// at most): a registration for operations only (submit_accept). Errors: `eexist` (already watched), `ebadf` (not an
  /// open descriptor), `eperm` (a kind of file the facility cannot watch, such as a regular file), `enomem`/`enospc`
  /// (kernel limits).
  virtual result<void> add(int fd, std::uint64_t token, interest what) noexcept = 0;

  /// Changes the token and interest of a watched `fd`. An edge already
  /// pending for the new interest is reported again. Errors: `enoent` (not
  /// watched), `ebadf`.
  virtual result<void> modify(int fd, std::uint64_t token, interest what) noexcept = 0;

  /// Stops watching `fd`; call it before closing `fd`. Events fetched by an
  /// earlier `poll` may still name its token. Errors: `enoent` (not
  /// watched), `ebadf` (epoll: already closed, the kernel dropped the
  /// watch; io_uring succeeds instead, see io_uring_backend.hpp).
  virtual result<void> remove(int fd) noexcept = 0;

  /// Stops watching `fd`, which the caller closes right after, before any
  /// other call to this backend. Where the kernel drops the watch by
  /// itself when the file closes (epoll: with its last descriptor), no
  /// system call is made: if `fd`'s open file is shared (dup'ed, inherited
  /// by a fork, sent to another process), it stays watched until its last
  /// descriptor closes, reporting edges (never a steady stream) under the
  /// old token, which the caller must drop; and adding that file again
  /// under the same number may then fail with `eexist` (use `modify`).
  /// Prefer it for descriptors the program made itself and never shared.
  /// The default is `remove`. Errors: as `remove`, where it is called.
  virtual result<void> remove_before_close(int fd) noexcept { return remove(fd); }

  /// Waits until at least one event is ready or `timeout` has passed (no
  /// value: no limit; zero: do not wait), then writes up to `out.size()`
  /// (and at most `max_events`) events to `out` and returns their number.
  /// Zero events is a normal outcome: the timeout, or an interruption by a
  /// signal (reported as zero events rather than retried, so that the
  /// caller's deadline holds). Errors: `ebadf`/`einval` (the backend is
  /// broken; nothing sensible remains but to stop the loop).
  virtual result<std::size_t> poll(std::span<io_event> out,
                                   std::optional<std::chrono::milliseconds> timeout) noexcept = 0;

  /// Whether `submit_recv` is available.
  virtual bool supports_recv() const noexcept { return false; }

  /// Queues one receive on the watched stream descriptor `fd`, reported
  /// under its registration's token as an `event_kind::recv` event; at most
  /// one per descriptor at a time. It is submitted with the next `poll`.
  /// `modify` leaves it in flight; `remove` cancels it (its completion is
  /// then dropped). Errors: `unsupported` (a readiness-only backend),
  /// `enoent` (not watched), `ealready` (one is in flight), `ebusy` (the
  /// submission ring could not be emptied).
  virtual result<void> submit_recv(int fd) noexcept {
    (void)fd;
    return fail(errc::unsupported);
  }

  /// Whether `submit_recv_multishot` is available.
  virtual bool supports_recv_multishot() const noexcept { return false; }

  /// Queues a receive on the watched stream descriptor `fd` that goes on
  /// after each completion: every batch of bytes the kernel takes is an
  /// `event_kind::recv` event with `more` true, each in a buffer of its
  /// own, in the order of the stream, until one with `more` false ends it
  /// (the end of the stream, an error, ENOBUFS when no buffer was free,
  /// ECANCELED after `cancel_recv`; rarely bytes, when the kernel could not
  /// go on). For a reader that wants the stream as it comes (OTP's
  /// `{active, true}`): one request for many completions. It reads on
  /// whether or not the caller keeps up, so a caller that needs flow control
  /// ends it with `cancel_recv` or `cancel_recv_now`. At most one receive of
  /// either kind per descriptor. Errors: as `submit_recv`.
  virtual result<void> submit_recv_multishot(int fd) noexcept {
    (void)fd;
    return fail(errc::unsupported);
  }

  /// Asks the kernel to end the receive in flight on `fd`. It still
  /// completes, once: with the bytes if they came first, else ECANCELED (a
  /// multishot receive: what it took before, then its last event).
  /// Errors: `enoent` (no receive in flight), `unsupported`.
  virtual result<void> cancel_recv(int fd) noexcept {
    (void)fd;
    return fail(errc::unsupported);
  }

  /// Whether `submit_accept` is available.
  virtual bool supports_accept() const noexcept { return false; }

  /// Starts accepting on the watched listening descriptor `fd` in the
  /// kernel: every connection it takes is reported as an
  /// `event_kind::accept` event whose `result` is the new descriptor
  /// (non-blocking, close-on-exec; the caller owns it) or a negated errno
  /// (EMFILE, ENFILE, ...: the accept has then usually ended, `more` is
  /// false). At most one per descriptor. `remove` cancels it and closes
  /// the descriptors it still reports. Errors: `unsupported`, `enoent`,
  /// `ealready`, `ebusy`.
  virtual result<void> submit_accept(int fd) noexcept {
    (void)fd;
    return fail(errc::unsupported);
  }

  /// Stops the kernel accepting on `fd` before returning (later
  /// connections stay in the backlog): connections it took before are still
  /// reported, then a last event with ECANCELED and `more` false. Errors:
  /// `enoent` (no accept in flight), `unsupported`.
  virtual result<void> cancel_accept(int fd) noexcept {
    (void)fd;
    return fail(errc::unsupported);
  }

  /// Ends the receive in flight on `fd` before returning, and returns its
  /// completion (bytes that came first, the end of the stream, an error or
  /// ECANCELED), which no later `poll` reports. For a caller that must know
  /// every byte taken from the socket before it goes on: one that hands the
  /// descriptor to another loop, or starts reading it itself. Costs system
  /// calls; other completions posted meanwhile are kept for the next `poll`.
  /// A multishot receive gives its completions one call at a time, in
  /// order, with `more` true while others follow: call again until `more`
  /// is false (the receive has then ended).
  /// Errors: `enoent` (no receive in flight), `unsupported`, `enomem`.
  virtual result<io_event> cancel_recv_now(int fd) noexcept {
    (void)fd;
    return fail(errc::unsupported);
  }

  /// Whether `submit_send` is available.
  virtual bool supports_send() const noexcept { return false; }

  /// Queues one send of the `n` buffers of `iov` on the watched stream
  /// descriptor `fd`, reported under its registration's token as an
  /// `event_kind::send` event; at most one per descriptor at a time. It is
  /// made with the next `poll` (or earlier, when the submission ring is
  /// full), in the same system call as the wait, and never waits in the
  /// kernel: it sends what the socket takes at that moment, like a
  /// non-blocking sendmsg, and completes with that count (possibly short),
  /// EAGAIN when the socket took nothing, or another negated errno
  /// (EPIPE, ECONNRESET...). The array `iov` is copied; the bytes it points
  /// to must stay valid and unchanged until `poll` has submitted the send,
  /// or `cancel_send_now` (or `remove`) has ended it. Errors: `unsupported`,
  /// `enoent` (not watched), `ealready` (one is in flight), `ebusy` (no room
  /// in the submission ring), `invalid` (`n` is 0).
  virtual result<void> submit_send(int fd, const ::iovec* iov, std::size_t n) noexcept {
    (void)fd;
    (void)iov;
    (void)n;
    return fail(errc::unsupported);
  }

  /// Ends the send in flight on `fd` before returning and returns its
  /// completion, which no later `poll` reports: the bytes it sent (the
  /// kernel made it already) or ECANCELED (it had not left yet, and now
  /// never will: nothing was sent). For a caller that must know what was
  /// sent before it writes the descriptor itself, changes the buffers, or
  /// closes it. Errors: `enoent` (no send in flight), `unsupported`,
  /// `enomem`, `ebusy` (its completion could not be found).
  virtual result<io_event> cancel_send_now(int fd) noexcept {
    (void)fd;
    return fail(errc::unsupported);
  }
};

}  // namespace otpnet::reactor
