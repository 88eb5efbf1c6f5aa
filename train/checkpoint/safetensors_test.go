package checkpoint

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/nlpodyssey/safetensors"
	"gorgonia.org/tensor"
)

// elemBits returns the dtype name and the bit pattern of every element of
// d in row-major order (iterating, so views are read logically).
func elemBits(t *testing.T, d *tensor.Dense) (string, []uint64) {
	t.Helper()
	if d.IsMaterializable() {
		d = d.Materialize().(*tensor.Dense)
	}
	switch v := d.Data().(type) {
	case float32:
		return "F32", []uint64{uint64(math.Float32bits(v))}
	case []float32:
		out := make([]uint64, d.Shape().TotalSize())
		for i := range out {
			out[i] = uint64(math.Float32bits(v[i]))
		}
		return "F32", out
	case float64:
		return "F64", []uint64{math.Float64bits(v)}
	case []float64:
		out := make([]uint64, d.Shape().TotalSize())
		for i := range out {
			out[i] = math.Float64bits(v[i])
		}
		return "F64", out
	}
	t.Fatalf("unexpected data %T", d.Data())
	return "", nil
}

// sameTensors fails unless got and want hold the same names, dtypes,
// shapes and bit patterns.
func sameTensors(t *testing.T, got, want map[string]*tensor.Dense) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d tensors, want %d", len(got), len(want))
	}
	for name, w := range want {
		g, ok := got[name]
		if !ok {
			t.Fatalf("tensor %q missing", name)
		}
		if !slices.Equal([]int(g.Shape()), []int(w.Shape())) {
			t.Errorf("tensor %q: shape %v, want %v", name, g.Shape(), w.Shape())
		}
		gd, gb := elemBits(t, g)
		wd, wb := elemBits(t, w)
		if gd != wd || !slices.Equal(gb, wb) {
			t.Errorf("tensor %q: got %s %x, want %s %x", name, gd, gb, wd, wb)
		}
	}
}

// specialF32 and specialF64 are values whose bit patterns a lossy encoding
// would change.
var (
	specialF32 = []float32{0, float32(math.Copysign(0, -1)), 1, -1, math.MaxFloat32, math.SmallestNonzeroFloat32,
		float32(math.Inf(1)), float32(math.Inf(-1)), math.Float32frombits(0x7fc00001), math.Float32frombits(0xffa00000)}
	specialF64 = []float64{0, math.Copysign(0, -1), 1, -1, math.MaxFloat64, math.SmallestNonzeroFloat64,
		math.Inf(1), math.Inf(-1), math.Float64frombits(0x7ff8000000000abc), math.Float64frombits(0xfff4000000000000)}
)

// randomTensors builds tensors of several shapes and both dtypes with
// values from a seeded generator, plus the special values.
func randomTensors(seed uint64) map[string]*tensor.Dense {
	rng := rand.New(rand.NewPCG(seed, 1))
	shapes := [][]int{{}, {1}, {7}, {2, 3}, {3, 1, 4}, {2, 2, 2, 3}}
	out := map[string]*tensor.Dense{
		"special32": tensor.New(tensor.WithShape(len(specialF32)), tensor.WithBacking(slices.Clone(specialF32))),
		"special64": tensor.New(tensor.WithShape(2, len(specialF64)/2), tensor.WithBacking(slices.Clone(specialF64))),
	}
	for i, s := range shapes {
		n := tensor.Shape(s).TotalSize()
		f32 := make([]float32, n)
		f64 := make([]float64, n)
		for j := range n {
			f32[j] = float32(rng.NormFloat64())
			f64[j] = rng.NormFloat64() * math.Pow(10, float64(rng.IntN(40)-20))
		}
		out["w"+strconv.Itoa(i)+".f32"] = tensor.New(tensor.WithShape(s...), tensor.WithBacking(f32))
		out["w"+strconv.Itoa(i)+".f64"] = tensor.New(tensor.WithShape(s...), tensor.WithBacking(f64))
	}
	return out
}

func roundTrip(t *testing.T, ts map[string]*tensor.Dense) (map[string]*tensor.Dense, []byte) {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteSafetensors(&buf, ts); err != nil {
		t.Fatal(err)
	}
	got, err := ReadSafetensors(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	return got, buf.Bytes()
}

func TestSafetensorsRoundTrip(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		want := randomTensors(seed)
		got, _ := roundTrip(t, want)
		sameTensors(t, got, want)
	}
}

func TestSafetensorsEmptyMap(t *testing.T) {
	got, raw := roundTrip(t, map[string]*tensor.Dense{})
	if len(got) != 0 {
		t.Fatalf("got %d tensors from an empty file", len(got))
	}
	if len(raw)%8 != 0 {
		t.Errorf("file length %d not a multiple of 8", len(raw))
	}
}

