package checkpoint

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"

	"gorgonia.org/tensor"
)

const (
	// MaxHeaderLen bounds the JSON header of a safetensors file (100 MiB),
	// in addition to the check against the file's size.
	MaxHeaderLen = 100 << 20
	// MaxRank is the largest number of dimensions accepted for one tensor.
	MaxRank = 32

	metadataKey = "__metadata__"
	chunkBytes  = 64 << 10
)

// knownDtypes lists the safetensors dtypes that exist but that this package
// does not load, so that such a file gets a precise error.
var knownDtypes = []string{
	"BOOL", "U8", "I8", "I16", "U16", "F16", "BF16", "I32", "U32", "I64", "U64",
	"F8_E4M3", "F8_E5M2", "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4", "C64",
}

// dtypeCode returns the safetensors name and element size of a supported
// tensor dtype.
func dtypeCode(dt tensor.Dtype) (string, int, error) {
	switch dt {
	case tensor.Float32:
		return "F32", 4, nil
	case tensor.Float64:
		return "F64", 8, nil
	}
	return "", 0, fmt.Errorf("unsupported dtype %v (want Float32 or Float64)", dt)
}

type headerEntry struct {
	DType       string    `json:"dtype"`
	Shape       []int     `json:"shape"`
	DataOffsets [2]uint64 `json:"data_offsets"`
}

// writeItem is one tensor ready to be written: its flat data in row-major
// order and its header entry.
type writeItem struct {
	name  string
	f32   []float32
	f64   []float64
	size  int // bytes per element
	entry headerEntry
}

// contiguous returns the tensor's elements in row-major order, copying
// views and transposed tensors.
func contiguous(name string, d *tensor.Dense) (writeItem, error) {
	if d == nil {
		return writeItem{}, fmt.Errorf("tensor %q is nil", name)
	}
	code, size, err := dtypeCode(d.Dtype())
	if err != nil {
		return writeItem{}, fmt.Errorf("tensor %q: %w", name, err)
	}
	if d.IsMaterializable() {
		m, ok := d.Materialize().(*tensor.Dense)
		if !ok {
			return writeItem{}, fmt.Errorf("tensor %q: materialised view is not dense", name)
		}
		d = m
	}
	shape := slices.Clone([]int(d.Shape()))
	if shape == nil {
		shape = []int{}
	}
	n := 1
	for _, s := range shape {
		if s <= 0 {
			return writeItem{}, fmt.Errorf("tensor %q: shape %v has a non-positive dimension", name, shape)
		}
		n *= s
	}
	it := writeItem{name: name, size: size, entry: headerEntry{DType: code, Shape: shape}}
	switch v := d.Data().(type) {
	case []float32:
		it.f32 = v
	case float32:
		it.f32 = []float32{v}
	case []float64:
		it.f64 = v
	case float64:
		it.f64 = []float64{v}
	default:
		return writeItem{}, fmt.Errorf("tensor %q: unexpected backing %T", name, v)
	}
	if len(it.f32) < n && len(it.f64) < n {
		return writeItem{}, fmt.Errorf("tensor %q: backing holds fewer than the %d elements of shape %v", name, n, shape)
	}
	if it.f32 != nil {
		it.f32 = it.f32[:n]
	} else {
		it.f64 = it.f64[:n]
	}
	return it, nil
}

