#!/usr/bin/env bash
# Installs every Debian 12 package otpnet needs to build, test, lint and run.
# Idempotent: asks dpkg first and calls apt-get (update + install) only when
# something is missing. Runs as root, or through sudo when that is available.
set -euo pipefail

packages=(
  # toolchain
  cmake ninja-build g++ clang clang-format clang-tidy libclang-rt-14-dev git
  # libraries
  libgtest-dev libgmock-dev libbenchmark-dev libexpected-dev libspdlog-dev libfmt-dev
  libcli11-dev libtomlplusplus-dev nlohmann-json3-dev liburing-dev libssl-dev libabsl-dev
  # test peers and tools: interop (Python, socat, Erlang's gen_tcp, openssl s_client, HAProxy's
  # PROXY protocol), ps/pgrep
  python3 socat erlang-nox openssl haproxy procps
)

missing=()
for p in "${packages[@]}"; do
  if [[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" != "install ok installed" ]]; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "[otpnet] deps: all ${#packages[@]} packages installed"
  exit 0
fi

sudo=()
if [[ "$(id -u)" != 0 ]]; then
  command -v sudo >/dev/null || { echo "[otpnet] deps: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  sudo=(sudo)
fi
echo "[otpnet] deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt=("${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 -y -q)
"${apt[@]}" update
"${apt[@]}" install "${missing[@]}"
echo "[otpnet] deps: done"
