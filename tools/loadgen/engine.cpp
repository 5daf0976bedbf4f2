// File: tools/loadgen/engine.cpp
//
// The engine of otpnet-loadgen (see loadgen.hpp). One `worker` per thread
// owns an otpnet reactor event loop and its share of the connections; the
// first worker runs on the calling thread and also runs the `coordinator`
// between its turns (window snapshots, progress line, stopping).
//
// The hot path, per readable event of a connection: one recv through the
// socket layer (nowait form) into the connection's own buffer, every
// complete frame verified against a regenerated copy and its round trip
// recorded, then (pingpong, pipeline) as many new frames as were answered
// written behind what is still unsent and sent in one call. A recv that
// fills less than the buffer drained the socket (TCP delivers everything
// queued up to the size asked for), so it is not repeated just to see
// `eagain`: one recv per event, like the peers' servers. Nothing is
// allocated per message: buffers and send-time rings are carved out of one
// arena per worker when it starts.
//
// How the socket layer and the loop meet: every descriptor is added to the
// loop edge-triggered for both directions when it is opened, and the loop
// is the socket's poller (a `poller` whose attach is a no-op, since the
// loop already watches the descriptor). Each event is handed to the socket
// layer first (`deliver_readiness`), which serves a would-block call parked
// by an earlier nowait call (a connect in progress, a send that hit a full
// buffer), and the call is then repeated. The select events themselves go
// to a sink that ignores them: the loop's event is the notification.

#include <otpnet/reactor/event_loop.hpp>
#include <otpnet/socket/io.hpp>
#include <otpnet/socket/option.hpp>
#include <otpnet/socket/poller.hpp>
#include <otpnet/socket/select.hpp>
#include <otpnet/socket/socket.hpp>

#include "loadgen.hpp"
#include "procstat.hpp"

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cinttypes>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

namespace otpnet::tools::loadgen {

namespace {

using clock = std::chrono::steady_clock;
namespace so = ::otpnet::socket;
namespace re = ::otpnet::reactor;

constexpr std::size_t max_error_samples = 10;

std::atomic<bool> g_signalled{false};

void on_signal(int) { g_signalled.store(true, std::memory_order_relaxed); }

/// SIGINT and SIGTERM end the run early (with results); installed without
/// SA_RESTART so that a waiting poll returns at once.
void install_signal_handlers() {
  struct ::sigaction sa {};
  sa.sa_handler = on_signal;
  ::sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
}

bool traffic_mode(mode m) noexcept { return m == mode::pingpong || m == mode::pipeline; }

/// Frames in flight per connection for the mode.
std::size_t effective_depth(const config& cfg) noexcept {
  return cfg.what == mode::pipeline ? std::max<std::size_t>(cfg.depth, 1) : 1;
}

/// The poller of every socket the loadgen opens: the worker's loop already
/// watches the descriptor, so there is nothing to attach.
class loop_poller final : public so::poller {
 public:
  result<void> attach(so::detail::socket_state& s) noexcept override {
    (void)s;
    return ok();
  }
  void detach(so::detail::socket_state& s) noexcept override { (void)s; }
};

/// The sink of the nowait calls: the loop's readiness event is what tells a
/// worker to repeat a call, so the select events are dropped.
class quiet_sink final : public so::select_sink {
 public:
  void notify(so::select_event ev) noexcept override { (void)ev; }
};

/// format_error's "name: text" without allocating, for the noexcept paths.
struct error_words {
  explicit error_words(errc e) noexcept {
    const std::string_view name = err_name(e);
    std::snprintf(text, sizeof text, "%.*s: %s", static_cast<int>(name.size()), name.data(), err_text(e));
  }
  char text[160];
};

/// What all workers share: the configuration, the time line and the stop
/// flag, and the error samples.
struct control {
  explicit control(const config& c) : cfg(c) {}

  const config& cfg;
  clock::time_point t0;
  clock::time_point t_warm;  ///< start of the measured window (traffic modes)
  clock::time_point t_end;   ///< end of the measured window (traffic modes)
  /// The window is over: send nothing new, let the frames in flight come
  /// back (so that servers see a clean close), then stop.
  std::atomic<bool> draining{false};
  std::atomic<bool> stop{false};

  std::mutex samples_mu;
  std::vector<std::string> samples;
  std::string fatal;

