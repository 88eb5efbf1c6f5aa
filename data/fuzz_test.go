package data

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

// checkClearError fails unless err names the input and says something
// beyond the name.
func checkClearError(t *testing.T, err error, name string) {
	t.Helper()
	msg := err.Error()
	if !strings.Contains(msg, name+": ") || len(msg) < len(name)+12 {
		t.Fatalf("unclear error %q (want the input name %q and a reason)", msg, name)
	}
}

// Run the fuzzers with, e.g.,
//
//	go test -run=NONE -fuzz=FuzzReadIDX -fuzztime=20s ./data/
//	go test -run=NONE -fuzz=FuzzReadCIFAR -fuzztime=20s -fuzzminimizetime=200x ./data/
//
// (CIFAR inputs are multiples of 3073 bytes: limiting minimization keeps the
// fuzzer from spending its time shrinking them byte by byte.) The seed corpus
// under testdata/fuzz is written by testdata/fuzz/gen_corpus.py.

// FuzzReadIDX feeds arbitrary bytes to the IDX reader, with the size known
// and unknown. Both must agree, never panic, fail with clear errors and,
// on success, return data matching the dimensions.
func FuzzReadIDX(f *testing.F) {
	f.Fuzz(func(t *testing.T, in []byte) {
		const name = "fuzz.idx"
		known, errK := ReadIDXFrom(bytes.NewReader(in), name, int64(len(in)))
		unknown, errU := ReadIDXFrom(bytes.NewReader(in), name, -1)
		if (errK == nil) != (errU == nil) {
			t.Fatalf("size known: %v; size unknown: %v", errK, errU)
		}
		if errK != nil {
			checkClearError(t, errK, name)
			checkClearError(t, errU, name)
			return
		}
		for _, got := range []*IDX{known, unknown} {
			if len(got.Dims) == 0 || len(got.Dims) > MaxIDXRank {
				t.Fatalf("rank %d accepted", len(got.Dims))
			}
			total := 1
			for _, d := range got.Dims {
				if d <= 0 {
					t.Fatalf("dimension %d accepted", d)
				}
				total *= d
			}
			if total != len(got.Data) || total > MaxIDXBytes {
				t.Fatalf("dims %v with %d data bytes", got.Dims, len(got.Data))
			}
		}
		if !slices.Equal(known.Dims, unknown.Dims) || !bytes.Equal(known.Data, unknown.Data) {
			t.Fatal("size known and unknown read different content")
		}
		// Raw content must be exactly header + data.
		if len(in) >= 2 && in[0] == 0 && len(in) != 4+4*len(known.Dims)+len(known.Data) {
			t.Fatalf("raw input of %d bytes accepted for dims %v", len(in), known.Dims)
		}
	})
}

// FuzzReadCIFAR feeds arbitrary bytes to the CIFAR-10 reader. Success must
// happen exactly when the input is a non-empty whole number of records with
// labels below 10, and the values must be the input's bytes scaled to [0,1].
func FuzzReadCIFAR(f *testing.F) {
	f.Fuzz(func(t *testing.T, in []byte) {
		const name = "fuzz.bin"
		valid := len(in) > 0 && len(in)%CIFARRecordSize == 0
		for i := 0; valid && i < len(in); i += CIFARRecordSize {
			valid = in[i] < CIFAR10Classes
		}
		for _, size := range []int64{int64(len(in)), -1} {
			ds, err := ReadCIFAR10From(bytes.NewReader(in), name, size)
			if !valid {
				if err == nil {
					t.Fatalf("size %d: invalid input of %d bytes accepted", size, len(in))
				}
				checkClearError(t, err, name)
				continue
			}
			if err != nil {
				t.Fatalf("size %d: valid input rejected: %v", size, err)
			}
			if err := ds.Validate(); err != nil {
				t.Fatal(err)
			}
			if ds.Len() != len(in)/CIFARRecordSize {
				t.Fatalf("%d records from %d bytes", ds.Len(), len(in))
			}
			for r := 0; r < ds.Len(); r++ {
				rec := in[r*CIFARRecordSize : (r+1)*CIFARRecordSize]
				if ds.Y[r] != int(rec[0]) {
					t.Fatalf("record %d label %d, byte %d", r, ds.Y[r], rec[0])
				}
				ex := ds.Example(r)
				for j, b := range rec[1:] {
					if ex[j] != float32(b)/255 {
						t.Fatalf("record %d value %d = %v, byte %d", r, j, ex[j], b)
					}
				}
			}
		}
	})
}