// WriteSafetensors writes tensors to w in the safetensors format. Tensors
// are stored by decreasing element size, then by name, so that each
// tensor's data is aligned to its element size; the header is padded with
// spaces to a multiple of 8 bytes. Only Float32 and Float64 tensors are
// accepted; views and transposed tensors are written in their logical
// (row-major) order.
func WriteSafetensors(w io.Writer, tensors map[string]*tensor.Dense) error {
	items := make([]writeItem, 0, len(tensors))
	for name, d := range tensors {
		if name == "" || name == metadataKey {
			return fmt.Errorf("safetensors: invalid tensor name %q", name)
		}
		it, err := contiguous(name, d)
		if err != nil {
			return fmt.Errorf("safetensors: %w", err)
		}
		items = append(items, it)
	}
	slices.SortFunc(items, func(a, b writeItem) int {
		if a.size != b.size {
			return b.size - a.size
		}
		return strings.Compare(a.name, b.name)
	})
	header := make(map[string]headerEntry, len(items))
	var off uint64
	for i := range items {
		n := uint64(len(items[i].f32) + len(items[i].f64))
		end := off + n*uint64(items[i].size)
		items[i].entry.DataOffsets = [2]uint64{off, end}
		header[items[i].name] = items[i].entry
		off = end
	}
	hdr, err := json.Marshal(header)
	if err != nil {
		return fmt.Errorf("safetensors: encode header: %w", err)
	}
	if pad := (8 - len(hdr)%8) % 8; pad > 0 {
		hdr = append(hdr, bytes.Repeat([]byte{' '}, pad)...)
	}

	bw := bufio.NewWriterSize(w, chunkBytes)
	var lenBuf [8]byte
	binary.LittleEndian.PutUint64(lenBuf[:], uint64(len(hdr)))
	if _, err := bw.Write(lenBuf[:]); err != nil {
		return fmt.Errorf("safetensors: write header length: %w", err)
	}
	if _, err := bw.Write(hdr); err != nil {
		return fmt.Errorf("safetensors: write header: %w", err)
	}
	// Encode through a fixed chunk so that memory use does not grow with
	// the tensors.
	chunk := make([]byte, chunkBytes)
	for _, it := range items {
		for f32 := it.f32; len(f32) > 0; {
			n := min(len(f32), chunkBytes/4)
			for j, v := range f32[:n] {
				binary.LittleEndian.PutUint32(chunk[4*j:], math.Float32bits(v))
			}
			if _, err := bw.Write(chunk[:4*n]); err != nil {
				return fmt.Errorf("safetensors: write tensor %q: %w", it.name, err)
			}
			f32 = f32[n:]
		}
		for f64 := it.f64; len(f64) > 0; {
			n := min(len(f64), chunkBytes/8)
			for j, v := range f64[:n] {
				binary.LittleEndian.PutUint64(chunk[8*j:], math.Float64bits(v))
			}
			if _, err := bw.Write(chunk[:8*n]); err != nil {
				return fmt.Errorf("safetensors: write tensor %q: %w", it.name, err)
			}
			f64 = f64[n:]
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("safetensors: flush: %w", err)
	}
	return nil
}

// readItem is one validated header entry.
type readItem struct {
	name       string
	f64        bool
	shape      []int
	numel      int
	begin, end uint64
}

// ReadSafetensors reads a safetensors file of the given size from r.
// Every claim of the header is checked against size before anything is
// allocated for it: the header length, each shape's byte size, each
// tensor's offsets (which must tile the data section exactly, in some
// order, with no gaps, overlaps or trailing bytes). Only F32 and F64
// tensors with positive dimensions are accepted; a tensor of shape [] is
// returned as a scalar Dense.
func ReadSafetensors(r io.ReaderAt, size int64) (map[string]*tensor.Dense, error) {
	if size < 8 {
		return nil, fmt.Errorf("file is %d bytes, too short for the 8-byte header length", size)
	}
	var lenBuf [8]byte
	if _, err := r.ReadAt(lenBuf[:], 0); err != nil {
		return nil, fmt.Errorf("read header length: %w", err)
	}
	hlen := binary.LittleEndian.Uint64(lenBuf[:])
	if hlen > uint64(size-8) {
		return nil, fmt.Errorf("header length %d exceeds the %d bytes that follow it", hlen, size-8)
	}
	if hlen > MaxHeaderLen {
		return nil, fmt.Errorf("header length %d is above the limit of %d bytes", hlen, MaxHeaderLen)
	}
	hdr := make([]byte, hlen)
	if _, err := r.ReadAt(hdr, 8); err != nil {
		return nil, fmt.Errorf("read header: %w", err)
	}
	dataStart := 8 + int64(hlen)
	dataLen := uint64(size - dataStart)

	items, err := parseHeader(hdr, dataLen)
	if err != nil {
		return nil, err
	}

	out := make(map[string]*tensor.Dense, len(items))
	buf := make([]byte, min(chunkBytes, int(dataLen)))
	for _, it := range items {
		d, err := readTensor(r, dataStart, it, buf)
		if err != nil {
			return nil, fmt.Errorf("tensor %q: %w", it.name, err)
		}
		out[it.name] = d
	}
	return out, nil
}

// parseHeader decodes and validates the JSON header. dataLen is the
// number of bytes after the header; every size is checked against it.
func parseHeader(hdr []byte, dataLen uint64) ([]readItem, error) {
	dec := json.NewDecoder(bytes.NewReader(hdr))
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("header is not valid JSON: %w", err)
	}
	if tok != json.Delim('{') {
		return nil, fmt.Errorf("header is not a JSON object")
	}
	seen := make(map[string]bool)
	var items []readItem
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("header is not valid JSON: %w", err)
		}
		name, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("header is not valid JSON: unexpected %v", tok)
		}
		if seen[name] {
			return nil, fmt.Errorf("header names %q twice", name)
		}
		seen[name] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("header is not valid JSON: entry %q: %w", name, err)
		}
		if name == metadataKey {
			var md map[string]string
			if err := json.Unmarshal(raw, &md); err != nil {
				return nil, fmt.Errorf("%s is not an object of strings: %w", metadataKey, err)
			}
			continue
		}
		it, err := parseEntry(name, raw, dataLen)
		if err != nil {
			return nil, fmt.Errorf("tensor %q: %w", name, err)
		}
		items = append(items, it)
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("header is not valid JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("header has content after its JSON object")
	}

	// The tensors must tile [0, dataLen) exactly.
	slices.SortFunc(items, func(a, b readItem) int {
		switch {
		case a.begin < b.begin:
			return -1
		case a.begin > b.begin:
			return 1
		}
		return strings.Compare(a.name, b.name)
	})
	var pos uint64
	for i, it := range items {
		switch {
		case it.begin < pos:
			return nil, fmt.Errorf("tensor %q (bytes %d..%d) overlaps tensor %q (ending at %d)",
				it.name, it.begin, it.end, items[i-1].name, pos)
		case it.begin > pos:
			return nil, fmt.Errorf("tensor %q starts at byte %d, leaving a gap of %d bytes before it",
				it.name, it.begin, it.begin-pos)
		}
		pos = it.end
	}
	if pos != dataLen {
		return nil, fmt.Errorf("%d bytes after the last tensor are not described by the header", dataLen-pos)
	}
	return items, nil
}

