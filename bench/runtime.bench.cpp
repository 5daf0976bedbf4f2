// File: bench/runtime.bench.cpp
//
// The process runtime, measured the way bench/beam/runtime_bench.erl
// measures the BEAM (docs/benchmarks.md has the method):
//   spawn_exit          a process spawns N children that end at once and
//                       waits until all are gone (process_count); N = 100,
//                       1000 (the headline figure) and 10 000
//   spawn_exit_msg      the same, each child sending one message to the
//                       parent, which receives N
//   linked_churn        a process trapping exits holds 0, 1000 or 10 000
//                       linked children and spawn_links 1000 more that
//                       end: their links are removed as their exits come
//   ping_pong_same      round trips between two processes on scheduler 0
//   ping_pong_cross     the same, ping on scheduler 0, pong on scheduler 1
//   one_way_same        a producer sends N messages to a consumer that
//                       counts them: both on scheduler 0; N = 100 000 (the
//                       headline figure), 4000 and 1000
//   one_way_cross       producer on scheduler 0, consumer on scheduler 1
//   idle_process_memory 100 000 processes blocked in receive: RSS growth
//                       (/proc/self/statm) and heap growth (mallinfo2) per
//                       process, and process_info().memory
//   timer_wheel         reactor::timer_wheel insert+cancel pairs
//   send_after_cancel   send_after + cancel_timer pairs from a process
// Work that happens in processes is timed in the process (steady_clock)
// and reported to the benchmark thread's mailbox; the benchmark uses that
// as manual time, so the main thread's wake-up latency is not counted.
// Each benchmark reports `ns_per_op`: total manual time / operations.
// The runtime (2 schedulers) starts once per benchmark family and stops
// when the next family starts or at exit.
#include <otpnet/reactor/timer_wheel.hpp>
#include <otpnet/runtime/mailbox.hpp>
#include <otpnet/runtime/process.hpp>
#include <otpnet/runtime/process_info.hpp>
#include <otpnet/runtime/receive.hpp>
#include <otpnet/runtime/runtime.hpp>
#include <otpnet/runtime/timer.hpp>

#include <benchmark/benchmark.h>

#include <malloc.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using otpnet::after;
using otpnet::pid;
using otpnet::proc;
using otpnet::receive;
using otpnet::send;

// -- plumbing ------------------------------------------------------------------

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "runtime bench: %s\n", what);
  std::abort();
}

std::int64_t now_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

/// Starts the runtime for a family of benchmarks; a new family stops the
/// runtime of the previous one first (one runtime per OS process).
void runtime_for(const char* family) {
  static std::string current;
  if (current == family && otpnet::runtime::running()) {
    return;
  }
  otpnet::runtime::stop();
  if (!otpnet::runtime::start({.schedulers = 2})) {
    die("runtime::start");
  }
  current = family;
}

// Messages of the drivers.
struct go {
  std::uint64_t n;
  pid reply;
};
struct done {
  std::int64_t ns;
};
struct stamp {
  std::int64_t t;
  int which;  // 0 start (producer), 1 end (consumer)
};
struct ping_m {
  pid from;
};
struct pong_m {};
struct item {
  std::uint64_t i;
};
struct count_to {
  std::uint64_t n;
  pid reply;
};
struct child_done {};

/// The benchmark thread's side: a mailbox, the processes it started (killed
/// and waited for at the end), and the manual-time bookkeeping.
class harness {
 public:
  explicit harness(const char* family) : started_((runtime_for(family), true)) {}
  ~harness() {
    for (pid p : procs_) {
      otpnet::exit(p, otpnet::exit_reason::kill());
    }
    // Wait until they are gone, so that the next benchmark starts clean
    // (100 000 idle processes take seconds to end: see docs/benchmarks.md).
    for (int i = 0; i < 60000 && otpnet::runtime::process_count() > base_; ++i) {
      std::this_thread::sleep_for(1ms);
    }
    if (otpnet::runtime::process_count() > base_) {
      die("benchmark processes did not end");
    }
  }
  harness(const harness&) = delete;
  harness& operator=(const harness&) = delete;

  pid self() const noexcept { return mb_.self(); }
  otpnet::mailbox& mb() noexcept { return mb_; }
  void own(pid p) { procs_.push_back(p); }

