package ops

import (
	"math/rand/v2"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

func TestEmbeddingForward(t *testing.T) {
	table := randData(newRNG(1), 5*3)
	ids := []int{4, 0, 4, 2, 1, 3}
	idv, err := IDs(ids, tensor.Shape{2, 3}, tensor.Float64)
	if err != nil {
		t.Fatal(err)
	}
	got, gs := forward(t, func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
		return Embedding(in[0], in[1])
	}, []tensor.Shape{{5, 3}, {2, 3}}, [][]float64{table, idv.Data().([]float64)})
	if !sameShape(gs, tensor.Shape{2, 3, 3}) {
		t.Fatalf("shape %v", gs)
	}
	for k, id := range ids {
		for j := 0; j < 3; j++ {
			if got[k*3+j] != table[id*3+j] {
				t.Fatalf("row %d col %d = %v, want %v", k, j, got[k*3+j], table[id*3+j])
			}
		}
	}
}

func TestEmbeddingRejectsBadIDs(t *testing.T) {
	for _, bad := range []float64{5, -1, 1.5} {
		g := gorgonia.NewGraph()
		tb := inputNode(g, "t", tensor.Shape{5, 2}, make([]float64, 10))
		id := inputNode(g, "ids", tensor.Shape{1}, []float64{bad})
		if _, err := Embedding(tb, id); err != nil {
			t.Fatal(err)
		}
		m := gorgonia.NewTapeMachine(g)
		if err := m.RunAll(); err == nil {
			t.Errorf("id %v accepted", bad)
		}
		m.Close()
	}
}

func TestDropoutMask(t *testing.T) {
	m, err := DropoutMask(newRNG(3), tensor.Shape{100, 100}, 0.3, tensor.Float64)
	if err != nil {
		t.Fatal(err)
	}
	var zeros, sum float64
	for _, v := range m.Data().([]float64) {
		if v == 0 {
			zeros++
		} else if v != 1/0.7 {
			t.Fatalf("mask value %v", v)
		}
		sum += v
	}
	// 10000 Bernoulli(0.3) draws: 5 standard deviations is about 230
	if zeros < 3000-230 || zeros > 3000+230 {
		t.Errorf("%v zeros of 10000 at p=0.3", zeros)
	}
	m2, _ := DropoutMask(newRNG(3), tensor.Shape{100, 100}, 0.3, tensor.Float64)
	for i, v := range m2.Data().([]float64) {
		if v != m.Data().([]float64)[i] {
			t.Fatal("same seed gave a different mask")
		}
	}
	if _, err := DropoutMask(newRNG(3), tensor.Shape{2}, 1, tensor.Float64); err == nil {
		t.Error("p=1 accepted")
	}
}

func TestUpsampleForward(t *testing.T) {
	x := randData(newRNG(2), 2*1*2*3)
	got, gs := forward(t, func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
		return UpsampleNearest(in[0], 2)
	}, []tensor.Shape{{2, 1, 2, 3}}, [][]float64{x})
	if !sameShape(gs, tensor.Shape{2, 1, 4, 6}) {
		t.Fatalf("shape %v", gs)
	}
	for p := 0; p < 2; p++ {
		for y := 0; y < 4; y++ {
			for xx := 0; xx < 6; xx++ {
				if got[(p*4+y)*6+xx] != x[(p*2+y/2)*3+xx/2] {
					t.Fatalf("pixel %d,%d,%d", p, y, xx)
				}
			}
		}
	}
}

func TestEmbedDropoutUpsampleGradients(t *testing.T) {
	idsData := func(rng *rand.Rand, i, n int) []float64 {
		if i == 1 {
			d := make([]float64, n)
			for k := range d {
				d[k] = float64(rng.IntN(4))
			}
			return d
		}
		return randData(rng, n)
	}
	maskData := func(rng *rand.Rand, i, n int) []float64 {
		if i == 1 {
			m, _ := DropoutMask(rng, tensor.Shape{n}, 0.5, tensor.Float64)
			return m.Data().([]float64)
		}
		return randData(rng, n)
	}
	runOpCases(t, []opCase{
		{name: "embedding 4x3 ids 5", shapes: []tensor.Shape{{4, 3}, {5}}, wrt: []int{0}, data: idsData,
			b: func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
				return Embedding(in[0], in[1])
			}},
		{name: "embedding 4x2 ids 2x3", shapes: []tensor.Shape{{4, 2}, {2, 3}}, wrt: []int{0}, data: idsData,
			b: func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
				return Embedding(in[0], in[1])
			}},
		{name: "dropout 3x4", shapes: []tensor.Shape{{3, 4}, {3, 4}}, wrt: []int{0}, data: maskData, multi: true,
			b: func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) { return Dropout(in[0], in[1]) }},
		{name: "upsample x2", shapes: []tensor.Shape{{1, 2, 3, 2}}, wrt: []int{0},
			b: func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
				return UpsampleNearest(in[0], 2)
			}},
		{name: "upsample x3", shapes: []tensor.Shape{{2, 1, 2, 2}}, wrt: []int{0},
			b: func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
				return UpsampleNearest(in[0], 3)
			}},
	})
}
