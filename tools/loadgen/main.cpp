// File: tools/loadgen/main.cpp
//
// otpnet-loadgen: a load generator for echo servers speaking {packet,2},
// line or raw framing, on loopback or a local socket only.
//   otpnet-loadgen --port 7000 --mode pingpong --connections 100 --duration 10s
//   otpnet-loadgen --port 7000 --mode pipeline --connections 100 --depth 16 --json
//   otpnet-loadgen --port 7000 --mode connrate --connections 50 --server-pid 1234
//   otpnet-loadgen --port 7000 --mode idle --connections 10000 --server-pid 1234
// Progress goes to stderr once a second; the summary to stdout, or with
// --json the JSON document to stdout and the summary to stderr.
// Exit status: 0 when every echo matched and something was measured; 1 on
// any error (mismatch, unexpected close, failed connect) or an empty run;
// 2 for a bad command line or a refused address; 130 when interrupted.

#include <otpnet/socket/address.hpp>

#include "loadgen.hpp"
#include "procstat.hpp"
#include "report.hpp"

#include <CLI/CLI.hpp>

#include <netinet/in.h>
#include <sys/resource.h>

#include <charconv>
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>

namespace {

namespace lg = otpnet::tools::loadgen;
namespace so = otpnet::socket;

constexpr int exit_failed = 1;
constexpr int exit_usage = 2;
constexpr int exit_interrupted = 130;

int usage_error(const std::string& what) {
  std::cerr << "otpnet-loadgen: " << what << '\n';
  return exit_usage;
}

/// "10s", "500ms", "2m", "1.5s", "3" (seconds).
std::optional<std::chrono::nanoseconds> parse_duration(const std::string& text) {
  double v = 0;
  const char* first = text.data();
  const char* last = text.data() + text.size();
  auto [p, ec] = std::from_chars(first, last, v);
  if (ec != std::errc{} || v < 0) {
    return std::nullopt;
  }
  const std::string unit(p, last);
  double scale = 0;
  if (unit.empty() || unit == "s") {
    scale = 1e9;
  } else if (unit == "ms") {
    scale = 1e6;
  } else if (unit == "us") {
    scale = 1e3;
  } else if (unit == "m" || unit == "min") {
    scale = 60e9;
  } else {
    return std::nullopt;
  }
  return std::chrono::nanoseconds(static_cast<std::int64_t>(v * scale));
}

/// The target, if it is one the load generator may load: an IPv4 address in
/// 127.0.0.0/8, ::1 (or ::ffff:127.x.y.z), or a local socket path (anything
/// with a '/'). Names are not resolved. On refusal, `why` says why.
std::optional<so::address> loopback_target(const std::string& host, int port, std::string& why) {
  if (host.find('/') != std::string::npos) {
    auto a = so::address::local(host);
    if (!a) {
      why = "local socket path '" + host + "' is too long";
      return std::nullopt;
    }
    return *a;
  }
  if (port <= 0 || port > 65535) {
    why = "--port must be in 1..65535 for " + host;
    return std::nullopt;
  }
  auto a = so::address::parse(host, static_cast<std::uint16_t>(port));
  if (!a) {
    why = "refusing '" + host +
          "': give an explicit loopback address (127.0.0.1, any 127.x.y.z, or ::1) or a local socket path; "
          "names are not resolved";
    return std::nullopt;
  }
  bool loopback = false;
  if (a->family() == so::domain::inet) {
    const auto* sin = reinterpret_cast<const ::sockaddr_in*>(a->native());
    loopback = (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
  } else if (a->family() == so::domain::inet6) {
    const auto* sin6 = reinterpret_cast<const ::sockaddr_in6*>(a->native());
    const auto& b = sin6->sin6_addr.s6_addr;
    bool zero10 = true;
    for (int i = 0; i < 10; ++i) {
      zero10 = zero10 && b[i] == 0;
    }
    const bool v6_loopback = IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr);
    const bool mapped_127 = zero10 && b[10] == 0xff && b[11] == 0xff && b[12] == 127;
    loopback = v6_loopback || mapped_127;
  }
  if (!loopback) {
    why = "refusing " + a->to_string() +
          ": otpnet-loadgen only loads loopback (127.0.0.0/8, ::1) or a local socket path, never another host";
    return std::nullopt;
  }
  return *a;
}

/// Raises the soft descriptor limit to what `connections` need (up to the
/// hard limit, or above it when allowed). False if it cannot.
bool raise_fd_limit(std::size_t connections, std::string& why) {
  const rlim_t need = static_cast<rlim_t>(connections) + 64;
  ::rlimit rl{};
  ::getrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur >= need) {
    return true;
  }
  ::rlimit want = rl;
  want.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need ? need : rl.rlim_max;
  if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need) {
    want.rlim_cur = want.rlim_max = need;  // only for a privileged process
  }
  if (::setrlimit(RLIMIT_NOFILE, &want) == 0) {
    return true;
  }
  why = std::to_string(connections) + " connections need " + std::to_string(need) + " descriptors, but the limit is " +
        std::to_string(rl.rlim_max) + " (ulimit -n)";
  return false;
}

