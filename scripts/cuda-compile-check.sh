#!/usr/bin/env bash
# Compile-checks gradlab's cuda build without a GPU and without installing
# anything system-wide: Debian's CUDA headers (nvidia-cuda-dev, from the
# non-free component of the mirror this machine already uses) are unpacked
# into a private folder with `apt-get download` + `dpkg -x`, and cgo is
# pointed at them. Then `go vet -tags cuda` type-checks (and cgo-compiles)
# the CUDA kernel set and the engine.
#
# Usage: scripts/cuda-compile-check.sh [packages...]   (default ./kernels/... ./engine/...)
# Environment: CUDA_PRIVATE_DIR (default ~/.cache/gradlab/cuda) holds the
# apt state and the unpacked packages; EXTRA_CUDA_PACKAGES adds packages
# (scripts/gpu-check.sh uses it for nvcc).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

dir="${CUDA_PRIVATE_DIR:-$HOME/.cache/gradlab/cuda}"
apt_dir="$dir/apt"
root="$dir/root"
mkdir -p "$apt_dir/state/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/debs" "$root"

# The machine's own Debian source entry, with the non-free component added.
src=/etc/apt/sources.list.d/debian.sources
if [ ! -r "$src" ]; then
  echo "cuda-compile-check: $src not found; cannot derive the Debian mirror" >&2
  exit 1
fi
awk 'BEGIN{RS=""; ORS="\n\n"} /Suites:[^\n]*bookworm( |$|\n)/ && !/security/ {
       gsub(/Components:[^\n]*/, "Components: main contrib non-free non-free-firmware"); print }' "$src" \
  > "$apt_dir/gradlab-nonfree.sources"
if ! grep -q non-free "$apt_dir/gradlab-nonfree.sources"; then
  echo "cuda-compile-check: could not derive a bookworm source entry from $src" >&2
  exit 1
fi

apt_opts=(
  -o "Dir::Etc::SourceList=$apt_dir/gradlab-nonfree.sources"
  -o "Dir::Etc::SourceParts=/dev/null"
  -o "Dir::State=$apt_dir/state"
  -o "Dir::State::status=/var/lib/dpkg/status"
  -o "Dir::Cache=$apt_dir/cache"
  -o "Debug::NoLocking=1"
  -o "APT::Sandbox::User=root"
)

pkgs=(nvidia-cuda-dev ${EXTRA_CUDA_PACKAGES:-})
stamp="$root/.unpacked-$(printf '%s\n' "${pkgs[@]}" | sort | tr '\n' '+')"
if [ ! -e "$stamp" ]; then
  echo "cuda-compile-check: fetching ${pkgs[*]} into $dir"
  apt-get "${apt_opts[@]}" -qq update
  # Resolve the packages' dependencies that carry headers and libraries
  # named nvidia-*/libcu*/libnv* (the rest of the system is already there).
  deps=$(apt-cache "${apt_opts[@]}" depends --recurse --no-recommends --no-suggests --no-conflicts \
           --no-breaks --no-replaces --no-enhances "${pkgs[@]}" 2>/dev/null \
         | grep -E '^(nvidia-|libcu|libnv|libaccinj|libthrust|libcub|libnpp|libcusparse|libcublas|libcufft|libcurand|libcusolver)' \
         | sort -u || true)
  (cd "$apt_dir/debs" && apt-get "${apt_opts[@]}" -qq download "${pkgs[@]}" $deps)
  for deb in "$apt_dir"/debs/*.deb; do
    dpkg -x "$deb" "$root"
  done
  touch "$stamp"
fi

inc="$root/usr/include"
stubs="$root/usr/lib/x86_64-linux-gnu/stubs"
if [ ! -e "$inc/cuda.h" ]; then
  echo "cuda-compile-check: $inc/cuda.h missing after unpacking" >&2
  exit 1
fi
export CGO_CFLAGS="-I$inc"
export CGO_LDFLAGS="-L$stubs -L$root/usr/lib/x86_64-linux-gnu"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(./kernels/... ./engine/...)
fi
echo "cuda-compile-check: go vet -tags cuda ${targets[*]}"
go vet -tags cuda "${targets[@]}"
echo "cuda-compile-check: ok"
