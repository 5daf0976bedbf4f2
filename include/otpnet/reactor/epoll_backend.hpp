// File: otpnet/reactor/epoll_backend.hpp
//
// The default backend: Linux epoll, edge-triggered (EPOLLET | EPOLLRDHUP),
// created with EPOLL_CLOEXEC. Its event array is allocated once at creation
// and reused by every `poll`. Obtain one through `backend_selector` unless
// the epoll-specific `native_handle` is needed.
#pragma once

#include <otpnet/reactor/backend.hpp>

#include <memory>

struct epoll_event;

namespace otpnet::reactor {

/// A `backend` over one epoll instance. Loop-affine, like every backend.
class epoll_backend final : public backend {
 public:
  /// Opens an epoll instance with room for `opts.max_events` events per
  /// poll (at least 1). Errors: `emfile`/`enfile` (descriptor limits),
  /// `enomem`.
  static result<std::unique_ptr<epoll_backend>> create(const backend_options& opts = {}) noexcept;

  /// Closes the epoll descriptor; registrations die with it.
  ~epoll_backend() override;

  epoll_backend(const epoll_backend&) = delete;
  epoll_backend& operator=(const epoll_backend&) = delete;

  // -- backend (contracts and errors: see backend.hpp) -------------------------

  /// "epoll".
  std::string_view name() const noexcept override { return "epoll"; }
  /// epoll_ctl(ADD) with EPOLLET | EPOLLRDHUP.
  result<void> add(int fd, std::uint64_t token, interest what) noexcept override;
  /// epoll_ctl(MOD): re-reports an edge pending for the new interest.
  result<void> modify(int fd, std::uint64_t token, interest what) noexcept override;
  /// epoll_ctl(DEL).
  result<void> remove(int fd) noexcept override;
  /// Nothing: the close removes the watch (with the open file's last
  /// descriptor), as Asio's epoll reactor does for sockets it made.
  result<void> remove_before_close(int fd) noexcept override;
  /// epoll_wait into the array allocated at creation.
  result<std::size_t> poll(std::span<io_event> out, std::optional<std::chrono::milliseconds> timeout) noexcept override;
  /// waits (epoll_wait calls), events (what they returned), ctls
  /// (epoll_ctl calls).
  void read_counters(std::vector<counter_reading>& out) const override;

  /// The epoll descriptor, for inspection (tests, /proc). Do not close it.
  int native_handle() const noexcept { return epfd_; }

  /// The most events one poll returns.
  std::size_t capacity() const noexcept { return capacity_; }

 private:
  epoll_backend(int epfd, std::unique_ptr<epoll_event[]> events, std::size_t capacity) noexcept;

  int epfd_;
  std::unique_ptr<epoll_event[]> events_;
  std::size_t capacity_;
  loop_counter waits_;
  loop_counter events_returned_;
  loop_counter ctls_;
};

}  // namespace otpnet::reactor
