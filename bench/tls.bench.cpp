// File: bench/tls.bench.cpp
//
// otpnet-echo serving TLS against otpnet-echo serving plain TCP, measured
// in the same run by the same clients (issue 7; run by bench/run-tls.sh,
// which starts both servers, pinned to their own core, and writes
// bench/RESULTS-tls.md). The clients are plain blocking sockets and
// OpenSSL, so that the figures are the server's; every echoed byte is
// checked.
//
//   BM_echo/<transport>/<payload>   each iteration: 16 {packet,2} frames of
//                                   `payload` bytes in one write, then their
//                                   16 echoes; items = frames
//   BM_connect/<mode>               each iteration: connect, (TLS: a full
//                                   handshake, or a resumed one with the
//                                   session ticket of the previous
//                                   connection), one 64-byte echo, close
//                                   (TLS: close_notify first); items =
//                                   connections
// transport: 0 plain, 1 TLS. mode: 0 plain, 1 TLS full handshake, 2 TLS
// resumed. Every benchmark also reports `server_us`: the server's CPU time
// (user + system, /proc/PID/stat) per item, the figure that holds on a
// machine shared with other work.
//
// The servers come from the environment: OTPNET_BENCH_PLAIN_PORT and
// OTPNET_BENCH_PLAIN_PID, OTPNET_BENCH_TLS_PORT and OTPNET_BENCH_TLS_PID.
// A benchmark whose server is not given is skipped with an error.
#include <benchmark/benchmark.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

namespace {

constexpr int frames_per_iteration = 16;

struct server {
  std::uint16_t port = 0;
  int pid = 0;
};

server server_from_env(const char* port_var, const char* pid_var) {
  const char* port = std::getenv(port_var);  // NOLINT(concurrency-mt-unsafe): read before the clients start
  const char* pid = std::getenv(pid_var);    // NOLINT(concurrency-mt-unsafe)
  if (port == nullptr || pid == nullptr) {
    return {};
  }
  return {static_cast<std::uint16_t>(std::atoi(port)), std::atoi(pid)};
}

const server& plain_server() {
  static const server s = server_from_env("OTPNET_BENCH_PLAIN_PORT", "OTPNET_BENCH_PLAIN_PID");
  return s;
}
const server& tls_server() {
  static const server s = server_from_env("OTPNET_BENCH_TLS_PORT", "OTPNET_BENCH_TLS_PID");
  return s;
}

/// utime + stime of `pid`, in microseconds.
double cpu_us(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto paren = stat.rfind(')');
  if (paren == std::string::npos) {
    return 0;
  }
  std::istringstream fields(stat.substr(paren + 2));
  std::vector<std::string> f;
  for (std::string x; fields >> x;) {
    f.push_back(x);
  }
  if (f.size() < 13) {
    return 0;
  }
  double ticks = std::stod(f[11]) + std::stod(f[12]);
  return ticks * 1e6 / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

SSL_CTX* client_context() {
  static SSL_CTX* ctx = [] {
    SSL_CTX* c = SSL_CTX_new(TLS_client_method());
    // Loopback, our own server: the client's verification is not what is
    // measured.
    SSL_CTX_set_verify(c, SSL_VERIFY_NONE, nullptr);
    SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_CLIENT);
    return c;
  }();
  return ctx;
}

/// One client connection, blocking, every wait bounded by SO_RCVTIMEO /
/// SO_SNDTIMEO (a stuck server fails the benchmark instead of hanging it).
class connection {
 public:
  connection() = default;
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;
  ~connection() { close(); }

  bool open(std::uint16_t port, bool tls, SSL_SESSION* resume = nullptr) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    timeval tv{10, 0};
    int one = 1;
    (void)::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    (void)::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    (void)::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      return false;
    }
    if (!tls) {
      return true;
    }
    ssl_ = SSL_new(client_context());
    SSL_set_fd(ssl_, fd_);
    if (resume != nullptr) {
      SSL_set_session(ssl_, resume);
    }
    return SSL_connect(ssl_) == 1;
  }

  bool write_all(const char* p, std::size_t n) {
    while (n > 0) {
      long w = ssl_ != nullptr ? SSL_write(ssl_, p, static_cast<int>(n)) : ::send(fd_, p, n, MSG_NOSIGNAL);
      if (w <= 0) {
        return false;
      }
      p += w;
      n -= static_cast<std::size_t>(w);
    }
    return true;
  }
  bool read_exact(char* p, std::size_t n) {
    while (n > 0) {
      long r = ssl_ != nullptr ? SSL_read(ssl_, p, static_cast<int>(n)) : ::recv(fd_, p, n, 0);
      if (r <= 0) {
        return false;
      }
      p += r;
      n -= static_cast<std::size_t>(r);
    }
    return true;
  }

  /// Sends `frames` (already framed) and checks that they come back.
  bool echo(const std::string& frames, std::string& scratch) {
    if (!write_all(frames.data(), frames.size())) {
      return false;
    }
    scratch.resize(frames.size());
    if (!read_exact(scratch.data(), scratch.size())) {
      return false;
    }
    return scratch == frames;
  }

  /// The session to resume next time (TLS 1.3: the newest ticket).
  SSL_SESSION* session() const { return ssl_ != nullptr ? SSL_get1_session(ssl_) : nullptr; }
  bool reused() const { return ssl_ != nullptr && SSL_session_reused(ssl_) == 1; }

  void close() {
    if (ssl_ != nullptr) {
      (void)SSL_shutdown(ssl_);  // close_notify; the server's is not awaited
      SSL_free(ssl_);
      ssl_ = nullptr;
    }
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }

 private:
  int fd_ = -1;
  SSL* ssl_ = nullptr;
};

