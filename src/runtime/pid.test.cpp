// pid::parse reads back what pid::to_string writes, with or without the
// angle brackets, and nothing else.
#include <otpnet/runtime/pid.hpp>

#include <gtest/gtest.h>

namespace otpnet {
namespace {

TEST(pid_text, parse_reads_back_to_string) {
  for (pid p : {pid(1, 0), pid(12, 1), pid(4294967295U, 4294967295U), pid(0, 7)}) {
    auto back = pid::parse(p.to_string());
    ASSERT_TRUE(back) << p.to_string();
    EXPECT_EQ(*back, p);
    std::string bare = p.to_string().substr(1, p.to_string().size() - 2);
    EXPECT_EQ(pid::parse(bare), p) << bare;
  }
}

TEST(pid_text, anything_else_is_not_a_pid) {
  for (const char* text :
       {"", "<>", "<0.12>", "<0.12.1.4>", "<1.12.1>", "<0.0.0>", "<0.12.1", "0.12.1>", "<0.-1.1>", "<0.+1.1>",
        "<0.12.x>", "<0.012.1>", "< 0.12.1>", "<0.12.1 >", "<0..1>", "<0.4294967296.0>", "0.12.1.", "abc"}) {
    EXPECT_FALSE(pid::parse(text)) << text;
  }
}

}  // namespace
}  // namespace otpnet
