package ops

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// refPool is a direct-loop max or average pooling (padding excluded from the
// max; average divides by the kernel area or the count of real pixels).
func refPool(x []float64, xs tensor.Shape, p PoolParams, isMax bool) ([]float64, tensor.Shape) {
	s := p.Stride
	for a := range s {
		if s[a] == 0 {
			s[a] = p.Kernel[a]
		}
	}
	n, c, h, w := xs[0], xs[1], xs[2], xs[3]
	ho := (h+2*p.Pad[0]-p.Kernel[0])/s[0] + 1
	wo := (w+2*p.Pad[1]-p.Kernel[1])/s[1] + 1
	y := make([]float64, n*c*ho*wo)
	for b := 0; b < n*c; b++ {
		for oy := 0; oy < ho; oy++ {
			for ox := 0; ox < wo; ox++ {
				m, sum, cnt := math.Inf(-1), 0.0, 0
				for i := 0; i < p.Kernel[0]; i++ {
					for j := 0; j < p.Kernel[1]; j++ {
						iy, ix := oy*s[0]-p.Pad[0]+i, ox*s[1]-p.Pad[1]+j
						if iy < 0 || iy >= h || ix < 0 || ix >= w {
							continue
						}
						v := x[(b*h+iy)*w+ix]
						m = math.Max(m, v)
						sum += v
						cnt++
					}
				}
				r := m
				if !isMax {
					if p.CountIncludePad {
						cnt = p.Kernel[0] * p.Kernel[1]
					}
					r = sum / float64(cnt)
				}
				y[(b*ho+oy)*wo+ox] = r
			}
		}
	}
	return y, tensor.Shape{n, c, ho, wo}
}

var poolCases = []struct {
	x tensor.Shape
	p PoolParams
}{
	{tensor.Shape{2, 3, 6, 6}, PoolParams{Kernel: [2]int{2, 2}}},
	{tensor.Shape{1, 2, 7, 7}, PoolParams{Kernel: [2]int{3, 3}, Stride: [2]int{2, 2}, Pad: [2]int{1, 1}}},
	{tensor.Shape{2, 1, 5, 8}, PoolParams{Kernel: [2]int{3, 2}, Stride: [2]int{1, 2}, Pad: [2]int{1, 0}, CountIncludePad: true}},
	{tensor.Shape{1, 1, 7, 5}, PoolParams{Kernel: [2]int{2, 2}, Stride: [2]int{2, 2}, Pad: [2]int{1, 1}}},
	{tensor.Shape{1, 2, 5, 5}, PoolParams{Kernel: [2]int{2, 2}, Stride: [2]int{2, 2}, Pad: [2]int{1, 1}, CountIncludePad: true}},
}

// spacedData returns a random permutation of n values 0.1 apart, so that no
// finite-difference step can change which element of a window is largest.
func spacedData(rng *rand.Rand, _ int, n int) []float64 {
	d := make([]float64, n)
	for i, k := range rng.Perm(n) {
		d[i] = 0.1*float64(k) - 0.05*float64(n)
	}
	return d
}

func TestPoolForward(t *testing.T) {
	for i, tc := range poolCases {
		t.Run(fmt.Sprint(tc.x, tc.p), func(t *testing.T) {
			x := randData(newRNG(uint64(i)), tc.x.TotalSize())
			for _, isMax := range []bool{true, false} {
				want, ws := refPool(x, tc.x, tc.p, isMax)
				got, gs := forward(t, func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
					if isMax {
						return MaxPool2d(in[0], tc.p)
					}
					return AvgPool2d(in[0], tc.p)
				}, []tensor.Shape{tc.x}, [][]float64{x})
				if !sameShape(gs, ws) {
					t.Fatalf("max=%v: shape %v, want %v", isMax, gs, ws)
				}
				if e := relErr(got, want); e > 1e-14 {
					t.Errorf("max=%v: rel err %g", isMax, e)
				}
			}
		})
	}
	x := randData(newRNG(9), 2*3*4*5)
	got, _ := forward(t, func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
		return GlobalAvgPool(in[0])
	}, []tensor.Shape{{2, 3, 4, 5}}, [][]float64{x})
	for k := range 6 {
		var s float64
		for _, v := range x[k*20 : (k+1)*20] {
			s += v
		}
		if math.Abs(got[k]-s/20) > 1e-14 {
			t.Errorf("global avg pool [%d] = %v, want %v", k, got[k], s/20)
		}
	}
}

func TestPoolParamErrors(t *testing.T) {
	g := gorgonia.NewGraph()
	x := inputNode(g, "x", tensor.Shape{1, 1, 4, 4}, make([]float64, 16))
	for _, p := range []PoolParams{{}, {Kernel: [2]int{2, 2}, Pad: [2]int{2, 2}}, {Kernel: [2]int{5, 5}}} {
		if _, err := MaxPool2d(x, p); err == nil {
			t.Errorf("%+v accepted", p)
		}
	}
}

func TestPoolGradients(t *testing.T) {
	var cases []opCase
	for _, tc := range poolCases {
		p := tc.p
		cases = append(cases,
			opCase{
				name: fmt.Sprint("max", tc.x, tc.p), shapes: []tensor.Shape{tc.x}, wrt: []int{0}, data: spacedData,
				b: func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) { return MaxPool2d(in[0], p) },
			},
			opCase{
				name: fmt.Sprint("avg", tc.x, tc.p), shapes: []tensor.Shape{tc.x}, wrt: []int{0},
				b: func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) { return AvgPool2d(in[0], p) },
			})
	}
	cases = append(cases, opCase{
		name: "global avg", shapes: []tensor.Shape{{2, 3, 3, 5}}, wrt: []int{0},
		b: func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) { return GlobalAvgPool(in[0]) },
	})
	runOpCases(t, cases)
}