std::string framed(std::size_t body, int count) {
  std::string one;
  one.push_back(static_cast<char>((body >> 8) & 0xff));
  one.push_back(static_cast<char>(body & 0xff));
  for (std::size_t i = 0; i < body; ++i) {
    one.push_back(static_cast<char>('a' + i % 26));
  }
  std::string all;
  for (int k = 0; k < count; ++k) {
    all += one;
  }
  return all;
}

/// Measures the server's CPU time over the benchmark loop (thread 0).
class server_cpu {
 public:
  server_cpu(const benchmark::State& st, int pid) : pid_(st.thread_index() == 0 ? pid : 0) {
    if (pid_ != 0) {
      start_ = cpu_us(pid_);
    }
  }
  /// Reports `server_us`: server CPU microseconds per item of all threads.
  void report(benchmark::State& st, double items_per_iteration) const {
    if (pid_ == 0) {
      return;
    }
    double items = static_cast<double>(st.iterations()) * st.threads() * items_per_iteration;
    st.counters["server_us"] = items > 0 ? (cpu_us(pid_) - start_) / items : 0;
  }

 private:
  int pid_;
  double start_ = 0;
};

void BM_echo(benchmark::State& st) {  // NOLINT(readability-identifier-naming): Google Benchmark's names
  bool tls = st.range(0) == 1;
  auto body = static_cast<std::size_t>(st.range(1));
  const server& s = tls ? tls_server() : plain_server();
  if (s.port == 0) {
    st.SkipWithError("no server: see the environment variables at the top of tls.bench.cpp");
    return;
  }
  connection c;
  if (!c.open(s.port, tls)) {
    st.SkipWithError("cannot connect");
    return;
  }
  std::string frames = framed(body, frames_per_iteration);
  std::string scratch;
  server_cpu cpu(st, s.pid);
  for (auto _ : st) {
    if (!c.echo(frames, scratch)) {
      st.SkipWithError("echo failed or differed");
      break;
    }
  }
  cpu.report(st, frames_per_iteration);
  st.SetItemsProcessed(st.iterations() * frames_per_iteration);
  st.SetBytesProcessed(st.iterations() * frames_per_iteration * static_cast<std::int64_t>(body));
}

void BM_connect(benchmark::State& st) {  // NOLINT(readability-identifier-naming)
  int mode = static_cast<int>(st.range(0));
  bool tls = mode != 0;
  const server& s = tls ? tls_server() : plain_server();
  if (s.port == 0) {
    st.SkipWithError("no server: see the environment variables at the top of tls.bench.cpp");
    return;
  }
  std::string frame = framed(64, 1);
  std::string scratch;
  SSL_SESSION* resume = nullptr;
  std::int64_t reused = 0;
  server_cpu cpu(st, s.pid);
  for (auto _ : st) {
    connection c;
    if (!c.open(s.port, tls, resume) || !c.echo(frame, scratch)) {
      st.SkipWithError("connect or echo failed");
      break;
    }
    reused += c.reused() ? 1 : 0;
    if (mode == 2) {
      SSL_SESSION_free(resume);
      resume = c.session();
    }
  }
  SSL_SESSION_free(resume);
  cpu.report(st, 1);
  if (st.thread_index() == 0 && st.iterations() > 0) {
    // The share of this thread's connections that resumed a session.
    st.counters["resumed"] = static_cast<double>(reused) / static_cast<double>(st.iterations());
  }
  st.SetItemsProcessed(st.iterations());
}

BENCHMARK(BM_echo)->ArgsProduct({{0, 1}, {64, 16384}})->Threads(4)->UseRealTime();
BENCHMARK(BM_connect)->Arg(0)->Arg(1)->Arg(2)->Threads(4)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