  /// Sends go{n} to `driver` and waits for its done: the batch's time.
  void run_batch(benchmark::State& state, pid driver, std::uint64_t n) {
    send(driver, go{n, mb_.self()});
    auto d = mb_.receive<done>(60000ms);
    if (!d) {
      die("no answer from the driver");
    }
    record(state, d->ns, n);
  }

  void record(benchmark::State& state, std::int64_t ns, std::uint64_t ops) {
    state.SetIterationTime(static_cast<double>(ns) * 1e-9);
    total_ns_ += static_cast<double>(ns);
    total_ops_ += static_cast<double>(ops);
  }

  void report(benchmark::State& state) {
    state.counters["ns_per_op"] = total_ops_ > 0 ? total_ns_ / total_ops_ : 0;
    state.counters["ops_per_s"] = total_ns_ > 0 ? total_ops_ / (total_ns_ * 1e-9) : 0;
  }

 private:
  bool started_;  // the runtime runs before the mailbox is made
  otpnet::mailbox mb_;
  std::size_t base_ = otpnet::runtime::process_count();  // the mailbox included
  std::vector<pid> procs_;
  double total_ns_ = 0;
  double total_ops_ = 0;
};

pid spawn_on(int sched, auto&& f) {
  return otpnet::spawn_opt({.scheduler = sched}, std::forward<decltype(f)>(f)).first;
}

// -- spawn + exit ----------------------------------------------------------------

void BM_spawn_exit(benchmark::State& state) {
  harness h("spawn");
  pid driver = spawn_on(0, []() -> proc {
    for (;;) {
      go g = co_await receive<go>();
      const std::size_t base = otpnet::runtime::process_count();
      const std::int64_t t0 = now_ns();
      for (std::uint64_t i = 0; i < g.n; ++i) {
        (void)otpnet::spawn_opt({.scheduler = 0}, []() -> proc { co_return; });
      }
      // The children run, and end, before a yielding parent runs again.
      while (otpnet::runtime::process_count() > base) {
        co_await otpnet::yield();
      }
      send(g.reply, done{now_ns() - t0});
    }
  });
  h.own(driver);
  const auto n = static_cast<std::uint64_t>(state.range(0));
  for (auto _ : state) {
    h.run_batch(state, driver, n);
  }
  h.report(state);
}

// A supervisor's churn: a process that traps exits holds `held` linked
// children that stay, and spawn_links N = 1000 more that end at once; it
// takes their N exit messages. Each child's end removes its link from the
// parent's relations: the time per child must not grow with `held`
// (0, 1000, 10 000: a listener's handlers, a supervisor's connections).
struct never {};
void BM_linked_churn(benchmark::State& state) {
  harness h("spawn");
  const auto held = static_cast<std::uint64_t>(state.range(0));
  pid driver = spawn_on(0, [held]() -> proc {
    (void)otpnet::trap_exit(true);
    for (std::uint64_t i = 0; i < held; ++i) {
      (void)otpnet::spawn_opt({.link = true, .scheduler = 0}, []() -> proc { (void)co_await receive<never>(); });
    }
    for (;;) {
      go g = co_await receive<go>();
      const std::int64_t t0 = now_ns();
      for (std::uint64_t i = 0; i < g.n; ++i) {
        (void)otpnet::spawn_opt({.link = true, .scheduler = 0}, []() -> proc { co_return; });
      }
      for (std::uint64_t i = 0; i < g.n; ++i) {
        (void)co_await receive<otpnet::exit_msg>();
      }
      send(g.reply, done{now_ns() - t0});
    }
  });
  h.own(driver);
  for (auto _ : state) {
    h.run_batch(state, driver, 1000);
  }
  h.report(state);
}

void BM_spawn_exit_msg(benchmark::State& state) {
  harness h("spawn");
  pid driver = spawn_on(0, []() -> proc {
    for (;;) {
      go g = co_await receive<go>();
      const std::int64_t t0 = now_ns();
      const pid me = otpnet::self();
      for (std::uint64_t i = 0; i < g.n; ++i) {
        (void)otpnet::spawn_opt({.scheduler = 0}, [me]() -> proc {
          send(me, child_done{});
          co_return;
        });
      }
      for (std::uint64_t i = 0; i < g.n; ++i) {
        (void)co_await receive<child_done>();
      }
      send(g.reply, done{now_ns() - t0});
    }
  });
  h.own(driver);
  const auto n = static_cast<std::uint64_t>(state.range(0));
  for (auto _ : state) {
    h.run_batch(state, driver, n);
  }
  h.report(state);
}