// parseEntry validates one tensor's header entry.
func parseEntry(name string, raw json.RawMessage, dataLen uint64) (readItem, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return readItem{}, fmt.Errorf("entry is not a JSON object: %w", err)
	}
	for k := range fields {
		if k != "dtype" && k != "shape" && k != "data_offsets" {
			return readItem{}, fmt.Errorf("unexpected key %q in entry", k)
		}
	}
	for _, k := range []string{"dtype", "shape", "data_offsets"} {
		if _, ok := fields[k]; !ok {
			return readItem{}, fmt.Errorf("entry lacks %q", k)
		}
	}
	it := readItem{name: name}

	var dtype string
	if err := json.Unmarshal(fields["dtype"], &dtype); err != nil {
		return readItem{}, fmt.Errorf("dtype: %w", err)
	}
	var elem uint64
	switch dtype {
	case "F32":
		elem = 4
	case "F64":
		elem, it.f64 = 8, true
	default:
		if slices.Contains(knownDtypes, dtype) {
			return readItem{}, fmt.Errorf("dtype %s is not supported (only F32 and F64)", dtype)
		}
		return readItem{}, fmt.Errorf("unknown dtype %q", dtype)
	}

	// Decode dimensions as json.Number to get precise messages for negative,
	// fractional and oversized values.
	var dims []json.Number
	if err := json.Unmarshal(fields["shape"], &dims); err != nil {
		return readItem{}, fmt.Errorf("shape is not an array of numbers: %w", err)
	}
	if len(dims) > MaxRank {
		return readItem{}, fmt.Errorf("shape has %d dimensions, more than the limit of %d", len(dims), MaxRank)
	}
	// Bound the element count by what the data section can hold, so that
	// the product can neither overflow nor exceed the file.
	maxElems := dataLen / elem
	numel := uint64(1)
	it.shape = make([]int, len(dims))
	for i, s := range dims {
		v, err := parseUint(s)
		if err != nil {
			return readItem{}, fmt.Errorf("shape %v: dimension %d: %w", dims, i, err)
		}
		if v == 0 {
			return readItem{}, fmt.Errorf("shape %v: dimension %d is zero (empty tensors are not supported)", dims, i)
		}
		if v > maxElems/numel {
			return readItem{}, fmt.Errorf("shape %v needs more than the %d bytes of the file's data section", dims, dataLen)
		}
		numel *= v
		it.shape[i] = int(v)
	}
	it.numel = int(numel)

	var offs []json.Number
	if err := json.Unmarshal(fields["data_offsets"], &offs); err != nil {
		return readItem{}, fmt.Errorf("data_offsets is not an array of numbers: %w", err)
	}
	if len(offs) != 2 {
		return readItem{}, fmt.Errorf("data_offsets has %d elements, want 2", len(offs))
	}
	var err error
	if it.begin, err = parseUint(offs[0]); err != nil {
		return readItem{}, fmt.Errorf("data_offsets[0]: %w", err)
	}
	if it.end, err = parseUint(offs[1]); err != nil {
		return readItem{}, fmt.Errorf("data_offsets[1]: %w", err)
	}
	if it.begin > it.end {
		return readItem{}, fmt.Errorf("data_offsets [%d, %d] end before they begin", it.begin, it.end)
	}
	if it.end > dataLen {
		return readItem{}, fmt.Errorf("data_offsets [%d, %d] run past the %d-byte data section", it.begin, it.end, dataLen)
	}
	if want := numel * elem; it.end-it.begin != want {
		return readItem{}, fmt.Errorf("data_offsets [%d, %d] span %d bytes, but %s shape %v needs %d",
			it.begin, it.end, it.end-it.begin, dtype, it.shape, want)
	}
	return it, nil
}

