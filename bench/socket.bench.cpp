// File: bench/socket.bench.cpp
//
// The socket layer's overhead against the raw system calls, in one binary
// so that the ratio otpnet/raw is taken in the same run (docs/benchmarks.md).
//   send_recv_64   64 bytes sent on one end of an AF_UNIX stream socketpair
//                  and received on the other; data is always ready, so no
//                  call ever waits. raw ::send/::recv against the otpnet
//                  forms: blocking (infinity) and nowait.
//   accept_close   one loopback TCP connection per iteration: a client
//                  connects (blocking, done by the kernel before accept),
//                  the server accepts, both close. raw accept4+close against
//                  otpnet accept+close (registry on, the default, and off).
// Every descriptor is non-blocking on both sides, sends add MSG_NOSIGNAL on
// both sides: the raw loop makes exactly the calls otpnet makes underneath.
#include <otpnet/socket/io.hpp>
#include <otpnet/socket/registry.hpp>
#include <otpnet/socket/socket.hpp>

#include <benchmark/benchmark.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cstddef>
#include <cstdio>
#include <cstdlib>

namespace {

namespace so = otpnet::socket;

constexpr std::size_t payload = 64;

[[noreturn]] void die(const char* what) {
  std::perror(what);
  std::abort();
}

/// An AF_UNIX stream socketpair, both ends non-blocking and close-on-exec.
struct raw_pair {
  int fd[2] = {-1, -1};
  raw_pair() {
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fd) != 0) {
      die("socketpair");
    }
  }
  ~raw_pair() {
    ::close(fd[0]);
    ::close(fd[1]);
  }
  raw_pair(const raw_pair&) = delete;
  raw_pair& operator=(const raw_pair&) = delete;
};

/// The same pair adopted by the socket layer (open(fd) without dup).
struct otpnet_pair {
  so::socket s[2];
  otpnet_pair() {
    raw_pair p;
    for (int i = 0; i < 2; ++i) {
      auto r = so::open(p.fd[i], {.dup = false});
      if (!r) {
        die("otpnet::socket::open(fd)");
      }
      s[i] = *r;
      p.fd[i] = -1;
    }
  }
  ~otpnet_pair() {
    (void)so::close(s[0]);
    (void)so::close(s[1]);
  }
};

// -- send + recv, 64 bytes ------------------------------------------------------

void BM_send_recv_64_raw(benchmark::State& state) {
  raw_pair p;
  std::array<std::byte, payload> out{}, in{};
  for (auto _ : state) {
    if (::send(p.fd[0], out.data(), out.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(payload)) {
      die("send");
    }
    if (::recv(p.fd[1], in.data(), in.size(), 0) != static_cast<ssize_t>(payload)) {
      die("recv");
    }
    benchmark::DoNotOptimize(in);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_send_recv_64_otpnet(benchmark::State& state) {
  otpnet_pair p;
  std::array<std::byte, payload> out{}, in{};
  for (auto _ : state) {
    auto n = so::send(p.s[0], out);
    auto m = so::recv(p.s[1], in);
    if (!n || *n != payload || !m || *m != payload) {
      die("otpnet send/recv");
    }
    benchmark::DoNotOptimize(in);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_send_recv_64_otpnet_nowait(benchmark::State& state) {
  otpnet_pair p;
  std::array<std::byte, payload> out{}, in{};
  for (auto _ : state) {
    auto n = so::send(p.s[0], out, 0, so::nowait);
    auto m = so::recv(p.s[1], in, 0, so::nowait);
    if (!n.is_ok() || !m.is_ok()) {
      die("otpnet send/recv nowait");
    }
    benchmark::DoNotOptimize(in);
  }
  state.SetItemsProcessed(state.iterations());
}

// -- accept + close on loopback ------------------------------------------------

/// A raw listening socket on 127.0.0.1, port 0.
int raw_listener(sockaddr_in& where) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  where = {};
  where.sin_family = AF_INET;
  where.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof where;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&where), sizeof where) != 0 || ::listen(fd, 1024) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&where), &len) != 0) {
    die("raw listener");
  }
  return fd;
}

/// The client half of an iteration, the same for both sides: a blocking
/// connect, which on loopback returns once the connection is established
/// and waiting in the listener's accept queue.
int connect_client(const sockaddr_in& where) {
  int c = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (c < 0 || ::connect(c, reinterpret_cast<const sockaddr*>(&where), sizeof where) != 0) {
    die("connect");
  }
  return c;
}

void BM_accept_close_raw(benchmark::State& state) {
  sockaddr_in where{};
  int lfd = raw_listener(where);
  for (auto _ : state) {
    int c = connect_client(where);
    int a = ::accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (a < 0) {
      die("accept4");
    }
    ::close(c);
    ::close(a);
  }
  ::close(lfd);
  state.SetItemsProcessed(state.iterations());
}

void accept_close_otpnet(benchmark::State& state, bool registry) {
  using mode = so::open_options::registry_mode;
  auto ls = so::open(so::domain::inet, so::type::stream, so::protocol::default_,
                     {.registry = registry ? mode::on : mode::off});
  if (!ls || !so::bind(*ls, so::address::inet_loopback(0)) || !so::listen(*ls, 1024)) {
    die("otpnet listener");
  }
  auto name = so::sockname(*ls);
  sockaddr_in where{};
  where.sin_family = AF_INET;
  where.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  where.sin_port = htons(name->port());
  for (auto _ : state) {
    int c = connect_client(where);
    auto a = so::accept(*ls);
    if (!a) {
      die("otpnet accept");
    }
    ::close(c);
    (void)so::close(*a);
  }
  (void)so::close(*ls);
  state.SetItemsProcessed(state.iterations());
}

void BM_accept_close_otpnet(benchmark::State& state) { accept_close_otpnet(state, true); }
void BM_accept_close_otpnet_noregistry(benchmark::State& state) { accept_close_otpnet(state, false); }

}  // namespace

BENCHMARK(BM_send_recv_64_raw);
BENCHMARK(BM_send_recv_64_otpnet);
BENCHMARK(BM_send_recv_64_otpnet_nowait);
BENCHMARK(BM_accept_close_raw);
BENCHMARK(BM_accept_close_otpnet);
BENCHMARK(BM_accept_close_otpnet_noregistry);

BENCHMARK_MAIN();
