#include "otpnet/net/hostname.hpp"

#include <gtest/gtest.h>

#include <sys/utsname.h>

namespace otpnet::net {
namespace {

TEST(hostname, is_the_kernel_nodename) {
  auto name = gethostname();
  ASSERT_TRUE(name) << err_name(name.error());
  EXPECT_FALSE(name->empty());
  ::utsname u{};
  ASSERT_EQ(::uname(&u), 0);
  EXPECT_EQ(*name, u.nodename);
}

TEST(hostname, holds_no_nul_bytes) {
  auto name = gethostname();
  ASSERT_TRUE(name) << err_name(name.error());
  EXPECT_EQ(name->find('\0'), std::string::npos);
}

}  // namespace
}  // namespace otpnet::net