  /// Records (and prints, for the first few) one failure. Called from the
  /// noexcept I/O paths: a sample it cannot store is printed all the same.
  void sample(const char* format, ...) noexcept __attribute__((format(printf, 2, 3))) {
    char buf[512];
    va_list ap;
    va_start(ap, format);
    std::vsnprintf(buf, sizeof buf, format, ap);
    va_end(ap);
    bool last = false;
    try {
      std::lock_guard lk(samples_mu);
      if (samples.size() >= max_error_samples) {
        return;
      }
      samples.emplace_back(buf);
      last = samples.size() == max_error_samples;
    } catch (...) {
      // Out of memory for the sample (or a failed lock): the line below still reports it.
    }
    std::fprintf(stderr, "otpnet-loadgen: error: %s%s\n", buf, last ? " (further errors are counted, not shown)" : "");
  }

  void set_fatal(std::string why) {
    std::lock_guard lk(samples_mu);
    if (fatal.empty()) {
      fatal = std::move(why);
    }
    stop.store(true, std::memory_order_relaxed);
  }
};

class coordinator;

enum class conn_state : std::uint8_t { unused, connecting, running, holding, closed };

struct connection {
  so::socket sock;
  int fd = -1;
  conn_state state = conn_state::unused;
  bool write_blocked = false;  ///< a send would block: wait for writable
  bool pending_first = false;  ///< counted in progress until its first echo
  std::uint64_t id = 0;        ///< seeds the payloads; unique in the run
  std::uint64_t sent = 0;      ///< frames generated
  std::uint64_t received = 0;  ///< frames echoed and checked
  std::size_t rlen = 0;        ///< bytes in rbuf
  std::size_t woff = 0;        ///< first unsent byte in wbuf
  std::size_t wlen = 0;        ///< end of the bytes in wbuf
  std::byte* rbuf = nullptr;
  std::byte* wbuf = nullptr;
  clock::time_point* send_ts = nullptr;  ///< ring of `depth` send times
  clock::time_point started;             ///< connect start (connrate, idle)
};

class worker final : public re::io_handler {
 public:
  worker(control& ctl, std::size_t index, std::size_t count)
      : ctl_(ctl),
        cfg_(ctl.cfg),
        index_(index),
        depth_(effective_depth(ctl.cfg)),
        flen_(frame_length(ctl.cfg.framing, ctl.cfg.size)),
        // Room for every frame in flight (the server can send back no more
        // than that), and at least 2 KiB so that a burst is read at once.
        rcap_(std::max<std::size_t>(depth_ * flen_ + flen_, 2048)),
        wcap_(depth_ * flen_),
        max_connecting_(std::max<std::size_t>(1, ctl.cfg.max_connecting / std::max<std::size_t>(ctl.cfg.threads, 1))),
        conns_(count),
        arena_(count * (rcap_ + wcap_) + ctl.cfg.size),
        ts_arena_(count * depth_) {
    std::byte* p = arena_.data();
    for (std::size_t i = 0; i < count; ++i) {
      conns_[i].rbuf = p;
      p += rcap_;
      conns_[i].wbuf = p;
      p += wcap_;
      conns_[i].send_ts = ts_arena_.data() + i * depth_;
    }
    scratch_ = p;
    pub_alive.store(count, std::memory_order_relaxed);
  }

  worker(const worker&) = delete;
  worker& operator=(const worker&) = delete;

  /// Runs turns until the run stops; then closes every connection.
  void run(coordinator* coord);

  void on_io(std::uint64_t token, re::readiness r) noexcept override;

  // Published once per turn for the coordinator (relaxed: figures only).
  std::atomic<std::uint64_t> pub_completed{0};
  std::atomic<std::uint64_t> pub_measured{0};
  std::atomic<std::uint64_t> pub_errors{0};
  std::atomic<std::uint64_t> pub_open{0};     ///< connections opening or open
  std::atomic<std::uint64_t> pub_settled{0};  ///< idle: ready or failed
  std::atomic<std::uint64_t> pub_ready{0};
  std::atomic<std::uint64_t> pub_alive{0};     ///< connections open, opening or still to open
  std::atomic<std::uint64_t> pub_inflight{0};  ///< frames sent and not echoed yet

  /// Round trips of the current progress interval (read by the coordinator
  /// on the same thread only, when there is one worker).
  histogram interval;

  /// This worker's share of the results, complete once `run` returned.
  results out;