int cli_main(int argc, char** argv) {
  CLI::App app{
      "Loads an echo server ({packet,2}, line or raw framing) on loopback or a local socket and verifies every "
      "echoed byte. Reports throughput, round-trip percentiles, and with --server-pid the server's CPU time per "
      "message and its memory.",
      "otpnet-loadgen"};
  std::string host = "127.0.0.1";
  int port = 0;
  std::string mode_name = "pingpong";
  std::size_t connections = 100;
  std::size_t depth = 16;
  std::size_t size = 64;
  std::string duration_text = "10s";
  std::string warmup_text = "1s";
  std::string framing_name = "packet2";
  bool json = false;
  bool quiet = false;
  int server_pid = 0;
  std::size_t threads = 1;
  std::uint64_t max_messages = 0;
  std::size_t max_connecting = 256;

  app.add_option("--host", host,
                 "Server address: 127.x.y.z or ::1, or a local socket path (anything with a '/'). Other "
                 "addresses and names are refused")
      ->capture_default_str();
  app.add_option("--port", port, "Server port (TCP)");
  app.add_option("--mode", mode_name,
                 "pingpong (1 frame in flight per connection), pipeline (--depth in flight), connrate (connect, "
                 "one echo, close, by --connections concurrent workers), idle (hold --connections, report the "
                 "server's RSS per connection)")
      ->check(CLI::IsMember({"pingpong", "pipeline", "connrate", "idle"}))
      ->capture_default_str();
  app.add_option("-c,--connections", connections, "Connections (connrate: concurrent workers)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1000000}))
      ->capture_default_str();
  app.add_option("-w,--depth", depth, "Frames in flight per connection (pipeline only)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{65536}))
      ->capture_default_str();
  app.add_option("--size", size, "Payload bytes per frame (without the framing)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 20))
      ->capture_default_str();
  app.add_option("--duration", duration_text,
                 "Measured time after the warm-up (10s, 500ms, 2m). idle: the longest time allowed to open the "
                 "connections")
      ->capture_default_str();
  app.add_option("--warmup", warmup_text, "Unmeasured time first. idle: settling time before the RSS is read")
      ->capture_default_str();
  app.add_option("--framing", framing_name, "packet2 (2-byte big-endian length), line ('\\n' after), raw")
      ->check(CLI::IsMember({"packet2", "line", "raw"}))
      ->capture_default_str();
  app.add_flag("--json", json, "Print the result as JSON on stdout (the summary goes to stderr)");
  app.add_option("--server-pid", server_pid,
                 "The server's pid: report its CPU time per message (/proc/PID/stat) and its RSS (idle: growth "
                 "per connection)");
  app.add_option("--threads", threads, "Event loops (threads); connections are split among them")
      ->check(CLI::Range(std::size_t{1}, std::size_t{64}))
      ->capture_default_str();
  std::string backend;
  app.add_option("--backend", backend,
                 "Reactor backend of the load generator's loops (default: OTPNET_BACKEND, else epoll)")
      ->check(CLI::IsMember({"epoll", "io_uring"}));
  app.add_option("--messages", max_messages, "Stop after this many measured messages (0: no limit)");
  app.add_option("--max-connecting", max_connecting, "Connections being opened at once")
      ->check(CLI::Range(std::size_t{1}, std::size_t{100000}))
      ->capture_default_str();
  int source_addrs = 0;
  app.add_option("--source-addrs", source_addrs,
                 "IPv4: spread connections over source addresses 127.0.0.1..127.0.0.N, each with its own "
                 "ephemeral ports (default: 16 in connrate mode, else 1)")
      ->check(CLI::Range(0, 254));
  app.add_flag("-q,--quiet", quiet, "No progress line");
  CLI11_PARSE(app, argc, argv);

  lg::config cfg;
  std::string why;
  auto target = loopback_target(host, port, why);
  if (!target) {
    return usage_error(why);
  }
  cfg.target = *target;
  cfg.target_text = target->to_string();
  cfg.what = mode_name == "pipeline"   ? lg::mode::pipeline
             : mode_name == "connrate" ? lg::mode::connrate
             : mode_name == "idle"     ? lg::mode::idle
                                       : lg::mode::pingpong;
  cfg.framing = framing_name == "line"  ? lg::framing::line
                : framing_name == "raw" ? lg::framing::raw
                                        : lg::framing::packet2;
  if (cfg.framing == lg::framing::packet2 && size > 65535) {
    return usage_error("--size must be at most 65535 with packet2 framing");
  }
  auto duration = parse_duration(duration_text);
  auto warmup = parse_duration(warmup_text);
  if (!duration || *duration <= std::chrono::nanoseconds::zero() || *duration > std::chrono::hours(24)) {
    return usage_error("--duration '" + duration_text + "': give a time such as 10s, 500ms or 2m (at most 24 h)");
  }
  if (!warmup || *warmup > std::chrono::hours(1)) {
    return usage_error("--warmup '" + warmup_text + "': give a time such as 1s or 0 (at most 1 h)");
  }
  if (cfg.what == lg::mode::pipeline && depth * (size + 2) > (std::size_t{64} << 20)) {
    return usage_error("--depth x --size is above 64 MiB per connection");
  }
  if (server_pid < 0 || (server_pid > 0 && !lg::process_exists(server_pid))) {
    return usage_error("--server-pid " + std::to_string(server_pid) + ": no such process");
  }
  cfg.connections = connections;
  cfg.depth = depth;
  cfg.size = size;
  cfg.duration = *duration;
  cfg.warmup = *warmup;
  cfg.server_pid = server_pid;
  cfg.threads = threads;
  cfg.backend = backend;
  cfg.max_messages = max_messages;
  cfg.max_connecting = max_connecting;
  cfg.progress = !quiet;
  cfg.source_addrs = source_addrs > 0                 ? static_cast<std::size_t>(source_addrs)
                     : cfg.what == lg::mode::connrate ? 16
                                                      : 1;
  if (!raise_fd_limit(connections, why)) {
    return usage_error(why);
  }

  const lg::results r = lg::run(cfg);
  const std::string text = lg::to_text(cfg, r);
  if (json) {
    std::cerr << text;
    std::cout << lg::to_json(cfg, r) << std::flush;
  } else {
    std::cout << text << std::flush;
  }
  if (lg::succeeded(cfg, r)) {
    return r.interrupted ? exit_interrupted : 0;
  }
  if (r.messages == 0 && r.errors.total() == 0 && r.fatal.empty() && !r.interrupted) {
    std::cerr << "otpnet-loadgen: nothing was measured (no echo came back in the window)\n";
  }
  return r.interrupted && r.errors.total() == 0 ? exit_interrupted : exit_failed;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return cli_main(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "otpnet-loadgen: error: " << e.what() << '\n';
    return exit_failed;
  }
}
