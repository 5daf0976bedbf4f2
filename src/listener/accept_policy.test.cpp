// File: listener/accept_policy.test.cpp
//
// The accept policy as a table (STYLE rule 14, DESIGN invariant 7): every
// accept error the socket layer documents maps to the action the header's
// table writes down; the back-off grows from 10 ms, doubling, capped at
// 1 s, and starts over after a success; a burst (failures less than
// burst_gap apart) is reported once when it starts and once when it ends.
#include <otpnet/listener/accept_policy.hpp>

#include "support/print.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <vector>

namespace otpnet::listener {

/// Failed assertions print the action by name.
void PrintTo(accept_action a, std::ostream* os) {
  switch (a) {
    case accept_action::skip:
      *os << "skip";
      break;
    case accept_action::backoff:
      *os << "backoff";
      break;
    case accept_action::stop:
      *os << "stop";
      break;
    case accept_action::report_backoff:
      *os << "report_backoff";
      break;
  }
}

namespace {

using namespace std::chrono_literals;

struct row {
  errc error;
  accept_action action;
};

TEST(accept_policy, the_table_of_the_header) {
  const std::vector<row> table = {
      // A client that went away before it was accepted: accept the next one.
      {errc::econnaborted, accept_action::skip},
      {errc::eproto, accept_action::skip},
      {errc::eperm, accept_action::skip},
      {errc::eintr, accept_action::skip},
      // A network error of the new connection, which Linux returns from
      // accept: that connection only; accept the next one.
      {errc::enetdown, accept_action::skip},
      {errc::enetunreach, accept_action::skip},
      {errc::ehostdown, accept_action::skip},
      {errc::ehostunreach, accept_action::skip},
      {errc::enonet, accept_action::skip},
      {errc::enoprotoopt, accept_action::skip},
      {errc::eopnotsupp, accept_action::skip},
      // Exhaustion: report once per burst, back off, resume by itself.
      {errc::emfile, accept_action::backoff},
      {errc::enfile, accept_action::backoff},
      {errc::enobufs, accept_action::backoff},
      {errc::enomem, accept_action::backoff},
      // The listen socket is gone: stop accepting on it.
      {errc::closed, accept_action::stop},
      {errc::ebadf, accept_action::stop},
      {errc::einval, accept_action::stop},
      // Anything else: reported, and backed off too, so that a stuck error
      // cannot spin a core.
      {errc::econnreset, accept_action::report_backoff},
      {errc::eacces, accept_action::report_backoff},
      {errc::enotsock, accept_action::report_backoff},
      {errc::timeout, accept_action::report_backoff},
      {errc::invalid, accept_action::report_backoff},
  };
  for (const row& r : table) {
    EXPECT_EQ(classify_accept_error(r.error), r.action) << err_name(r.error);
  }
}

TEST(accept_policy, every_other_reason_is_reported_and_backed_off) {
  // Every reason of the one list (base/errc.hpp): only the rows above have
  // their own action; everything else waits on the timer, so that no error,
  // known or not, makes the listener accept again at once.
  const std::vector<errc> special = {
      errc::econnaborted, errc::eproto,       errc::eperm,  errc::eintr,       errc::enetdown,   errc::enetunreach,
      errc::ehostdown,    errc::ehostunreach, errc::enonet, errc::enoprotoopt, errc::eopnotsupp, errc::emfile,
      errc::enfile,       errc::enobufs,      errc::enomem, errc::closed,      errc::ebadf,      errc::einval};
  std::vector<errc> all;
#define OTPNET_X(name, value) all.push_back(errc::name);
  OTPNET_BASE_POSIX_ERRORS(OTPNET_X)
  OTPNET_BASE_EAI_ERRORS(OTPNET_X)
  OTPNET_BASE_OWN_ERRORS(OTPNET_X)
#undef OTPNET_X
  ASSERT_GT(all.size(), 100u);
  std::size_t others = 0;
  for (errc e : all) {
    if (std::find(special.begin(), special.end(), e) != special.end()) {
      continue;
    }
    ++others;
    EXPECT_EQ(classify_accept_error(e), accept_action::report_backoff) << err_name(e);
  }
  EXPECT_EQ(others + special.size(), all.size());
}

// Failures 1 ms apart: one burst, reported at its first failure only.
TEST(accept_policy, backoff_grows_from_10ms_doubling_to_a_1s_cap) {
  backoff b;
  auto t = backoff::clock::time_point{} + 1h;
  EXPECT_EQ(b.next_delay(), 10ms);
  std::vector<std::chrono::milliseconds> got;
  for (int k = 0; k < 12; ++k) {
    auto s = b.failed(t + k * 1ms);
    got.push_back(s.delay);
    EXPECT_EQ(s.new_burst, k == 0) << "only the first failure of a burst is reported; failure " << k;
  }
  const std::vector<std::chrono::milliseconds> want = {10ms,  20ms,   40ms,   80ms,   160ms,  320ms,
                                                       640ms, 1000ms, 1000ms, 1000ms, 1000ms, 1000ms};
  EXPECT_EQ(got, want);
}

TEST(accept_policy, backoff_never_overflows_in_a_long_burst) {
  backoff b;
  auto t = backoff::clock::time_point{} + 1h;
  for (int k = 0; k < 100000; ++k) {
    auto s = b.failed(t + k * 1s);
    ASSERT_GE(s.delay, 10ms);
    ASSERT_LE(s.delay, 1000ms);
    ASSERT_EQ(s.new_burst, k == 0);
  }
  EXPECT_EQ(b.resumed(), 100000u);
}

// An accept that gets through starts the delays over, but the burst goes on
// while failures come less than burst_gap apart: descriptors freed one at a
// time give one report when the burst starts and one when it first
// resumes, not a pair per descriptor.
TEST(accept_policy, accepts_between_failures_less_than_the_gap_apart_keep_one_burst) {
  backoff b;
  auto t = backoff::clock::time_point{} + 1h;
  EXPECT_EQ(b.resumed(), 0u) << "no burst, nothing to say";
  EXPECT_TRUE(b.failed(t).new_burst);
  EXPECT_EQ(b.failed(t + 10ms).delay, 20ms);
  EXPECT_EQ(b.resumed(), 2u) << "the first resume of a burst says how many back-offs it took";
  b.accepted();
  EXPECT_EQ(b.next_delay(), 10ms);
  auto again = b.failed(t + 1s);
  EXPECT_FALSE(again.new_burst);
  EXPECT_EQ(again.delay, 10ms) << "an accept started the delays over";
  EXPECT_EQ(b.resumed(), 0u) << "said once per burst";
  b.accepted();
  // Just within the gap of the last failure: the same burst.
  EXPECT_FALSE(b.failed(t + 1s + backoff::burst_gap).new_burst);
  // Past it: a new burst, reported, with its own resume.
  auto fresh = b.failed(t + 1s + 2 * backoff::burst_gap + 1ms);
  EXPECT_TRUE(fresh.new_burst);
  EXPECT_EQ(fresh.delay, 10ms);
  EXPECT_EQ(b.resumed(), 1u);
  EXPECT_EQ(b.resumed(), 0u);
}

// A new burst starts its delays from the shortest even with no accept
// between (nobody waiting also resumes without an accept).
TEST(accept_policy, a_new_burst_starts_from_the_shortest_delay) {
  backoff b;
  auto t = backoff::clock::time_point{} + 1h;
  for (int k = 0; k < 5; ++k) {
    (void)b.failed(t + k * 1ms);
  }
  EXPECT_EQ(b.resumed(), 5u);
  auto s = b.failed(t + 1h);
  EXPECT_TRUE(s.new_burst);
  EXPECT_EQ(s.delay, 10ms);
}

}  // namespace
}  // namespace otpnet::listener
