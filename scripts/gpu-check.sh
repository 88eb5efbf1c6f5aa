#!/usr/bin/env bash
# Builds, on this machine, everything the GPU check runs, and prints the
# exact call that runs it on a lent GPU machine. That machine has no Go, no
# network and no OpenBLAS, so everything is prebuilt here:
#
#   bin/gpu-check/cuda-kernels.test  cuda-tagged tests and benchmarks of the
#                                    CUDA kernel set (links only libc and the
#                                    driver's libcuda.so.1)
#   bin/gpu-check/engine-cuda.test   the engine's tests: loss, gradient and
#                                    HVP of every model family (ResNet/VGG
#                                    with batch norm, GPT tied/untied with
#                                    dropout, LN-MLP, GANs, SimCLR, MLPs) on
#                                    the CUDA sets vs the TapeMachine
#   bin/gpu-check/train-cuda.test    the trainer with parameters, gradients
#                                    and optimizer state resident on the GPU
#                                    (MLP, batch-norm ResNet) and the λ₁/trace
#                                    probes on the GPU, vs the host run
#   bin/gpu-check/experiments-cuda.test  the character GPT's device training
#                                    loop and the eos λ₁ probe (adaptive
#                                    device Lanczos) on the GPU vs the host
#   bin/gpu-check/gradlab-cuda       the CLI (gradlab run NAME --device cuda)
#                                    for end-to-end runs of zoo-gpt-text and
#                                    zoo-resnet-fmnist on the GPU
#   bin/gpu-check/data/              their data: the Opticks text and the
#                                    first 10,000 / 2,000 Fashion-MNIST
#                                    training / test images (gzipped IDX)
#   bin/gpu-check/bench-cuda.test    the MNIST MLP's training step, gradient
#                                    and HVP on the GPU with everything
#                                    resident (fp32 and TF32), beside
#                                    PyTorch's same workloads on the same
#                                    card (benchmarks/peer/mlp_torch.py
#                                    --device cuda), and the CPU engine
#                                    benchmarks (pure-Go BLAS)
#   bin/gpu-check/run.sh             runs them there, writes $OUT/results.txt
#                                    and prints a summary table last
#
# Usage: scripts/gpu-check.sh   (or make gpu-check)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
out=bin/gpu-check
rm -rf "$out"
mkdir -p "$out"

# CUDA headers and the libcuda stub, unpacked privately.
scripts/cuda-compile-check.sh --fetch-only
dir="${CUDA_PRIVATE_DIR:-$HOME/.cache/gradlab/cuda}"
root="$dir/root"
export CGO_CFLAGS="-I$root/usr/include"
export CGO_LDFLAGS="-L$root/usr/lib/x86_64-linux-gnu/stubs"

echo "gpu-check: building $out/cuda-kernels.test"
go test -c -ldflags "-s -w" -tags cuda -o "$out/cuda-kernels.test" ./kernels/cuda
echo "gpu-check: building $out/engine-cuda.test (engine on the CUDA set vs the TapeMachine)"
go test -c -ldflags "-s -w" -tags "gradlabcuda noopenblas" -o "$out/engine-cuda.test" ./engine
echo "gpu-check: building $out/train-cuda.test (training with parameters and Adam resident on the GPU vs the host)"
go test -c -ldflags "-s -w" -tags "gradlabcuda noopenblas" -o "$out/train-cuda.test" ./train
echo "gpu-check: building $out/experiments-cuda.test (GPT training loop and eos λ₁ probe on the GPU vs the host)"
go test -c -ldflags "-s -w" -tags "gradlabcuda noopenblas" -o "$out/experiments-cuda.test" ./experiments
echo "gpu-check: building $out/gradlab-cuda (the CLI with the CUDA kernel set, pure-Go BLAS)"
go build -ldflags "-s -w" -tags "gradlabcuda noopenblas" -o "$out/gradlab-cuda" ./cmd/gradlab
echo "gpu-check: building $out/bench-cuda.test (MLP workloads on the GPU; CPU engine benchmarks, pure-Go BLAS)"
go test -c -ldflags "-s -w" -tags "gradlabcuda noopenblas" -o "$out/bench-cuda.test" ./benchmarks

# Data for the end-to-end runs: the GPU machine has no Go tree and no
# data sets, so the text and a Fashion-MNIST subset travel with the check.
mkdir -p "$out/data"
gzip -9 -c "$(go env GOROOT)/src/testdata/Isaac.Newton-Opticks.txt" > "$out/data/opticks.txt.gz"
python3 - "${FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}" "$out/data" <<'PY'
import gzip, struct, sys
src, dst = sys.argv[1], sys.argv[2]
for prefix, n in (("train", 10000), ("t10k", 2000)):
    for kind, header in (("images-idx3", 16), ("labels-idx1", 8)):
        name = f"{prefix}-{kind}-ubyte.gz"
        with gzip.open(f"{src}/{name}", "rb") as f:
            raw = f.read()
        item = 28 * 28 if kind.startswith("images") else 1
        out = raw[:4] + struct.pack(">I", n) + raw[8:header] + raw[header:header + n * item]
        with gzip.open(f"{dst}/{name}", "wb", compresslevel=9) as f:
            f.write(out)
