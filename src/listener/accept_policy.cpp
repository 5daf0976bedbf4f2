#include <otpnet/listener/accept_policy.hpp>

#include <algorithm>

namespace otpnet::listener {

accept_action classify_accept_error(errc e) noexcept {
  switch (e) {
    case errc::econnaborted:
    case errc::eproto:
    case errc::eperm:
    case errc::eintr:
    // Linux hands a pending error of the new connection to accept itself
    // (accept(2), "Error handling"): that connection is gone, the listen
    // socket is fine, and the man page says to retry as for EAGAIN.
    case errc::enetdown:
    case errc::enoprotoopt:
    case errc::ehostdown:
    case errc::enonet:
    case errc::ehostunreach:
    case errc::eopnotsupp:
    case errc::enetunreach:
      return accept_action::skip;
    case errc::emfile:
    case errc::enfile:
    case errc::enobufs:
    case errc::enomem:
      return accept_action::backoff;
    case errc::closed:
    case errc::ebadf:
    case errc::einval:  // no longer listening
      return accept_action::stop;
    default:
      return accept_action::report_backoff;
  }
}

std::chrono::milliseconds backoff::next_delay() const noexcept {
  constexpr std::chrono::milliseconds first_delay{10};
  constexpr std::chrono::milliseconds cap{1000};
  return std::min(first_delay * (1u << std::min(attempt_, 7u)), cap);
}

backoff::step backoff::failed(clock::time_point now) noexcept {
  bool new_burst = burst_backoffs_ == 0 || now - last_failure_ > burst_gap;
  if (new_burst) {
    burst_backoffs_ = 0;
    resumed_said_ = false;
    attempt_ = 0;
  }
  ++burst_backoffs_;
  last_failure_ = now;
  auto d = next_delay();
  ++attempt_;
  return {d, new_burst};
}

unsigned backoff::resumed() noexcept {
  if (burst_backoffs_ == 0 || resumed_said_) {
    return 0;
  }
  resumed_said_ = true;
  return burst_backoffs_;
}

}  // namespace otpnet::listener
