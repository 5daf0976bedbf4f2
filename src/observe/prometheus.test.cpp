// The text exposition format: what a scraper reads, exactly.
#include <otpnet/observe/prometheus.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

namespace otpnet::observe {
namespace {

TEST(prometheus, a_family_then_its_samples) {
  exposition e;
  e.family("otpnet_listener_connections_total", "Connections accepted.", metric_type::counter);
  e.sample("otpnet_listener_connections_total", {{"listener", "echo"}}, std::uint64_t{12});
  e.sample("otpnet_listener_connections_total", {{"listener", "admin"}}, std::uint64_t{0});
  e.family("otpnet_processes", "Live processes.", metric_type::gauge);
  e.sample("otpnet_processes", {}, std::uint64_t{7});
  EXPECT_EQ(e.take(),
            "# HELP otpnet_listener_connections_total Connections accepted.\n"
            "# TYPE otpnet_listener_connections_total counter\n"
            "otpnet_listener_connections_total{listener=\"echo\"} 12\n"
            "otpnet_listener_connections_total{listener=\"admin\"} 0\n"
            "# HELP otpnet_processes Live processes.\n"
            "# TYPE otpnet_processes gauge\n"
            "otpnet_processes 7\n");
  EXPECT_EQ(e.take(), "") << "take leaves the writer empty";
}

TEST(prometheus, label_values_and_help_are_escaped) {
  exposition e;
  e.family("m", "a \\ backslash\nand a line", metric_type::untyped);
  e.sample("m", {{"a", "quote \" backslash \\ newline \n end"}, {"b", ""}}, std::uint64_t{1});
  EXPECT_EQ(e.take(),
            "# HELP m a \\\\ backslash\\nand a line\n"
            "# TYPE m untyped\n"
            "m{a=\"quote \\\" backslash \\\\ newline \\n end\",b=\"\"} 1\n");
}

TEST(prometheus, numbers_as_the_format_writes_them) {
  exposition e;
  e.sample("x", {}, 0.5);
  e.sample("x", {}, std::numeric_limits<double>::quiet_NaN());
  e.sample("x", {}, std::numeric_limits<double>::infinity());
  e.sample("x", {}, -std::numeric_limits<double>::infinity());
  e.sample("x", {}, std::uint64_t{18446744073709551615ULL});
  EXPECT_EQ(e.take(), "x 0.5\nx NaN\nx +Inf\nx -Inf\nx 18446744073709551615\n");
}

// A histogram as a scraper reads it: cumulative buckets with `le` in
// seconds, ending at +Inf with the count, then the sum in seconds.
TEST(prometheus, a_histogram_is_its_cumulative_buckets_sum_and_count) {
  duration_histogram h;
  h.record(std::chrono::microseconds(2));  // (1 µs, 2.5 µs]
  h.record(std::chrono::microseconds(2));
  h.record(std::chrono::milliseconds(30));  // (25 ms, 50 ms]
  h.record(std::chrono::seconds(2000));     // above every bound
  exposition e;
  e.family("otpnet_x_seconds", "How long x took.", metric_type::histogram);
  e.histogram("otpnet_x_seconds", {{"listener", "echo"}}, h.read());
  std::string text = e.take();
  EXPECT_EQ(text.substr(0, text.find("otpnet_x_seconds_bucket")),
            "# HELP otpnet_x_seconds How long x took.\n# TYPE otpnet_x_seconds histogram\n");
  for (const char* line : {
           "otpnet_x_seconds_bucket{listener=\"echo\",le=\"1e-06\"} 0\n",
           "otpnet_x_seconds_bucket{listener=\"echo\",le=\"2.5e-06\"} 2\n",
           "otpnet_x_seconds_bucket{listener=\"echo\",le=\"5e-05\"} 2\n",
           "otpnet_x_seconds_bucket{listener=\"echo\",le=\"0.0001\"} 2\n",
           "otpnet_x_seconds_bucket{listener=\"echo\",le=\"0.00025\"} 2\n",
           "otpnet_x_seconds_bucket{listener=\"echo\",le=\"0.025\"} 2\n",
           "otpnet_x_seconds_bucket{listener=\"echo\",le=\"0.05\"} 3\n",
           "otpnet_x_seconds_bucket{listener=\"echo\",le=\"1000\"} 3\n",
           "otpnet_x_seconds_bucket{listener=\"echo\",le=\"+Inf\"} 4\n",
           "otpnet_x_seconds_sum{listener=\"echo\"} 2000.030004\n",
           "otpnet_x_seconds_count{listener=\"echo\"} 4\n",
       }) {
    EXPECT_NE(text.find(line), std::string::npos) << line << " not in:\n" << text;
  }
  std::size_t buckets = 0;
  for (std::size_t at = text.find("_bucket{"); at != std::string::npos; at = text.find("_bucket{", at + 1)) {
    ++buckets;
  }
  EXPECT_EQ(buckets, duration_histogram::bucket_count);
  EXPECT_LT(text.find("le=\"+Inf\""), text.find("_sum{")) << "the buckets, then the sum and the count";
  EXPECT_THROW(e.histogram("otpnet_x_seconds", {{"le", "1"}}, h.read()), std::invalid_argument);
}

TEST(prometheus, a_family_started_twice_is_refused) {
  exposition e;
  e.family("m", "first", metric_type::gauge);
  EXPECT_THROW(e.family("m", "second", metric_type::counter), std::logic_error);
  EXPECT_EQ(e.take(), "# HELP m first\n# TYPE m gauge\n");
  e.family("m", "again after take", metric_type::gauge);  // a new text
  EXPECT_EQ(e.take(), "# HELP m again after take\n# TYPE m gauge\n");
}

TEST(prometheus, names_outside_the_grammar_are_refused) {
  EXPECT_TRUE(valid_metric_name("otpnet_a:b_total"));
  EXPECT_TRUE(valid_metric_name("_x"));
  EXPECT_FALSE(valid_metric_name(""));
  EXPECT_FALSE(valid_metric_name("9lives"));
  EXPECT_FALSE(valid_metric_name("a-b"));
  EXPECT_FALSE(valid_metric_name("a b"));
  EXPECT_TRUE(valid_label_name("listener"));
  EXPECT_FALSE(valid_label_name("__reserved"));
  EXPECT_FALSE(valid_label_name("a:b"));
  EXPECT_FALSE(valid_label_name("1a"));
  exposition e;
  EXPECT_THROW(e.family("bad-name", "", metric_type::gauge), std::invalid_argument);
  EXPECT_THROW(e.sample("m", {{"bad-label", "v"}}, 1.0), std::invalid_argument);
  EXPECT_THROW(e.sample("bad name", {}, 1.0), std::invalid_argument);
  EXPECT_EQ(e.take(), "") << "a refused sample left part of a line";
}

}  // namespace
}  // namespace otpnet::observe
