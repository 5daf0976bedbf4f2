#!/usr/bin/env bash
# File: bench/run-tls.sh
#
# TLS against plain TCP, same machine, same run (issue 7): starts two
# otpnet-echo servers, one plain and one with --tls-cert/--tls-key (a
# P-256 certificate made now with the openssl CLI, in a temporary
# directory), each with one scheduler pinned to the first core, runs
# otpnet_bench_tls (bench/tls.bench.cpp) pinned to the second core against
# both, with the repetitions of every benchmark randomly interleaved, and
# writes bench/RESULTS-tls.md: the machine, medians, and TLS / plain
# ratios. Loopback only; a few minutes at most. Only the processes this
# script started are ended, by pid.
#
#   bench/run-tls.sh [--quick] [--no-build] [--out FILE]
#
#   --quick      3 repetitions of 0.3 s (default 5 of 1 s)
#   --no-build   use what is already built
#   --out FILE   the Markdown (default bench/RESULTS-tls.md)
#
# Environment: OTPNET_BENCH_BUILD (default build/bench-tls, configured
# RelWithDebInfo with OTPNET_BENCH=ON), OTPNET_BENCH_CPUS ("SERVER,CLIENT"
# cores, default "0,1"; one core: both on 0).
# Raw results (the benchmark's JSON, server logs) stay in
# $OTPNET_BENCH_BUILD/runs/<date>/. Exit status 0 if the table was written.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${OTPNET_BENCH_BUILD:-$root/build/bench-tls}
out_md=$root/bench/RESULTS-tls.md
reps=5
min_time=1
do_build=1
while [[ $# -gt 0 ]]; do
  case $1 in
    --quick) reps=3 min_time=0.3 ;;
    --no-build) do_build=0 ;;
    --out) out_md=$2; shift ;;
    *) echo "usage: bench/run-tls.sh [--quick] [--no-build] [--out FILE]" >&2; exit 2 ;;
  esac
  shift
done
for tool in openssl python3 taskset; do
  command -v "$tool" >/dev/null || { echo "run-tls.sh: $tool is needed" >&2; exit 2; }
done

