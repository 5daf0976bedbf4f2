#!/usr/bin/env bash
# File: bench/run-scaling.sh
#
# Multi-core scaling of otpnet-echo (issue 8; method: docs/performance.md,
# "Multi-core"): the same load against `--schedulers 1` and against
# `--schedulers 2 --acceptors 2` (one SO_REUSEPORT listen socket and one
# acceptor per scheduler), alternating, ROUNDS times. Nothing is pinned:
# the server may use both cores, and otpnet-loadgen (2 threads) shares them,
# so on a 2-core machine the figure is how much of the second core the
# server turns into throughput while the load generator also needs it.
# Writes bench/RESULTS-scaling.md (medians).
#
#   bash bench/run-scaling.sh            3 rounds x 4 s per run
#   ROUNDS=1 DURATION=2 bash bench/run-scaling.sh
#
# Environment: OTPNET_BENCH_BUILD (default build/release; built here if
# missing), ROUNDS, DURATION (seconds measured per run). Loopback only;
# every server started here is stopped here, by its pid.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${OTPNET_BENCH_BUILD:-$root/build/release}
rounds=${ROUNDS:-3}
duration=${DURATION:-4}
out=$root/bench/RESULTS-scaling.md
work=$(mktemp -d /tmp/otpnet-scaling.XXXXXX)

if [[ ! -x $build/bin/otpnet-echo || ! -x $build/bin/otpnet-loadgen ]]; then
  (cd "$root" && cmake --preset release >/dev/null)
  cmake --build "$build" --target otpnet-echo otpnet-loadgen
fi

# shellcheck source-path=SCRIPTDIR source=echo_server.sh
source "$root/bench/echo_server.sh"
trap 'echo_halt; rm -rf "$work"' EXIT

# run_one CONFIG SCENARIO ROUND: one server start, one loadgen run, its JSON kept.
run_one() {
  local config=$1 scenario=$2 round=$3 args=() lg=()
  case $config in
    s1) args=(--schedulers 1 --acceptors 1) ;;
    s2) args=(--schedulers 2 --acceptors 2) ;;
  esac
  case $scenario in
    pingpong) lg=(--mode pingpong -c 200) ;;
    pipeline) lg=(--mode pipeline -c 100 -w 16) ;;
    connrate) lg=(--mode connrate -c 50) ;;
  esac
  echo_start "$work" "$build/bin/otpnet-echo" "${args[@]}" || exit 2
  "$build/bin/otpnet-loadgen" --port "$echo_port" "${lg[@]}" --threads 2 --duration "${duration}s" \
    --warmup 1s --server-pid "$echo_pid" --json -q >"$work/$config-$scenario-$round.json" 2>/dev/null || true
  echo_halt
}

start=$(date -u +%Y-%m-%dT%H:%MZ)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
for ((r = 1; r <= rounds; r++)); do
  for scenario in pingpong pipeline connrate; do
    # Alternate which configuration goes first.
    if ((r % 2)); then order=(s1 s2); else order=(s2 s1); fi
    for config in "${order[@]}"; do
      echo "run-scaling: round $r/$rounds, $scenario, $config" >&2
      run_one "$config" "$scenario" "$r"
    done
  done
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

python3 - "$work" "$out" "$rounds" "$duration" "$start" "$load_start" "$load_end" \
  "$(git -C "$root" rev-parse --short HEAD)" "$(nproc)" <<'PY'
import glob, json, os, statistics, sys
work, out, rounds, duration, start, l0, l1, commit, ncpu = sys.argv[1:]
rows = []
names = {"pingpong": "ping-pong, 200 connections", "pipeline": "pipeline, 100 x 16 in flight",
         "connrate": "connect + echo + close, 50 at once"}
def med(config, scenario, key):
    vals = []
    for f in glob.glob(os.path.join(work, f"{config}-{scenario}-*.json")):
        try:
            d = json.load(open(f))
        except Exception:
            continue
        if not d.get("ok"):
            continue
        v = d["throughput"] if key == "tp" else d["server"][key]
        if v is not None:
            vals.append(v)
    return statistics.median(vals) if vals else None
lines = ["# Multi-core scaling of otpnet-echo", "",
         "Written by `bench/run-scaling.sh` (method: [docs/performance.md](../docs/performance.md#multi-core)); "
         "do not edit by hand. 64-byte `{packet, 2}` frames over loopback, otpnet-loadgen with 2 threads, "
         "nothing pinned: the load generator shares the machine's cores with the server.", "",
         f"- Machine: {ncpu} cores (nproc); run {start}, commit {commit}; {rounds} round(s) x {duration} s "
         f"measured per run, configurations alternated", f"- Load average (1, 5, 15 min) at start -> end: {l0} -> {l1}", "",
         "| scenario | metric | 1 scheduler | 2 schedulers, 2 acceptors | 2 / 1 |", "|---|---|---:|---:|---:|"]
for sc in ["pingpong", "pipeline", "connrate"]:
    unit = "conn/s" if sc == "connrate" else "msg/s"
    for key, label, fmt in [("tp", f"throughput ({unit})", "{:,.0f}"),
                            ("cpu_us_per_msg", "server CPU (us per " + ("conn" if sc == "connrate" else "msg") + ")", "{:.2f}"),
                            ("cpu_util", "server CPU use (cores)", "{:.2f}")]:
        a, b = med("s1", sc, key), med("s2", sc, key)
        ratio = f"{b / a:.2f}x" if a and b else "n/a"
        lines.append(f"| {names[sc] if key == 'tp' else ''} | {label} | "
                     f"{fmt.format(a) if a is not None else 'failed'} | {fmt.format(b) if b is not None else 'failed'} | {ratio} |")
open(out, "w").write("\n".join(lines) + "\n")
print("wrote", out)
PY
