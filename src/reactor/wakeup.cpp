#include <otpnet/reactor/wakeup.hpp>

#include "internal/syscall.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>

namespace otpnet::reactor {

result<wakeup> wakeup::create() noexcept {
  auto fd = internal::sys([] { return ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); });
  if (!fd) {
    return fail(fd.error());
  }
  return wakeup(*fd);
}

wakeup::wakeup(wakeup&& other) noexcept : fd_(other.fd_), pending_(other.pending_.load(std::memory_order_relaxed)) {
  other.fd_ = -1;
}

wakeup::~wakeup() {
  if (fd_ >= 0) {
    (void)internal::sys_once([this] { return ::close(fd_); });
  }
}

void wakeup::wake() noexcept {
  // acq_rel: the producer's published work happens-before the loop's drain
  // that observes this flag, and a later wake sees the loop's clearing.
  if (pending_.exchange(true, std::memory_order_acq_rel)) {
    return;
  }
  std::uint64_t one = 1;
  (void)internal::sys([&] { return ::write(fd_, &one, sizeof one); });
}

bool wakeup::drain() noexcept {
  // Read first, then clear. The other order loses wake-ups: a wake landing
  // between the clear and the read would see no pending flag, write, and
  // have its write consumed by the read, leaving the flag set with an empty
  // counter; every later wake would then skip its write. In this order a
  // wake that finds the flag still set is covered by the caller, which looks
  // for work only after drain returns.
  std::uint64_t count = 0;
  (void)internal::sys([&] { return ::read(fd_, &count, sizeof count); });
  return pending_.exchange(false, std::memory_order_acq_rel);
}

}  // namespace otpnet::reactor
