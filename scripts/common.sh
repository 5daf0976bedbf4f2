# shellcheck shell=bash
# Shared helpers of the scripts in this folder; sourced, never run.
# Sets OTPNET_ROOT (the repository root) and cds there.

OTPNET_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$OTPNET_ROOT" || exit 1

# The folders whose C++ sources clang-format checks.
OTPNET_SOURCE_DIRS=(include src tests apps examples tools bench fuzz)

log() { printf '[otpnet] %s\n' "$*"; }
die() { printf '[otpnet] FAILED: %s\n' "$*" >&2; exit 1; }

# Prints the *.hpp and *.cpp files of OTPNET_SOURCE_DIRS, one per line: tracked
# and untracked-but-not-ignored files in a git checkout (so a new file is
# checked before its first commit), every file otherwise.
otpnet_cxx_files() {
  if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files --cached --others --exclude-standard -- \
      "${OTPNET_SOURCE_DIRS[@]/%//*.hpp}" "${OTPNET_SOURCE_DIRS[@]/%//*.cpp}" |
      sort -u | while IFS= read -r f; do [[ -f "$f" ]] && printf '%s\n' "$f"; done
  else
    local d
    for d in "${OTPNET_SOURCE_DIRS[@]}"; do
      [[ -d "$d" ]] && find "$d" -type f \( -name '*.hpp' -o -name '*.cpp' \)
    done | sort
  fi
}
