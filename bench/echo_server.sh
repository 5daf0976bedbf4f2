# File: bench/echo_server.sh (sourced by bench/run-scaling.sh and
# bench/run-active.sh)
#
# One otpnet-echo at a time, started and stopped by its pid:
#   echo_start DIR CMD...   runs CMD (an otpnet-echo command line, possibly
#                           behind env and taskset) with --port 0 and a port
#                           file in DIR, its output in DIR/echo.log, and
#                           waits up to 5 s for the port: sets echo_pid and
#                           echo_port; returns 1 (the log on stderr) if it
#                           did not start.
#   echo_halt               stops the one echo_start started, if any.
# `env` and `taskset` exec the command, so echo_pid is otpnet-echo's own.

echo_pid=
echo_port=

echo_start() {
  local dir=$1
  shift
  rm -f "$dir/port"
  "$@" --port 0 --port-file "$dir/port" >"$dir/echo.log" 2>&1 &
  echo_pid=$!
  for _ in $(seq 100); do
    [[ -s $dir/port ]] && break
    sleep 0.05
  done
  if [[ ! -s $dir/port ]]; then
    echo "otpnet-echo did not start: $*" >&2
    cat "$dir/echo.log" >&2
    return 1
  fi
  echo_port=$(cat "$dir/port")
}

echo_halt() {
  if [[ -n $echo_pid ]]; then
    kill "$echo_pid" 2>/dev/null || true
    wait "$echo_pid" 2>/dev/null || true
    echo_pid=
  fi
}
