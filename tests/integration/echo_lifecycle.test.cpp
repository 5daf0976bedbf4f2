// File: integration/echo_lifecycle.test.cpp
//
// otpnet-echo as a real process, from start to exit: SIGTERM and SIGINT
// drain with every frame sent before the signal answered and exit 0; a
// second signal stops at once; startup errors (port in use, bad values
// from the command line, the environment and a TOML file, an unreadable
// file) are one clear line on stderr and a non-zero exit; --print-config
// shows each value with its source; --help and --version.
#include "integration/echo_process.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace otpnet::echo_test {
namespace {

// -- signals ----------------------------------------------------------------------------------------

/// Frame `f` of client `k` in the drain tests.
std::string drain_frame_body(int k, int f) { return pattern(32000 + static_cast<std::size_t>(f) * 100, k * 100 + f); }

/// Clients send frames without reading their echoes, so that the server
/// has more than it can answer at once (its send queues go over the high
/// watermark and it stops reading: frames wait in its kernel buffers).
/// Then the server gets `sig`: every frame a client had finished sending
/// before the signal must be answered. The clients then leave (half-close),
/// the server closes each one after its last echo, and it exits 0 as soon as
/// the last has gone, long before its drain deadline.
void drain_answers_in_flight_frames(int sig) {
  echo_server s;
  ASSERT_TRUE(s.start({.args = {"--drain-timeout", "60s"}}));
  constexpr int n_clients = 8;
  constexpr int max_frames = 40;
  std::vector<client> clients;
  for (int k = 0; k < n_clients; ++k) {
    clients.push_back(client::connect(s.port()));
    // Served before the signal (the drain is for live connections, not
    // for those still in the backlog).
    ASSERT_EQ(round_trip(clients.back(), "ready"), "ready");
  }
  std::vector<std::atomic<int>> sent(n_clients);
  std::atomic<bool> stop{false};
  std::vector<std::thread> writers;
  for (int k = 0; k < n_clients; ++k) {
    writers.emplace_back([&, k] {
      for (int f = 0; f < max_frames && !stop; ++f) {
        if (!clients[k].write(frame(drain_frame_body(k, f)), 5000ms)) {
          return;
        }
        ++sent[k];
      }
    });
  }
  // Wait until every client has sent a few frames (or a bound passes).
  for (int t = 0; t < 400; ++t) {
    bool all = true;
    for (auto& n : sent) {
      all = all && n >= 4;
    }
    if (all) {
      break;
    }
    std::this_thread::sleep_for(5ms);
  }
  std::vector<int> before(n_clients);
  for (int k = 0; k < n_clients; ++k) {
    before[k] = sent[k];
  }
  s.signal(sig);
  stop = true;

  int answered = 0;
  int owed = 0;
  for (int k = 0; k < n_clients; ++k) {
    owed += before[k];
    for (int f = 0; f < before[k]; ++f) {
      auto got = read_frame(clients[k]);
      if (got && *got == drain_frame_body(k, f)) {
        ++answered;
      } else {
        ADD_FAILURE() << "client " << k << " frame " << f << " of " << before[k]
                      << " sent before the signal: " << (got ? "wrong bytes" : "no echo");
        break;
      }
    }
  }
  EXPECT_GT(owed, 0);
  EXPECT_EQ(answered, owed);
  // Whatever was sent after the signal may or may not be answered. The
  // clients leave once the drain is under way (the listener closes its port
  // when it takes the drain: a connect is refused); the server answers what
  // it has, then closes each.
  bool draining = false;
  for (int k = 0; k < 2000 && !draining; ++k) {
    draining = !client::connect(s.port(), 1000ms);
    if (!draining) {
      std::this_thread::sleep_for(5ms);  // a probe accepted before the drain: try again
    }
  }
  ASSERT_TRUE(draining) << "the port still takes clients after the signal: " << s.stderr_text();
  for (auto& c : clients) {
    c.shutdown_write();
  }
  for (auto& w : writers) {
    w.join();
  }
  for (auto& c : clients) {
    std::string st;
    for (int n = 0; n < 100000 && (st = c.end_state()) == "data"; ++n) {
    }
    EXPECT_TRUE(st == "eof" || st == "reset") << st;
  }
  auto st = s.wait_exit();
  ASSERT_TRUE(st) << "still running after the drain: " << s.stderr_text();
  EXPECT_TRUE(st->exited && st->code == 0) << st->to_string() << "\n" << s.stderr_text();
  EXPECT_NE(s.stderr_text().find("draining"), std::string::npos) << s.stderr_text();
  // Every client left by itself: the drain ended with them, not at its
  // deadline (60 s; wait_exit's bound is 20 s). How many count as finished
  // depends on whether a probe above was accepted before the drain.
  EXPECT_NE(s.stderr_text().find(" finished, 0 stopped at the deadline"), std::string::npos) << s.stderr_text();
}

TEST(echo_lifecycle, sigterm_drains_with_in_flight_frames_answered_and_exits_0) {
  drain_answers_in_flight_frames(SIGTERM);
}

TEST(echo_lifecycle, sigint_drains_the_same_way) { drain_answers_in_flight_frames(SIGINT); }

TEST(echo_lifecycle, sigterm_with_no_clients_exits_0) {
  echo_server s;
  ASSERT_TRUE(s.start({}));
  s.signal(SIGTERM);
  auto st = s.wait_exit();
  ASSERT_TRUE(st);
  EXPECT_TRUE(st->exited && st->code == 0) << st->to_string() << "\n" << s.stderr_text();
}

// --log-format json: the drain's own lines are JSON like every other line
// (they were plain text written past the logger).
TEST(echo_lifecycle, drain_lines_follow_the_log_format) {
  echo_server s;
  ASSERT_TRUE(s.start({.args = {"--log-format", "json", "--log-connections"}}));
  client c = client::connect(s.port());
  ASSERT_EQ(round_trip(c, "x"), "x");
  c.close();
  s.signal(SIGTERM);
  auto st = s.wait_exit();
  ASSERT_TRUE(st);
  EXPECT_TRUE(st->exited && st->code == 0) << st->to_string();
  std::string err = s.stderr_text();
  EXPECT_NE(err.find("draining"), std::string::npos) << err;
  EXPECT_NE(err.find("drained: "), std::string::npos) << err;
  std::size_t lines = 0;
  for (std::size_t at = 0; at < err.size();) {
    std::size_t end = err.find('\n', at);
    std::string_view line(err.data() + at, (end == std::string::npos ? err.size() : end) - at);
    at = end == std::string::npos ? err.size() : end + 1;
    if (line.empty()) {
      continue;
    }
    ++lines;
    EXPECT_TRUE(line.front() == '{' && line.back() == '}') << "not a JSON line: " << line;
  }
  EXPECT_GE(lines, 4u) << err;  // connected, disconnected, draining, drained
}

// While it drains, the port refuses new clients at once (they can go to
// another server) instead of letting them wait in a backlog nobody reads;
// the live client is still served until it leaves.
TEST(echo_lifecycle, a_draining_server_takes_no_new_clients) {
  echo_server s;
  ASSERT_TRUE(s.start({.args = {"--drain-timeout", "30s"}}));
  client live = client::connect(s.port());
  ASSERT_EQ(round_trip(live, "x"), "x");
  s.signal(SIGTERM);
  // The live client holds the drain open (it has not left). A connect made
  // before the listener took the drain is accepted, so try until one is
  // refused: without the port closed none ever is (the drain lasts 30 s).
  bool refused = false;
  for (int k = 0; k < 500 && !refused; ++k) {
    refused = !client::connect(s.port(), 2000ms);
    if (!refused) {
      std::this_thread::sleep_for(10ms);
    }
  }
  EXPECT_TRUE(refused) << "a draining server's port takes new clients";
  EXPECT_EQ(round_trip(live, "still served"), "still served");
  live.close();
  auto st = s.wait_exit();
  ASSERT_TRUE(st) << s.stderr_text();
  EXPECT_TRUE(st->exited && st->code == 0) << st->to_string() << "\n" << s.stderr_text();
}

TEST(echo_lifecycle, a_second_signal_stops_at_once) {
  echo_server s;
  ASSERT_TRUE(s.start({.args = {"--drain-timeout", "60s"}}));
  // A client that never stops sending keeps its handler busy.
  client busy = client::connect(s.port());
  ASSERT_EQ(round_trip(busy, "x"), "x");
  std::atomic<bool> stop{false};
  std::thread flood([&] {
    std::string f = frame(pattern(1000));
    while (!stop && busy.write(f, 1000ms)) {
      (void)busy.read_exact(f.size(), 10ms);
    }
  });
  s.signal(SIGTERM);
  for (int k = 0; k < 2000 && s.stderr_text().find("draining") == std::string::npos; ++k) {
    std::this_thread::sleep_for(5ms);
  }
  // A different signal, so that the kernel cannot merge it with the first.
  s.signal(SIGINT);
  auto st = s.wait_exit(15000ms);
  stop = true;
  flood.join();
  ASSERT_TRUE(st) << "still running after the second signal (the drain deadline is 60 s)";
  EXPECT_TRUE(st->exited) << st->to_string();
}

// -- startup errors -----------------------------------------------------------------------------------

/// A failed start: non-zero exit, and stderr is exactly one line, which
/// contains every one of `needles`.
void expect_one_clear_line(const run_result& r, std::initializer_list<std::string_view> needles) {
  ASSERT_TRUE(r.status) << "did not exit";
  EXPECT_TRUE(r.status->exited && r.status->code != 0) << r.status->to_string();
  EXPECT_EQ(count_lines(r.err), 1u) << "stderr:\n" << r.err;
  for (std::string_view n : needles) {
    EXPECT_NE(r.err.find(n), std::string::npos) << "'" << n << "' missing from:\n" << r.err;
  }
  EXPECT_EQ(r.out.find("listening on"), std::string::npos) << r.out;
}

/// Holds a port: a listening socket of this test on 127.0.0.1 (kernel's
/// choice), with SO_REUSEPORT when `shared` (as a server with several
/// acceptors has it). Sets `fd` (-1 on failure) and returns the port.
std::string hold_loopback_port(bool shared, int& fd) {
  fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int on = 1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (fd < 0 || (shared && ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0) ||
      ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 8) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    if (fd >= 0) {
      ::close(fd);
    }
    fd = -1;
    return {};
  }
  return std::to_string(ntohs(a.sin_port));
}

