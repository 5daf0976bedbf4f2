// File: bench/gen_tcp.bench.cpp
//
// A {packet, 2} echo of 64-byte frames over loopback, served two ways by
// processes of one scheduler (docs/benchmarks.md has the method):
//   echo_gen_tcp  gen_tcp: a process per connection owns its socket
//                 ({active, once}, {packet, 2}, nodelay); each tcp message
//                 is sent back as the buffer it came in (no copy) and the
//                 socket re-armed with {active, once}
//   echo_bare     the socket layer from processes: socket::co::accept, then
//                 co::recv into a 16 KiB buffer, the complete frames found
//                 there sent back with one co::send (nodelay)
// with 1 and 100 connections. The client is the benchmark thread, the same
// for both: blocking sockets (nodelay) watched by a level-triggered epoll,
// one frame in flight per connection (ping-pong), every echoed byte
// checked; an iteration is a batch of round trips, over when all have come
// back. Reported per benchmark: manual time (the batches' wall time),
// `msgs_per_s`, `server_cpu_ns` and `client_cpu_ns` per message. The
// server's CPU is the process's CPU time minus the benchmark thread's
// (CLOCK_PROCESS_CPUTIME_ID - CLOCK_THREAD_CPUTIME_ID): the scheduler's
// time, busy or idle-polling, whatever other load runs on the machine.
#include <otpnet/gen_tcp/gen_tcp.hpp>
#include <otpnet/runtime/process.hpp>
#include <otpnet/runtime/receive.hpp>
#include <otpnet/runtime/runtime.hpp>
#include <otpnet/runtime/socket_io.hpp>
#include <otpnet/socket/address.hpp>
#include <otpnet/socket/io.hpp>
#include <otpnet/socket/option.hpp>
#include <otpnet/socket/socket.hpp>

#include <benchmark/benchmark.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <span>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using otpnet::proc;
namespace gen_tcp = otpnet::gen_tcp;
namespace so = otpnet::socket;

constexpr std::size_t body_size = 64;
constexpr std::size_t frame_size = body_size + 2;

// -- plumbing ------------------------------------------------------------------

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "gen_tcp bench: %s\n", what);
  std::abort();
}

