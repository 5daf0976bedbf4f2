// must_make_envelope: the messages the runtime owes a process (exit
// signals, DOWNs, a port's tcp_closed) are made, or the program ends with a
// report line; never std::terminate's "terminate called after throwing".
#include <otpnet/runtime/message.hpp>

#include <gtest/gtest.h>

#include <new>
#include <string>

namespace otpnet {
namespace {

struct note {
  std::string text;
};

/// A payload whose making finds no memory (as make_envelope does when the
/// pool and the heap are empty, or when the payload's own copy fails).
struct no_memory_for_it {
  explicit no_memory_for_it(int /*unused*/) { throw std::bad_alloc(); }
};

TEST(must_make_envelope, makes_the_message_when_memory_is_there) {
  detail::envelope* e = detail::must_make_envelope<note>(note{"tcp_closed"});
  ASSERT_NE(e, nullptr);
  message m(e);
  ASSERT_TRUE(m.is<note>());
  EXPECT_EQ(m.get<note>().text, "tcp_closed");
}

TEST(must_make_envelope, without_memory_ends_the_program_with_a_report_line) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH((void)detail::must_make_envelope<no_memory_for_it>(1),
               "otpnet: out of memory: a message the runtime must deliver \\([0-9]+ bytes\\) could not be made; "
               "ending");
}

}  // namespace
}  // namespace otpnet
