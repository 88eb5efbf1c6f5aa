# gradlab — see README.md.
GO      ?= go
BIN     := bin/gradlab
PKGS    := ./...
FUZZTIME ?= 10s

.PHONY: all setup build run test test-purego vet fmt-check fuzz clean

all: build

## setup: install Debian packages and Go modules that are missing
setup:
	@scripts/setup.sh

## build: build bin/gradlab (OpenBLAS through cgo)
build: setup
	$(GO) build -o $(BIN) ./cmd/gradlab

## run: set up, build, list the experiments and run the main job (mnist-mlp)
run: build
	$(BIN) list
	$(BIN) run mnist-mlp

## test: set up, then vet, format check, the whole test suite and the pure-Go BLAS build
test: setup fmt-check vet
	$(GO) test -count=1 $(PKGS)
	$(MAKE) test-purego

## test-purego: the build without OpenBLAS still compiles and computes the same
test-purego:
	$(GO) build -tags noopenblas $(PKGS)
	$(GO) test -count=1 -tags noopenblas ./internal/openblas ./nn ./train

vet:
	$(GO) vet $(PKGS)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

## fuzz: run every fuzz target briefly (FUZZTIME each)
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list 'Fuzz.*' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "fuzz $$pkg $$f"; $(GO) test -run=NONE -fuzz="^$$f$$" -fuzztime=$(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

clean:
	rm -rf bin

.PHONY: kernels cuda-check gpu-check build-cuda

## kernels: regenerate the CUDA PTX (and its source hashes) from kernels/cuda/kernels.cu with nvcc
## (the nvcc in PATH, else Debian's CUDA 11.8 toolkit unpacked into ~/.cache/gradlab/cuda)
NVCC_CCBIN ?= /usr/bin/g++
kernels:
	$(GO) run ./kernels/cuda/gen -nvcc "$$(scripts/cuda-compile-check.sh --nvcc)" -ccbin $(NVCC_CCBIN) -dir kernels/cuda
	$(GO) test -count=1 -run PTX ./kernels/cuda

## cuda-check: compile-check the cuda build (Debian's CUDA headers in a private folder; no GPU needed)
cuda-check:
	scripts/cuda-compile-check.sh

## build-cuda: bin/gradlab-cuda, the CLI with the CUDA kernel set (gradlab run NAME --device cuda);
## it needs a GPU and its driver to run (headers and the libcuda stub are unpacked privately to build)
build-cuda:
	scripts/cuda-compile-check.sh --fetch-only
	CGO_CFLAGS="-I$${CUDA_PRIVATE_DIR:-$$HOME/.cache/gradlab/cuda}/root/usr/include" \
	CGO_LDFLAGS="-L$${CUDA_PRIVATE_DIR:-$$HOME/.cache/gradlab/cuda}/root/usr/lib/x86_64-linux-gnu/stubs" \
	$(GO) build -tags gradlabcuda -o bin/gradlab-cuda ./cmd/gradlab

## gpu-check: build the GPU check's binaries and print the command that runs them on a lent GPU machine
gpu-check:
	scripts/gpu-check.sh
