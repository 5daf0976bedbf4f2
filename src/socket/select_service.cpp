// The socket layer's pollers. `poll_set` is an epoll set whose sockets are
// found through a slot table with generations, so that an event fetched for
// a socket detached meanwhile is recognised and dropped. The select service
// is a poll_set with a thread of its own, serving the sockets of plain
// threads, started by the first socket that has to wait.
#include <otpnet/socket/poller.hpp>

#include "internal/syscall.hpp"
#include "socket/socket_state.hpp"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <new>
#include <thread>
#include <vector>

namespace otpnet::socket {

struct poll_set::impl {
  struct slot {
    detail::socket_state* state = nullptr;
    std::uint32_t gen = 0;
  };
  mutable std::mutex mu;
  std::vector<slot> slots;
  std::vector<std::uint32_t> free;
  std::vector<::epoll_event> events;

  void release(std::uint32_t idx) {
    slots[idx].state = nullptr;
    ++slots[idx].gen;
    free.push_back(idx);
  }
};

poll_set::poll_set() noexcept
    : epfd_(::otpnet::internal::sys([] { return ::epoll_create1(EPOLL_CLOEXEC); }).value_or(-1)),
      impl_(new (std::nothrow) impl) {}

// Sockets still attached outlive the set (a socket a process waited on and
// a thread holds, at runtime stop): each forgets it, outside the set's
// lock, since a socket's detach takes its own lock and then this one. A
// socket whose last reference is being dropped at this very moment on
// another thread is not covered: stop the users of a runtime's sockets
// before stopping it.
poll_set::~poll_set() {
  if (impl_ != nullptr) {
    std::vector<std::weak_ptr<detail::socket_state>> attached;
    try {
      std::lock_guard lk(impl_->mu);
      for (const auto& slot : impl_->slots) {
        if (slot.state != nullptr) {
          attached.push_back(detail::weak_of(*slot.state));
        }
      }
    } catch (const std::bad_alloc&) {
      attached.clear();  // out of memory: the sockets keep a dangling poller, as before
    }
    for (auto& w : attached) {
      if (auto s = w.lock()) {
        detail::forget_poller(*s, *this);
      }
    }
  }
  if (epfd_ >= 0) {
    (void)::otpnet::internal::sys_once([this] { return ::close(epfd_); });
  }
  delete impl_;
}

result<void> poll_set::attach(detail::socket_state& s) noexcept {
  if (epfd_ < 0 || impl_ == nullptr) {
    return fail(errc::enomem);
  }
  std::lock_guard lk(impl_->mu);
  std::uint32_t idx;
  if (!impl_->free.empty()) {
    idx = impl_->free.back();
    impl_->free.pop_back();
  } else {
    // The free list keeps room for every slot, so that release never
    // allocates; without memory for either, enomem (this is noexcept).
    idx = static_cast<std::uint32_t>(impl_->slots.size());
    try {
      impl_->slots.push_back({});
      impl_->free.reserve(impl_->slots.size());
    } catch (const std::bad_alloc&) {
      if (impl_->slots.size() > idx) {
        impl_->slots.pop_back();
      }
      return fail(errc::enomem);
    }
  }
  auto& sl = impl_->slots[idx];
  sl.state = &s;
  ::epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.u64 = (static_cast<std::uint64_t>(sl.gen) << 32) | idx;
  int fd = detail::watched_fd(s);
  if (auto r = ::otpnet::internal::sys([&] { return ::epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev); }); !r) {
    impl_->release(idx);
    return fail(r.error());
  }
  detail::poller_cookie(s) = idx;
  return ok();
}

void poll_set::detach(detail::socket_state& s) noexcept {
  std::lock_guard lk(impl_->mu);
  auto idx = static_cast<std::uint32_t>(detail::poller_cookie(s));
  if (idx >= impl_->slots.size() || impl_->slots[idx].state != &s) {
    return;
  }
  int fd = detail::watched_fd(s);
  (void)::otpnet::internal::sys([&] { return ::epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr); });
  impl_->release(idx);
}

std::size_t poll_set::size() const noexcept {
  std::lock_guard lk(impl_->mu);
  return impl_->slots.size() - impl_->free.size();
}

