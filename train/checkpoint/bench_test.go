package checkpoint

import (
	"bytes"
	"testing"

	"gorgonia.org/tensor"
)

// benchTensors is about the size of an MLP 784-512-512-10 with Adam
// moments: 3 × 670k float32 values (8 MB).
func benchTensors() map[string]*tensor.Dense {
	out := make(map[string]*tensor.Dense)
	for _, name := range []string{"w", "adam.m", "adam.v"} {
		out[name] = tensor.New(tensor.WithShape(670000), tensor.WithBacking(make([]float32, 670000)))
	}
	return out
}

func BenchmarkWriteSafetensors(b *testing.B) {
	ts := benchTensors()
	var buf bytes.Buffer
	b.SetBytes(3 * 670000 * 4)
	for b.Loop() {
		buf.Reset()
		if err := WriteSafetensors(&buf, ts); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadSafetensors(b *testing.B) {
	var buf bytes.Buffer
	if err := WriteSafetensors(&buf, benchTensors()); err != nil {
		b.Fatal(err)
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := ReadSafetensors(bytes.NewReader(data), int64(len(data))); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSave(b *testing.B) {
	ts := benchTensors()
	root := b.TempDir()
	b.SetBytes(3 * 670000 * 4)
	for i := 0; b.Loop(); i++ {
		if err := Save(root, i, ts, State{Step: i}); err != nil {
			b.Fatal(err)
		}
		if err := Prune(root, 1); err != nil {
			b.Fatal(err)
		}
	}
}
