// File: integration/echo_traffic.test.cpp
//
// otpnet-echo as a real process (echo_process.hpp), under traffic: many
// concurrent clients each exchanging frames, frames of every size up to
// packet_size, pipelined frames across the whole {packet, 2} range, and
// the other framings (--packet 1, 4, line, raw). Every byte that comes
// back is checked against what was sent.
#include "integration/echo_process.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace otpnet::echo_test {
namespace {

/// The sum over the schedulers' statistics lines of a server's log (one per
/// scheduler at its end: "scheduler 0 (io_uring): ... name=N ...") of the
/// counter `name`; none if no line has it.
std::optional<std::uint64_t> counter_in(const std::string& log, const std::string& name) {
  std::optional<std::uint64_t> sum;
  const std::string key = " " + name + "=";
  for (std::size_t at = log.find("otpnet-echo: scheduler "); at != std::string::npos;
       at = log.find("otpnet-echo: scheduler ", at + 1)) {
    std::size_t end = log.find('\n', at);
    std::string line = log.substr(at, end == std::string::npos ? std::string::npos : end - at);
    std::size_t k = line.find(key);
    if (k != std::string::npos) {
      sum = sum.value_or(0) + std::stoull(line.substr(k + key.size()));
    }
  }
  return sum;
}

TEST(echo_traffic, prints_where_it_listens) {
  echo_server s;
  ASSERT_TRUE(s.start({}));
  EXPECT_NE(s.stdout_text().find("listening on 127.0.0.1:" + std::to_string(s.port())), std::string::npos)
      << s.stdout_text();
  client c = client::connect(s.port());
  EXPECT_EQ(round_trip(c, "hello"), "hello");
}

TEST(echo_traffic, two_hundred_concurrent_clients_each_exchange_frames) {
  echo_server s;
  ASSERT_TRUE(s.start({}));
  constexpr int n_clients = 200;
  constexpr int n_threads = 8;
  constexpr int rounds = 10;
  // Every client is connected before any traffic: 200 live connections.
  std::vector<client> clients = connect_clients(s.port(), n_clients);
  ASSERT_EQ(clients.size(), static_cast<std::size_t>(n_clients));
  std::atomic<int> good{0};
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < n_threads; ++t) {
    threads.emplace_back([&, t] {
      for (int r = 0; r < rounds; ++r) {
        // Each thread sends one frame on each of its clients, then reads
        // the echoes: its 25 connections are in flight together.
        for (int k = t; k < n_clients; k += n_threads) {
          std::string body = pattern(1 + static_cast<std::size_t>((k * 37 + r * 11) % 3000), k + r);
          if (!clients[k].write(frame(body))) {
            ++bad;
          }
        }
        for (int k = t; k < n_clients; k += n_threads) {
          std::string body = pattern(1 + static_cast<std::size_t>((k * 37 + r * 11) % 3000), k + r);
          auto got = read_frame(clients[k]);
          (got && *got == body ? good : bad)++;
        }
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(good.load(), n_clients * rounds);
  EXPECT_TRUE(s.alive());
}

TEST(echo_traffic, two_acceptors_on_two_schedulers_serve_every_client) {
  // --acceptors 2: two listen sockets on one port (SO_REUSEPORT), one per
  // scheduler; the kernel spreads the clients, every one is served, each
  // under its acceptor's own client supervisor (tcp_client_sup_0 and _1).
  echo_server s;
  ASSERT_TRUE(s.start({.args = {"--acceptors", "2", "--schedulers", "2", "--packet-size", "1000"}}));
  std::vector<client> clients;
  for (int k = 0; k < 64; ++k) {
    clients.push_back(client::connect(s.port()));
    ASSERT_TRUE(clients.back()) << "client " << k;
  }
  for (int k = 0; k < 64; ++k) {
    std::string body = pattern(1 + static_cast<std::size_t>(k * 13), k);
    EXPECT_EQ(round_trip(clients[k], body), body) << "client " << k;
  }
  // Every handler ends on an oversized frame, and its supervisor reports
  // it: both supervisors have some (all 64 on one: odds of 2 in 2^64).
  for (auto& c : clients) {
    ASSERT_TRUE(c.write(frame(pattern(4001))));
  }
  for (auto& c : clients) {
    EXPECT_TRUE(c.closed_by_server());
  }
  auto reports_of = [&](const std::string& sup) { return count_lines(s.stderr_text(), "supervisor: " + sup + " "); };
  auto end = std::chrono::steady_clock::now() + must;
  while (reports_of("tcp_client_sup_0") + reports_of("tcp_client_sup_1") < 64 &&
         std::chrono::steady_clock::now() < end) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(reports_of("tcp_client_sup_0") + reports_of("tcp_client_sup_1"), 64u) << s.stderr_text();
  EXPECT_GT(reports_of("tcp_client_sup_0"), 0u);
  EXPECT_GT(reports_of("tcp_client_sup_1"), 0u);
  client fresh = client::connect(s.port());
  EXPECT_EQ(round_trip(fresh, "after 64 crashes"), "after 64 crashes");
  EXPECT_TRUE(s.alive());
}

// io_uring with two receive buffers for 40 busy connections: receives often
// find no free buffer (ENOBUFS; how often depends on timing), and those
// connections read with plain calls meanwhile. Every byte still comes back,
// in order. (gen_tcp's one_receive_buffer test makes ENOBUFS certain.)
TEST(echo_traffic, io_uring_short_of_receive_buffers_reads_with_plain_calls_and_loses_nothing) {
  echo_server s;
  if (!s.start({.env = {{"OTPNET_BACKEND", "io_uring"}, {"OTPNET_URING_RECV_BUFFERS", "2"}}})) {
    if (s.stderr_text().find("io_uring") != std::string::npos) {
      GTEST_SKIP() << "no io_uring here: " << s.stderr_text();
    }
    FAIL() << s.stderr_text();
  }
  constexpr int n_clients = 40;
  constexpr int n_threads = 4;
  constexpr int frames = 12;
  std::vector<client> clients = connect_clients(s.port(), n_clients);
  ASSERT_EQ(clients.size(), static_cast<std::size_t>(n_clients));
  auto body_of = [](int k, int f) {
    return pattern(1 + static_cast<std::size_t>((k * 7919 + f * 104729) % 40000), k * 100 + f);
  };
  std::atomic<int> good{0};
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < n_threads; ++t) {
    threads.emplace_back([&, t] {
      // Every frame of every client of this thread goes out before any echo
      // is read: the server sees all of them at once.
      for (int k = t; k < n_clients; k += n_threads) {
        std::string all;
        for (int f = 0; f < frames; ++f) {
          all += frame(body_of(k, f));
        }
        if (!clients[k].write(all)) {
          ++bad;
        }
      }
      for (int k = t; k < n_clients; k += n_threads) {
        for (int f = 0; f < frames; ++f) {
          auto got = read_frame(clients[k]);
          (got && *got == body_of(k, f) ? good : bad)++;
        }
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(good.load(), n_clients * frames);
  EXPECT_TRUE(s.alive());
}

// --active true: frames come as they arrive, with no re-arm (on io_uring
// through multishot receives). Pipelined frames of many sizes from several
// clients at once all come back, in order, on the default backend and on
// io_uring (where the kernel has it), also with few stream buffers (the
// multishot receives then run out and the connections read with plain
// calls meanwhile).
TEST(echo_traffic, active_true_echoes_pipelined_frames_in_order) {
  struct run {
    const char* name;
    std::map<std::string, std::string> env;
  };
  for (const run& r :
       {run{"default backend", {}}, run{"io_uring", {{"OTPNET_BACKEND", "io_uring"}}},
        run{"io_uring, 2 stream buffers", {{"OTPNET_BACKEND", "io_uring"}, {"OTPNET_URING_STREAM_BUFFERS", "2"}}}}) {
    SCOPED_TRACE(r.name);
    echo_server s;
    if (!s.start({.args = {"--active", "true"}, .env = r.env})) {
      if (!r.env.empty() && s.stderr_text().find("io_uring") != std::string::npos) {
        GTEST_SKIP() << "no io_uring here: " << s.stderr_text();
      }
      FAIL() << s.stderr_text();
    }
    constexpr int n_clients = 8;
    constexpr int frames = 200;
    auto body_of = [](int k, int f) {
      return pattern(1 + static_cast<std::size_t>((k * 7919 + f * 104729) % 20000), k * 1000 + f);
    };
    std::vector<client> clients = connect_clients(s.port(), n_clients);
    ASSERT_EQ(clients.size(), static_cast<std::size_t>(n_clients));
    std::atomic<int> good{0};
    std::atomic<int> bad{0};
    std::vector<std::thread> threads;
    for (int k = 0; k < n_clients; ++k) {
      // A writer and a reader per client: the frames stream both ways.
      threads.emplace_back([&, k] {
        for (int f = 0; f < frames; ++f) {
          if (!clients[k].write(frame(body_of(k, f)))) {
            ++bad;
            return;
          }
        }
      });
      threads.emplace_back([&, k] {
        for (int f = 0; f < frames; ++f) {
          auto got = read_frame(clients[k]);
          if (!got || *got != body_of(k, f)) {
            ++bad;
            return;
          }
          ++good;
        }
      });
    }
    for (auto& t : threads) {
      t.join();
    }
    EXPECT_EQ(bad.load(), 0);
    EXPECT_EQ(good.load(), n_clients * frames);
    EXPECT_TRUE(s.alive());
    // The server's statistics at its end say which receives it made: on
    // io_uring, multishot ones, unless this kernel refused them.
    for (auto& c : clients) {
      c.close();
    }
    s.signal(SIGTERM);
    auto st = s.wait_exit();
    ASSERT_TRUE(st && st->exited && st->code == 0) << s.stderr_text();
    std::string log = s.stderr_text();
    if (!r.env.empty()) {
      auto available = counter_in(log, "multishot_recv_available");
      auto refused = counter_in(log, "multishot_refused");
      auto made = counter_in(log, "recv_multishots");
      ASSERT_TRUE(available && refused && made) << "no io_uring statistics at the end:\n" << log;
      // (Kernels before 6.0, or a buffer ring that could not be set up:
      // single-shot receives only, as the backend says.)
      if (*available != 0 && *refused == 0) {
        EXPECT_GT(*made, 0u) << "no multishot receive was made:\n" << log;
        EXPECT_GT(counter_in(log, "recv_more").value_or(0), 0u) << "no multishot receive went on:\n" << log;
      }
    } else {
      EXPECT_TRUE(counter_in(log, "turns")) << "no statistics at the end:\n" << log;
    }
  }
}

TEST(echo_traffic, every_frame_size_up_to_packet_size) {
  constexpr std::size_t limit = 4096;
  echo_server s;
  ASSERT_TRUE(s.start({.args = {"--packet-size", std::to_string(limit)}}));
  // Sizes 1..limit, spread over four clients that run at once.
  constexpr int n = 4;
  std::vector<client> clients;
  for (int k = 0; k < n; ++k) {
    clients.push_back(client::connect(s.port()));
  }
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int k = 0; k < n; ++k) {
    threads.emplace_back([&, k] {
      for (std::size_t size = 1 + k; size <= limit; size += n) {
        std::string body = pattern(size, static_cast<unsigned>(size));
        if (round_trip(clients[k], body) != body) {
          ADD_FAILURE() << "frame of " << size << " bytes";
          ++bad;
          return;
        }
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  EXPECT_EQ(bad.load(), 0);
  // One byte more is over the limit: that connection ends, no other.
  client over = client::connect(s.port());
  ASSERT_TRUE(over.write(frame(pattern(limit + 1))));
  EXPECT_TRUE(over.closed_by_server());
  EXPECT_EQ(round_trip(clients[0], "still here"), "still here");
}

TEST(echo_traffic, an_empty_frame_comes_back_empty) {
  echo_server s;
  ASSERT_TRUE(s.start({}));
  client c = client::connect(s.port());
  EXPECT_EQ(round_trip(c, ""), "");
  EXPECT_EQ(round_trip(c, "after"), "after");
}

TEST(echo_traffic, pipelined_frames_across_the_whole_packet_2_range) {
  echo_server s;
  ASSERT_TRUE(s.start({}));
  // Every size to 64, each power of two and its neighbours, a prime stride
  // through the range, and the largest: 65535.
  std::vector<std::size_t> sizes;
  for (std::size_t k = 1; k <= 64; ++k) {
    sizes.push_back(k);
  }
  for (std::size_t p = 128; p <= 32768; p *= 2) {
    sizes.insert(sizes.end(), {p - 1, p, p + 1});
  }
  for (std::size_t k = 65; k < 65535; k += 257) {
    sizes.push_back(k);
  }
  sizes.push_back(65534);
  sizes.push_back(65535);
  // One client writes them all back to back while a second thread reads:
  // many frames are in flight at once, split across reads and writes.
  client c = client::connect(s.port());
  std::atomic<bool> write_ok{true};
  std::thread writer([&] {
    for (std::size_t k = 0; k < sizes.size(); ++k) {
      if (!c.write(frame(pattern(sizes[k], static_cast<unsigned>(k))))) {
        write_ok = false;
        return;
      }
    }
  });
  std::size_t matched = 0;
  for (std::size_t k = 0; k < sizes.size(); ++k) {
    auto got = read_frame(c);
    if (!got || *got != pattern(sizes[k], static_cast<unsigned>(k))) {
      ADD_FAILURE() << "frame " << k << " of " << sizes[k]
                    << " bytes: " << (got ? "wrong bytes, " + std::to_string(got->size()) : std::string("nothing"));
      break;
    }
    ++matched;
  }
  writer.join();
  EXPECT_TRUE(write_ok.load());
  EXPECT_EQ(matched, sizes.size());
}

TEST(echo_traffic, the_other_framings) {
  struct mode {
    std::string packet;
    int header;
  };
  for (const mode& m : {mode{"1", 1}, mode{"4", 4}}) {
    echo_server s;
    ASSERT_TRUE(s.start({.args = {"--packet", m.packet}}));
    client c = client::connect(s.port());
    for (std::size_t size : {1u, 17u, 200u, 255u}) {
      std::string body = pattern(size);
      EXPECT_EQ(round_trip(c, body, m.header), body) << "packet " << m.packet << ", " << size << " bytes";
    }
    if (m.header == 4) {
      std::string big = pattern(300000);
      EXPECT_EQ(round_trip(c, big, 4), big);
    }
  }
  {
    echo_server s;
    ASSERT_TRUE(s.start({.args = {"--packet", "line"}}));
    client c = client::connect(s.port());
    ASSERT_TRUE(c.write("first line\nsecond "));
    EXPECT_EQ(c.read_exact(11), "first line\n");
    ASSERT_TRUE(c.write("line\n"));
    EXPECT_EQ(c.read_exact(12), "second line\n");
  }
  {
    echo_server s;
    ASSERT_TRUE(s.start({.args = {"--packet", "raw"}}));
    client c = client::connect(s.port());
    std::string body = pattern(100000);
    std::thread w([&] { EXPECT_TRUE(c.write(body)); });
    EXPECT_EQ(c.read_exact(body.size()), body);
    w.join();
  }
}

}  // namespace
}  // namespace otpnet::echo_test