var errNotNatural = errors.New("not a non-negative integer")

// parseUint parses a JSON number that must be a non-negative integer
// without fraction or exponent.
func parseUint(n json.Number) (uint64, error) {
	s := n.String()
	if s == "" || strings.ContainsAny(s, ".eE-+") {
		return 0, fmt.Errorf("%s: %w", s, errNotNatural)
	}
	var v uint64
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%s: %w", s, errNotNatural)
		}
		d := uint64(c - '0')
		if v > (math.MaxInt64-d)/10 {
			return 0, fmt.Errorf("%s is too large", s)
		}
		v = v*10 + d
	}
	return v, nil
}

// readTensor reads one validated tensor, decoding in chunks through buf.
func readTensor(r io.ReaderAt, dataStart int64, it readItem, buf []byte) (*tensor.Dense, error) {
	elem := 4
	if it.f64 {
		elem = 8
	}
	var f32 []float32
	var f64 []float64
	if it.f64 {
		f64 = make([]float64, it.numel)
	} else {
		f32 = make([]float32, it.numel)
	}
	per := len(buf) / elem
	off := dataStart + int64(it.begin)
	for i := 0; i < it.numel; {
		n := min(per, it.numel-i)
		chunk := buf[:n*elem]
		if _, err := r.ReadAt(chunk, off); err != nil {
			return nil, fmt.Errorf("read data: %w", err)
		}
		for j := range n {
			if it.f64 {
				f64[i+j] = math.Float64frombits(binary.LittleEndian.Uint64(chunk[j*8:]))
			} else {
				f32[i+j] = math.Float32frombits(binary.LittleEndian.Uint32(chunk[j*4:]))
			}
		}
		i += n
		off += int64(n * elem)
	}
	var backing any = f32
	if it.f64 {
		backing = f64
	}
	return tensor.New(tensor.WithShape(it.shape...), tensor.WithBacking(backing)), nil
}

// ReadSafetensorsFile reads the safetensors file at path; errors name the
// file.
func ReadSafetensorsFile(path string) (map[string]*tensor.Dense, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("safetensors: %s is not a regular file", path)
	}
	ts, err := ReadSafetensors(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("safetensors: %s: %w", path, err)
	}
	return ts, nil
}