 private:
  void publish() noexcept;
  void open_more(clock::time_point now) noexcept;
  void start(std::size_t slot, clock::time_point now) noexcept;
  void connected(connection& c, clock::time_point now) noexcept;
  void finish_connect(connection& c) noexcept;
  void connect_failed(connection& c, errc e, const char* during) noexcept;
  void read(connection& c, std::size_t slot) noexcept;
  bool consume(connection& c, std::size_t slot) noexcept;
  void send_frames(connection& c, std::size_t n, clock::time_point now) noexcept;
  bool flush(connection& c) noexcept;
  void drop(connection& c) noexcept;
  void first_echo_done(connection& c, bool ready) noexcept;
  void shutdown_all() noexcept;

  control& ctl_;
  const config& cfg_;
  std::size_t index_;
  std::size_t depth_;
  std::size_t flen_;
  std::size_t rcap_;
  std::size_t wcap_;
  std::size_t max_connecting_;
  std::vector<connection> conns_;
  std::vector<std::byte> arena_;
  std::vector<clock::time_point> ts_arena_;
  std::byte* scratch_ = nullptr;  ///< size bytes: the expected payload
  std::unique_ptr<re::event_loop> loop_;
  loop_poller poller_;
  quiet_sink sink_;

  bool measuring_ = false;
  bool stopping_ = false;
  std::size_t next_slot_ = 0;    ///< slots not opened yet start here
  std::size_t in_progress_ = 0;  ///< opened, first echo not yet back
  std::uint64_t next_id_ = 0;
  std::uint64_t completed_ = 0;  ///< verified echoes, whole run
  std::uint64_t open_ = 0;       ///< established and not closed
  std::uint64_t active_ = 0;     ///< opening or open
  std::uint64_t inflight_ = 0;   ///< frames sent and not echoed, all connections
  std::uint64_t ready_ = 0;
  std::uint64_t failed_before_ready_ = 0;
};

// -- the coordinator -----------------------------------------------------------

/// Runs on the first worker's thread between its turns: takes the window
/// snapshots, prints the progress line, decides when the run stops.
class coordinator {
 public:
  coordinator(control& ctl, std::vector<std::unique_ptr<worker>>& workers, results& out)
      : ctl_(ctl), cfg_(ctl.cfg), workers_(workers), out_(out), next_progress_(ctl.t0 + std::chrono::seconds(1)) {}

  /// Called before the first connection is opened.
  void begin() {
    if (cfg_.server_pid > 0) {
      out_.server_rss_kib = process_rss_kib(cfg_.server_pid);
      out_.rss_before_kib = out_.server_rss_kib;
    }
  }

  void turn(clock::time_point now);

  /// How long the next turn may wait: until the next thing to do, at most
  /// 100 ms (the stop flag and signals are looked at between turns).
  std::chrono::milliseconds wait_hint(clock::time_point now) const {
    if (finished_) {
      return std::chrono::milliseconds(5);  // draining
    }
    clock::time_point next = now + std::chrono::milliseconds(100);
    if (cfg_.progress) {
      next = std::min(next, next_progress_);
    }
    if (traffic_or_connrate()) {
      if (!warm_taken_) {
        next = std::min(next, ctl_.t_warm);
      }
      next = std::min(next, ctl_.t_end);
    } else if (settle_until_) {
      next = std::min(next, *settle_until_);
    }
    if (next <= now) {
      return std::chrono::milliseconds(0);
    }
    return std::chrono::ceil<std::chrono::milliseconds>(next - now);
  }

  bool finished() const noexcept { return finished_; }

 private:
  bool traffic_or_connrate() const noexcept { return cfg_.what != mode::idle; }

  template <class F>
  std::uint64_t sum(F field) const {
    std::uint64_t s = 0;
    for (const auto& w : workers_) {
      s += (w.get()->*field).load(std::memory_order_relaxed);
    }
    return s;
  }

  void snapshot_warm(clock::time_point now) {
    warm_taken_ = true;
    warm_at_ = now;
    if (cfg_.server_pid > 0) {
      auto cpu = process_cpu_seconds(cfg_.server_pid);
      out_.server_seen = cpu.has_value();
      server_cpu_warm_ = cpu.value_or(0);
    }
    self_cpu_warm_ = self_cpu_seconds();
  }

