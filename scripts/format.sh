#!/usr/bin/env bash
# clang-format over every C++ source of the project (see common.sh for which).
#   bash scripts/format.sh           reformat in place
#   bash scripts/format.sh --check   change nothing; fail listing the files that differ
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

mapfile -t files < <(otpnet_cxx_files)
if ((${#files[@]} == 0)); then
  log "format: no C++ files"
  exit 0
fi
if [[ "${1:-}" == "--check" ]]; then
  command -v clang-format >/dev/null || die "format: clang-format not installed (bash scripts/deps.sh)"
  bad=()
  # Sixteen files per clang-format, two at a time; only when some differ
  # (xargs exits 123: a clang-format said so), one file at a time to name
  # them. Any other failure of xargs is not a verdict on the files.
  rc=0
  printf '%s\0' "${files[@]}" | xargs -0 -n 16 -P 2 clang-format --dry-run --Werror >/dev/null 2>&1 || rc=$?
  if ((rc == 123)); then
    for f in "${files[@]}"; do
      clang-format --dry-run --Werror "$f" >/dev/null 2>&1 || bad+=("$f")
    done
    ((${#bad[@]})) || die "format: clang-format failed on a batch of files but on none alone"
  elif ((rc != 0)); then
    die "format: running clang-format failed (xargs exit $rc)"
  fi
  if ((${#bad[@]})); then
    printf '  %s\n' "${bad[@]}"
    # Show the first differences of the first file, so the cause is visible.
    clang-format "${bad[0]}" | diff -u "${bad[0]}" - | head -40 || true
    die "format: ${#bad[@]} of ${#files[@]} files are not clang-formatted; run: bash scripts/format.sh"
  fi
  log "format: ${#files[@]} files clean"
else
  clang-format -i "${files[@]}"
  log "format: formatted ${#files[@]} files"
fi
