#include <otpnet/socket/poller.hpp>
#include <otpnet/socket/select.hpp>

#include "socket/wait.hpp"

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <vector>

namespace otpnet::socket {

namespace {

std::atomic<std::uint64_t> next_handle{1};

/// A plain thread's own sink: a queue of events that wait_select reads.
/// It records the sockets it waits on, so that the thread's end withdraws
/// the waits it leaves (a select of a thread that is gone would be
/// delivered to a destroyed sink, and hold its socket's turn).
class thread_sink final : public select_sink {
 public:
  thread_sink() = default;
  thread_sink(const thread_sink&) = delete;
  thread_sink& operator=(const thread_sink&) = delete;
  ~thread_sink() override {
    for (auto& w : sockets_) {
      if (auto st = w.lock()) {
        detail::withdraw_sink(*st, *this);
      }
    }
  }

  void on_wait(detail::socket_state& s) noexcept override {
    // (On this thread, with the socket's waiter lock held.)
    try {
      detail::remember(sockets_, s);
    } catch (...) {
      // No memory to record it: the wait is not withdrawn at the thread's end.
    }
  }

  void notify(select_event ev) noexcept override {
    std::lock_guard lk(mu_);
    events_.push_back(std::move(ev));
    cv_.notify_one();
  }

  result<select_event> wait(std::chrono::milliseconds timeout) {
    std::unique_lock lk(mu_);
    if (!cv_.wait_for(lk, timeout, [this] { return !events_.empty(); })) {
      return fail(errc::timeout);
    }
    select_event ev = std::move(events_.front());
    events_.erase(events_.begin());
    return ev;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  // (A vector: made with the thread's first nowait call, in a noexcept
  // function, it must not allocate before its first event, as a deque does.)
  std::vector<select_event> events_;
  std::vector<std::weak_ptr<detail::socket_state>> sockets_;  // this thread's only
};

thread_sink& own_sink() noexcept {
  thread_local thread_sink s;
  return s;
}

thread_local select_sink* scoped_sink = nullptr;

}  // namespace

select_handle make_select_handle() noexcept { return {next_handle.fetch_add(1, std::memory_order_relaxed)}; }

std::string_view to_string(select_tag t) noexcept {
  switch (t) {
    case select_tag::accept:
      return "accept";
    case select_tag::connect:
      return "connect";
    case select_tag::recv:
      return "recv";
    case select_tag::recvfrom:
      return "recvfrom";
    case select_tag::recvmsg:
      return "recvmsg";
    case select_tag::send:
      return "send";
    case select_tag::sendto:
      return "sendto";
    case select_tag::sendmsg:
      return "sendmsg";
    case select_tag::sendfile:
      return "sendfile";
  }
  return "unknown";
}

select_sink& current_sink() noexcept { return scoped_sink != nullptr ? *scoped_sink : own_sink(); }

sink_scope::sink_scope(select_sink& s) noexcept : prev_(scoped_sink) { scoped_sink = &s; }
sink_scope::~sink_scope() { scoped_sink = prev_; }

result<select_event> wait_select(std::chrono::milliseconds timeout) { return own_sink().wait(timeout); }

}  // namespace otpnet::socket

namespace otpnet::internal {

void blocking_sink::notify(select_event ev) noexcept {
  std::lock_guard lk(mu_);
  reason_ = ev.reason;
  notified_ = true;
  // Notified under the lock: the waiter may destroy this sink as soon as it
  // sees notified_.
  cv_.notify_one();
}

bool blocking_sink::wait_until(const std::optional<clock::time_point>& deadline) {
  std::unique_lock lk(mu_);
  auto done = [this] { return notified_; };
  if (deadline) {
    if (!cv_.wait_until(lk, *deadline, done)) {
      return false;
    }
  } else {
    cv_.wait(lk, done);
  }
  notified_ = false;
  return true;
}

}  // namespace otpnet::internal
