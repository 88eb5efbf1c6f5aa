package checkpoint

import (
	"bytes"
	"testing"

	"gorgonia.org/tensor"
)

// FuzzReadSafetensors checks that the reader never panics, never returns
// more tensor bytes than the input holds, and that whatever it accepts
// survives a write and a second read bit for bit.
func FuzzReadSafetensors(f *testing.F) {
	var buf bytes.Buffer
	if err := WriteSafetensors(&buf, map[string]*tensor.Dense{
		"w": tensor.New(tensor.WithShape(2, 2), tensor.WithBacking([]float32{1, -2, 3.5, 0})),
		"b": tensor.New(tensor.WithShape(2), tensor.WithBacking([]float64{0.25, -1e300})),
		"s": tensor.New(tensor.FromScalar(float32(7))),
	}); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add(file(`{}`, 0))
	f.Add(file(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, 4))
	f.Add(file(`{"a":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,8]}}`, 8))
	f.Fuzz(func(t *testing.T, data []byte) {
		ts, err := ReadSafetensors(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		total := 0
		for _, d := range ts {
			total += d.Shape().TotalSize() * int(d.Dtype().Size())
		}
		if total > len(data) {
			t.Fatalf("read %d tensor bytes from a %d-byte input", total, len(data))
		}
		var out bytes.Buffer
		if err := WriteSafetensors(&out, ts); err != nil {
			t.Fatalf("cannot write what was read: %v", err)
		}
		again, err := ReadSafetensors(bytes.NewReader(out.Bytes()), int64(out.Len()))
		if err != nil {
			t.Fatalf("cannot reread what was written: %v", err)
		}
		sameTensors(t, again, ts)
	})
}