  void finish(clock::time_point now) {
    if (finished_) {
      return;
    }
    finished_ = true;
    if (traffic_or_connrate()) {
      if (!warm_taken_) {
        snapshot_warm(now);  // interrupted during the warm-up: an empty window
      }
      out_.measured_seconds = std::chrono::duration<double>(now - warm_at_).count();
      if (cfg_.server_pid > 0) {
        auto cpu = process_cpu_seconds(cfg_.server_pid);
        if (cpu && out_.server_seen) {
          out_.server_cpu_seconds = *cpu - server_cpu_warm_;
        } else {
          out_.server_seen = false;
        }
      }
      out_.client_cpu_seconds = self_cpu_seconds() - self_cpu_warm_;
    } else {
      out_.measured_seconds = std::chrono::duration<double>(opened_at_.value_or(now) - ctl_.t0).count();
      out_.client_cpu_seconds = self_cpu_seconds();
    }
    if (cfg_.server_pid > 0) {
      out_.server_rss_kib = process_rss_kib(cfg_.server_pid);
    }
    if (traffic_or_connrate() && !ctl_.stop.load(std::memory_order_relaxed)) {
      ctl_.draining.store(true, std::memory_order_relaxed);
      drain_until_ = now + std::chrono::seconds(1);
    } else {
      ctl_.stop.store(true, std::memory_order_relaxed);
    }
  }

  void progress(clock::time_point now);