result<int> poll_set::dispatch(int timeout_ms, int max_events) noexcept {
  if (epfd_ < 0 || impl_ == nullptr) {
    return fail(errc::enomem);
  }
  // Only the dispatching thread touches `events`.
  auto& evs = impl_->events;
  if (evs.size() < static_cast<std::size_t>(max_events)) {
    evs.resize(static_cast<std::size_t>(max_events));
  }
  auto n = ::otpnet::internal::sys([&] { return ::epoll_wait(epfd_, evs.data(), max_events, timeout_ms); });
  if (!n) {
    return n;
  }
  // Delivered under the lock, so that detach() cannot return while a
  // delivery for the socket is in progress.
  std::lock_guard lk(impl_->mu);
  for (int i = 0; i < *n; ++i) {
    const auto& ev = evs[static_cast<std::size_t>(i)];
    auto idx = static_cast<std::uint32_t>(ev.data.u64);
    auto gen = static_cast<std::uint32_t>(ev.data.u64 >> 32);
    if (idx >= impl_->slots.size() || impl_->slots[idx].gen != gen || impl_->slots[idx].state == nullptr) {
      continue;
    }
    bool trouble = (ev.events & (EPOLLERR | EPOLLHUP)) != 0;
    readiness r{(ev.events & (EPOLLIN | EPOLLRDHUP)) != 0 || trouble, (ev.events & EPOLLOUT) != 0 || trouble};
    detail::deliver_readiness(*impl_->slots[idx].state, r);
  }
  return n;
}

namespace {

/// The poll_set with a thread that waits on it, plus an eventfd to stop it.
/// It starts with the first socket that waits; if it cannot (out of
/// descriptors), that wait fails with the reason and a later one tries
/// again, so running out of descriptors once does not break waiting for
/// good.
class select_service final : public poller {
 public:
  ~select_service() override {
    std::lock_guard lk(mu_);
    if (thread_.joinable()) {
      stopping_.store(true, std::memory_order_release);
      std::uint64_t one = 1;
      (void)::otpnet::internal::sys([&] { return ::write(wakefd_, &one, sizeof one); });
      thread_.join();
    }
    if (wakefd_ >= 0) {
      (void)::otpnet::internal::sys_once([this] { return ::close(wakefd_); });
    }
  }

  result<void> attach(detail::socket_state& s) noexcept override {
    if (!started_.load(std::memory_order_acquire)) {
      if (auto r = start(); !r) {
        return r;
      }
    }
    return set_->attach(s);
  }

  void detach(detail::socket_state& s) noexcept override {
    if (started_.load(std::memory_order_acquire)) {
      set_->detach(s);
    }
  }

 private:
  result<void> start() noexcept {
    std::lock_guard lk(mu_);
    if (started_.load(std::memory_order_relaxed)) {
      return ok();
    }
    if (!set_ || set_->fd() < 0) {
      auto ep = ::otpnet::internal::sys([] { return ::epoll_create1(EPOLL_CLOEXEC); });
      if (!ep) {
        return fail(ep.error());
      }
      (void)::otpnet::internal::sys_once([fd = *ep] { return ::close(fd); });
      set_.reset(new (std::nothrow) poll_set);
      if (!set_) {
        return fail(errc::enomem);
      }
      if (set_->fd() < 0) {
        return fail(errc::emfile);
      }
    }
    if (wakefd_ < 0) {
      auto w = ::otpnet::internal::sys([] { return ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); });
      if (!w) {
        return fail(w.error());
      }
      wakefd_ = *w;
      ::epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u64 = ~std::uint64_t{0};  // a slot index no socket ever has
      int ep = set_->fd();
      if (auto r = ::otpnet::internal::sys([&] { return ::epoll_ctl(ep, EPOLL_CTL_ADD, wakefd_, &ev); }); !r) {
        // Not kept: a wake descriptor the set does not watch would let the
        // next start run a thread that the destructor cannot wake.
        (void)::otpnet::internal::sys_once([this] { return ::close(wakefd_); });
        wakefd_ = -1;
        return fail(r.error());
      }
    }
    try {
      thread_ = std::thread([this] {
        while (!stopping_.load(std::memory_order_acquire)) {
          (void)set_->dispatch(-1, 128);
        }
      });
    } catch (...) {
      return fail(errc::eagain);
    }
    started_.store(true, std::memory_order_release);
    return ok();
  }

  std::mutex mu_;
  std::unique_ptr<poll_set> set_;
  int wakefd_ = -1;
  std::atomic<bool> started_{false};
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace

poller& default_poller() noexcept {
  static select_service service;
  return service;
}

}  // namespace otpnet::socket
