// File: fault/echo_emfile.test.cpp
//
// otpnet-echo starved of descriptors (DESIGN invariant 7): run under
// `ulimit -n 64`, it gets 200 clients at once. Accept fails with emfile
// once its descriptors are used up, and then it must
//   - keep running (no crash, no exit, the live clients still served);
//   - use no CPU while starved: measured from /proc/PID/stat over about a
//     second while the 200 clients stay connected and waiting;
//   - report the back-off once per burst (one "backing off" line), not
//     once per attempt;
//   - serve the waiting clients as soon as descriptors free up, with
//     nobody's help: closing served clients lets the others in.
#include "integration/echo_process.hpp"

#include <gtest/gtest.h>

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <iostream>
#include <set>
#include <string>
#include <vector>

namespace otpnet::echo_test {
namespace {

constexpr int n_clients = 200;

std::string body_of(int k) { return "client " + std::to_string(k); }

/// True if client k's echo has fully arrived (then it is consumed); never
/// waits.
bool echo_arrived(const client& c, int k) {
  std::string want = frame(body_of(k));
  std::string buf(want.size(), '\0');
  ssize_t n = ::recv(c.fd(), buf.data(), buf.size(), MSG_PEEK | MSG_DONTWAIT);
  if (n != static_cast<ssize_t>(want.size())) {
    return false;
  }
  std::string got = c.read_exact(want.size(), 0ms);
  EXPECT_EQ(got, want) << "client " << k;
  return true;
}

/// Collects the clients whose echo arrives, until `target` have or `bound`
/// passes; returns the newly served ones.
std::vector<int> collect(const std::vector<client>& clients, std::set<int>& served, std::size_t target,
                         milliseconds bound) {
  std::vector<int> fresh;
  auto end = std::chrono::steady_clock::now() + bound;
  do {
    for (int k = 0; k < n_clients; ++k) {
      if (clients[k] && !served.count(k) && echo_arrived(clients[k], k)) {
        served.insert(k);
        fresh.push_back(k);
      }
    }
    if (served.size() >= target) {
      break;
    }
    std::this_thread::sleep_for(20ms);
  } while (std::chrono::steady_clock::now() < end);
  return fresh;
}

TEST(echo_emfile, starved_of_descriptors_it_backs_off_without_spinning_and_recovers) {
#if defined(__SANITIZE_ADDRESS__)
  // The server is built with ASan+UBSan too: UBSan checks a vptr by
  // probing memory through a pipe, which a process out of descriptors
  // cannot open, and it then reports a false error and aborts. The
  // release and TSan builds run this test.
  GTEST_SKIP() << "an ASan+UBSan server cannot run out of descriptors without breaking the sanitizer";
#endif
  echo_server s;
  ASSERT_TRUE(s.start({.args = {"--schedulers", "2", "--idle-timeout", "10m"}, .fd_limit = 64}));

  // 200 clients connect (the kernel's backlog takes them all) and each
  // sends one frame.
  std::vector<client> clients;
  for (int k = 0; k < n_clients; ++k) {
    clients.push_back(client::connect(s.port()));
    ASSERT_TRUE(clients.back()) << "client " << k;
    ASSERT_TRUE(clients.back().write(frame(body_of(k))));
  }

  // The server serves what its descriptors allow, then backs off.
  std::set<int> served;
  auto backing_off = [&] { return count_lines(s.stderr_text(), "backing off"); };
  for (int k = 0; k < 2000 && backing_off() == 0; ++k) {
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_GE(backing_off(), 1u) << "no back-off report:\n" << s.stderr_text();
  // Let every accepted client's echo arrive (the count stops growing).
  std::size_t before = 0;
  do {
    before = served.size();
    (void)collect(clients, served, n_clients, 500ms);
  } while (served.size() != before);
  ASSERT_GT(served.size(), 0u);
  ASSERT_LT(served.size(), static_cast<std::size_t>(n_clients)) << "a limit of 64 descriptors served everyone?";
  const std::size_t first_wave = served.size();

  // Starved, with 200 clients connected and the rest waiting: a resource
  // bound for the invariant "never spins a core" -- under 10 % of one core
  // over about a second. An accept loop that retried emfile at once would
  // use the whole core.
  ASSERT_TRUE(s.alive()) << s.stderr_text();
  long long t0 = cpu_ticks(s.pid());
  auto w0 = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(1000ms);
  long long t1 = cpu_ticks(s.pid());
  double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count();
  ASSERT_GE(t0, 0);
  ASSERT_GE(t1, t0);
  double cpu = static_cast<double>(t1 - t0) / static_cast<double>(::sysconf(_SC_CLK_TCK));
  EXPECT_LT(cpu / wall, 0.10) << cpu << " s of CPU in " << wall << " s while starved";
  std::cout << "[ measured ] " << first_wave << " of " << n_clients << " clients served under ulimit -n 64; " << cpu
            << " s of CPU over " << wall << " s while starved\n";
  EXPECT_TRUE(s.alive());
  // One report for the burst, not one per attempt.
  EXPECT_EQ(backing_off(), 1u) << s.stderr_text();
  EXPECT_EQ(count_lines(s.stderr_text(), "emfile"), 1u) << s.stderr_text();

  // The served clients still echo while the others wait.
  for (int k : served) {
    std::string b = "again " + std::to_string(k);
    EXPECT_EQ(round_trip(clients[k], b), b);
  }

  // Close 100 clients: every served one, and waiting ones to make 100.
  std::size_t closed = 0;
  for (int k : served) {
    clients[k].close();
    ++closed;
  }
  for (int k = n_clients - 1; k >= 0 && closed < 100; --k) {
    if (clients[k] && !served.count(k)) {
      clients[k].close();
      ++closed;
    }
  }
  ASSERT_EQ(closed, 100u);

  // The waiting ones are served as descriptors free up, at once (within
  // the capped back-off of 1 s): about as many as the first wave.
  auto waiting = [&] {
    std::size_t n = 0;
    for (int k = 0; k < n_clients; ++k) {
      n += clients[k] && !served.count(k);
    }
    return n;
  };
  std::size_t expect_now = std::min(first_wave, waiting());
  std::vector<int> wave = collect(clients, served, served.size() + expect_now, must);
  EXPECT_GE(wave.size(), expect_now / 2) << "after 100 clients closed, only " << wave.size() << " of " << expect_now
                                         << " waiting ones were served";
  // Then the rest, as the served ones close in turn.
  auto end = std::chrono::steady_clock::now() + 60s;
  while (waiting() > 0 && std::chrono::steady_clock::now() < end) {
    for (int k : wave) {
      clients[k].close();
    }
    wave = collect(clients, served, served.size() + waiting(), 2000ms);
  }
  std::size_t never = 0;
  for (int k = 0; k < n_clients; ++k) {
    never += clients[k] && !served.count(k);
  }
  EXPECT_EQ(never, 0u) << "clients never served after descriptors freed up";
  EXPECT_TRUE(s.alive());
  EXPECT_GE(count_lines(s.stderr_text(), "accepting again"), 1u) << s.stderr_text();
  // A few bursts at most (each refill of the descriptors may start one).
  EXPECT_LE(backing_off(), 10u) << s.stderr_text();

  // And it still exits cleanly.
  s.signal(SIGTERM);
  auto st = s.wait_exit();
  ASSERT_TRUE(st);
  EXPECT_TRUE(st->exited && st->code == 0) << st->to_string() << "\n" << s.stderr_text();
}

}  // namespace
}  // namespace otpnet::echo_test
