#!/usr/bin/env bash
# The README's first command: installs what it needs, builds the release preset
# and runs the main program from build/release/bin/ with any arguments given.
#
# Until the echo server (apps/, `otpnet-echo`) exists, the main program is
# `otpnet-netinfo`: it prints the host name, the interfaces, resolver results
# and what the socket layer supports. To switch, change MAIN_PROGRAM below
# (or set OTPNET_MAIN=<program> for one run).
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

MAIN_PROGRAM=${OTPNET_MAIN:-otpnet-netinfo}

bash scripts/deps.sh
cmake --preset release
cmake --build --preset release

program="build/release/bin/$MAIN_PROGRAM"
if [[ ! -x "$program" ]]; then
  log "release build done, but $program does not exist yet"
  log "(it arrives with the net and socket layers; see README.md, Status): nothing to run"
  exit 0
fi
log "running $program $*"
exec "$program" "$@"
