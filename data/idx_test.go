package data

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// idxBytes encodes an unsigned-byte IDX file with the given dims and data.
func idxBytes(dims []int, data []byte) []byte {
	var b bytes.Buffer
	b.Write([]byte{0, 0, 0x08, byte(len(dims))})
	for _, d := range dims {
		binary.Write(&b, binary.BigEndian, uint32(d))
	}
	b.Write(data)
	return b.Bytes()
}

func gzipBytes(t testing.TB, raw []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	if _, err := w.Write(raw); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func writeFile(t testing.TB, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReadIDXValid(t *testing.T) {
	dir := t.TempDir()
	data := []byte{0, 1, 2, 3, 4, 5, 250, 251, 252, 253, 254, 255}
	raw := idxBytes([]int{2, 2, 3}, data)
	for _, tc := range []struct {
		name string
		file []byte
	}{
		{"raw.idx", raw},
		{"packed.gz", gzipBytes(t, raw)},
		{"gzip-without-suffix", gzipBytes(t, raw)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadIDX(writeFile(t, dir, tc.name, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.Dims, []int{2, 2, 3}) || !bytes.Equal(got.Data, data) {
				t.Fatalf("got dims %v data %v", got.Dims, got.Data)
			}
		})
	}
}

func TestReadIDXErrors(t *testing.T) {
	dir := t.TempDir()
	good := idxBytes([]int{3, 2}, []byte{1, 2, 3, 4, 5, 6})
	gz := gzipBytes(t, good)
	badCRC := slices.Clone(gz)
	badCRC[len(badCRC)-8] ^= 0xff // the CRC-32 in the gzip trailer
	tests := []struct {
		name string
		file []byte
		want string
	}{
		{"empty", nil, "truncated at byte 0 of the file while reading the 4-byte magic"},
		{"short magic", []byte{0, 0}, "truncated at byte 2"},
		{"bad magic", []byte{1, 2, 8, 1, 0, 0, 0, 1, 7}, "bad magic 0x01020801"},
		{"float elements", []byte{0, 0, 0x0D, 1, 0, 0, 0, 1, 0, 0, 0, 0}, "unsupported IDX element type 0x0d (float32)"},
		{"unknown type", []byte{0, 0, 0x42, 1, 0, 0, 0, 1, 7}, "unknown element type 0x42"},
		{"rank zero", []byte{0, 0, 8, 0}, "0 dimensions"},
		{"rank too big", []byte{0, 0, 8, 9}, "9 dimensions"},
		{"short dims", []byte{0, 0, 8, 2, 0, 0, 0, 3, 0}, "truncated at byte 9 of the file while reading 2 dimension sizes"},
		{"zero dim", idxBytes([]int{3, 0}, nil), "dimension 1 is zero"},
		{"dims too large", idxBytes([]int{1 << 16, 1 << 16}, nil), "past the 2147483648-byte limit"},
		{"truncated data", good[:len(good)-2], "truncated at byte 16: dims [3 2] need 6 bytes after the 12-byte header"},
		{"trailing data", append(slices.Clone(good), 9), "1 trailing bytes"},
		{"gzip truncated data", gzipBytes(t, good[:len(good)-2]), "truncated at byte 16 of the decompressed stream while reading 6 data bytes for dims [3 2]"},
		{"gzip trailing data", gzipBytes(t, append(slices.Clone(good), 9)), "trailing data in decompressed stream"},
		{"gzip cut short", gz[:len(gz)-5], "truncated"},
		{"gzip bad checksum", badCRC, "checksum"},
		{"gzip bad header", []byte{0x1f, 0x8b, 99, 0, 0, 0, 0, 0, 0, 0}, "bad gzip header"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := writeFile(t, dir, strings.ReplaceAll(tc.name, " ", "_"), tc.file)
			_, err := ReadIDX(p)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not name the file and contain %q", err, tc.want)
			}
		})
	}
	t.Run("missing", func(t *testing.T) {
		p := filepath.Join(dir, "nope-idx3-ubyte")
		if _, err := ReadIDX(p); err == nil || !strings.Contains(err.Error(), p) || !os.IsNotExist(unwrapAll(err)) {
			t.Fatalf("missing file error = %v", err)
		}
	})
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok || u.Unwrap() == nil {
			return err
		}
		err = u.Unwrap()
	}
}

// A header that claims far more data than the stream holds must not make
// the reader allocate for the claim.
func TestReadIDXDoesNotTrustSizeFields(t *testing.T) {
	hdr := idxBytes([]int{1 << 14, 1 << 16}, make([]byte, 100)) // claims 1 GiB, holds 100 bytes
	for _, tc := range []struct {
		name string
		in   []byte
		size int64
	}{
		{"raw, size unknown", hdr, -1},
		{"raw, size known", hdr, int64(len(hdr))},
		{"gzip", gzipBytes(t, hdr), -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := ReadIDXFrom(bytes.NewReader(tc.in), "claim", tc.size)
			runtime.ReadMemStats(&after)
			if err == nil || !strings.Contains(err.Error(), "truncated") {
				t.Fatalf("error = %v, want a truncation error", err)
			}
			if got := after.TotalAlloc - before.TotalAlloc; got > 8<<20 {
				t.Fatalf("allocated %d bytes for a 1 GiB claim backed by 100 bytes", got)
			}
		})
	}
}