// Views and transposes must be written in logical order, not backing order.
func TestSafetensorsWritesViewsLogically(t *testing.T) {
	a := tensor.New(tensor.WithShape(2, 3), tensor.WithBacking([]float64{1, 2, 3, 4, 5, 6}))
	if err := a.T(); err != nil {
		t.Fatal(err)
	}
	b := tensor.New(tensor.WithShape(3, 3), tensor.WithBacking([]float32{1, 2, 3, 4, 5, 6, 7, 8, 9}))
	col, err := b.Slice(nil, tensor.S(1))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := roundTrip(t, map[string]*tensor.Dense{"t": a, "col": col.(*tensor.Dense)})
	want := map[string]*tensor.Dense{
		"t":   tensor.New(tensor.WithShape(3, 2), tensor.WithBacking([]float64{1, 4, 2, 5, 3, 6})),
		"col": tensor.New(tensor.WithShape(3), tensor.WithBacking([]float32{2, 5, 8})),
	}
	sameTensors(t, got, want)
}

func TestWriteSafetensorsRejects(t *testing.T) {
	tests := []struct {
		name    string
		tensors map[string]*tensor.Dense
		want    string
	}{
		{"int dtype", map[string]*tensor.Dense{"i": tensor.New(tensor.WithShape(2), tensor.WithBacking([]int{1, 2}))}, "unsupported dtype"},
		{"nil tensor", map[string]*tensor.Dense{"n": nil}, "is nil"},
		{"empty name", map[string]*tensor.Dense{"": tensor.New(tensor.WithShape(1), tensor.WithBacking([]float32{1}))}, "invalid tensor name"},
		{"metadata name", map[string]*tensor.Dense{metadataKey: tensor.New(tensor.WithShape(1), tensor.WithBacking([]float32{1}))}, "invalid tensor name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := WriteSafetensors(&bytes.Buffer{}, tc.tensors)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// The data of each tensor must start at a multiple of its element size
// (counted from the file start) so that memory-mapping readers can use it.
func TestSafetensorsAlignment(t *testing.T) {
	_, raw := roundTrip(t, randomTensors(4))
	hlen := binary.LittleEndian.Uint64(raw)
	var hdr map[string]json.RawMessage
	if err := json.Unmarshal(raw[8:8+hlen], &hdr); err != nil {
		t.Fatal(err)
	}
	for name, e := range hdr {
		var ent headerEntry
		if err := json.Unmarshal(e, &ent); err != nil {
			t.Fatal(err)
		}
		size := uint64(4)
		if ent.DType == "F64" {
			size = 8
		}
		if (8+hlen+ent.DataOffsets[0])%size != 0 {
			t.Errorf("tensor %q (%s) starts at unaligned file offset %d", name, ent.DType, 8+hlen+ent.DataOffsets[0])
		}
	}
}

// Files written here are read by an independent implementation
// (github.com/nlpodyssey/safetensors), and files it writes are read here.
func TestSafetensorsInteroperates(t *testing.T) {
	want := randomTensors(5)
	_, raw := roundTrip(t, want)
	st, err := safetensors.Deserialize(raw)
	if err != nil {
		t.Fatalf("reference reader rejects our file: %v", err)
	}
	if st.Len() != len(want) {
		t.Fatalf("reference reader sees %d tensors, want %d", st.Len(), len(want))
	}
	views := make(map[string]safetensors.TensorView)
	for name, w := range want {
		v, ok := st.Tensor(name)
		if !ok {
			t.Fatalf("reference reader lacks %q", name)
		}
		dt, bits := elemBits(t, w)
		if v.DType().String() != dt {
			t.Errorf("%q: dtype %v, want %s", name, v.DType(), dt)
		}
		shape := make([]int, len(v.Shape()))
		for i, s := range v.Shape() {
			shape[i] = int(s)
		}
		if !slices.Equal(shape, []int(w.Shape())) {
			t.Errorf("%q: shape %v, want %v", name, shape, w.Shape())
		}
		got := make([]uint64, len(bits))
		for i := range got {
			if dt == "F32" {
				got[i] = uint64(binary.LittleEndian.Uint32(v.Data()[4*i:]))
			} else {
				got[i] = binary.LittleEndian.Uint64(v.Data()[8*i:])
			}
		}
		if !slices.Equal(got, bits) {
			t.Errorf("%q: reference reader sees %x, want %x", name, got, bits)
		}
		if len(v.Shape()) > 0 { // the reference's view constructor miscounts scalars
			views[name] = v
		}
	}
	theirs, err := safetensors.Serialize(views, nil)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ReadSafetensors(bytes.NewReader(theirs), int64(len(theirs)))
	if err != nil {
		t.Fatalf("reading the reference writer's file: %v", err)
	}
	for name := range want {
		if _, ok := views[name]; !ok {
			delete(want, name)
		}
	}
	sameTensors(t, back, want)
}

// golden.safetensors was written by testdata/make_golden.py, a separate
// implementation using Python's struct and json modules.
func TestReadGoldenFile(t *testing.T) {
	got, err := ReadSafetensorsFile(filepath.Join("testdata", "golden.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join("testdata", "golden_expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]struct {
		DType string   `json:"dtype"`
		Shape []int    `json:"shape"`
		Bits  []string `json:"bits"`
	}
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("got %d tensors, want %d", len(got), len(want))
	}
	for name, w := range want {
		g := got[name]
		if g == nil {
			t.Fatalf("tensor %q missing", name)
		}
		if !slices.Equal([]int(g.Shape()), w.Shape) && !(len(w.Shape) == 0 && g.IsScalar()) {
			t.Errorf("%q: shape %v, want %v", name, g.Shape(), w.Shape)
		}
		dt, bits := elemBits(t, g)
		if dt != w.DType {
			t.Errorf("%q: dtype %s, want %s", name, dt, w.DType)
		}
		wantBits := make([]uint64, len(w.Bits))
		for i, s := range w.Bits {
			if wantBits[i], err = strconv.ParseUint(strings.TrimPrefix(s, "0x"), 16, 64); err != nil {
				t.Fatal(err)
			}
		}
		if !slices.Equal(bits, wantBits) {
			t.Errorf("%q: bits %x, want %x", name, bits, wantBits)
		}
	}
}

// file assembles a safetensors file from a header text and a data section
// of dataLen zero bytes.
func file(header string, dataLen int) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	b = append(b, header...)
	return append(b, make([]byte, dataLen)...)
}

func TestReadSafetensorsRejectsMalformed(t *testing.T) {
	withLen := func(n uint64, rest string) []byte {
		return append(binary.LittleEndian.AppendUint64(nil, n), rest...)
	}
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "too short"},
		{"seven bytes", make([]byte, 7), "too short"},
		{"header longer than file", withLen(100, "{}"), "exceeds the 2 bytes"},
		{"header length near 2^64", withLen(math.MaxUint64, "{}"), "exceeds"},
		{"bad json", file(`{"a":`, 0), "not valid JSON"},
		{"not an object", file(`[1,2]`, 0), "not a JSON object"},
		{"trailing content", file(`{} {}`, 0), "content after"},
		{"entry not object", file(`{"a":5}`, 4), "not a JSON object"},
		{"duplicate name", file(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, 8), `names "a" twice`},
		{"missing dtype", file(`{"a":{"shape":[1],"data_offsets":[0,4]}}`, 4), `lacks "dtype"`},
		{"extra key", file(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1}}`, 4), `unexpected key "x"`},
		{"unknown dtype", file(`{"a":{"dtype":"F31","shape":[1],"data_offsets":[0,4]}}`, 4), `unknown dtype "F31"`},
		{"unsupported dtype", file(`{"a":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}}`, 4), "BF16 is not supported"},
		{"dtype not string", file(`{"a":{"dtype":4,"shape":[1],"data_offsets":[0,4]}}`, 4), "dtype"},
		{"negative dim", file(`{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`, 4), "not a non-negative integer"},
		{"fractional dim", file(`{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}`, 4), "not a non-negative integer"},
		{"zero dim", file(`{"a":{"dtype":"F32","shape":[0,3],"data_offsets":[0,0]}}`, 0), "is zero"},
		{"too many dims", file(`{"a":{"dtype":"F32","shape":[`+strings.Repeat("1,", MaxRank)+`1],"data_offsets":[0,4]}}`, 4), "dimensions"},
		{"absurd dims", file(`{"a":{"dtype":"F64","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,8]}}`, 8), "needs more than the 8 bytes"},
		{"huge dim", file(`{"a":{"dtype":"F32","shape":[99999999999999999999999],"data_offsets":[0,4]}}`, 4), "too large"},
		{"size mismatch", file(`{"a":{"dtype":"F64","shape":[1],"data_offsets":[0,4]}}`, 4), "needs more than the 4 bytes"},
		{"size mismatch in range", file(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,8]}}`, 8), "span 8 bytes, but F32 shape [1] needs 4"},
		{"offsets reversed", file(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}}`, 8), "end before they begin"},
		{"offsets out of range", file(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}`, 8), "run past the 8-byte data section"},
		{"three offsets", file(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}`, 4), "3 elements"},
		{"overlap", file(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, 8), "overlaps"},
		{"gap", file(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, 8), "gap of 4 bytes"},
		{"trailing bytes", file(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, 12), "8 bytes after the last tensor"},
		{"bad metadata", file(`{"__metadata__":{"k":1}}`, 0), "__metadata__"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadSafetensors(bytes.NewReader(tc.data), int64(len(tc.data)))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestReadSafetensorsFileNamesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "broken.safetensors")
	if err := os.WriteFile(path, file(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, 2), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := ReadSafetensorsFile(path)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("error %v does not name %s", err, path)
	}
}

// A small file claiming a huge tensor must be rejected without allocating
// anything near the claimed size.
func TestReadSafetensorsDoesNotTrustSizes(t *testing.T) {
	data := file(`{"a":{"dtype":"F64","shape":[1000000000],"data_offsets":[0,8000000000]}}`, 16)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := ReadSafetensors(bytes.NewReader(data), int64(len(data)))
	runtime.ReadMemStats(&after)
	if err == nil {
		t.Fatal("accepted a file 8 GB short of its header's claim")
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Errorf("allocated %d bytes while rejecting a %d-byte file", grew, len(data))
	}
}
