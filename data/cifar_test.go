package data

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// cifarRecord returns a record with the given label whose pixel at
// (channel c, row r, column x) is (7c + 3r + 5x + seed) mod 256.
func cifarRecord(label byte, seed int) []byte {
	rec := make([]byte, CIFARRecordSize)
	rec[0] = label
	for c := 0; c < 3; c++ {
		for r := 0; r < 32; r++ {
			for x := 0; x < 32; x++ {
				rec[1+c*1024+r*32+x] = byte((7*c + 3*r + 5*x + seed) % 256)
			}
		}
	}
	return rec
}

func writeCIFARDir(t *testing.T) (dir string, labels map[string][]byte) {
	t.Helper()
	dir = t.TempDir()
	labels = map[string][]byte{}
	seed := 0
	for f, name := range []string{"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin"} {
		var b bytes.Buffer
		for k := 0; k < 1+f%3; k++ { // 1, 2 or 3 records per file
			lab := byte((seed * 3) % 10)
			b.Write(cifarRecord(lab, seed))
			labels[name] = append(labels[name], lab)
			seed++
		}
		writeFile(t, dir, name, b.Bytes())
	}
	return dir, labels
}

func TestLoadCIFAR10(t *testing.T) {
	dir, labels := writeCIFARDir(t)
	train, err := LoadCIFAR10("train", dir)
	if err != nil {
		t.Fatal(err)
	}
	test, err := LoadCIFAR10("test", dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := train.Validate(); err != nil {
		t.Fatal(err)
	}
	// Files hold 1,2,3,1,2 records (train) and 3 (test); record k overall
	// has seed k.
	if train.Len() != 9 || test.Len() != 3 || train.Classes != 10 {
		t.Fatalf("train %d, test %d examples", train.Len(), test.Len())
	}
	check := func(ds *Dataset, i, seed int, label byte) {
		t.Helper()
		if ds.Y[i] != int(label) {
			t.Fatalf("%s example %d: label %d, want %d", ds.Name, i, ds.Y[i], label)
		}
		ex := ds.Example(i)
		for _, p := range [][3]int{{0, 0, 0}, {1, 2, 3}, {2, 31, 31}, {2, 0, 17}} {
			c, r, x := p[0], p[1], p[2]
			want := float32((7*c+3*r+5*x+seed)%256) / 255
			if got := ex[c*1024+r*32+x]; got != want {
				t.Fatalf("%s example %d pixel %v = %v, want %v", ds.Name, i, p, got, want)
			}
		}
	}
	var trainLabels []byte
	for _, n := range []string{"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"} {
		trainLabels = append(trainLabels, labels[n]...)
	}
	for i := range 9 {
		check(train, i, i, trainLabels[i])
	}
	for i := range 3 {
		check(test, i, 9+i, labels["test_batch.bin"][i])
	}
}

func TestCIFAR10Errors(t *testing.T) {
	tests := []struct {
		name   string
		modify func(t *testing.T, dir string)
		want   string
	}{
		{"missing file", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, "data_batch_3.bin")) }, "data_batch_3.bin: no such file"},
		{"size not a multiple", func(t *testing.T, dir string) {
			writeFile(t, dir, "data_batch_2.bin", append(cifarRecord(1, 0), 1, 2, 3))
		}, "size 3076 bytes is not a multiple of the 3073-byte record"},
		{"empty", func(t *testing.T, dir string) { writeFile(t, dir, "data_batch_4.bin", nil) }, "data_batch_4.bin: empty file"},
		{"label 10", func(t *testing.T, dir string) {
			writeFile(t, dir, "data_batch_5.bin", append(cifarRecord(3, 0), cifarRecord(10, 0)...))
		}, "data_batch_5.bin: record 1 (byte 3073): label 10 out of range [0,10)"},
		{"directory in place of a file", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "data_batch_1.bin")
			os.Remove(p)
			os.Mkdir(p, 0o755)
		}, "not a regular file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir, _ := writeCIFARDir(t)
			tc.modify(t, dir)
			_, err := LoadCIFAR10("train", dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
	if _, err := LoadCIFAR10("train", ""); err == nil || !strings.Contains(err.Error(), "no directory given") {
		t.Fatalf("empty dir: %v", err)
	}
	if _, err := LoadCIFAR10("val", t.TempDir()); err == nil || !strings.Contains(err.Error(), `unknown split "val"`) {
		t.Fatalf("bad split: %v", err)
	}
}

func TestReadCIFAR10From(t *testing.T) {
	two := append(cifarRecord(2, 1), cifarRecord(9, 2)...)
	for _, tc := range []struct {
		name string
		in   []byte
		size int64
		want string // "" for success
	}{
		{"size known", two, int64(len(two)), ""},
		{"size unknown", two, -1, ""},
		{"truncated, size unknown", two[:5000], -1, "truncated at byte 5000: record 1 (from byte 3073) has 1927 of its 3073 bytes"},
		{"truncated, size known", two[:5000], 5000, "not a multiple"},
		{"empty stream", nil, -1, "empty file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ds, err := ReadCIFAR10From(bytes.NewReader(tc.in), "stream.bin", tc.size)
			if tc.want == "" {
				if err != nil || ds.Len() != 2 || ds.Y[1] != 9 {
					t.Fatalf("got %v, %v", ds, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "stream.bin") {
				t.Fatalf("error %v, want it to name stream.bin and contain %q", err, tc.want)
			}
		})
	}
	p := writeFile(t, t.TempDir(), "one.bin", two)
	if ds, err := ReadCIFAR10(p); err != nil || ds.Len() != 2 {
		t.Fatalf("ReadCIFAR10: %v", err)
	}
}
