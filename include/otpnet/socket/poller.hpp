// File: otpnet/socket/poller.hpp
//
// The seam between the socket layer and whatever watches descriptors for
// readiness. The socket layer registers a socket with a poller the first
// time a call on it would block; the poller calls `ready` when the kernel
// reports it readable or writable. A plain thread's sockets use the socket
// layer's own select service (one epoll thread, like the BEAM's poll
// thread); the runtime attaches a process's sockets to its scheduler's
// reactor instead.
//
// Readiness contract: registration is edge-triggered and made once per
// descriptor, for both directions. Spurious readiness is allowed; error and
// hang-up are reported as both directions ready, since the next call tells
// the truth.
#pragma once

#include <otpnet/base/result.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace otpnet::socket {

class select_sink;
namespace detail {
class socket_state;
}  // namespace detail

/// Readiness of one descriptor.
struct readiness {
  bool readable = false;
  bool writable = false;
};

/// Something that watches descriptors.
class poller {
 public:
  virtual ~poller() = default;
  /// Starts watching `s.fd` (edge-triggered, both directions) and calling
  /// `detail::deliver_readiness(s, ...)` for it. @threadsafe
  virtual result<void> attach(detail::socket_state& s) noexcept = 0;
  /// Stops watching. When it returns, no readiness for `s` is being
  /// delivered or will be. @threadsafe
  virtual void detach(detail::socket_state& s) noexcept = 0;
};

/// The socket layer's select service: a lazily started epoll thread.
poller& default_poller() noexcept;

/// A poller over an epoll set of its own, driven by whoever calls
/// `dispatch`: the select service's thread, or a scheduler whose reactor
/// watches `fd()`. attach/detach may be called from any thread; deliveries
/// happen inside `dispatch`, under a lock that detach also takes.
class poll_set final : public poller {
 public:
  /// Fails (on use) with the error of epoll_create1 if it could not start.
  poll_set() noexcept;
  ~poll_set() override;
  poll_set(const poll_set&) = delete;
  poll_set& operator=(const poll_set&) = delete;

  result<void> attach(detail::socket_state& s) noexcept override;
  void detach(detail::socket_state& s) noexcept override;

  /// The epoll descriptor; it is readable when events are pending.
  int fd() const noexcept { return epfd_; }
  /// Waits up to `timeout_ms` (-1: no limit, 0: not at all) and delivers
  /// what is ready (at most `max_events`). Returns the number delivered.
  /// Errors: those of epoll_wait other than EINTR.
  result<int> dispatch(int timeout_ms, int max_events = 256) noexcept;
  /// Descriptors attached. @threadsafe
  std::size_t size() const noexcept;

 private:
  struct impl;
  int epfd_;
  impl* impl_;
};

namespace detail {
/// Called by a poller for a socket it watches: serves the waiters.
void deliver_readiness(socket_state& s, readiness r) noexcept;
/// The descriptor a poller should watch.
int watched_fd(const socket_state& s) noexcept;
/// A word the poller attached to `s` may keep for itself (a slot number).
std::uint64_t& poller_cookie(socket_state& s) noexcept;
/// Drops every pending select of `sink` on `s` (the runtime, when the
/// process behind the sink ends).
void withdraw_sink(socket_state& s, select_sink& sink) noexcept;
/// Makes `p` the poller of `s` if `s` is not watched yet (the runtime puts
/// a process's sockets on its scheduler). False if it already is.
bool prefer_poller(socket_state& s, poller& p) noexcept;
/// The owner recorded for `s`.
std::uint64_t owner_of(const socket_state& s) noexcept;
/// A weak reference to `s` (for sinks that track the sockets they wait on).
std::weak_ptr<socket_state> weak_of(socket_state& s) noexcept;
/// Adds `s` to `seen` unless it is there (compared by identity, without a
/// strong reference: releasing one could destroy a socket in the middle of
/// another's wait), first dropping the sockets gone. Errors: bad_alloc.
void remember(std::vector<std::weak_ptr<socket_state>>& seen, socket_state& s);
/// A poller going away while `s` is still attached to it (a scheduler's,
/// at runtime stop, with the socket still held elsewhere): `s` forgets it,
/// and is watched by the select service if someone waits on it (and by
/// whatever poller it is given next otherwise).
void forget_poller(socket_state& s, poller& p) noexcept;
/// `p` stops being the preferred poller of `s` if `s` never waited with it
/// (the runtime, when the process that preferred it ends: the preference
/// must not outlive the scheduler's poll set).
void drop_preference(socket_state& s, poller& p) noexcept;
}  // namespace detail

}  // namespace otpnet::socket
