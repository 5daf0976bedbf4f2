#!/usr/bin/env bash
# The README's first command: installs what it needs, builds the release preset
# and runs the main program from build/release/bin/ with any arguments given:
# the tutorial's echo server, `otpnet-echo`, on its defaults (port 2222,
# {packet, 2}, 120 s idle timeout). OTPNET_MAIN=<program> runs another one
# (e.g. otpnet-netinfo).
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

MAIN_PROGRAM=${OTPNET_MAIN:-otpnet-echo}

bash scripts/deps.sh
cmake --preset release
cmake --build --preset release

program="build/release/bin/$MAIN_PROGRAM"
if [[ ! -x "$program" ]]; then
  die "release build done, but $program was not built"
fi
log "running $program $*"
exec "$program" "$@"
