#include "signals.hpp"

#include <otpnet/behaviours/sync_wait.hpp>
#include <otpnet/runtime/mailbox.hpp>

#include <utility>

namespace otpnet::echo {

signal_set::signal_set() : waiter_(::pthread_self()) {
  sigemptyset(&set_);
  for (int s : {SIGTERM, SIGINT, SIGHUP, SIGUSR1}) {
    sigaddset(&set_, s);
  }
  ::pthread_sigmask(SIG_BLOCK, &set_, nullptr);
}

int signal_set::next() const noexcept {
  int sig = 0;
  while (::sigwait(&set_, &sig) != 0) {
  }
  return sig;
}

int signal_set::wait_stop(const std::function<void()>& on_hup, const std::function<bool()>& ended) const {
  for (;;) {
    int sig = next();
    if (sig == SIGTERM || sig == SIGINT) {
      return sig;
    }
    if (sig == SIGHUP) {
      on_hup();
    } else if (sig == SIGUSR1 && ended()) {
      return 0;
    }
  }
}

bool signal_set::wait_drained(const drainer& d, const std::function<void()>& on_hup) const {
  return wait_for([&d] { return d.done(); }, on_hup);
}

bool signal_set::wait_for(const std::function<bool()>& done, const std::function<void()>& on_hup) const {
  while (!done()) {
    int sig = next();
    if (sig == SIGHUP) {
      on_hup();
    } else if ((sig == SIGTERM || sig == SIGINT) && !done()) {
      return false;
    }
    // SIGUSR1 (the waker's, or anyone's): look at done() again.
  }
  return true;
}

void signal_set::wake() const noexcept { (void)::pthread_kill(waiter_, SIGUSR1); }

drainer::drainer(std::string listener, std::chrono::milliseconds deadline, const signal_set& wake)
    : thread_([this, l = std::move(listener), deadline, &wake] {
        mailbox mb;
        result_ = sync_wait(listener::drain(l, deadline));
        done_.store(true, std::memory_order_release);
        wake.wake();
      }) {}

drainer::~drainer() {
  if (thread_.joinable()) {
    thread_.join();
  }
}

}  // namespace otpnet::echo