  control& ctl_;
  const config& cfg_;
  std::vector<std::unique_ptr<worker>>& workers_;
  results& out_;
  clock::time_point next_progress_;
  clock::time_point last_progress_at_{};
  std::uint64_t last_completed_ = 0;
  bool warm_taken_ = false;
  clock::time_point warm_at_{};
  double server_cpu_warm_ = 0;
  double self_cpu_warm_ = 0;
  std::optional<clock::time_point> opened_at_;     ///< idle: every connection ready (or failed)
  std::optional<clock::time_point> settle_until_;  ///< idle: when RSS is read
  bool finished_ = false;
  clock::time_point drain_until_{};
};

void coordinator::turn(clock::time_point now) {
  if (finished_) {
    // Draining: stop once every frame in flight is back, or after a second.
    if (sum(&worker::pub_inflight) == 0 || now >= drain_until_) {
      ctl_.stop.store(true, std::memory_order_relaxed);
    }
    return;
  }
  if (g_signalled.load(std::memory_order_relaxed)) {
    out_.interrupted = true;
    finish(now);
    return;
  }
  if (ctl_.stop.load(std::memory_order_relaxed)) {  // a fatal error elsewhere
    finish(now);
    return;
  }
  if (traffic_or_connrate()) {
    if (!warm_taken_ && now >= ctl_.t_warm) {
      snapshot_warm(now);
    }
    if (now >= ctl_.t_end) {
      finish(now);
      return;
    }
    if (cfg_.max_messages > 0 && sum(&worker::pub_measured) >= cfg_.max_messages) {
      finish(now);
      return;
    }
    if (sum(&worker::pub_alive) == 0) {
      ctl_.sample("every connection failed or was closed: stopping early");
      finish(now);
      return;
    }
  } else {
    if (!opened_at_) {
      const bool all = sum(&worker::pub_settled) >= cfg_.connections;
      const bool late = now >= ctl_.t0 + cfg_.duration;
      if (all || late) {
        if (!all) {
          ctl_.sample("idle: only %" PRIu64 " of %zu connections ready after the duration", sum(&worker::pub_ready),
                      cfg_.connections);
        }
        opened_at_ = now;
        settle_until_ = now + cfg_.warmup;
      }
    }
    if (settle_until_ && now >= *settle_until_) {
      if (cfg_.server_pid > 0) {
        out_.rss_after_kib = process_rss_kib(cfg_.server_pid);
      }
      finish(now);
      return;
    }
  }
  if (cfg_.progress && now >= next_progress_) {
    progress(now);
    while (next_progress_ <= now) {
      next_progress_ += std::chrono::seconds(1);
    }
  }
}

void coordinator::progress(clock::time_point now) {
  const double t = std::chrono::duration<double>(now - ctl_.t0).count();
  const std::uint64_t completed = sum(&worker::pub_completed);
  const std::uint64_t errors = sum(&worker::pub_errors);
  if (cfg_.what == mode::idle) {
    std::fprintf(stderr, "[%6.1fs] %-8s ready %" PRIu64 "/%zu  open %" PRIu64 "  errors %" PRIu64 "\n", t,
                 opened_at_ ? "settling" : "opening", sum(&worker::pub_ready), cfg_.connections, sum(&worker::pub_open),
                 errors);
    return;
  }
  const clock::time_point since = last_progress_at_ == clock::time_point{} ? ctl_.t0 : last_progress_at_;
  const double dt = std::chrono::duration<double>(now - since).count();
  const double rate = dt > 0 ? static_cast<double>(completed - last_completed_) / dt : 0.0;
  last_progress_at_ = now;
  last_completed_ = completed;
  char p99[32] = "";
  if (workers_.size() == 1) {
    worker& w = *workers_[0];
    std::snprintf(p99, sizeof p99, "  p99 %8.1fus", static_cast<double>(w.interval.quantile(0.99)) / 1e3);
    w.interval.reset();
  }
  std::fprintf(stderr, "[%6.1fs] %-8s %10.0f %s%s  open %" PRIu64 "  errors %" PRIu64 "\n", t,
               now < ctl_.t_warm ? "warmup" : "measure", rate, cfg_.what == mode::connrate ? "conn/s" : "msg/s", p99,
               sum(&worker::pub_open), errors);
}

// -- the worker ------------------------------------------------------------------

void worker::run(coordinator* coord) {
  so::sink_scope scope(sink_);
  auto lp = re::event_loop::create({.backend = cfg_.backend});
  if (!lp) {
    ctl_.set_fatal("cannot create the event loop: " + format_error(lp.error()));
    return;
  }
  loop_ = std::move(*lp);
  for (;;) {
    const auto now = clock::now();
    measuring_ = now >= ctl_.t_warm && now < ctl_.t_end;
    if (ctl_.draining.load(std::memory_order_relaxed)) {
      stopping_ = true;
      measuring_ = false;
    }
    // Slots not opened yet are opened here, between turns, as the connects
    // in progress finish: never from a handler, so that a run of failures
    // does not recurse.
    open_more(now);
    publish();
    std::chrono::milliseconds wait(100);
    if (coord != nullptr) {
      coord->turn(now);
      wait = coord->wait_hint(now);
      if (ctl_.draining.load(std::memory_order_relaxed)) {
        stopping_ = true;  // the window closed in this turn: send nothing new
        measuring_ = false;
      }
    }
    if (ctl_.stop.load(std::memory_order_relaxed)) {
      break;
    }
    auto r = loop_->run_once(wait);
    if (!r) {
      ctl_.set_fatal("event loop failed: " + format_error(r.error()));
      break;
    }
  }
  stopping_ = true;
  shutdown_all();
  publish();
  out.connects_started = next_id_;
  if (cfg_.what == mode::idle) {
    out.messages = ready_;
  }
  out.idle_ready = ready_;
}

void worker::publish() noexcept {
  pub_completed.store(completed_, std::memory_order_relaxed);
  pub_measured.store(out.messages, std::memory_order_relaxed);
  pub_errors.store(out.errors.total(), std::memory_order_relaxed);
  pub_open.store(active_, std::memory_order_relaxed);
  pub_settled.store(ready_ + failed_before_ready_, std::memory_order_relaxed);
  pub_ready.store(ready_, std::memory_order_relaxed);
  pub_alive.store(active_ + (conns_.size() - next_slot_), std::memory_order_relaxed);
  pub_inflight.store(inflight_, std::memory_order_relaxed);
}

void worker::open_more(clock::time_point now) noexcept {
  while (!stopping_ && next_slot_ < conns_.size() && in_progress_ < max_connecting_) {
    start(next_slot_++, now);
  }
}

void worker::start(std::size_t slot, clock::time_point now) noexcept {
  connection& c = conns_[slot];
  c.id = (static_cast<std::uint64_t>(index_) << 40) | next_id_++;
  c.sent = c.received = 0;
  c.rlen = c.woff = c.wlen = 0;
  c.write_blocked = false;
  c.started = now;
  c.pending_first = true;
  ++in_progress_;
  ++active_;
  c.state = conn_state::connecting;
  so::open_options opts;
  opts.registry = so::open_options::registry_mode::off;
  const bool ip = cfg_.target.family() != so::domain::local;
  // (open and add may throw std::bad_alloc: a connection that fails, not the run.)
  auto s = [&]() noexcept -> result<so::socket> {
    try {
      return so::open(cfg_.target.family(), so::type::stream, ip ? so::protocol::tcp : so::protocol::default_, opts);
    } catch (...) {
      return fail(errc::enomem);
    }
  }();
  if (!s) {
    connect_failed(c, s.error(), "socket");
    return;
  }
  (void)so::detail::prefer_poller(*s->state(), poller_);
  if (ip && traffic_mode(cfg_.what)) {
    // connrate and idle send one frame per connection: Nagle never holds it.
    (void)so::setopt(*s, so::opt::tcp::nodelay, true);
  }
  if (ip && cfg_.source_addrs > 1 && cfg_.target.family() == so::domain::inet) {
    // Choose the source address now and the port at connect time, when
    // the kernel knows the whole 4-tuple (IP_BIND_ADDRESS_NO_PORT).
    const auto k = static_cast<std::uint8_t>(1 + next_id_ % cfg_.source_addrs);
    (void)so::setopt_native(*s, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1);
    // A plain bind: so::bind would also ask for the port it got (a
    // getsockname per connection), which is 0 here until the connect.
    const so::address source = so::address::inet({127, 0, 0, k}, 0);
    if (::bind(s->native_handle(), source.native(), source.size()) != 0) {
      const errc e = from_errno(errno);
      c.sock = std::move(*s);
      connect_failed(c, e, "bind to a source address");
      return;
    }
  }
  c.sock = std::move(*s);
  c.fd = c.sock.native_handle();
  auto added = [&]() noexcept -> result<void> {
    try {
      return loop_->add(c.fd, re::interest::read_write, *this,
                        static_cast<std::uint32_t>(slot));  // (at most 1,000,000)
    } catch (...) {
      return fail(errc::enomem);
    }
  }();
  if (!added) {
    c.fd = -1;  // not watched: nothing to remove
    connect_failed(c, added.error(), "event_loop::add");
    return;
  }
  auto r = so::connect(c.sock, cfg_.target, so::nowait);
  if (r.is_ok()) {
    connected(c, now);
  } else if (r.is_error()) {
    connect_failed(c, r.error(), "connect");
  }
  // select: the writable event finishes it (finish_connect).
}

void worker::finish_connect(connection& c) noexcept {
  auto r = so::connect(c.sock, cfg_.target, so::nowait);
  if (r.is_ok()) {
    connected(c, clock::now());
  } else if (r.is_error()) {
    connect_failed(c, r.error(), "connect");
  }
}

void worker::connected(connection& c, clock::time_point now) noexcept {
  c.state = conn_state::running;
  ++open_;
  ++out.connects_established;
  send_frames(c, depth_, now);
}

void worker::connect_failed(connection& c, errc e, const char* during) noexcept {
  ++out.errors.connect;
  ctl_.sample("%s to %s failed: %s%s", during, cfg_.target_text.c_str(), error_words(e).text,
              e == errc::emfile || e == errc::enfile ? " (raise the descriptor limit: ulimit -n)"
              : e == errc::econnrefused              ? " (is the server listening there?)"
                                                     : "");
  drop(c);
}

void worker::send_frames(connection& c, std::size_t n, clock::time_point now) noexcept {
  if (c.woff > 0) {
    std::memmove(c.wbuf, c.wbuf + c.woff, c.wlen - c.woff);
    c.wlen -= c.woff;
    c.woff = 0;
  }
  for (std::size_t i = 0; i < n; ++i) {
    make_frame(cfg_.framing, c.id, c.sent, c.wbuf + c.wlen, cfg_.size);
    c.send_ts[c.sent % depth_] = now;
    ++c.sent;
    ++inflight_;
    c.wlen += flen_;
  }
  if (!c.write_blocked) {
    (void)flush(c);
  }
}

bool worker::flush(connection& c) noexcept {
  if (c.wlen == c.woff) {
    return true;
  }
  auto r = so::send(c.sock, std::span<const std::byte>(c.wbuf + c.woff, c.wlen - c.woff), so::nowait);
  if (r.is_ok()) {
    c.woff = c.wlen = 0;
    return true;
  }
  if (const so::select_info* si = r.select_info(); si != nullptr) {
    c.woff += si->progress;
    c.write_blocked = true;
    return true;
  }
  ++out.errors.io;
  ctl_.sample("connection %" PRIu64 ": send failed: %s", c.id, error_words(r.error()).text);
  drop(c);
  return false;
}

void worker::on_io(std::uint64_t token, re::readiness r) noexcept {
  const std::size_t slot = static_cast<std::size_t>(token);
  connection& c = conns_[slot];
  if (c.state == conn_state::unused || c.state == conn_state::closed) {
    return;
  }
  // The backend already marks both directions on an error or a hang-up.
  so::detail::deliver_readiness(*c.sock.state(), so::readiness{r.readable, r.writable});
  if (c.state == conn_state::connecting) {
    if (r.writable && !r.error && !r.hangup) {
      connected(c, clock::now());  // a connect in progress that became writable without error succeeded
    } else if (r.writable) {
      finish_connect(c);  // the connect's result (its error) from a second call
    }
    return;
  }
  if (r.writable && c.write_blocked) {
    c.write_blocked = false;
    if (!flush(c)) {
      return;
    }
  }
  if (r.readable) {
    read(c, slot);
  }
}

void worker::read(connection& c, std::size_t slot) noexcept {
  for (;;) {
    const std::size_t space = rcap_ - c.rlen;
    auto r = so::recv(c.sock, std::span<std::byte>(c.rbuf + c.rlen, space), so::nowait);
    if (r.is_ok()) {
      const std::size_t n = *r;
      c.rlen += n;
      if (!consume(c, slot)) {
        return;  // dropped, or closed and reopened (connrate)
      }
      if (n < space) {
        break;  // drained (see the file comment)
      }
      continue;
    }
    if (r.is_select()) {
      break;
    }
    const errc e = r.error();
    if (e == errc::closed) {
      if (!stopping_) {
        ++out.errors.closed;
        ctl_.sample("connection %" PRIu64 ": closed by the server after %" PRIu64 " of %" PRIu64 " echoes", c.id,
                    c.received, c.sent);
      }
    } else {
      ++out.errors.io;
      ctl_.sample("connection %" PRIu64 ": recv failed: %s", c.id, error_words(e).text);
    }
    drop(c);
    return;
  }
  if (traffic_mode(cfg_.what) && c.state == conn_state::running && !stopping_) {
    const std::size_t answered = depth_ - static_cast<std::size_t>(c.sent - c.received);
    if (answered > 0) {
      send_frames(c, answered, clock::now());
    }
  }
}

bool worker::consume(connection& c, std::size_t slot) noexcept {
  const auto now = clock::now();
  std::size_t off = 0;
  while (off < c.rlen) {
    const frame_scan s = next_frame(cfg_.framing, c.rbuf + off, c.rlen - off, cfg_.size);
    if (s.what == frame_scan::kind::incomplete) {
      break;
    }
    if (s.what == frame_scan::kind::bad_length) {
      ++out.errors.framing;
      ctl_.sample("connection %" PRIu64 " frame %" PRIu64 ": echoed frame of %zu bytes, sent %zu", c.id, c.received,
                  s.found_length, cfg_.size);
      drop(c);
      return false;
    }
    if (c.received == c.sent) {
      ++out.errors.verify;
      ctl_.sample("connection %" PRIu64 ": an echo of a frame never sent (frame %" PRIu64 ")", c.id, c.received);
      drop(c);
      return false;
    }
    make_payload(c.id, c.received, scratch_, cfg_.size);
    const bool same = std::memcmp(s.payload, scratch_, cfg_.size) == 0;
    if (same) {
      const clock::time_point sent_at = traffic_mode(cfg_.what) ? c.send_ts[c.received % depth_] : c.started;
      const auto ns =
          static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(now - sent_at).count());
      ++completed_;
      interval.record(ns);
      if (cfg_.what == mode::idle) {
        out.latency.record(ns);  // connect + first echo; messages = ready_ at the end
      } else if (measuring_ && !ctl_.draining.load(std::memory_order_relaxed)) {
        // (Draining: the coordinator has closed the window, with its time
        // and CPU readings, maybe in this very turn or another worker's.)
        ++out.messages;
        out.bytes += cfg_.size;
        out.latency.record(ns);
      }
    } else {
      ++out.errors.verify;
      std::size_t at = 0;
      while (at < cfg_.size && s.payload[at] == scratch_[at]) {
        ++at;
      }
      ctl_.sample("connection %" PRIu64 " frame %" PRIu64 ": echoed payload differs from the one sent at byte %zu",
                  c.id, c.received, at);
    }
    ++c.received;
    --inflight_;
    off += s.consumed;
    if (cfg_.what == mode::connrate) {
      // One echo per connection: close it and open the next in its slot.
      first_echo_done(c, false);
      drop(c);
      if (!stopping_) {
        start(slot, clock::now());
      }
      return false;
    }
    if (c.pending_first) {
      first_echo_done(c, cfg_.what == mode::idle && same);
    }
  }
  if (off > 0) {
    std::memmove(c.rbuf, c.rbuf + off, c.rlen - off);
    c.rlen -= off;
  }
  return true;
}

void worker::first_echo_done(connection& c, bool ready) noexcept {
  if (!c.pending_first) {
    return;
  }
  c.pending_first = false;
  --in_progress_;
  if (ready) {
    ++ready_;
    c.state = conn_state::holding;
  }
}

void worker::drop(connection& c) noexcept {
  if (c.pending_first) {
    c.pending_first = false;
    --in_progress_;
    if (cfg_.what == mode::idle) {
      ++failed_before_ready_;
    }
  }
  if (c.state == conn_state::running || c.state == conn_state::holding) {
    --open_;
    if (c.state == conn_state::holding) {
      --ready_;
      ++failed_before_ready_;  // settled all the same: it will not become ready again
    }
  }
  if (c.state != conn_state::unused && c.state != conn_state::closed) {
    --active_;
    inflight_ -= c.sent - c.received;
    c.received = c.sent;
  }
  if (c.fd >= 0) {
    (void)loop_->remove(c.fd);
  }
  if (c.sock) {
    (void)so::close(c.sock);
  }
  c.sock = so::socket{};
  c.fd = -1;
  c.state = conn_state::closed;
  c.write_blocked = false;
}

void worker::shutdown_all() noexcept {
  if (!loop_) {
    return;
  }
  for (auto& c : conns_) {
    if (c.state != conn_state::unused && c.state != conn_state::closed) {
      if (c.sent > c.received) {
        // The drain is over: what is still out will not come back.
        out.errors.unanswered += c.sent - c.received;
        ctl_.sample("connection %" PRIu64 ": %" PRIu64 " frame(s) never echoed by the end of the run", c.id,
                    c.sent - c.received);
      }
      c.pending_first = false;  // not a failure: the run is over
      if (c.state == conn_state::holding) {
        c.state = conn_state::running;  // keep ready_ as it was for the report
      }
      drop(c);
    }
  }
}

}  // namespace