// -- ping-pong -------------------------------------------------------------------

void ping_pong(benchmark::State& state, int pong_sched) {
  harness h("messages");
  pid ponger = spawn_on(pong_sched, []() -> proc {
    for (;;) {
      ping_m p = co_await receive<ping_m>();
      send(p.from, pong_m{});
    }
  });
  pid pinger = spawn_on(0, [ponger]() -> proc {
    const pid me = otpnet::self();
    for (;;) {
      go g = co_await receive<go>();
      const std::int64_t t0 = now_ns();
      for (std::uint64_t i = 0; i < g.n; ++i) {
        send(ponger, ping_m{me});
        (void)co_await receive<pong_m>();
      }
      send(g.reply, done{now_ns() - t0});
    }
  });
  h.own(ponger);
  h.own(pinger);
  const auto n = static_cast<std::uint64_t>(state.range(0));
  for (auto _ : state) {
    h.run_batch(state, pinger, n);
  }
  h.report(state);
}

void BM_ping_pong_same(benchmark::State& state) { ping_pong(state, 0); }
void BM_ping_pong_cross(benchmark::State& state) { ping_pong(state, 1); }

// -- one-way messages ------------------------------------------------------------

void one_way(benchmark::State& state, int consumer_sched) {
  harness h("messages");
  pid consumer = spawn_on(consumer_sched, []() -> proc {
    for (;;) {
      count_to c = co_await receive<count_to>();
      std::uint64_t sum = 0;
      for (std::uint64_t i = 0; i < c.n; ++i) {
        sum += (co_await receive<item>()).i;
      }
      benchmark::DoNotOptimize(sum);
      send(c.reply, stamp{now_ns(), 1});
    }
  });
  pid producer = spawn_on(0, [consumer]() -> proc {
    for (;;) {
      go g = co_await receive<go>();
      send(consumer, count_to{g.n, g.reply});
      const std::int64_t t0 = now_ns();
      for (std::uint64_t i = 0; i < g.n; ++i) {
        send(consumer, item{i});
      }
      send(g.reply, stamp{t0, 0});
    }
  });
  h.own(consumer);
  h.own(producer);
  const auto n = static_cast<std::uint64_t>(state.range(0));
  for (auto _ : state) {
    send(producer, go{n, h.self()});
    std::int64_t t[2] = {0, 0};
    for (int k = 0; k < 2; ++k) {
      auto s = h.mb().receive<stamp>(60000ms);
      if (!s) {
        die("no stamp from producer/consumer");
      }
      t[s->which] = s->t;
    }
    h.record(state, t[1] - t[0], n);
  }
  h.report(state);
}

void BM_one_way_same(benchmark::State& state) { one_way(state, 0); }
void BM_one_way_cross(benchmark::State& state) { one_way(state, 1); }

// -- memory of an idle process ----------------------------------------------------

