package data

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// CIFAR-10 binary format: each record is one label byte followed by a 32×32
// image as 1024 red, 1024 green and 1024 blue bytes (channels first, rows
// top to bottom).
const (
	CIFARImageSize  = 3 * 32 * 32
	CIFARRecordSize = 1 + CIFARImageSize
	CIFAR10Classes  = 10
)

// CIFAR10Files returns the file names of a CIFAR-10 split ("train": five
// data batches; "test": the test batch).
func CIFAR10Files(split string) ([]string, error) {
	switch split {
	case "train":
		return []string{"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"}, nil
	case "test":
		return []string{"test_batch.bin"}, nil
	}
	return nil, fmt.Errorf("cifar10: unknown split %q (want \"train\" or \"test\")", split)
}

// LoadCIFAR10 loads a split ("train" or "test") of the binary version of
// CIFAR-10 from dir, which must hold data_batch_1.bin … data_batch_5.bin and
// test_batch.bin. Images have shape [3 32 32] with values in [0,1].
func LoadCIFAR10(split, dir string) (*Dataset, error) {
	if dir == "" {
		return nil, errors.New("cifar10: no directory given: pass the folder of the CIFAR-10 binary version (data_batch_1.bin … test_batch.bin); gradlab does not ship or download it")
	}
	names, err := CIFAR10Files(split)
	if err != nil {
		return nil, err
	}
	// Check every file before reading any, and size the arrays from what is
	// on disk.
	paths := make([]string, len(names))
	sizes := make([]int64, len(names))
	var records int64
	for i, n := range names {
		paths[i] = filepath.Join(dir, n)
		st, err := os.Stat(paths[i])
		if err != nil {
			return nil, fmt.Errorf("cifar10 %s: %w", split, err)
		}
		if !st.Mode().IsRegular() {
			return nil, fmt.Errorf("cifar10 %s: %s is not a regular file", split, paths[i])
		}
		if err := checkCIFARSize(paths[i], st.Size()); err != nil {
			return nil, fmt.Errorf("cifar10 %s: %w", split, err)
		}
		sizes[i] = st.Size()
		records += st.Size() / CIFARRecordSize
	}
	ds := &Dataset{
		Name:    "cifar10-" + split,
		Shape:   []int{3, 32, 32},
		Classes: CIFAR10Classes,
		X:       make([]float32, 0, records*CIFARImageSize),
		Y:       make([]int, 0, records),
	}
	for i, p := range paths {
		if err := appendCIFARFile(ds, p, sizes[i]); err != nil {
			return nil, fmt.Errorf("cifar10 %s: %w", split, err)
		}
	}
	return ds, nil
}

func appendCIFARFile(ds *Dataset, path string, size int64) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return appendCIFAR(ds, f, path, size)
}

// ReadCIFAR10 reads one CIFAR-10 binary batch file.
func ReadCIFAR10(path string) (*Dataset, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cifar10: %w", err)
	}
	defer f.Close()
	size := int64(-1)
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
		size = st.Size()
	}
	return ReadCIFAR10From(f, path, size)
}

// ReadCIFAR10From reads CIFAR-10 binary records from r until it ends. name is
// used in error messages; size is the number of bytes r holds, or -1 if
// unknown. Memory grows only with the records actually read.
func ReadCIFAR10From(r io.Reader, name string, size int64) (*Dataset, error) {
	ds := &Dataset{Name: "cifar10", Shape: []int{3, 32, 32}, Classes: CIFAR10Classes, X: []float32{}, Y: []int{}}
	if err := appendCIFAR(ds, r, name, size); err != nil {
		return nil, fmt.Errorf("cifar10: %w", err)
	}
	return ds, nil
}

func checkCIFARSize(name string, size int64) error {
	if size == 0 {
		return fmt.Errorf("%s: empty file", name)
	}
	if size%CIFARRecordSize != 0 {
		return fmt.Errorf("%s: size %d bytes is not a multiple of the %d-byte record (%d whole records and %d bytes left over)",
			name, size, CIFARRecordSize, size/CIFARRecordSize, size%CIFARRecordSize)
	}
	return nil
}

// appendCIFAR appends the records of r to ds.X and ds.Y.
func appendCIFAR(ds *Dataset, r io.Reader, name string, size int64) error {
	if size >= 0 {
		if err := checkCIFARSize(name, size); err != nil {
			return err
		}
	}
	br := bufio.NewReaderSize(r, 64*1024)
	var rec [CIFARRecordSize]byte
	for i := 0; ; i++ {
		n, err := io.ReadFull(br, rec[:])
		if err == io.EOF {
			if i == 0 {
				return fmt.Errorf("%s: empty file", name)
			}
			break
		}
		off := int64(i) * CIFARRecordSize
		if err == io.ErrUnexpectedEOF {
			return fmt.Errorf("%s: truncated at byte %d: record %d (from byte %d) has %d of its %d bytes", name, off+int64(n), i, off, n, CIFARRecordSize)
		}
		if err != nil {
			return fmt.Errorf("%s: reading record %d at byte %d: %w", name, i, off, err)
		}
		if rec[0] >= CIFAR10Classes {
			return fmt.Errorf("%s: record %d (byte %d): label %d out of range [0,%d)", name, i, off, rec[0], CIFAR10Classes)
		}
		ds.Y = append(ds.Y, int(rec[0]))
		start := len(ds.X)
		ds.X = append(ds.X, make([]float32, CIFARImageSize)...)
		img := ds.X[start:]
		for j, b := range rec[1:] {
			img[j] = float32(b) / 255
		}
	}
	return nil
}