// -- run -------------------------------------------------------------------------

results run(const config& cfg) {
  install_signal_handlers();
  control ctl(cfg);
  ctl.t0 = clock::now();
  ctl.t_warm = ctl.t0 + cfg.warmup;
  ctl.t_end = ctl.t_warm + cfg.duration;
  if (cfg.what == mode::idle) {
    // No measured window of traffic: the coordinator stops the run.
    ctl.t_warm = ctl.t_end = clock::time_point::max();
  }

  const std::size_t nthreads = std::clamp<std::size_t>(cfg.threads, 1, std::max<std::size_t>(cfg.connections, 1));
  std::vector<std::unique_ptr<worker>> workers;
  for (std::size_t i = 0; i < nthreads; ++i) {
    const std::size_t share = cfg.connections / nthreads + (i < cfg.connections % nthreads ? 1 : 0);
    workers.push_back(std::make_unique<worker>(ctl, i, share));
  }
  results out;
  coordinator coord(ctl, workers, out);
  coord.begin();

  std::vector<std::thread> threads;
  for (std::size_t i = 1; i < nthreads; ++i) {
    threads.emplace_back([&w = *workers[i]] { w.run(nullptr); });
  }
  workers[0]->run(&coord);
  for (auto& t : threads) {
    t.join();
  }

  for (auto& w : workers) {
    out.messages += w->out.messages;
    out.bytes += w->out.bytes;
    out.latency.merge(w->out.latency);
    out.errors.add(w->out.errors);
    out.connects_started += w->out.connects_started;
    out.connects_established += w->out.connects_established;
    out.idle_ready += w->out.idle_ready;
  }
  {
    std::lock_guard lk(ctl.samples_mu);
    out.error_samples = ctl.samples;
    out.fatal = ctl.fatal;
  }
  return out;
}

}  // namespace otpnet::tools::loadgen