std::size_t rss_bytes() {
  std::ifstream f("/proc/self/statm");
  std::size_t size = 0, resident = 0;
  f >> size >> resident;
  return resident * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

std::size_t heap_bytes() {
  struct mallinfo2 mi = ::mallinfo2();
  return mi.uordblks + mi.hblkhd;
}

/// Spawns N processes that wait in receive; reports the growth of RSS and
/// of the heap per process. Run it first in a fresh OS process: memory
/// freed by earlier benchmarks would be reused and hide the growth.
void BM_idle_process_memory(benchmark::State& state) {
  harness h("memory");
  const auto n = static_cast<std::uint64_t>(state.range(0));
  struct spawned {
    std::vector<pid> pids;
    std::int64_t ns;
  };
  pid driver = spawn_on(0, []() -> proc {
    for (;;) {
      go g = co_await receive<go>();
      const std::int64_t t0 = now_ns();
      std::vector<pid> pids;
      pids.reserve(g.n);
      for (std::uint64_t i = 0; i < g.n; ++i) {
        pids.push_back(spawn_on(0, []() -> proc { (void)co_await receive<int>(); }));
      }
      co_await otpnet::yield();  // every child has run into its receive
      const std::int64_t t1 = now_ns();
      send(g.reply, spawned{std::move(pids), t1 - t0});
    }
  });
  h.own(driver);
  double rss_per = 0, heap_per = 0, info_mem = 0, status_waiting = 0;
  for (auto _ : state) {
    const std::size_t rss0 = rss_bytes();
    const std::size_t heap0 = heap_bytes();
    send(driver, go{n, h.self()});
    auto s = h.mb().receive<spawned>(60000ms);
    if (!s) {
      die("no answer from the memory driver");
    }
    const std::size_t rss1 = rss_bytes();
    const std::size_t heap1 = heap_bytes();
    // The vector of pids is counted in both; take it out.
    const double pid_vec = static_cast<double>(s->pids.capacity() * sizeof(pid));
    rss_per = (static_cast<double>(rss1) - static_cast<double>(rss0) - pid_vec) / static_cast<double>(n);
    heap_per = (static_cast<double>(heap1) - static_cast<double>(heap0) - pid_vec) / static_cast<double>(n);
    auto info = otpnet::process_info(s->pids[n / 2]);
    if (!info) {
      die("process_info");
    }
    info_mem = static_cast<double>(info->memory);
    status_waiting = info->status == "waiting" ? 1 : 0;
    h.record(state, s->ns, n);
    for (pid p : s->pids) {
      send(p, 0);  // they end
    }
  }
  h.report(state);
  state.counters["rss_bytes_per_process"] = rss_per;
  state.counters["heap_bytes_per_process"] = heap_per;
  state.counters["process_info_memory"] = info_mem;
  state.counters["waiting"] = status_waiting;
}

// -- timers ----------------------------------------------------------------------

struct no_handler final : otpnet::reactor::timer_handler {
  void on_timer(std::uint64_t) noexcept override {}
};

/// Insert+cancel pairs on a wheel that also holds `live` armed timers,
/// with deadlines spread over 1 ms .. 65 s (every level in use).
void BM_timer_wheel_insert_cancel(benchmark::State& state) {
  using otpnet::reactor::timer_wheel;
  const auto start = timer_wheel::clock::now();
  timer_wheel w(start);
  no_handler handler;
  const auto live = static_cast<std::uint64_t>(state.range(0));
  for (std::uint64_t i = 0; i < live; ++i) {
    (void)w.insert(start + std::chrono::milliseconds(1 + (i * 7919) % 65536), handler, i);
  }
  std::uint64_t i = 0;
  const std::int64_t t0 = now_ns();
  for (auto _ : state) {
    auto th = w.insert(start + std::chrono::milliseconds(1 + (i * 7919) % 65536), handler, i);
    auto left = w.cancel(th, start);
    benchmark::DoNotOptimize(left);
    ++i;
  }
  const double ns = static_cast<double>(now_ns() - t0);
  state.counters["ns_per_op"] = ns / static_cast<double>(state.iterations());
  state.counters["ops_per_s"] = static_cast<double>(state.iterations()) / (ns * 1e-9);
}

void BM_send_after_cancel(benchmark::State& state) {
  harness h("timers");
  pid driver = spawn_on(0, []() -> proc {
    const pid me = otpnet::self();
    for (;;) {
      go g = co_await receive<go>();
      const std::int64_t t0 = now_ns();
      for (std::uint64_t i = 0; i < g.n; ++i) {
        auto t = otpnet::send_after(1000ms, me, item{i});
        auto left = otpnet::cancel_timer(t);
        if (!left) {
          die("cancel_timer: not found");
        }
      }
      send(g.reply, done{now_ns() - t0});
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
BENCHMARK(BM_idle_process_memory)->Arg(100000)->Iterations(1)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_spawn_exit)->Arg(100)->Arg(1000)->Arg(10000)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_linked_churn)->Arg(0)->Arg(1000)->Arg(10000)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_spawn_exit_msg)->Arg(1000)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ping_pong_same)->Arg(10000)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ping_pong_cross)->Arg(10000)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_one_way_same)->Arg(1000)->Arg(4000)->Arg(100000)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_one_way_cross)->Arg(100000)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_timer_wheel_insert_cancel)->Arg(0)->Arg(10000);
BENCHMARK(BM_send_after_cancel)->Arg(10000)->UseManualTime()->Unit(benchmark::kMicrosecond);

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
