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

/// The back-off of one listen socket, and the bursts it reports.
///
/// Delays: 10 ms, doubling, at most 1 s; an accept that gets through starts
/// them over. A burst is exhaustion failures less than `burst_gap` apart,
/// with or without accepts between them (descriptors freed one at a time
/// each let one accept through before the next failure): it is reported
/// when it starts, and once when accepting resumes.
class backoff {
 public:
  using clock = std::chrono::steady_clock;
  static constexpr std::chrono::seconds burst_gap{2};

  struct step {
    std::chrono::milliseconds delay;
    /// This failure starts a burst: report it.
    bool new_burst;
  };
  /// A failure at `now`: how long to wait before accepting again.
  step failed(clock::time_point now) noexcept;
  /// An accept got through: the next failure waits the shortest delay.
  void accepted() noexcept { attempt_ = 0; }
  /// Accepting works again (an accept got through, or found nobody
  /// waiting): the burst's back-offs the first time in a burst, to report;
  /// 0 otherwise (no burst, or said already).
  unsigned resumed() noexcept;
  /// The delay the next failure waits (before it doubles).
  std::chrono::milliseconds next_delay() const noexcept;

 private:
  unsigned attempt_ = 0;
  unsigned burst_backoffs_ = 0;  // 0: in no burst
  bool resumed_said_ = false;
  clock::time_point last_failure_{};
};

}  // namespace otpnet::listener
