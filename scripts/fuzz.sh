#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/, clang + ASan/UBSan) and runs each for
# a bounded time. A crash fails the run, leaves its input as build/fuzz/crash-*
# and prints the command to reproduce it.
#
#   bash scripts/fuzz.sh              every target, OTPNET_FUZZ_SECONDS each (default 60)
#   bash scripts/fuzz.sh packet       only otpnet_fuzz_packet
#
# Environment: OTPNET_FUZZ_SECONDS (per target), OTPNET_FUZZ_JOBS (parallel
# workers per target, with libFuzzer's -fork; default 1). Build tree:
# build/fuzz; corpora are kept in build/fuzz/corpus/<name> and grow from run
# to run; fuzz/seeds/<name>, where there is one, seeds them.
# The last line is `fuzz: N targets, N execs, 0 crashes` (or the failure).
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

seconds=${OTPNET_FUZZ_SECONDS:-60}
jobs=${OTPNET_FUZZ_JOBS:-1}
build=build/fuzz
cxx=$(command -v clang++-14 || command -v clang++) || die "fuzz: clang++ not installed (bash scripts/deps.sh)"
cc=$(command -v clang-14 || command -v clang) || die "fuzz: clang not installed"

cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_C_COMPILER="$cc" \
  -DOTPNET_FUZZ=ON -DOTPNET_TESTS=OFF -DOTPNET_BENCH=OFF >/dev/null
cmake --build "$build" --target otpnet_fuzzers

if (($#)); then
  names=("$@")
else
  mapfile -t names < <(find fuzz -name '*.fuzz.cpp' -printf '%f\n' | sed 's/\.fuzz\.cpp$//' | sort)
fi

total_execs=0
for name in "${names[@]}"; do
  bin="$build/bin/otpnet_fuzz_$name"
  [[ -x "$bin" ]] || die "fuzz: no target $bin"
  corpus="$build/corpus/$name"
  mkdir -p "$corpus"
  out="$build/fuzz-$name.log"
  log "fuzz: $name for ${seconds}s"
  args=("corpus/$name")
  # Seed inputs kept in the tree (fuzz/seeds/<name>), read but not written.
  if [[ -d fuzz/seeds/$name ]]; then
    args+=("$PWD/fuzz/seeds/$name")
  fi
  # -timeout: an input that runs 10 s is a hang, reported as one (not after
  # libFuzzer's default of 20 minutes).
  args+=(-max_total_time="$seconds" -timeout=10 -print_final_stats=1 -artifact_prefix="./")
  if ((jobs > 1)); then
    args+=(-fork="$jobs")
  fi
  rc=0
  (cd "$build" && "./bin/otpnet_fuzz_$name" "${args[@]}") >"$out" 2>&1 || rc=$?
  execs=$(grep -E '^stat::number_of_executed_units:' "$out" | awk '{s += $2} END {print s + 0}')
  if ((rc != 0)); then
    tail -40 "$out"
    die "fuzz: $name failed (exit $rc) after $execs execs; log: $out; reproduce: $bin <crash file>"
  fi
  log "fuzz: $name: $execs execs, $(find "$corpus" -type f | wc -l) corpus entries"
  total_execs=$((total_execs + execs))
done
printf 'fuzz: %d targets, %d execs, 0 crashes\n' "${#names[@]}" "$total_execs"