TEST(echo_lifecycle, a_port_in_use_is_one_clear_line_and_a_non_zero_exit) {
  int fd = -1;
  std::string port = hold_loopback_port(false, fd);
  ASSERT_GE(fd, 0);

  run_result r = run_to_exit({.args = {"--bind", "127.0.0.1", "--port", port}, .loopback_port0 = false});
  ::close(fd);
  expect_one_clear_line(r, {"otpnet-echo", "eaddrinuse", port});
}

// Another server with several acceptors (SO_REUSEPORT) on the port: this
// one, with several acceptors too, would have joined it and shared its
// clients; it fails to start instead, as with a single acceptor.
TEST(echo_lifecycle, a_port_that_another_server_shares_out_is_in_use_too) {
  int fd = -1;
  std::string port = hold_loopback_port(true, fd);
  ASSERT_GE(fd, 0);

  run_result r =
      run_to_exit({.args = {"--bind", "127.0.0.1", "--port", port, "--acceptors", "2"}, .loopback_port0 = false});
  ::close(fd);
  expect_one_clear_line(r, {"otpnet-echo", "eaddrinuse", port});
}

TEST(echo_lifecycle, an_unknown_option_is_one_line_and_exit_2) {
  run_result r = run_to_exit({.args = {"--idle-timeot", "30s"}});
  expect_one_clear_line(r, {"otpnet-echo: command line", "idle-timeot"});
  ASSERT_TRUE(r.status);
  EXPECT_EQ(r.status->code, 2);
}

