package cuda

import (
	"bufio"
	"os"
	"strings"
	"testing"
)

// TestPTXIsFresh fails when a committed generated file records a hash that
// differs from the sources' (kernels.cu and its *.cuh files): the PTX was not regenerated (`make kernels`)
// after the source changed. It runs in every build, with or without the
// cuda tag.
func TestPTXIsFresh(t *testing.T) {
	want, err := SourceHash(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"ptx_generated.go", "ptx/kernels_sm80.ptx", "ptx/kernels_sm90.ptx"} {
		got, err := recordedHash(f)
		if err != nil {
			t.Errorf("%s: %v (run `make kernels`)", f, err)
			continue
		}
		if got != want {
			t.Errorf("%s was generated from CUDA sources with SHA-256 %s; the source now has %s: run `make kernels`", f, got, want)
		}
	}
}

// recordedHash reads the "// source sha256: <hex>" line of a generated file.
func recordedHash(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for i := 0; i < 5 && sc.Scan(); i++ {
		if h, ok := strings.CutPrefix(sc.Text(), "// source sha256: "); ok {
			return strings.TrimSpace(h), nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", os.ErrNotExist
}
