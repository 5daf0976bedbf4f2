// otpnet-echo behind a proxy (--proxy-protocol): each connection starts with
// a PROXY header, whose client is the one the server logs; the frames after
// it are echoed, those in the header's own segment included; a connection
// without a valid header is closed and reported, and costs nobody else.
#include "integration/echo_process.hpp"

namespace otpnet::echo_test {
namespace {

/// Polls the server's stderr (bounded) until it holds `needle`.
bool wait_for_log(const echo_server& s, std::string_view needle, milliseconds bound = must) {
  auto end = std::chrono::steady_clock::now() + bound;
  while (s.stderr_text().find(needle) == std::string::npos) {
    if (std::chrono::steady_clock::now() > end) {
      return false;
    }
    std::this_thread::sleep_for(10ms);  // (polling a file another process writes)
  }
  return true;
}

std::string bytes(std::initializer_list<int> v) {
  std::string s;
  for (int x : v) {
    s.push_back(static_cast<char>(x));
  }
  return s;
}

/// A version 2 header by hand: PROXY over TCP/IPv4 from 192.0.2.44:50000
/// to 198.51.100.7:2222, with a unique-id TLV ("abc").
std::string v2_header() {
  std::string h = bytes({0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A, 0x21, 0x11, 0x00, 18});
  h += bytes({192, 0, 2, 44, 198, 51, 100, 7, 0xC3, 0x50, 0x08, 0xAE});
  h += bytes({0x05, 0x00, 0x03}) + "abc";
  return h;
}

TEST(echo_proxy, a_v1_client_is_logged_by_the_address_its_header_names) {
  echo_server s;
  ASSERT_TRUE(s.start({.args = {"--proxy-protocol", "--log-connections"}}));
  client c = client::connect(s.port());
  ASSERT_TRUE(c);
  ASSERT_TRUE(c.write("PROXY TCP4 203.0.113.5 198.51.100.1 41234 2222\r\n"));
  EXPECT_EQ(round_trip(c, "hello"), "hello");
  EXPECT_TRUE(wait_for_log(s, "echo: client 203.0.113.5:41234 connected")) << s.stderr_text();
}

TEST(echo_proxy, frames_in_the_headers_own_segment_are_echoed) {
  echo_server s;
  ASSERT_TRUE(s.start({.args = {"--proxy-protocol", "--log-connections"}}));
  client c = client::connect(s.port());
  ASSERT_TRUE(c);
  ASSERT_TRUE(c.write(v2_header() + frame("one") + frame("two")));
  EXPECT_EQ(c.read_exact(2 * (2 + 3)), frame("one") + frame("two"));
  EXPECT_EQ(round_trip(c, "three"), "three");
  EXPECT_TRUE(wait_for_log(s, "echo: client 192.0.2.44:50000 connected")) << s.stderr_text();
}

// LOCAL: the proxy's own connection (a health check); the real peer is logged.
TEST(echo_proxy, a_local_header_keeps_the_connections_own_address) {
  echo_server s;
  ASSERT_TRUE(s.start({.args = {"--proxy-protocol", "--log-connections"}}));
  client c = client::connect(s.port());
  ASSERT_TRUE(c);
  ASSERT_TRUE(
      c.write(bytes({0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A, 0x20, 0x00, 0, 0})));
  EXPECT_EQ(round_trip(c, "ping"), "ping");
  EXPECT_TRUE(wait_for_log(s, "echo: client 127.0.0.1:")) << s.stderr_text();
}

TEST(echo_proxy, a_connection_without_a_header_is_closed_and_reported_and_others_go_on) {
  echo_server s;
  ASSERT_TRUE(s.start({.args = {"--proxy-protocol"}}));
  client good = client::connect(s.port());
  ASSERT_TRUE(good);
  ASSERT_TRUE(good.write("PROXY UNKNOWN\r\n"));
  EXPECT_EQ(round_trip(good, "before"), "before");
  client bad = client::connect(s.port());
  ASSERT_TRUE(bad);
  ASSERT_TRUE(bad.write(frame("no header")));
  EXPECT_TRUE(bad.closed_by_server());
  EXPECT_TRUE(wait_for_log(s, "did not start with a valid PROXY protocol header")) << s.stderr_text();
  EXPECT_EQ(round_trip(good, "after"), "after");
}

TEST(echo_proxy, a_header_that_never_comes_times_out) {
  echo_server s;
  ASSERT_TRUE(s.start({.args = {"--proxy-protocol", "--proxy-timeout", "300ms", "--log-connections"}}));
  client c = client::connect(s.port());
  ASSERT_TRUE(c);
  ASSERT_TRUE(c.write("PROXY TCP4 1.2"));
  EXPECT_TRUE(c.closed_by_server());
  EXPECT_TRUE(wait_for_log(s, "sent no PROXY header (timeout")) << s.stderr_text();
}

}  // namespace
}  // namespace otpnet::echo_test
