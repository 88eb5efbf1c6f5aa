package cuda

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// SourceHash returns the SHA-256 over the CUDA sources in dir that the PTX
// is compiled from: kernels.cu followed by every *.cuh file it includes,
// in name order, each preceded by its name and length (so that moving code
// between files changes the hash too). The generator records it in every
// generated file and TestPTXIsFresh compares it with the sources.
func SourceHash(dir string) (string, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.cuh"))
	if err != nil {
		return "", err
	}
	sort.Strings(names)
	h := sha256.New()
	for _, name := range append([]string{filepath.Join(dir, "kernels.cu")}, names...) {
		code, err := os.ReadFile(name)
		if err != nil {
			return "", fmt.Errorf("cuda source: %w", err)
		}
		fmt.Fprintf(h, "%s %d\n", filepath.Base(name), len(code))
		h.Write(code)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
