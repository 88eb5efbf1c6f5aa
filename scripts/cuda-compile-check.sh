#!/usr/bin/env bash
# Compile-checks gradlab's cuda build without a GPU and without installing
# anything system-wide: Debian's CUDA headers (nvidia-cuda-dev, from the
# non-free component of the mirror this machine already uses) are unpacked
# into a private folder with `apt-get download` + `dpkg -x`, and cgo is
# pointed at them. Then `go vet -tags cuda` type-checks (and cgo-compiles)
# the CUDA kernel set and the engine (see below for the two tags).
#
# Usage: scripts/cuda-compile-check.sh [packages...]   vet (default: see the end)
#        scripts/cuda-compile-check.sh --fetch-only     only fetch the headers
#        scripts/cuda-compile-check.sh --nvcc           print a usable nvcc (the
#            one in PATH, else Debian's nvidia-cuda-toolkit unpacked privately)
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

mode="${1:-}"
if [ "$mode" = "--nvcc" ] && command -v nvcc >/dev/null 2>&1; then
  command -v nvcc
  exit 0
fi
pkgs=(nvidia-cuda-dev ${EXTRA_CUDA_PACKAGES:-})
if [ "$mode" = "--nvcc" ]; then
  pkgs+=(nvidia-cuda-toolkit libnvvm4)
fi
stamp="$root/.unpacked-$(printf '%s\n' "${pkgs[@]}" | sort | tr '\n' '+')"
if [ ! -e "$stamp" ]; then
  echo "cuda-compile-check: fetching ${pkgs[*]} into $dir" >&2
  apt-get "${apt_opts[@]}" -qq update
  # Only the named packages: their files are all that cgo and nvcc need
  # (headers, the libcuda stub, nvcc/cicc/libdevice); dependencies are not
  # unpacked.
  (cd "$apt_dir/debs" && apt-get "${apt_opts[@]}" -qq download "${pkgs[@]}" >&2)
  for p in "${pkgs[@]}"; do
    for deb in "$apt_dir"/debs/"${p}"_*.deb; do
      dpkg -x "$deb" "$root"
    done
  done
  touch "$stamp"
fi

if [ "$mode" = "--fetch-only" ]; then
  exit 0
fi
if [ "$mode" = "--nvcc" ]; then
  # Debian's nvcc.profile is a link to /etc/nvcc.profile with system paths:
  # give the private copy a profile that points into the private folder.
  tk="$root/usr/lib/nvidia-cuda-toolkit"
  rm -f "$tk/bin/nvcc.profile"
  cat > "$tk/bin/nvcc.profile" <<PROFILE
NVVMIR_LIBRARY_DIR = $tk/libdevice
PATH += $tk/bin:
INCLUDES += "-I$root/usr/include" \$(_SPACE_)
PROFILE
  echo "$tk/bin/nvcc"
  exit 0
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
if [ ${#targets[@]} -gt 0 ]; then
  echo "cuda-compile-check: go vet -tags cuda ${targets[*]}"
  go vet -tags cuda "${targets[@]}"
  exit 0
fi
# The kernel sets under the cuda tag. Not the engine: gorgonia selects its
# own cuDNN-based GPU code with the same tag, so any cuda-tagged package
# that imports gorgonia needs cudnn.h (and gorgonia's cu/dnn does not build
# against cuDNN 9).
echo "cuda-compile-check: go vet -tags cuda ./kernels/..."
go vet -tags cuda ./kernels/...
# Engine and kernels together under gradlabcuda, the tag that selects
# gradlab's CUDA code and leaves gorgonia on the CPU.
echo "cuda-compile-check: go vet -tags gradlabcuda ./kernels/... ./engine/... ./train/... ./cmd/gradlab"
go vet -tags gradlabcuda ./kernels/... ./engine/... ./train/... ./cmd/gradlab
echo "cuda-compile-check: go build -tags gradlabcuda ./cmd/gradlab (link check: gradlab run --device cuda)"
go build -tags gradlabcuda -o /dev/null ./cmd/gradlab
echo "cuda-compile-check: go test -c -tags cuda ./kernels/cuda (link check against the libcuda stub)"
go test -c -tags cuda -o /dev/null ./kernels/cuda
echo "cuda-compile-check: ok"
