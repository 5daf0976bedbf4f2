#!/usr/bin/env bash
# clang-tidy (.clang-tidy at the root) over the library sources, within a time budget.
#   bash scripts/tidy.sh [-p BUILD_DIR] [FILE...]
# Without FILEs: every .cpp under src, apps, tools and examples that is not a
# test (*.test.cpp). BUILD_DIR (default build/tidy) must hold a
# compile_commands.json with one entry per source, as the tidy preset's does
# (the release build compiles the layers as unity builds): the default is
# configured on first use (`cmake --preset tidy`, a few seconds, nothing is
# built). Test sources have entries there too. Runs two files at a time.
#
# OTPNET_TIDY_BUDGET (seconds, default 900): once spent, no further file is
# started and the ones left are listed as unchecked (a warning, not a failure),
# so a slow machine cannot push the test command past CI's limit.
#
# A file that passed is remembered in BUILD_DIR/tidy-cache under a hash of its
# text, every project header, .clang-tidy and compile_commands.json, and is not
# checked again until one of those changes.
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

build=build/tidy
if [[ "${1:-}" == "-p" ]]; then
  build="$2"
  shift 2
fi
if [[ "$build" == build/tidy && ! -f "$build/compile_commands.json" ]]; then
  cmake --preset tidy > /dev/null || die "tidy: could not configure build/tidy (cmake --preset tidy)"
fi
[[ -f "$build/compile_commands.json" ]] || die "tidy: no $build/compile_commands.json; run: cmake --preset tidy"
tidy=$(command -v clang-tidy-14 || command -v clang-tidy) || die "tidy: clang-tidy not installed (bash scripts/deps.sh)"

if (($#)); then
  files=("$@")
else
  mapfile -t files < <(find src apps tools examples -name '*.cpp' ! -name '*.test.cpp' | sort)
fi
if ((${#files[@]} == 0)); then
  log "tidy: no files"
  exit 0
fi

budget=${OTPNET_TIDY_BUDGET:-900}
deadline=$(($(date +%s) + budget))
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cache="$build/tidy-cache"
mkdir -p "$cache"
context=$({
  find include src -name '*.hpp' -print0 | sort -z | xargs -0 cat
  cat .clang-tidy "$build/compile_commands.json"
  "$tidy" --version
} | sha1sum | cut -c1-40)

# One worker per file: skip when the budget is spent, otherwise run with what
# is left of it as a hard limit; record pass / fail / skip in $out.
# shellcheck disable=SC2016 # expanded by the worker's bash, not here
worker='
  f=$1; tag=$(printf "%s" "$f" | tr "/" "_")
  key=$( { echo "$CONTEXT $f"; cat "$f"; } | sha1sum | cut -c1-40)
  if [[ -f "$CACHE/$key" ]]; then touch "$OUT/$tag.pass" "$OUT/$tag.cached"; exit 0; fi
  left=$(( DEADLINE - $(date +%s) ))
  if (( left <= 0 )); then echo "$f" >"$OUT/$tag.skip"; exit 0; fi
  if timeout "$left" "$TIDY" -p "$BUILD" --quiet --extra-arg=-Wno-unknown-warning-option "$f" >"$OUT/$tag.log" 2>&1; then
    touch "$OUT/$tag.pass" "$CACHE/$key"
  elif (( $(date +%s) >= DEADLINE )); then
    echo "$f" >"$OUT/$tag.skip"
  else
    cp "$OUT/$tag.log" "$OUT/$tag.fail"
  fi'
printf '%s\0' "${files[@]}" |
  DEADLINE=$deadline OUT=$out TIDY=$tidy BUILD=$build CACHE=$cache CONTEXT=$context xargs -0 -n1 -P2 bash -c "$worker" tidy

shopt -s nullglob
fails=("$out"/*.fail)
skips=("$out"/*.skip)
passes=("$out"/*.pass)
cached=("$out"/*.cached)
if ((${#fails[@]})); then
  # A finding in a header shows up once per file that includes it: print each
  # once, and drop clang-tidy's "N warnings generated" chatter.
  python3 - "${fails[@]}" <<'PY'
import re, sys
head = re.compile(r"^\S.*:\d+:\d+: (error|warning): ")
chatter = re.compile(r"^(\d+ warnings?( and \d+ errors?)? generated\.?|Suppressed \d+ warnings.*|Use -header-filter.*|Error while processing.*)$")
seen = set()
for name in sys.argv[1:]:
    block, keep = [], False
    for line in open(name, errors="replace").read().splitlines() + ["\0"]:
        if head.match(line) or line == "\0":
            if block and keep:
                print("\n".join(block))
            block = [line]
            keep = head.match(line) is not None and line not in seen
            seen.add(line)
        elif not chatter.match(line):
            block.append(line)
PY
fi
if ((${#skips[@]})); then
  log "tidy: WARNING: budget of ${budget}s spent; ${#skips[@]} file(s) not checked:"
  cat "${skips[@]}" | sed 's/^/  /'
fi
((${#fails[@]} == 0)) || die "tidy: findings in ${#fails[@]} of ${#files[@]} files (see above; .clang-tidy makes every check an error)"
log "tidy: ${#passes[@]} files clean (${#cached[@]} of them unchanged since their last clean run), ${#skips[@]} skipped"
