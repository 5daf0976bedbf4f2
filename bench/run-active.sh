#!/usr/bin/env bash
# File: bench/run-active.sh
#
# What a multishot receive buys an {active, true} server (issue 8; method:
# docs/performance.md, "What each optimisation bought"). otpnet-echo with
# one scheduler, pinned to core 0, otpnet-loadgen pinned to core 1, in four
# configurations, alternated round by round:
#
#   once     the tutorial's {active, once} on io_uring (single-shot receives)
#   single   --active true on io_uring, OTPNET_URING_STREAM_BUFFERS=0: one
#            single-shot receive submitted per read, as before multishot
#   multi    --active true on io_uring: one multishot receive per connection
#   epoll    --active true on epoll
#
# for ping-pong (100 connections) and the pipeline (100 x 16 in flight).
# Writes bench/RESULTS-active.md: medians, and each configuration's ratio to
# `single` taken round by round.
#
#   bash bench/run-active.sh             3 rounds x 5 s per run
#   ROUNDS=1 DURATION=2 bash bench/run-active.sh
#
# Environment: OTPNET_BENCH_BUILD (default build/release; built here if
# missing), ROUNDS, DURATION (seconds measured per run). Loopback only; every
# server started here is stopped here, by its pid.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${OTPNET_BENCH_BUILD:-$root/build/release}
rounds=${ROUNDS:-3}
duration=${DURATION:-5}
out=$root/bench/RESULTS-active.md
work=$(mktemp -d /tmp/otpnet-active.XXXXXX)
configs=(once single multi epoll)

if [[ ! -x $build/bin/otpnet-echo || ! -x $build/bin/otpnet-loadgen ]]; then
  (cd "$root" && cmake --preset release >/dev/null)
  cmake --build "$build" --target otpnet-echo otpnet-loadgen
fi
if ! "$build/bin/otpnet-echo" --backend io_uring --help >/dev/null 2>&1; then
  echo "run-active: otpnet-echo does not run" >&2
  exit 2
fi

# shellcheck source-path=SCRIPTDIR source=echo_server.sh
source "$root/bench/echo_server.sh"
trap 'echo_halt; rm -rf "$work"' EXIT

# measure CONFIG SCENARIO ROUND: one server, one pinned load generator run.
measure() {
  local config=$1 scenario=$2 round=$3 server=() env=() load=()
  case $config in
    once) server=(--backend io_uring --active once) ;;
    single) server=(--backend io_uring --active true) env=(OTPNET_URING_STREAM_BUFFERS=0) ;;
    multi) server=(--backend io_uring --active true) ;;
    epoll) server=(--backend epoll --active true) ;;
  esac
  case $scenario in
    pingpong) load=(--mode pingpong -c 100) ;;
    pipeline) load=(--mode pipeline -c 100 -w 16) ;;
  esac
  echo_start "$work" env "${env[@]}" taskset -c 0 "$build/bin/otpnet-echo" --bind 127.0.0.1 --schedulers 1 \
    "${server[@]}" || exit 2
  taskset -c 1 "$build/bin/otpnet-loadgen" --port "$echo_port" "${load[@]}" --duration "${duration}s" \
    --warmup 1s --server-pid "$echo_pid" --json -q >"$work/$config-$scenario-$round.json" 2>/dev/null || true
  echo_halt
}

start=$(date -u +%Y-%m-%dT%H:%MZ)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
for ((r = 1; r <= rounds; r++)); do
  for scenario in pingpong pipeline; do
    # Rotate which configuration goes first.
    k=$((r % ${#configs[@]}))
    order=("${configs[@]:k}" "${configs[@]:0:k}")
    for config in "${order[@]}"; do
      echo "run-active: round $r/$rounds, $scenario, $config" >&2
      measure "$config" "$scenario" "$r"
    done
  done
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

python3 - "$work" "$out" "$rounds" "$duration" "$start" "$load_start" "$load_end" \
  "$(git -C "$root" rev-parse --short HEAD)" "$(uname -r)" <<'PY'
import glob, json, os, statistics, sys
work, out, rounds, duration, start, l0, l1, commit, kernel = sys.argv[1:]
configs = [("once", "{active, once}, io_uring"), ("single", "{active, true}, io_uring, single-shot receives"),
           ("multi", "{active, true}, io_uring, multishot receive"), ("epoll", "{active, true}, epoll")]
def runs(config, scenario):
    got = {}
    for f in glob.glob(os.path.join(work, f"{config}-{scenario}-*.json")):
        try:
            d = json.load(open(f))
        except Exception:
            continue
        if d.get("ok") and (d.get("server") or {}).get("cpu_us_per_msg") is not None:
            got[f.rsplit("-", 1)[1]] = (d["throughput"], d["server"]["cpu_us_per_msg"])
    return got
def med(v):
    return statistics.median(v) if v else None
lines = ["# {active, true} with and without multishot receives", "",
         "Written by `bench/run-active.sh` (method: [docs/performance.md](../docs/performance.md)); do not edit by "
         "hand. otpnet-echo with one scheduler pinned to core 0, otpnet-loadgen pinned to core 1, 64-byte "
         "`{packet, 2}` frames over loopback. A ratio is the median of the ratios to the single-shot run of the "
         "same round.", "",
         f"- Run {start}, commit {commit}, kernel {kernel}; {rounds} round(s) x {duration} s measured per run, "
         "the configurations' order rotated each round",
         f"- Load average (1, 5, 15 min) at start -> end: {l0} -> {l1}", "",
         "| scenario | configuration | throughput (msg/s) | server CPU (us per msg) | throughput / single-shot | "
         "CPU / single-shot |", "|---|---|---:|---:|---:|---:|"]
for sc, title in [("pingpong", "ping-pong, 100 connections"), ("pipeline", "pipeline, 100 x 16 in flight")]:
    base = runs("single", sc)
    for i, (cfg, label) in enumerate(configs):
        r = runs(cfg, sc)
        tp = med([v[0] for v in r.values()])
        cpu = med([v[1] for v in r.values()])
        tr = med([r[k][0] / base[k][0] for k in r if k in base])
        cr = med([r[k][1] / base[k][1] for k in r if k in base])
        lines.append(f"| {title if i == 0 else ''} | {label} | {f'{tp:,.0f}' if tp else 'failed'} | "
                     f"{f'{cpu:.2f}' if cpu else 'failed'} | {f'{tr:.2f}x' if tr else 'n/a'} | "
                     f"{f'{cr:.2f}x' if cr else 'n/a'} |")
open(out, "w").write("\n".join(lines) + "\n")
print("wrote", out)
PY
