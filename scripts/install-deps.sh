#!/usr/bin/env bash
# Installs what duet needs from Debian's packages, if anything is missing.
# Runs `apt-get update` once, and only when something must be installed.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  liburing-dev libgtest-dev libgmock-dev libbenchmark-dev libcli11-dev node-llhttp
  curl wrk gnuplot-nox procps nginx-light
  clang llvm libclang-rt-14-dev clang-format gdb
  python3 linux-perf
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "duet: installing ${missing[*]}" >&2
  SUDO=""
  [[ $(id -u) -eq 0 ]] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