if [[ $(nproc) -ge 2 ]]; then cpus=${OTPNET_BENCH_CPUS:-0,1}; else cpus=${OTPNET_BENCH_CPUS:-0,0}; fi
server_cpu=${cpus%,*}
client_cpu=${cpus#*,}

if [[ $do_build == 1 ]]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_EXPORT_COMPILE_COMMANDS=ON \
    -DOTPNET_BENCH=ON >/dev/null
  cmake --build "$build" --target otpnet-echo otpnet_bench_tls >/dev/null
fi
echo_bin=$build/bin/otpnet-echo
bench_bin=$build/bin/otpnet_bench_tls
[[ -x $echo_bin && -x $bench_bin ]] || { echo "run-tls.sh: build $echo_bin and $bench_bin first" >&2; exit 2; }

stamp=$(date -u +%Y%m%d-%H%M%S)
raw=$build/runs/$stamp
mkdir -p "$raw"
certs=$(mktemp -d /tmp/otpnet-bench-tls-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do
    kill -TERM "$p" 2>/dev/null || true
  done
  for p in "${pids[@]}"; do
    for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  rm -rf "$certs"
}
trap cleanup EXIT

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$certs/server.key" \
  -out "$certs/server.pem" -days 2 -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
  2>/dev/null

# start NAME ARGS...: an otpnet-echo on 127.0.0.1, port 0, one scheduler on
# the server core; sets port_NAME and pid_NAME.
start() {
  local name=$1
  shift
  rm -f "$raw/$name.port"
  taskset -c "$server_cpu" "$echo_bin" --bind 127.0.0.1 --port 0 --port-file "$raw/$name.port" --schedulers 1 \
    --drain-timeout 1s "$@" >"$raw/$name.out" 2>"$raw/$name.err" &
  local pid=$!
  pids+=("$pid")
  for _ in $(seq 400); do
    [[ -s $raw/$name.port ]] && break
    kill -0 "$pid" 2>/dev/null || { echo "run-tls.sh: $name server ended: $(cat "$raw/$name.err")" >&2; exit 1; }
    sleep 0.025
  done
  [[ -s $raw/$name.port ]] || { echo "run-tls.sh: $name server did not start" >&2; exit 1; }
  printf -v "port_$name" '%s' "$(cat "$raw/$name.port")"
  printf -v "pid_$name" '%s' "$pid"
}
start plain
start tls --tls-cert "$certs/server.pem" --tls-key "$certs/server.key"

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
started=$(date -u +%Y-%m-%dT%H:%MZ)
t0=$(date +%s)
# shellcheck disable=SC2154  # port_* and pid_* are set by start()
OTPNET_BENCH_PLAIN_PORT=$port_plain OTPNET_BENCH_PLAIN_PID=$pid_plain \
OTPNET_BENCH_TLS_PORT=$port_tls OTPNET_BENCH_TLS_PID=$pid_tls \
  timeout 600 taskset -c "$client_cpu" "$bench_bin" --benchmark_repetitions="$reps" \
  --benchmark_min_time="$min_time" --benchmark_enable_random_interleaving=true \
  --benchmark_out="$raw/bench.json" --benchmark_out_format=json >"$raw/bench.txt" 2>&1
seconds=$(( $(date +%s) - t0 ))
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
cpu_model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
compiler=$(grep -m1 CMAKE_CXX_COMPILER: "$build/CMakeCache.txt" | cut -d= -f2)
compiler_version=$("$compiler" --version | head -1)

python3 - "$raw/bench.json" "$out_md" <<PY
import json, statistics, sys
src, out = sys.argv[1], sys.argv[2]
runs = [b for b in json.load(open(src))["benchmarks"] if b.get("run_type") == "iteration" and not b.get("error_occurred")]
def med(name, key):
    v = [b[key] for b in runs if b["run_name"] == name and key in b]
    return statistics.median(v) if v else None
def fmt(x, d=0):
    return "n/a" if x is None else f"{x:,.{d}f}"
def ratio(a, b):
    return "n/a" if a is None or b is None or b == 0 else f"{a / b:.2f}x"
t = "/real_time/threads:4"
rows = []
for payload in (64, 16384):
    p, s = f"BM_echo/0/{payload}{t}", f"BM_echo/1/{payload}{t}"
    rows.append((f"echo, {payload}-byte frames, 4 connections x 16 in flight", "throughput (msg/s)",
                 med(p, "items_per_second"), med(s, "items_per_second"), 0))
    rows.append(("", "throughput (MB/s)", (med(p, "bytes_per_second") or 0) / 1e6,
                 (med(s, "bytes_per_second") or 0) / 1e6, 1))
    rows.append(("", "server CPU (us/msg)", med(p, "server_us"), med(s, "server_us"), 2))
plain_c = f"BM_connect/0{t}"
for mode, label in ((1, "full handshake"), (2, "resumed (session ticket)")):
    c = f"BM_connect/{mode}{t}"
    rows.append((f"connect + 64-byte echo + close, 4 at once; TLS: {label}", "connections (handshakes) /s",
                 med(plain_c, "items_per_second"), med(c, "items_per_second"), 0))
    rows.append(("", "server CPU (us/conn)", med(plain_c, "server_us"), med(c, "server_us"), 1))
resumed = med("BM_connect/2" + t, "resumed")
lines = []
lines.append("| scenario | metric | plain TCP | TLS | TLS / plain |")
lines.append("|---|---|---:|---:|---:|")
for scen, metric, p, s, d in rows:
    lines.append(f"| {scen} | {metric} | {fmt(p, d)} | {fmt(s, d)} | {ratio(s, p)} |")
table = "\n".join(lines)
open(out, "w").write(f"""# TLS against plain TCP (otpnet-echo)

Written by \`bench/run-tls.sh\` (benchmark: \`bench/tls.bench.cpp\`); do not edit by hand. Two otpnet-echo
servers run side by side, one plain and one serving TLS (\`--tls-cert\`/\`--tls-key\`, an ECDSA P-256
certificate, TLS 1.3 with OpenSSL's default suite, session tickets on), each with one scheduler on core
${server_cpu}; the clients (blocking sockets and OpenSSL, 4 threads on core ${client_cpu}) check every echoed byte.
The repetitions of all benchmarks are randomly interleaved, so plain and TLS are measured at the same
moments of the run; every figure is the median over the repetitions. Server CPU is user + system time of
the server process (/proc/PID/stat) per message or connection: the robust figure on a machine shared with
other work, since throughput here is bounded by whichever of the two cores saturates first.

## Machine and run

- CPU: ${cpu_model}, $(nproc) cores (nproc); server on core ${server_cpu}, clients on core ${client_cpu}
- Kernel: $(uname -sr)
- Compiler: ${compiler_version} (RelWithDebInfo); $(openssl version)
- Run: ${started}, commit ${commit} (plus the working tree); ${reps} repetitions x ${min_time} s per benchmark; ${seconds} s of measurements
- Load average (1, 5, 15 min) at start -> end: ${load_start} -> ${load_end}
- Raw results: \`${raw#"$root"/}/\` (Google Benchmark JSON, server logs)

## Medians

{table}

Session resumption: {fmt(resumed * 100 if resumed is not None else None)} % of the resumed-mode connections resumed.
A ratio above 1 is more throughput, or more server CPU, with TLS than without.
""")
print(table)
PY
echo "run-tls.sh: wrote $out_md (raw: $raw)"
