// File: otpnet/listener/accept_policy.hpp
//
// What a listener does with each outcome of accept (STYLE rule 14, DESIGN
// invariant 7), written down as a table so that policy lives in one place:
//
//   outcome                                  action
//   ---------------------------------------  ---------------------------------------------
//   ok                                       hand the connection over
//   eagain (select)                          wait for the next select event
//   econnaborted, eproto, eperm, eintr       skip: that client went away; accept again
//   enetdown, enetunreach, ehostdown,        skip: a network error of the new connection,
//   ehostunreach, enonet, enoprotoopt,       which Linux reports through accept (accept(2):
//   eopnotsupp                               retry as for EAGAIN)
//   emfile, enfile, enobufs, enomem          back off: report once per burst, stop
//                                            accepting on a timer (growing, capped), resume
//                                            by itself; never spin, never stop for good
//   closed                                   the port was removed: stop accepting on it
//   anything else                            report, then back off as above (a stuck
//                                            error must not spin a core either)
#pragma once

#include <otpnet/base/errc.hpp>

#include <chrono>
#include <cstdint>

namespace otpnet::listener {

enum class accept_action : std::uint8_t { skip, backoff, stop, report_backoff };

/// The action for an accept error (never called with ok or eagain).
accept_action classify_accept_error(errc e) noexcept;

/// The back-off delays of one exhaustion burst: 10 ms, doubling, at most
/// 1 s; reset by the first successful accept.
class backoff {
 public:
  /// The delay to wait now; the next one doubles.
  std::chrono::milliseconds next() noexcept;
  void reset() noexcept { attempt_ = 0; }
  /// True for the first delay of a burst (report it then only).
  bool first() const noexcept { return attempt_ == 0; }
  unsigned attempts() const noexcept { return attempt_; }

 private:
  unsigned attempt_ = 0;
};

}  // namespace otpnet::listener
