// File: bench/behaviours.bench.cpp
//
// gen_server and supervisor, measured the way bench/beam/behaviours_bench.erl
// measures OTP's (docs/benchmarks.md has the method):
//   gen_server_call_same    a client process calls a gen_server N times
//                           (gen_server::call, default 5 s timeout; the
//                           server replies at once): both on scheduler 0
//   gen_server_call_cross   the same, client on scheduler 0, server on 1
//   supervisor_restart      a one_for_one supervisor holds one permanent
//                           worker (a gen_server whose init sends `up` to
//                           the driver); the driver kills it (exit kill) and
//                           waits for the restarted worker's `up`: N kills
//                           per supervisor, all on scheduler 0
// Work is timed inside the processes (steady_clock) and handed to Google
// Benchmark as manual time, as bench/runtime.bench.cpp does; each benchmark
// reports `ns_per_op`, total manual time / operations, and `cpu_ns_per_op`,
// the OS process's CPU time (every thread: CLOCK_PROCESS_CPUTIME_ID) over
// the batches / operations, the figure other load disturbs least (the BEAM
// side reports statistics(runtime) the same way). Supervisor reports
// go to a sink that drops them (the BEAM side sets the logger level to
// none), so that neither side measures writing a line to a terminal.
#include <otpnet/behaviours/child_spec.hpp>
#include <otpnet/behaviours/gen_server.hpp>
#include <otpnet/behaviours/report.hpp>
#include <otpnet/behaviours/supervisor.hpp>
#include <otpnet/behaviours/sync_wait.hpp>
#include <otpnet/runtime/mailbox.hpp>
#include <otpnet/runtime/process.hpp>
#include <otpnet/runtime/receive.hpp>
#include <otpnet/runtime/runtime.hpp>

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <thread>
#include <utility>
#include <vector>

namespace {

using namespace std::chrono_literals;
using otpnet::pid;
using otpnet::proc;
using otpnet::receive;
using otpnet::send;
using otpnet::start_options;
using otpnet::start_result;
using otpnet::type_list;
namespace gen_server = otpnet::gen_server;
namespace supervisor = otpnet::supervisor;

// -- plumbing ------------------------------------------------------------------

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "behaviours bench: %s\n", what);
  std::abort();
}

std::int64_t now_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

/// CPU time of the whole OS process (all threads), in ns.
std::int64_t process_cpu_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

/// The runtime (2 schedulers, as the BEAM's `+S 2`), started once.
void ensure_runtime() {
  if (otpnet::runtime::running()) {
    return;
  }
  if (!otpnet::runtime::start({.schedulers = 2})) {
    die("runtime::start");
  }
  otpnet::set_report_sink([](const otpnet::report&) {});
}

struct go {
  std::uint64_t n;
  pid reply;
};
struct done {
  std::int64_t ns;
};

/// The benchmark thread's side: a mailbox, the processes it started (killed
/// and waited for at the end), and the manual-time bookkeeping.
class harness {
 public:
  harness() : started_((ensure_runtime(), true)) {}
  ~harness() {
    for (pid p : procs_) {
      otpnet::exit(p, otpnet::exit_reason::kill());
    }
    for (int i = 0; i < 10000 && otpnet::runtime::process_count() > base_; ++i) {
      std::this_thread::sleep_for(1ms);
    }
    if (otpnet::runtime::process_count() > base_) {
      die("benchmark processes did not end");
    }
  }
  harness(const harness&) = delete;
  harness& operator=(const harness&) = delete;

  pid self() const noexcept { return mb_.self(); }
  void own(pid p) { procs_.push_back(p); }

  /// Sends go{n} to `driver` and waits for its done: the batch's time.
  void run_batch(benchmark::State& state, pid driver, std::uint64_t n) {
    const std::int64_t c0 = process_cpu_ns();
    send(driver, go{n, mb_.self()});
    auto d = mb_.receive<done>(60000ms);
    if (!d) {
      die("no answer from the driver");
    }
    total_cpu_ns_ += static_cast<double>(process_cpu_ns() - c0);
    state.SetIterationTime(static_cast<double>(d->ns) * 1e-9);
    total_ns_ += static_cast<double>(d->ns);
    total_ops_ += static_cast<double>(n);
  }

  void report(benchmark::State& state) const {
    state.counters["ns_per_op"] = total_ops_ > 0 ? total_ns_ / total_ops_ : 0;
    state.counters["cpu_ns_per_op"] = total_ops_ > 0 ? total_cpu_ns_ / total_ops_ : 0;
  }

 private:
  bool started_;  // the runtime runs before the mailbox is made
  otpnet::mailbox mb_;
  std::size_t base_ = otpnet::runtime::process_count();  // the mailbox included
  std::vector<pid> procs_;
  double total_ns_ = 0;
  double total_cpu_ns_ = 0;
  double total_ops_ = 0;
};