TEST(echo_lifecycle, tls_settings_without_a_certificate_are_refused) {
  // TLS is off without tls.cert and tls.key: a --tls-verify required
  // server would otherwise serve plain clients, unauthenticated.
  run_result r = run_to_exit({.args = {"--tls-verify", "required"}});
  expect_one_clear_line(r, {"tls.verify", "required", "TLS is off"});
  temp_dir d;
  r = run_to_exit({.args = {"--tls-ca", (d / "ca.pem").string()}});
  expect_one_clear_line(r, {"tls.ca", "TLS is off"});
}

TEST(echo_lifecycle, a_timeout_of_0_that_would_fail_every_connection_is_refused) {
  run_result r = run_to_exit({.args = {"--proxy-protocol", "--proxy-timeout", "0"}});
  expect_one_clear_line(r, {"proxy_timeout", "is 0"});
  r = run_to_exit({.args = {"--tls-handshake-timeout", "0s"}});
  expect_one_clear_line(r, {"tls.handshake_timeout", "is 0"});
}

TEST(echo_lifecycle, a_bad_packet_on_the_command_line) {
  run_result r = run_to_exit({.args = {"--packet", "3"}});
  expect_one_clear_line(r, {"packet", "--packet", "\"3\""});
}

TEST(echo_lifecycle, a_bad_active_mode_on_the_command_line) {
  run_result r = run_to_exit({.args = {"--active", "sometimes"}});
  expect_one_clear_line(r, {"active", "--active", "\"sometimes\""});
}

TEST(echo_lifecycle, a_bad_port_in_the_environment) {
  run_result r = run_to_exit({.env = {{"OTPNET_PORT", "abc"}}, .loopback_port0 = false});
  expect_one_clear_line(r, {"port", "OTPNET_PORT", "\"abc\""});
}

TEST(echo_lifecycle, a_bad_value_in_a_toml_file) {
  temp_dir d;
  std::ofstream(d / "echo.toml") << "packet = \"2\"\nidle_timeout = \"soon\"\n";
  run_result r = run_to_exit({.args = {"--config", (d / "echo.toml").string()}});
  expect_one_clear_line(r, {"idle_timeout", (d / "echo.toml").string()});
}

