#include <otpnet/reactor/epoll_backend.hpp>

#include "internal/syscall.hpp"

#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <new>

namespace otpnet::reactor {

namespace {

// EPOLLRDHUP lets a half close by the peer be seen without a read; EPOLLERR
// and EPOLLHUP are always reported and need not be asked for.
std::uint32_t to_epoll(interest what) noexcept {
  std::uint32_t ev = EPOLLET | EPOLLRDHUP;
  if (has(what, interest::read)) {
    ev |= EPOLLIN;
  }
  if (has(what, interest::write)) {
    ev |= EPOLLOUT;
  }
  return ev;
}

// Contract point 4: an error or a full hang-up wakes both directions; a half
// close wakes the reader, whose next read returns the end of file.
readiness from_epoll(std::uint32_t ev) noexcept {
  readiness r;
  r.error = (ev & EPOLLERR) != 0;
  r.hangup = (ev & (EPOLLHUP | EPOLLRDHUP)) != 0;
  bool both = (ev & (EPOLLERR | EPOLLHUP)) != 0;
  r.readable = both || (ev & (EPOLLIN | EPOLLPRI | EPOLLRDHUP)) != 0;
  r.writable = both || (ev & EPOLLOUT) != 0;
  return r;
}

int to_timeout(std::optional<std::chrono::milliseconds> timeout) noexcept {
  if (!timeout) {
    return -1;
  }
  auto ms = timeout->count();
  return ms <= 0 ? 0 : static_cast<int>(std::min<decltype(ms)>(ms, INT_MAX));
}

}  // namespace

result<std::unique_ptr<epoll_backend>> epoll_backend::create(const backend_options& opts) noexcept {
  std::size_t capacity = std::clamp<std::size_t>(opts.max_events, 1, INT_MAX);
  std::unique_ptr<epoll_event[]> events(new (std::nothrow) epoll_event[capacity]);
  if (!events) {
    return fail(errc::enomem);
  }
  auto fd = internal::sys([] { return ::epoll_create1(EPOLL_CLOEXEC); });
  if (!fd) {
    return fail(fd.error());
  }
  std::unique_ptr<epoll_backend> b(new (std::nothrow) epoll_backend(*fd, std::move(events), capacity));
  if (!b) {
    (void)internal::sys_once([&] { return ::close(*fd); });
    return fail(errc::enomem);
  }
  return b;
}

epoll_backend::epoll_backend(int epfd, std::unique_ptr<epoll_event[]> events, std::size_t capacity) noexcept
    : epfd_(epfd), events_(std::move(events)), capacity_(capacity) {}

epoll_backend::~epoll_backend() {
  (void)internal::sys_once([this] { return ::close(epfd_); });
}

result<void> epoll_backend::add(int fd, std::uint64_t token, interest what) noexcept {
  epoll_event ev{};
  ev.events = to_epoll(what);
  ev.data.u64 = token;
  ++ctls_;
  auto r = internal::sys([&] { return ::epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev); });
  return r ? ok() : fail(r.error());
}

result<void> epoll_backend::modify(int fd, std::uint64_t token, interest what) noexcept {
  epoll_event ev{};
  ev.events = to_epoll(what);
  ev.data.u64 = token;
  ++ctls_;
  auto r = internal::sys([&] { return ::epoll_ctl(epfd_, EPOLL_CTL_MOD, fd, &ev); });
  return r ? ok() : fail(r.error());
}

result<void> epoll_backend::remove(int fd) noexcept {
  // A non-null event pointer keeps kernels before 2.6.9 happy.
  epoll_event ev{};
  ++ctls_;
  auto r = internal::sys([&] { return ::epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, &ev); });
  return r ? ok() : fail(r.error());
}

// The kernel drops a watch when the file it names is released (the last
// close of its last descriptor: eventpoll_release in __fput), so a close
// right after does the removal: one system call per connection less. If
// the file lives on elsewhere (a dup, a fork), its edge-triggered watch
// reports what changes on it under a token the event loop no longer
// accepts (the generation moved on): no busy loop, no misdelivery.
result<void> epoll_backend::remove_before_close(int fd) noexcept {
  (void)fd;
  return ok();
}

result<std::size_t> epoll_backend::poll(std::span<io_event> out,
                                        std::optional<std::chrono::milliseconds> timeout) noexcept {
  int max = static_cast<int>(std::min(out.size(), capacity_));
  if (max == 0) {
    return fail(errc::einval);
  }
  // sys_once: a retry after EINTR would restart the full timeout.
  auto n =
      internal::sys_once([&] { return internal::epoll_wait_nocancel(epfd_, events_.get(), max, to_timeout(timeout)); });
  if (!n) {
    if (n.error() == errc::eintr) {
      return std::size_t{0};
    }
    return fail(n.error());
  }
  ++waits_;
  events_returned_ += static_cast<std::uint64_t>(*n);
  for (int i = 0; i < *n; ++i) {
    out[static_cast<std::size_t>(i)] = io_event{events_[i].data.u64, from_epoll(events_[i].events)};
  }
  return static_cast<std::size_t>(*n);
}

void epoll_backend::read_counters(std::vector<counter_reading>& out) const {
  out.push_back({"waits", waits_.get()});
  out.push_back({"events", events_returned_.get()});
  out.push_back({"ctls", ctls_.get()});
}

}  // namespace otpnet::reactor