pid spawn_on(int sched, auto&& f) {
  return otpnet::spawn_opt({.scheduler = sched}, std::forward<decltype(f)>(f)).first;
}

// -- gen_server call round trip ---------------------------------------------------

struct echo_req {
  using reply_type = std::uint64_t;
  std::uint64_t v;
};

/// Replies with the request's value.
struct echo_server : gen_server::behaviour<echo_server> {
  using calls = type_list<echo_req>;
  call_return<std::uint64_t> handle_call(echo_req r) { return reply(r.v); }
};

void gen_server_call(benchmark::State& state, int server_sched) {
  harness h;
  start_result srv = otpnet::sync_wait(gen_server::start<echo_server>(start_options{.scheduler = server_sched}));
  if (!srv) {
    die("gen_server::start");
  }
  h.own(srv.id());
  pid client = spawn_on(0, [to = srv.id()]() -> proc {
    for (;;) {
      go g = co_await receive<go>();
      const std::int64_t t0 = now_ns();
      for (std::uint64_t i = 0; i < g.n; ++i) {
        otpnet::outcome<std::uint64_t> r = co_await gen_server::call(to, echo_req{i});
        if (!r || *r != i) {
          die("gen_server::call");
        }
      }
      send(g.reply, done{now_ns() - t0});
    }
  });
  h.own(client);
  const auto n = static_cast<std::uint64_t>(state.range(0));
  for (auto _ : state) {
    h.run_batch(state, client, n);
  }
  h.report(state);
}

// NOLINTNEXTLINE(readability-identifier-naming): BM_, as Google Benchmark names them
void BM_gen_server_call_same(benchmark::State& state) { gen_server_call(state, 0); }
// NOLINTNEXTLINE(readability-identifier-naming)
void BM_gen_server_call_cross(benchmark::State& state) { gen_server_call(state, 1); }

// -- supervisor restart --------------------------------------------------------------

struct up {
  pid who;
};

/// A worker whose init tells the driver it is up.
struct kid : gen_server::behaviour<kid> {
  explicit kid(pid d) : driver(d) {}
  init_return init() {
    send(driver, up{otpnet::self()});
    return ok();
  }
  pid driver;
};

/// One batch: a supervisor with one kid, `n` kills, each timed until the
/// new kid is up; the supervisor is stopped after (untimed).
otpnet::task<std::int64_t> restart_batch(std::uint64_t n) {
  const pid me = otpnet::self();
  otpnet::child_spec spec{
      .id = "kid",
      .start = {"kid:start_link", [me] { return gen_server::start_link<kid>(start_options{.scheduler = 0}, me); }},
      .restart = otpnet::restart_type::permanent,
      .shutdown = otpnet::shutdown_spec::brutal_kill(),
  };
  std::vector<otpnet::child_spec> specs;
  specs.push_back(std::move(spec));
  const supervisor::flags flags{.intensity = static_cast<int>(n) + 10, .period = 60s};
  // Named, not a temporary in the co_await: GCC 12 (supervisor.hpp).
  start_options on_0{.scheduler = 0};
  start_result sup = co_await supervisor::start(flags, std::move(specs), std::move(on_0));
  if (!sup) {
    die("supervisor::start");
  }
  pid child = (co_await receive<up>()).who;
  std::int64_t ns = 0;
  for (std::uint64_t i = 0; i < n; ++i) {
    const std::int64_t t0 = now_ns();
    otpnet::exit(child, otpnet::exit_reason::kill());
    child = (co_await receive<up>()).who;
    ns += now_ns() - t0;
  }
  if (!co_await gen_server::stop(sup.id())) {
    die("supervisor stop");
  }
  co_return ns;
}

// NOLINTNEXTLINE(readability-identifier-naming): BM_, as Google Benchmark names them
void BM_supervisor_restart(benchmark::State& state) {
  harness h;
  pid driver = spawn_on(0, []() -> proc {
    for (;;) {
      go g = co_await receive<go>();
      const std::int64_t ns = co_await restart_batch(g.n);
      send(g.reply, done{ns});
    }
  });
  h.own(driver);
  const auto n = static_cast<std::uint64_t>(state.range(0));
  for (auto _ : state) {
    h.run_batch(state, driver, n);
  }
  h.report(state);
}

}  // namespace

// Batches: operations per benchmark iteration (one go/done exchange).
BENCHMARK(BM_gen_server_call_same)->Arg(10000)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_gen_server_call_cross)->Arg(10000)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_supervisor_restart)->Arg(100)->UseManualTime()->Unit(benchmark::kMicrosecond);

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
