#include <otpnet/base/errc.hpp>
#include <otpnet/base/result.hpp>

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace otpnet {
namespace {

TEST(errc, posix_names_match_errno_values) {
  EXPECT_EQ(from_errno(ECONNRESET), errc::econnreset);
  EXPECT_EQ(err_name(errc::eaddrinuse), "eaddrinuse");
  EXPECT_EQ(err_name(from_errno(EMFILE)), "emfile");
  EXPECT_EQ(err_name(from_errno(EAGAIN)), "eagain");
  EXPECT_EQ(err_name(from_errno(EOPNOTSUPP)), "eopnotsupp");
}

TEST(errc, resolver_and_own_reasons_have_names) {
  EXPECT_EQ(from_eai(EAI_NONAME), errc::eai_noname);
  EXPECT_EQ(err_name(errc::eai_again), "eai_again");
  EXPECT_EQ(err_name(errc::closed), "closed");
  EXPECT_EQ(err_name(errc::timeout), "timeout");
  EXPECT_EQ(err_name(errc::invalid), "invalid");
  EXPECT_EQ(err_name(static_cast<errc>(1999)), "unknown");
}

TEST(errc, every_name_is_unique) {
  std::set<std::string_view> seen;
#define OTPNET_X(name, value) EXPECT_TRUE(seen.insert(err_name(errc::name)).second) << #name;
  OTPNET_BASE_POSIX_ERRORS(OTPNET_X)
  OTPNET_BASE_EAI_ERRORS(OTPNET_X)
  OTPNET_BASE_OWN_ERRORS(OTPNET_X)
#undef OTPNET_X
  EXPECT_GT(seen.size(), 140u);
}

TEST(errc, format_error_gives_name_and_text) {
  EXPECT_EQ(format_error(errc::econnrefused), "econnrefused: Connection refused");
  EXPECT_EQ(format_error(errc::closed), "closed: socket closed");
  EXPECT_NE(format_error(errc::eai_noname).find("eai_noname: "), std::string::npos);
}

TEST(errc, err_text_gives_the_description_alone) {
  EXPECT_STREQ(err_text(errc::econnreset), "Connection reset by peer");
  EXPECT_STREQ(err_text(errc::closed), "socket closed");
  EXPECT_STREQ(err_text(errc::ok), "success");
  EXPECT_STREQ(err_text(static_cast<errc>(1999)), "unknown error");
}

TEST(errc, converts_to_std_error_code) {
  std::error_code ec = errc::etimedout;
  EXPECT_EQ(ec.category().name(), std::string("otpnet"));
  EXPECT_EQ(ec.message(), "etimedout: Connection timed out");
}

TEST(result, carries_value_or_reason) {
  result<int> good = 7;
  result<int> bad = fail(errc::invalid);
  ASSERT_TRUE(good);
  EXPECT_EQ(*good, 7);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error(), errc::invalid);
  result<void> v = ok();
  EXPECT_TRUE(v);
}

}  // namespace
}  // namespace otpnet