PY

# The device tool carries at most 64 MiB: ship the binaries compressed.
gzip -9 "$out"/*.test "$out/gradlab-cuda"
total=$(du -sb "$out" | cut -f1)
echo "gpu-check: $out holds $((total / 1024 / 1024)) MiB (limit 64 MiB)"
if [ "$total" -ge $((64 * 1024 * 1024)) ]; then
  echo "gpu-check: $out exceeds the 64 MiB carry limit" >&2
  exit 1
fi

cat > "$out/run.sh" <<'RUN'
#!/usr/bin/env bash
# Runs on the GPU machine from the repository root; writes $OUT/results.txt.
set -u
res="${OUT:-.}/results.txt"
src="$(cd "$(dirname "$0")" && pwd)"
bin="$(mktemp -d)"
for f in "$src"/*.test.gz "$src/gradlab-cuda.gz"; do
  gunzip -c "$f" > "$bin/$(basename "$f" .gz)" && chmod +x "$bin/$(basename "$f" .gz)"
done
gunzip -c "$src/data/opticks.txt.gz" > "$bin/opticks.txt"
logs="${OUT:-$src}"  # full logs come back next to results.txt
log() { echo "$@" | tee -a "$res"; }
: > "$res"
log "# gradlab GPU check, $(date -u '+%Y-%m-%d %H:%M UTC')"
nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv 2>&1 | tee -a "$res"

log "## CUDA kernel conformance (vs float64 reference) and GPU vs CPU"
(cd kernels/cuda && "$bin/cuda-kernels.test" -test.v -test.run 'Conformance|AgainstCPU|TF32|PTX' -test.timeout 300s) > "$logs/conf.log" 2>&1
conf=$?
(cd engine && "$bin/engine-cuda.test" -test.v -test.run 'CUDA' -test.timeout 300s) >> "$logs/conf.log" 2>&1
conf=$((conf + $?))
(cd train && "$bin/train-cuda.test" -test.v -test.run 'CUDA' -test.timeout 300s) >> "$logs/conf.log" 2>&1
conf=$((conf + $?))
(cd experiments && "$bin/experiments-cuda.test" -test.v -test.run 'CUDA' -test.timeout 300s) >> "$logs/conf.log" 2>&1
conf=$((conf + $?))
grep -E '^(=== RUN|--- |PASS|FAIL|ok)|_test.go' "$logs/conf.log" | grep -v '=== RUN' | tee -a "$res" | tail -40
if [ $conf -ne 0 ]; then
  log "(last lines of the test log)"
  tail -20 "$logs/conf.log" | tee -a "$res"
fi

log "## End-to-end training on the GPU (gradlab run NAME --device cuda)"
e2e() { # name, then --set flags; prints the verdict table and a one-line summary
  local name=$1; shift
  local dir="$bin/run-$name"
  timeout 120 "$bin/gradlab-cuda" run "$name" --device cuda --out "$dir" "$@" > "$logs/e2e-$name.log" 2>&1
  local rc=$?
  tail -8 "$logs/e2e-$name.log" | tee -a "$res"
  local line
  line=$(python3 - "$dir/summary.json" "$rc" <<'PY' 2>/dev/null
import json, sys
s = json.load(open(sys.argv[1])); v = s.get("values", {})
keys = ["test_accuracy", "seconds_per_epoch", "val_loss", "val_over_unigram", "seconds_per_step", "train_seconds"]
vals = " ".join(f"{k}={v[k]:.4g}" for k in keys if isinstance(v.get(k), (int, float)))
print(f"{'ran' if sys.argv[2] == '0' else 'exit ' + sys.argv[2]}; verdict {'pass' if s.get('pass') else 'fail'}; {vals}")
PY
)
  [ -n "$line" ] || line="exit $rc (no summary.json)"
  printf '%-44s %s\n' "e2e $name" "$line" >> "$logs/e2e.txt"
  return $rc
}
: > "$logs/e2e.txt"
e2e zoo-gpt-text --set data.path="$bin/opticks.txt"
e2e=$?
e2e zoo-resnet-fmnist --set data.dir="$src/data" --set data.train_size=10000 --set data.test_size=2000 --set train.epochs=2
e2e=$((e2e + $?))

log "## CUDA kernel benchmarks"
(cd kernels/cuda && "$bin/cuda-kernels.test" -test.run NONE -test.bench . -test.benchtime 2s -test.timeout 300s) 2>&1 | tee -a "$res" > "$logs/bench.log"

log "## Engine on the GPU: resident training step vs uploading every step"
(cd engine && "$bin/engine-cuda.test" -test.run NONE -test.bench 'CUDA' -test.benchtime 20x -test.timeout 300s) 2>&1 | tee -a "$res" >> "$logs/bench.log"

log "## MNIST MLP 784-512-512-10, batch 128, on the GPU: gradlab (everything resident) vs PyTorch on the same card"
"$bin/bench-cuda.test" -test.run NONE -test.bench 'CUDAMLP' -test.benchtime 200x -test.timeout 300s 2>&1 | tee -a "$res" > "$logs/mlp.log"
for tf in "" "--tf32"; do
  python3 benchmarks/peer/mlp_torch.py --device cuda --reps 200 $tf 2>&1 | tee -a "$res" >> "$logs/mlp-torch.log"
done

log "## PyTorch on the same card (matmul 4096, copy 256 MiB)"
python3 - <<'PY' 2>&1 | tee -a "$res" > "$logs/torch.log"
try:
    import time, torch
    d = torch.device("cuda")
    def rate(dtype, tf32=False):
        torch.backends.cuda.matmul.allow_tf32 = tf32
        a = torch.ones(4096, 4096, device=d, dtype=dtype); b = torch.ones_like(a)
        for _ in range(3): a @ b
        torch.cuda.synchronize(); t = time.time(); n = 20
        for _ in range(n): a @ b
        torch.cuda.synchronize()
        return 2 * 4096**3 * n / (time.time() - t) / 1e12
    print(f"torch fp32 matmul {rate(torch.float32):.1f} TFLOP/s")
    print(f"torch tf32 matmul {rate(torch.float32, True):.1f} TFLOP/s")
    print(f"torch bf16 matmul {rate(torch.bfloat16):.1f} TFLOP/s")
    x = torch.ones(1 << 26, device=d); y = torch.empty_like(x)
    torch.cuda.synchronize(); t = time.time()
    for _ in range(50): y.copy_(x)
    torch.cuda.synchronize()
    print(f"torch copy {2 * 4 * (1 << 26) * 50 / (time.time() - t) / 1e9:.0f} GB/s")
except Exception as e:
    print("torch unavailable:", e)
PY

log "## CPU engine benchmark on this machine's CPU (pure-Go BLAS)"
"$bin/bench-cuda.test" -test.run NONE -test.bench 'EngineMLP' -test.benchtime 20x 2>&1 | tee -a "$res" > "$logs/cpu.log"

log ""
log "## Summary"
{
  printf '%-44s %s\n' "check" "result"
  printf '%-44s %s\n' "conformance, GPU-vs-CPU and engine-on-GPU tests" "$([ $conf -eq 0 ] && echo PASS || echo FAIL)"
  grep -E '^--- (PASS|FAIL): Test(CUDA|.*AgainstCPU|.*Conformance)' "$logs/conf.log" | awk '{printf "  %-42s %s %s\n", $3, $2, $4}'
  cat "$logs/e2e.txt"
  grep -E '^Benchmark' "$logs/bench.log" | awk '{v=""; for(i=1;i<=NF;i++) if($i ~ /TFLOP|GB\/s/) v=$(i-1)" "$i; printf "%-44s %s\n", $1, v}'
  grep -E '^Benchmark' "$logs/mlp.log" | awk '{printf "%-44s %.3f ms\n", "gradlab GPU " $1, $3 / 1e6}'
  python3 - "$logs/mlp-torch.log" <<'PY' 2>/dev/null
import json, sys
for line in open(sys.argv[1]):
    try:
        r = json.loads(line)
    except ValueError:
        continue
    mode = "tf32" if r.get("tf32") else "fp32"
    for w in ("step", "grad", "hvp"):
        print(f"{'torch GPU ' + mode + '/' + w:<44} {r[w + '_ms']:.3f} ms")
PY
  grep -E '^torch' "$logs/torch.log" | awk '{printf "%-44s %s %s\n", $1" "$2" "$3, $4, $5}'
  grep -E '^Benchmark' "$logs/cpu.log" | awk '{printf "%-44s %s ns/op\n", $1, $3}'
} | tee -a "$res"
exit $((conf + e2e))
RUN
chmod +x "$out/run.sh"

cat <<MSG

gpu-check: built $(ls "$out" | tr '\n' ' ')
On a lent GPU machine, run it with the device tool:

  run(command="bash bin/gpu-check/run.sh", carry=["bin/gpu-check"], timeout_s=420)

Results land in \$OUT/results.txt (the summary table is printed last).
MSG
