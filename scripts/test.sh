#!/usr/bin/env bash
# The test command (README, CI): installs what it needs, checks formatting and
# the layer rules, then builds and runs every test in the release, ASan+UBSan
# and TSan builds, compiles each public header alone, runs clang-tidy and
# fuzzes the framing decoders for a bounded time.
#
#   bash scripts/test.sh            everything, as CI runs it
#   bash scripts/test.sh --quick    release build and its tests only: no sanitizers, clang-tidy or fuzzing
#   bash scripts/test.sh --no-tidy  everything but clang-tidy
#
# Stops at the first failing phase with a line naming it. The last line is
# always `N passed, N failed`, summed over every ctest run so far (CI reads it).
# Idempotent: build trees are the presets' (build/<preset>), rebuilt incrementally.
# Environment: OTPNET_TIDY_BUDGET (seconds, default 900) bounds clang-tidy;
# OTPNET_FUZZ_SECONDS (default 30) bounds each fuzz target.
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

quick=0
tidy=1
for arg in "$@"; do
  case "$arg" in
    --quick) quick=1 tidy=0 ;;
    --no-tidy) tidy=0 ;;
    -h | --help)
      sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *) die "unknown option '$arg' (try --help)" ;;
  esac
done
presets=(release)
((quick)) || presets+=(asan tsan)

passed=0
failed=0
timings=()
current=""
start_all=$(date +%s)

summary() {
  local rc=$?
  if ((${#timings[@]})); then
    log "phase times:"
    printf '  %s\n' "${timings[@]}"
  fi
  if ((rc != 0)) && [[ -n "$current" ]]; then
    printf '[otpnet] FAILED in phase: %s (exit %d)\n' "$current" "$rc"
  elif ((rc == 0)); then
    log "all phases passed in $(($(date +%s) - start_all))s"
  fi
  printf '%d passed, %d failed\n' "$passed" "$failed"
}
trap summary EXIT
# A run ended by a signal (a CI timeout, ^C) is a failure: without these the
# EXIT trap saw the status of the last command and said "all phases passed".
trap 'exit 143' TERM
trap 'exit 130' INT

# phase NAME COMMAND...: runs COMMAND, records its time; a failure ends the run.
phase() {
  local name=$1 t0 rc=0
  shift
  current=$name
  log "== $name"
  t0=$(date +%s)
  "$@" || rc=$?
  timings+=("$(printf '%-18s %5ds%s' "$name" $(($(date +%s) - t0)) "$( ((rc)) && echo '  FAILED')")")
  ((rc == 0)) || exit "$rc"
  current=""
}

# Runs ctest for a preset (further arguments go to ctest) and adds its
# counts to the totals.
run_ctest() {
  local preset=$1 log_file rc=0 line total nfailed
  shift
  log_file="build/$preset/ctest.log"
  ctest --preset "$preset" "$@" 2>&1 | tee "$log_file" || rc=$?
  line=$(grep -E '[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$log_file" | tail -1 || true)
  if [[ -n "$line" ]]; then
    nfailed=$(sed -E 's/.*passed, ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")
    total=$(sed -E 's/.*failed out of ([0-9]+).*/\1/' <<<"$line")
    passed=$((passed + total - nfailed))
    failed=$((failed + nfailed))
  elif ((rc != 0)); then
    failed=$((failed + 1)) # ctest died before its summary: count the run as a failure
  fi
  return "$rc"
}

build_and_test() {
  local preset=$1
  phase "$preset:configure" cmake --preset "$preset"
  phase "$preset:build" cmake --build --preset "$preset"
  phase "$preset:test" run_ctest "$preset"
}

phase deps bash scripts/deps.sh
phase format bash scripts/format.sh --check
phase layers bash scripts/check-layers.sh
build_and_test release

# -- io_uring: the release tests a second time, on the io_uring backend -------------
# Every loop that names no backend takes OTPNET_BACKEND (docs/reactor.md, "Tests").
# Only where the kernel lets this process use io_uring: the reactor test binary
# lists its io_uring cases exactly then (the suites are instantiated over the
# available backends). The second run's log replaces build/release/ctest.log.
reactor_tests=$(build/release/bin/otpnet_reactor_test --gtest_list_tests 2>/dev/null || true)
have_io_uring=0
grep -q '/io_uring' <<<"$reactor_tests" && have_io_uring=1
if ((have_io_uring)); then
  export OTPNET_BACKEND=io_uring
  phase release:test:io_uring run_ctest release
  unset OTPNET_BACKEND
else
  log "release:test:io_uring SKIPPED: io_uring is not available here (old kernel, seccomp or kernel.io_uring_disabled)"
fi
# -- end of the io_uring block ----------------------------------------------------
# Built as part of ALL above; named here so that its failure is reported as such.
phase headers cmake --build --preset release --target otpnet_header_check
if ((tidy)); then
  # Its own tree, configured only: one compile command per source (the
  # release build compiles the layers as unity builds).
  phase tidy:configure cmake --preset tidy
  phase tidy bash scripts/tidy.sh -p build/tidy
fi
for preset in "${presets[@]:1}"; do
  build_and_test "$preset"
  if [[ $preset == asan ]] && ((have_io_uring)); then
    # io_uring's own paths (completed receives, multishot accept) under
    # ASan+UBSan too: the layers that use them.
    export OTPNET_BACKEND=io_uring
    phase asan:test:io_uring run_ctest asan -L 'reactor|gen_tcp|tls|listener|integration'
    unset OTPNET_BACKEND
  fi
done
# The framing decoders under libFuzzer (clang, ASan+UBSan), bounded in time:
# OTPNET_FUZZ_SECONDS per target (default 30 here). Not in --quick.
if ((!quick)); then
  phase fuzz env OTPNET_FUZZ_SECONDS="${OTPNET_FUZZ_SECONDS:-30}" bash scripts/fuzz.sh
fi