std::int64_t clock_ns(clockid_t id) noexcept {
  timespec ts{};
  ::clock_gettime(id, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

/// The runtime with one scheduler: the server gets one thread, the client
/// (the benchmark thread) the other core.
void ensure_runtime() {
  if (otpnet::runtime::running()) {
    return;
  }
  if (!otpnet::runtime::start({.schedulers = 1})) {
    die("runtime::start");
  }
}

// -- servers ---------------------------------------------------------------------

/// One connection, gen_tcp's way: the tutorial's echo loop.
proc gen_tcp_handler(gen_tcp::listen_socket ls) {
  auto s = co_await gen_tcp::accept(ls, 10000ms);
  if (!s) {
    die("gen_tcp::accept");
  }
  for (;;) {
    otpnet::message m = co_await otpnet::receive_any();
    if (auto* d = m.get_if<gen_tcp::tcp>()) {
      if (!d->sock.send(d->data) || !d->sock.setopts({.active = gen_tcp::once})) {
        co_return;
      }
    } else if (m.is<gen_tcp::tcp_closed>() || m.is<gen_tcp::tcp_error>()) {
      co_return;
    }
  }
}

/// The length of the complete {packet, 2} frames at the start of `b`.
std::size_t complete_frames(std::span<const std::byte> b) noexcept {
  std::size_t end = 0;
  while (b.size() - end >= 2) {
    const std::size_t len = (std::to_integer<std::size_t>(b[end]) << 8U) | std::to_integer<std::size_t>(b[end + 1]);
    if (b.size() - end < 2 + len) {
      break;
    }
    end += 2 + len;
  }
  return end;
}

/// One connection on the bare socket layer: read what is there, send back
/// the complete frames, keep the rest.
proc bare_handler(so::socket ls) {
  auto s = co_await so::co::accept(ls, 10000ms);
  if (!s || !so::setopt(*s, so::opt::tcp::nodelay, true)) {
    die("socket::co::accept");
  }
  std::array<std::byte, 16384> buf{};
  std::size_t have = 0;
  for (;;) {
    if (have == buf.size()) {
      co_return;  // a frame larger than the buffer: not this benchmark's
    }
    auto n = co_await so::co::recv(*s, std::span(buf).subspan(have));
    if (!n) {
      co_return;  // closed
    }
    have += *n;
    const std::size_t end = complete_frames(std::span(buf.data(), have));
    if (end > 0) {
      if (!co_await so::co::send(*s, std::span(buf.data(), end))) {
        co_return;
      }
      std::memmove(buf.data(), buf.data() + end, have - end);
      have -= end;
    }
  }
}

/// A listener and `conns` handler processes waiting in accept; the port.
std::uint16_t start_server(bool bare, int conns, so::socket& listener) {
  if (bare) {
    auto ls = so::open(so::domain::inet, so::type::stream);
    if (!ls || !so::setopt(*ls, so::opt::socket::reuseaddr, true)) {
      die("socket::open");
    }
    auto port = so::bind(*ls, so::address::inet_loopback(0));
    if (!port || !so::listen(*ls, 1024)) {
      die("socket::bind/listen");
    }
    listener = *ls;
    for (int i = 0; i < conns; ++i) {
      (void)otpnet::spawn([ls = *ls]() -> proc { return bare_handler(ls); });
    }
    return *port;
  }
  auto ls = gen_tcp::listen(so::address::inet_loopback(0),
                            {.active = gen_tcp::once, .packet = gen_tcp::packet_type::u2, .nodelay = true});
  if (!ls) {
    die("gen_tcp::listen");
  }
  listener = ls->sock;
  for (int i = 0; i < conns; ++i) {
    (void)otpnet::spawn([ls = *ls]() -> proc { return gen_tcp_handler(ls); });
  }
  return ls->port;
}

// -- the client --------------------------------------------------------------------

/// `conns` blocking loopback connections in a level-triggered epoll, one
/// frame in flight on each.
class client {
 public:
  client(std::uint16_t port, int conns) : ep_(::epoll_create1(EPOLL_CLOEXEC)) {
    if (ep_ < 0) {
      die("epoll_create1");
    }
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int i = 0; i < conns; ++i) {
      const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      const int one = 1;
      if (fd < 0 || ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0 ||
          ::connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0) {
        die("client connect");
      }
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u32 = static_cast<std::uint32_t>(i);
      if (::epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev) != 0) {
        die("epoll_ctl");
      }
      conns_.push_back({fd, 0});
    }
    frame_[0] = std::byte{0};
    frame_[1] = std::byte{body_size};
    for (std::size_t i = 0; i < body_size; ++i) {
      frame_[2 + i] = static_cast<std::byte>('a' + i % 26);
    }
  }
  ~client() {
    for (const conn& c : conns_) {
      ::close(c.fd);
    }
    ::close(ep_);
  }
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  /// `total` round trips spread over the connections; returns when every
  /// echo has come back whole and equal to what was sent.
  void run(std::uint64_t total) {
    std::uint64_t sent = 0;
    std::uint64_t done = 0;
    for (conn& c : conns_) {
      if (sent < total) {
        send_frame(c);
        ++sent;
      }
    }
    std::array<epoll_event, 128> evs{};
    while (done < total) {
      const int n = ::epoll_wait(ep_, evs.data(), static_cast<int>(evs.size()), 10000);
      if (n <= 0) {
        die("client: no echo within 10 s");
      }
      for (int k = 0; k < n; ++k) {
        conn& c = conns_[evs[static_cast<std::size_t>(k)].data.u32];
        if (!read_some(c)) {
          continue;
        }
        ++done;
        if (sent < total) {
          send_frame(c);
          ++sent;
        }
      }
    }
  }

 private:
  struct conn {
    int fd;
    std::size_t got;  // bytes of the current echo read so far
  };

  void send_frame(conn& c) {
    if (::send(c.fd, frame_.data(), frame_.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(frame_.size())) {
      die("client send");
    }
    c.got = 0;
  }

  /// Reads what is there of the current echo; true when it is complete.
  bool read_some(conn& c) {
    const ssize_t r = ::recv(c.fd, in_.data() + c.got, frame_size - c.got, 0);
    if (r <= 0) {
      die("client recv");
    }
    c.got += static_cast<std::size_t>(r);
    if (c.got < frame_size) {
      return false;
    }
    if (std::memcmp(in_.data(), frame_.data(), frame_size) != 0) {
      die("client: echo differs");
    }
    return true;
  }

  int ep_;
  std::vector<conn> conns_;
  std::array<std::byte, frame_size> frame_{};
  std::array<std::byte, frame_size> in_{};
};

// -- the benchmarks ----------------------------------------------------------------

void echo(benchmark::State& state, bool bare) {
  ensure_runtime();
  const int conns = static_cast<int>(state.range(0));
  const auto batch = static_cast<std::uint64_t>(state.range(1));
  const std::size_t base = otpnet::runtime::process_count();
  so::socket listener;
  const std::uint16_t port = start_server(bare, conns, listener);
  double wall_ns = 0;
  double server_cpu_ns = 0;
  double client_cpu_ns = 0;
  double msgs = 0;
  {
    client c(port, conns);
    c.run(static_cast<std::uint64_t>(conns) * 20);  // warm-up: every connection served
    for (auto _ : state) {
      const std::int64_t p0 = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
      const std::int64_t t0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
      const std::int64_t w0 = clock_ns(CLOCK_MONOTONIC);
      c.run(batch);
      const std::int64_t w1 = clock_ns(CLOCK_MONOTONIC);
      const std::int64_t t1 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
      const std::int64_t p1 = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
      state.SetIterationTime(static_cast<double>(w1 - w0) * 1e-9);
      wall_ns += static_cast<double>(w1 - w0);
      client_cpu_ns += static_cast<double>(t1 - t0);
      server_cpu_ns += static_cast<double>((p1 - p0) - (t1 - t0));
      msgs += static_cast<double>(batch);
    }
  }  // the client closes: the handlers see it and end
  (void)so::close(listener);
  for (int i = 0; i < 10000 && otpnet::runtime::process_count() > base; ++i) {
    std::this_thread::sleep_for(1ms);
  }
  if (otpnet::runtime::process_count() > base) {
    die("handlers did not end");
  }
  state.counters["msgs_per_s"] = msgs / (wall_ns * 1e-9);
  state.counters["server_cpu_ns"] = server_cpu_ns / msgs;
  state.counters["client_cpu_ns"] = client_cpu_ns / msgs;
}

// NOLINTNEXTLINE(readability-identifier-naming): BM_, as Google Benchmark names them
void BM_echo_gen_tcp(benchmark::State& state) { echo(state, false); }
// NOLINTNEXTLINE(readability-identifier-naming)
void BM_echo_bare(benchmark::State& state) { echo(state, true); }

}  // namespace

// Args: connections, round trips per iteration.
BENCHMARK(BM_echo_gen_tcp)->Args({1, 2000})->Args({100, 20000})->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_echo_bare)->Args({1, 2000})->Args({100, 20000})->UseManualTime()->Unit(benchmark::kMillisecond);

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
    return 1;
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  otpnet::runtime::stop();
  return 0;
}
