// File: integration/echo_isolation.test.cpp
//
// otpnet-echo as a real process: what one client does costs that client
// only (DESIGN invariant 6). The idle timeout closes a silent client; a
// frame larger than --packet-size ends that handler with emsgsize (the way
// to crash one handler from outside), as do garbage and a disconnect or a
// reset in the middle of a frame; every other client stays connected and
// keeps echoing, and the server gives back the descriptors. Admission:
// with --max-connections, clients past the limit wait in the backlog and
// see their echo only once another client has closed.
#include "integration/echo_process.hpp"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace otpnet::echo_test {
namespace {

using namespace std::string_literals;

/// `n` clients, each checked with one exchange.
std::vector<client> connect_many(const echo_server& s, int n) {
  std::vector<client> out;
  for (int k = 0; k < n; ++k) {
    out.push_back(client::connect(s.port()));
    EXPECT_EQ(round_trip(out.back(), "hello " + std::to_string(k)), "hello " + std::to_string(k));
  }
  return out;
}

void expect_all_echo(const std::vector<client>& clients, std::string_view tag) {
  for (std::size_t k = 0; k < clients.size(); ++k) {
    std::string body = std::string(tag) + " " + std::to_string(k);
    EXPECT_EQ(round_trip(clients[k], body), body) << "client " << k << " after " << tag;
  }
}

TEST(echo_isolation, the_idle_timeout_closes_a_silent_client) {
  echo_server s;
  ASSERT_TRUE(s.start({.args = {"--idle-timeout", "1s"}}));
  client silent = client::connect(s.port());
  client talked = client::connect(s.port());
  EXPECT_EQ(round_trip(talked, "one frame, then silence"), "one frame, then silence");
  // Both see the server's close (EOF) once they have been silent 1 s.
  EXPECT_EQ(silent.end_state(), "eof");
  EXPECT_EQ(talked.end_state(), "eof");
  // The server goes on.
  client fresh = client::connect(s.port());
  EXPECT_EQ(round_trip(fresh, "fresh"), "fresh");
}

// 0 is no idle timeout, as 0 is no limit for the other settings; it used
// to be a timeout of 0 ms, which closed every client at once.
TEST(echo_isolation, an_idle_timeout_of_0_is_none) {
  echo_server s;
  ASSERT_TRUE(s.start({.args = {"--idle-timeout", "0s"}}));
  client c = client::connect(s.port());
  EXPECT_EQ(round_trip(c, "served"), "served");
  EXPECT_EQ(c.end_state(300ms), "open") << "closed while silent, with no idle timeout";
  EXPECT_EQ(round_trip(c, "still served"), "still served");
}

TEST(echo_isolation, traffic_keeps_a_client_from_the_idle_timeout) {
  echo_server s;
  ASSERT_TRUE(s.start({.args = {"--idle-timeout", "2s"}}));
  client busy = client::connect(s.port());
  client silent = client::connect(s.port());
  // A frame every 100 ms for 3 s: the 2 s timeout, re-armed by each
  // frame, never passes for `busy`, while `silent` is closed.
  auto end = std::chrono::steady_clock::now() + 3s;
  int frames = 0;
  while (std::chrono::steady_clock::now() < end) {
    ASSERT_EQ(round_trip(busy, "tick"), "tick") << "after " << frames << " frames";
    ++frames;
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(silent.end_state(2000ms), "eof");
  EXPECT_EQ(round_trip(busy, "still open"), "still open");
}

TEST(echo_isolation, an_oversized_frame_costs_only_its_connection) {
  echo_server s;
  ASSERT_TRUE(s.start({.args = {"--packet-size", "1000"}}));
  std::vector<client> others = connect_many(s, 10);
  int fds_before = open_fds(s.pid());

  client bad = client::connect(s.port());
  EXPECT_EQ(round_trip(bad, "a good frame first"), "a good frame first");
  // A length header of 4001 > 1000: the handler ends with emsgsize.
  ASSERT_TRUE(bad.write(frame(pattern(4001))));
  EXPECT_TRUE(bad.closed_by_server());
  // The handler's end is reported by its supervisor, with the reason.
  EXPECT_TRUE([&] {
    auto end = std::chrono::steady_clock::now() + must;
    while (std::chrono::steady_clock::now() < end) {
      std::string err = s.stderr_text();
      if (count_lines(err, "SUPERVISOR REPORT") > 0 && count_lines(err, "emsgsize") > 0) {
        return true;
      }
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }()) << s.stderr_text();
  // The socket's own report line names the client, to match with the
  // supervisor report by the owner's pid.
  {
    std::string err = s.stderr_text();
    std::size_t at = err.find("frame larger than packet_size");
    ASSERT_NE(at, std::string::npos) << err;
    std::size_t line = err.rfind('\n', at);
    line = line == std::string::npos ? 0 : line + 1;
    EXPECT_NE(err.substr(line, at - line).find("peer 127.0.0.1:"), std::string::npos) << err.substr(line, 200);
  }

  expect_all_echo(others, "after the oversized frame");
  client fresh = client::connect(s.port());
  EXPECT_EQ(round_trip(fresh, "fresh"), "fresh");
  fresh.close();
  // Its descriptor is given back (the fresh one's too, once it closed).
  EXPECT_TRUE([&] {
    for (int k = 0; k < 1000 && open_fds(s.pid()) > fds_before; ++k) {
      std::this_thread::sleep_for(10ms);
    }
    return open_fds(s.pid()) <= fds_before;
  }()) << open_fds(s.pid())
       << " descriptors, " << fds_before << " before";
  EXPECT_TRUE(s.alive());
}

TEST(echo_isolation, garbage_costs_only_its_connection) {
  echo_server s;
  ASSERT_TRUE(s.start({.args = {"--packet-size", "1000"}}));
  std::vector<client> others = connect_many(s, 5);
  // Bytes that are no protocol at all: the first two read as a length of
  // 0xfffe, far over the limit.
  const std::string junk = "\xff\xfe\x00\x01 GET / HTTP/1.1\r\n\r\n\x7f\x80\x81"s;
  for (int k = 0; k < 5; ++k) {
    client bad = client::connect(s.port());
    ASSERT_TRUE(bad.write(junk));
    EXPECT_TRUE(bad.closed_by_server()) << "garbage #" << k;
  }
  // An HTTP request: "GE" is a length of 0x4745 (18245), over the limit too.
  client http = client::connect(s.port());
  ASSERT_TRUE(http.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_TRUE(http.closed_by_server());
  expect_all_echo(others, "after the garbage");
  EXPECT_TRUE(s.alive());
}

TEST(echo_isolation, a_disconnect_or_reset_mid_frame_costs_only_its_connection) {
  echo_server s;
  ASSERT_TRUE(s.start({}));
  std::vector<client> others = connect_many(s, 5);
  int fds_before = open_fds(s.pid());
  for (int k = 0; k < 10; ++k) {
    client half = client::connect(s.port());
    EXPECT_EQ(round_trip(half, "whole"), "whole");
    // A header for 100 bytes, then 50 of them, then gone.
    std::string f = frame(pattern(100));
    ASSERT_TRUE(half.write(std::string_view(f).substr(0, 52)));
    if (k % 2 == 0) {
      half.close();
    } else {
      half.reset();
    }
  }
  expect_all_echo(others, "after the broken frames");
  EXPECT_TRUE([&] {
    for (int k = 0; k < 1000 && open_fds(s.pid()) > fds_before; ++k) {
      std::this_thread::sleep_for(10ms);
    }
    return open_fds(s.pid()) <= fds_before;
  }()) << "the half-frame connections leaked descriptors: "
       << open_fds(s.pid()) << ", " << fds_before << " before";
  EXPECT_TRUE(s.alive());
}

TEST(echo_isolation, a_storm_of_bad_clients_leaves_the_server_serving) {
  // Far more handler crashes than the client supervisor's intensity (5 in
  // 60 s): temporary children are not restarted, so nothing escalates.
  echo_server s;
  ASSERT_TRUE(s.start({.args = {"--packet-size", "100"}}));
  std::vector<client> others = connect_many(s, 3);
  for (int k = 0; k < 30; ++k) {
    client bad = client::connect(s.port());
    ASSERT_TRUE(bad.write(frame(pattern(101))));
    EXPECT_TRUE(bad.closed_by_server());
  }
  expect_all_echo(others, "after the storm");
  client fresh = client::connect(s.port());
  EXPECT_EQ(round_trip(fresh, "fresh"), "fresh");
  EXPECT_EQ(s.stderr_text().find("reached_max_restart_intensity"), std::string::npos) << s.stderr_text();
  EXPECT_TRUE(s.alive());
}

TEST(echo_isolation, max_connections_is_reached_and_released) {
  echo_server s;
  ASSERT_TRUE(s.start({.args = {"--max-connections", "3"}}));
  std::vector<client> served = connect_many(s, 3);

  // Past the limit: the connection completes (the kernel's backlog) and
  // the frame is sent, but no echo comes while the three stay.
  client fourth = client::connect(s.port());
  client fifth = client::connect(s.port());
  ASSERT_TRUE(fourth && fifth);
  ASSERT_TRUE(fourth.write(frame("fourth")));
  ASSERT_TRUE(fifth.write(frame("fifth")));
  EXPECT_EQ(fourth.read_exact(2, quiet), "") << "served past --max-connections";
  EXPECT_EQ(fifth.read_exact(2, quiet), "");
  expect_all_echo(served, "at the limit");

  // One client closes: exactly one waiting client is served.
  served[0].close();
  auto got4 = read_frame(fourth, must);
  auto got5 = read_frame(fifth, got4 ? quiet : must);
  EXPECT_EQ(static_cast<int>(got4.has_value()) + static_cast<int>(got5.has_value()), 1);
  // A second closes: the other one is served too.
  served[1].close();
  if (got4) {
    EXPECT_EQ(read_frame(fifth), "fifth");
  } else {
    EXPECT_EQ(got5, "fifth");
    EXPECT_EQ(read_frame(fourth), "fourth");
  }
  EXPECT_EQ(round_trip(fourth, "in"), "in");
  EXPECT_EQ(round_trip(fifth, "in"), "in");
  EXPECT_EQ(round_trip(served[2], "still"), "still");
}

}  // namespace
}  // namespace otpnet::echo_test
