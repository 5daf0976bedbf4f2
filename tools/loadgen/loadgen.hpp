// File: tools/loadgen/loadgen.hpp
//
// otpnet-loadgen's engine: what a run is asked to do (`config`), what it
// measured (`results`), and `run`, which drives the connections on one
// otpnet reactor event loop per thread (the calling thread is the first).
//
// Modes:
//   pingpong  C connections, one frame in flight on each
//   pipeline  C connections, `depth` frames in flight on each; the frames
//             sent for one readable event go out in one write
//   connrate  C concurrent workers, each repeating: connect, one echo, close
//   idle      open C connections, one echo each (so that the server has
//             accepted and set each one up), then hold them; reports the
//             server's RSS growth per connection
// Every echoed byte is compared with what was sent (frames.hpp).
#pragma once

#include <otpnet/socket/address.hpp>

#include "frames.hpp"
#include "histogram.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace otpnet::tools::loadgen {

enum class mode : std::uint8_t { pingpong, pipeline, connrate, idle };

constexpr std::string_view to_string(mode m) noexcept {
  switch (m) {
    case mode::pingpong:
      return "pingpong";
    case mode::pipeline:
      return "pipeline";
    case mode::connrate:
      return "connrate";
    case mode::idle:
      return "idle";
  }
  return "unknown";
}

/// What to run.
struct config {
  socket::address target;
  std::string target_text;  ///< as shown in reports: "127.0.0.1:7000", "/tmp/echo.sock"
  mode what = mode::pingpong;
  std::size_t connections = 100;
  std::size_t depth = 1;  ///< frames in flight per connection (pingpong: 1)
  std::size_t size = 64;  ///< payload bytes per frame
  loadgen::framing framing = loadgen::framing::packet2;
  /// The measured window, after `warmup`. In idle mode: the longest time
  /// allowed to open the connections.
  std::chrono::nanoseconds duration = std::chrono::seconds(10);
  /// Not measured. In idle mode: the settling time before RSS is read.
  std::chrono::nanoseconds warmup = std::chrono::seconds(1);
  int server_pid = 0;                ///< 0: none; else read its CPU time and RSS
  std::size_t threads = 1;           ///< event loops (threads), connections split among them
  std::string backend;               ///< reactor backend of the loops; empty: OTPNET_BACKEND, else the default
  std::uint64_t max_messages = 0;    ///< 0: no limit; else stop after that many measured
  std::size_t max_connecting = 256;  ///< connects in progress at once (per run)
  /// IPv4 only: spread the connections over this many source addresses
  /// 127.0.0.1, 127.0.0.2, ... (1: let the kernel choose). Each source
  /// address has its own ephemeral ports, and connrate uses them up
  /// quickly: at tens of thousands of connections a second the ports left
  /// in TIME_WAIT (reusable on loopback after a second) run short.
  std::size_t source_addrs = 1;
  bool progress = true;  ///< a line on stderr every second
};

/// Failures, by kind. Any of them makes the run fail.
struct error_counts {
  std::uint64_t verify = 0;   ///< echoed payload differs from what was sent
  std::uint64_t framing = 0;  ///< echoed length header or line terminator wrong
  std::uint64_t closed = 0;   ///< the server closed a connection it should have kept
  std::uint64_t connect = 0;  ///< a connect failed (refused, out of descriptors, ...)
  std::uint64_t io = 0;       ///< another send/recv error (reset, ...)
  /// Frames still unanswered when the run ended, after the drain (a second
  /// for the frames in flight to come back): a server that drops or cuts
  /// short an echo stalls its connection, and fails the run here.
  std::uint64_t unanswered = 0;

  std::uint64_t total() const noexcept { return verify + framing + closed + connect + io + unanswered; }
  void add(const error_counts& o) noexcept {
    verify += o.verify;
    framing += o.framing;
    closed += o.closed;
    connect += o.connect;
    io += o.io;
    unanswered += o.unanswered;
  }
};

/// What a run measured.
struct results {
  double measured_seconds = 0;  ///< length of the measured window
  /// Echoes completed in the window; connrate: connections (connect, echo,
  /// close); idle: connections opened and echoed once (over the whole run).
  std::uint64_t messages = 0;
  std::uint64_t bytes = 0;  ///< payload bytes echoed in the window
  /// Per-frame round trip (send to verified echo) in ns; connrate and idle:
  /// connect start to verified echo.
  histogram latency;
  error_counts errors;
  std::vector<std::string> error_samples;  ///< the first few, described
  std::uint64_t connects_started = 0;
  std::uint64_t connects_established = 0;
  std::size_t idle_ready = 0;  ///< idle: connections holding after their echo
  bool interrupted = false;    ///< stopped by SIGINT/SIGTERM
  std::string fatal;           ///< a reason the run could not go on (empty: none)

  // The server (--server-pid), deltas over the measured window.
  bool server_seen = false;
  double server_cpu_seconds = 0;
  std::optional<std::uint64_t> server_rss_kib;  ///< at the end
  std::optional<std::uint64_t> rss_before_kib;  ///< idle: before connecting
  std::optional<std::uint64_t> rss_after_kib;   ///< idle: with every connection held

  // This process over the measured window.
  double client_cpu_seconds = 0;

  double throughput() const noexcept {
    return measured_seconds > 0 ? static_cast<double>(messages) / measured_seconds : 0.0;
  }
};

/// Runs the load described by `cfg` until its duration passes, its message
/// bound is reached or SIGINT/SIGTERM arrives. Never throws for network
/// failures: they are counted in `results::errors` or named in `fatal`.
results run(const config& cfg);

}  // namespace otpnet::tools::loadgen
