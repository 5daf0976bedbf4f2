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

std::chrono::milliseconds backoff::next() noexcept {
  constexpr std::chrono::milliseconds first_delay{10};
  constexpr std::chrono::milliseconds cap{1000};
  auto d = first_delay * (1u << std::min(attempt_, 7u));
  ++attempt_;
  return std::min(d, cap);
}

}  // namespace otpnet::listener
