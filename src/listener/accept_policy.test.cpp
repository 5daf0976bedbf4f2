// File: listener/accept_policy.test.cpp
//
// The accept policy as a table (STYLE rule 14, DESIGN invariant 7): every
// accept error the socket layer documents maps to the action the header's
// table writes down, and the back-off of one exhaustion burst grows from
// 10 ms, doubling, capped at 1 s, and starts over after a success.
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

TEST(accept_policy, backoff_grows_from_10ms_doubling_to_a_1s_cap) {
  backoff b;
  EXPECT_TRUE(b.first());
  EXPECT_EQ(b.attempts(), 0u);
  std::vector<std::chrono::milliseconds> got;
  for (int k = 0; k < 12; ++k) {
    got.push_back(b.next());
    EXPECT_FALSE(b.first()) << "only the first delay of a burst is reported";
  }
  const std::vector<std::chrono::milliseconds> want = {10ms,  20ms,   40ms,   80ms,   160ms,  320ms,
                                                       640ms, 1000ms, 1000ms, 1000ms, 1000ms, 1000ms};
  EXPECT_EQ(got, want);
  EXPECT_EQ(b.attempts(), 12u);
}

TEST(accept_policy, backoff_never_overflows_in_a_long_burst) {
  backoff b;
  for (int k = 0; k < 100000; ++k) {
    auto d = b.next();
    ASSERT_GE(d, 10ms);
    ASSERT_LE(d, 1000ms);
  }
}

TEST(accept_policy, a_success_starts_a_new_burst) {
  backoff b;
  (void)b.next();
  (void)b.next();
  b.reset();
  EXPECT_TRUE(b.first());
  EXPECT_EQ(b.next(), 10ms);
}

}  // namespace
}  // namespace otpnet::listener