TEST(echo_lifecycle, an_unknown_key_in_a_toml_file) {
  temp_dir d;
  std::ofstream(d / "echo.toml") << "prot = 2223\n";
  run_result r = run_to_exit({.args = {"--config", (d / "echo.toml").string()}});
  expect_one_clear_line(r, {"unknown key", "prot"});
}

TEST(echo_lifecycle, a_missing_config_file) {
  temp_dir d;
  run_result r = run_to_exit({.args = {"--config", (d / "nowhere.toml").string()}});
  expect_one_clear_line(r, {"cannot read", "nowhere.toml"});
}

TEST(echo_lifecycle, a_bad_bind_address) {
  run_result r = run_to_exit({.args = {"--bind", "not-an-address", "--port", "0"}, .loopback_port0 = false});
  expect_one_clear_line(r, {"bind", "not-an-address"});
}

TEST(echo_lifecycle, a_bad_value_on_the_command_line_wins_over_a_good_file) {
  temp_dir d;
  std::ofstream(d / "echo.toml") << "max_connections = 10\n";
  run_result r = run_to_exit({.args = {"--config", (d / "echo.toml").string(), "--max-connections", "-1"}});
  expect_one_clear_line(r, {"max_connections", "-1"});
}

// -- the configuration ----------------------------------------------------------------------------------

TEST(echo_lifecycle, print_config_shows_each_value_with_its_source) {
  temp_dir d;
  std::ofstream(d / "echo.toml") << "port = 2300\nbacklog = 100\nidle_timeout = \"10s\"\n";
  run_result r = run_to_exit(
      {.args = {"--config", (d / "echo.toml").string(), "--packet", "4", "--backlog", "200", "--print-config"},
       .env = {{"OTPNET_IDLE_TIMEOUT", "30s"}, {"OTPNET_MAX_CONNECTIONS", "7"}},
       .loopback_port0 = false});
  ASSERT_TRUE(r.status);
  EXPECT_TRUE(r.status->exited && r.status->code == 0) << r.status->to_string() << r.err;
  const std::string file = (d / "echo.toml").string();
  auto line_of = [&](std::string_view key) {
    std::istringstream in(r.out);
    for (std::string l; std::getline(in, l);) {
      if (l.rfind(std::string(key) + " ", 0) == 0) {
        return l;
      }
    }
    return std::string("<no line for ") + std::string(key) + ">";
  };
  // File < environment < command line; the rest are defaults.
  EXPECT_NE(line_of("port").find("2300"), std::string::npos) << r.out;
  EXPECT_NE(line_of("port").find("file " + file), std::string::npos) << r.out;
  EXPECT_NE(line_of("idle_timeout").find("30s"), std::string::npos) << r.out;
  EXPECT_NE(line_of("idle_timeout").find("env OTPNET_IDLE_TIMEOUT"), std::string::npos) << r.out;
  EXPECT_NE(line_of("max_connections").find("env OTPNET_MAX_CONNECTIONS"), std::string::npos) << r.out;
  EXPECT_NE(line_of("packet").find("\"4\""), std::string::npos) << r.out;
  EXPECT_NE(line_of("packet").find("cli"), std::string::npos) << r.out;
  EXPECT_NE(line_of("backlog").find("200"), std::string::npos) << r.out;
  EXPECT_NE(line_of("backlog").find("cli"), std::string::npos) << r.out;
  EXPECT_NE(line_of("bind").find("default"), std::string::npos) << r.out;
  EXPECT_NE(line_of("drain_timeout").find("default"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("listening on"), std::string::npos) << "--print-config must not start the server";
}

TEST(echo_lifecycle, settings_from_the_environment_take_effect) {
  // OTPNET_PACKET=4 makes the server speak {packet, 4}.
  echo_server s;
  ASSERT_TRUE(s.start({.env = {{"OTPNET_PACKET", "4"}}}));
  client c = client::connect(s.port());
  EXPECT_EQ(round_trip(c, "four", 4), "four");
}

TEST(echo_lifecycle, help_and_version) {
  run_result h = run_to_exit({.args = {"--help"}, .loopback_port0 = false});
  ASSERT_TRUE(h.status);
  EXPECT_TRUE(h.status->exited && h.status->code == 0);
  for (std::string_view opt : {"--port", "--bind", "--packet", "--idle-timeout", "--max-connections", "--schedulers",
                               "--config", "--log-format", "--print-config", "--version"}) {
    EXPECT_NE(h.out.find(opt), std::string::npos) << opt << " missing from --help";
  }
  run_result v = run_to_exit({.args = {"--version"}, .loopback_port0 = false});
  ASSERT_TRUE(v.status);
  EXPECT_TRUE(v.status->exited && v.status->code == 0);
  EXPECT_NE(v.out.find("otpnet-echo"), std::string::npos) << v.out;
}

}  // namespace
}  // namespace otpnet::echo_test
