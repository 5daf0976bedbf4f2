// The socket layer's own poller: one epoll thread serving the sockets of
// plain threads, started by the first socket that has to wait. Sockets are
// found through a slot table with generations, so an event fetched for a
// socket that was detached meanwhile is recognised and dropped.
#include <otpnet/socket/poller.hpp>

#include "internal/syscall.hpp"
#include "socket/socket_state.hpp"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace otpnet::socket {

namespace {

class select_service final : public poller {
 public:
  select_service() {
    epfd_ = internal::sys([] { return ::epoll_create1(EPOLL_CLOEXEC); }).value_or(-1);
    wakefd_ = internal::sys([] { return ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }).value_or(-1);
    if (epfd_ >= 0 && wakefd_ >= 0) {
      ::epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u64 = wake_token;
      if (internal::sys([&] { return ::epoll_ctl(epfd_, EPOLL_CTL_ADD, wakefd_, &ev); })) {
        thread_ = std::thread([this] { run(); });
      }
    }
  }

  ~select_service() override {
    stopping_.store(true, std::memory_order_release);
    if (thread_.joinable()) {
      std::uint64_t one = 1;
      (void)internal::sys([&] { return ::write(wakefd_, &one, sizeof one); });
      thread_.join();
    }
    for (int fd : {epfd_, wakefd_}) {
      if (fd >= 0) {
        (void)internal::sys_once([fd] { return ::close(fd); });
      }
    }
  }

  result<void> attach(detail::socket_state& s) noexcept override {
    if (!thread_.joinable()) {
      return fail(errc::enomem);
    }
    std::lock_guard lk(mu_);
    std::uint32_t idx;
    if (!free_.empty()) {
      idx = free_.back();
      free_.pop_back();
    } else {
      idx = static_cast<std::uint32_t>(slots_.size());
      slots_.push_back({});
    }
    slot& sl = slots_[idx];
    sl.state = &s;
    ::epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.u64 = (static_cast<std::uint64_t>(sl.gen) << 32) | idx;
    int fd = detail::watched_fd(s);
    if (auto r = internal::sys([&] { return ::epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev); }); !r) {
      release(idx);
      return fail(r.error());
    }
    detail::poller_cookie(s) = idx;
    return ok();
  }

  void detach(detail::socket_state& s) noexcept override {
    std::lock_guard lk(mu_);
    auto idx = static_cast<std::uint32_t>(detail::poller_cookie(s));
    if (idx >= slots_.size() || slots_[idx].state != &s) {
      return;
    }
    int fd = detail::watched_fd(s);
    (void)internal::sys([&] { return ::epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr); });
    release(idx);
  }

 private:
  static constexpr std::uint64_t wake_token = ~std::uint64_t{0};

  struct slot {
    detail::socket_state* state = nullptr;
    std::uint32_t gen = 0;
  };

  void release(std::uint32_t idx) {
    slots_[idx].state = nullptr;
    ++slots_[idx].gen;
    free_.push_back(idx);
  }

  void run() {
    ::epoll_event evs[128];
    while (!stopping_.load(std::memory_order_acquire)) {
      auto n = internal::sys([&] { return ::epoll_wait(epfd_, evs, 128, -1); });
      if (!n) {
        continue;
      }
      for (int i = 0; i < *n; ++i) {
        dispatch(evs[i]);
      }
    }
  }

  void dispatch(const ::epoll_event& ev) {
    if (ev.data.u64 == wake_token) {
      return;
    }
    auto idx = static_cast<std::uint32_t>(ev.data.u64);
    auto gen = static_cast<std::uint32_t>(ev.data.u64 >> 32);
    bool trouble = (ev.events & (EPOLLERR | EPOLLHUP)) != 0;
    readiness r{(ev.events & (EPOLLIN | EPOLLRDHUP)) != 0 || trouble, (ev.events & EPOLLOUT) != 0 || trouble};
    // Delivered under mu_, so that detach() cannot return while a delivery
    // for the socket is in progress.
    std::lock_guard lk(mu_);
    if (idx < slots_.size() && slots_[idx].gen == gen && slots_[idx].state != nullptr) {
      detail::deliver_readiness(*slots_[idx].state, r);
    }
  }

  int epfd_ = -1;
  int wakefd_ = -1;
  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  std::vector<slot> slots_;
  std::vector<std::uint32_t> free_;
  std::thread thread_;
};

}  // namespace

poller& default_poller() noexcept {
  static select_service service;
  return service;
}

}  // namespace otpnet::socket
