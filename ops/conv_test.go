package ops

import (
	"fmt"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// refConv is a direct-loop NCHW/OIHW cross-correlation.
func refConv(x []float64, xs tensor.Shape, w []float64, ws tensor.Shape, p ConvParams) ([]float64, tensor.Shape) {
	p, _ = p.normalized()
	n, c, h, wd := xs[0], xs[1], xs[2], xs[3]
	o, kh, kw := ws[0], ws[2], ws[3]
	ho := (h+2*p.Pad[0]-p.Dilation[0]*(kh-1)-1)/p.Stride[0] + 1
	wo := (wd+2*p.Pad[1]-p.Dilation[1]*(kw-1)-1)/p.Stride[1] + 1
	y := make([]float64, n*o*ho*wo)
	for b := 0; b < n; b++ {
		for oc := 0; oc < o; oc++ {
			for oy := 0; oy < ho; oy++ {
				for ox := 0; ox < wo; ox++ {
					var s float64
					for ic := 0; ic < c; ic++ {
						for i := 0; i < kh; i++ {
							for j := 0; j < kw; j++ {
								iy := oy*p.Stride[0] - p.Pad[0] + i*p.Dilation[0]
								ix := ox*p.Stride[1] - p.Pad[1] + j*p.Dilation[1]
								if iy < 0 || iy >= h || ix < 0 || ix >= wd {
									continue
								}
								s += x[((b*c+ic)*h+iy)*wd+ix] * w[((oc*c+ic)*kh+i)*kw+j]
							}
						}
					}
					y[((b*o+oc)*ho+oy)*wo+ox] = s
				}
			}
		}
	}
	return y, tensor.Shape{n, o, ho, wo}
}

// refConvTranspose scatters every input pixel times the kernel into the
// output (x=[N,CI,H,W], w=[CI,CO,KH,KW]).
func refConvTranspose(x []float64, xs tensor.Shape, w []float64, ws tensor.Shape, p ConvParams, outPad [2]int) ([]float64, tensor.Shape) {
	p, _ = p.normalized()
	n, ci, h, wd := xs[0], xs[1], xs[2], xs[3]
	co, kh, kw := ws[1], ws[2], ws[3]
	ho := (h-1)*p.Stride[0] - 2*p.Pad[0] + p.Dilation[0]*(kh-1) + 1 + outPad[0]
	wo := (wd-1)*p.Stride[1] - 2*p.Pad[1] + p.Dilation[1]*(kw-1) + 1 + outPad[1]
	y := make([]float64, n*co*ho*wo)
	for b := 0; b < n; b++ {
		for ic := 0; ic < ci; ic++ {
			for iy := 0; iy < h; iy++ {
				for ix := 0; ix < wd; ix++ {
					v := x[((b*ci+ic)*h+iy)*wd+ix]
					for oc := 0; oc < co; oc++ {
						for i := 0; i < kh; i++ {
							for j := 0; j < kw; j++ {
								oy := iy*p.Stride[0] - p.Pad[0] + i*p.Dilation[0]
								ox := ix*p.Stride[1] - p.Pad[1] + j*p.Dilation[1]
								if oy < 0 || oy >= ho || ox < 0 || ox >= wo {
									continue
								}
								y[((b*co+oc)*ho+oy)*wo+ox] += v * w[((ic*co+oc)*kh+i)*kw+j]
							}
						}
					}
				}
			}
		}
	}
	return y, tensor.Shape{n, co, ho, wo}
}

var convCases = []struct {
	x, w tensor.Shape
	p    ConvParams
}{
	{tensor.Shape{2, 3, 7, 6}, tensor.Shape{4, 3, 3, 3}, ConvParams{}},
	{tensor.Shape{1, 2, 7, 7}, tensor.Shape{3, 2, 3, 3}, ConvParams{Stride: [2]int{2, 2}, Pad: [2]int{1, 1}}},
	{tensor.Shape{2, 1, 8, 5}, tensor.Shape{2, 1, 2, 3}, ConvParams{Stride: [2]int{2, 1}, Pad: [2]int{0, 2}}},
	{tensor.Shape{1, 2, 9, 9}, tensor.Shape{2, 2, 3, 3}, ConvParams{Pad: [2]int{2, 2}, Dilation: [2]int{2, 2}}},
	{tensor.Shape{3, 2, 5, 5}, tensor.Shape{5, 2, 1, 1}, ConvParams{Stride: [2]int{2, 2}}},
	{tensor.Shape{1, 1, 6, 6}, tensor.Shape{1, 1, 3, 3}, ConvParams{Stride: [2]int{3, 3}, Pad: [2]int{1, 1}}},
}

func TestConv2dForward(t *testing.T) {
	for i, tc := range convCases {
		t.Run(fmt.Sprint(tc.x, tc.w, tc.p), func(t *testing.T) {
			rng := newRNG(uint64(i))
			x, w := randData(rng, tc.x.TotalSize()), randData(rng, tc.w.TotalSize())
			want, ws := refConv(x, tc.x, w, tc.w, tc.p)
			got, gs := forward(t, func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
				return Conv2d(in[0], in[1], tc.p)
			}, []tensor.Shape{tc.x, tc.w}, [][]float64{x, w})
			if !sameShape(gs, ws) {
				t.Fatalf("shape %v, want %v", gs, ws)
			}
			if e := relErr(got, want); e > 1e-13 {
				t.Errorf("rel err %g", e)
			}
		})
	}
}

var convTCases = []struct {
	x, w   tensor.Shape
	p      ConvParams
	outPad [2]int
}{
	{tensor.Shape{2, 3, 4, 5}, tensor.Shape{3, 2, 3, 3}, ConvParams{}, [2]int{}},
	{tensor.Shape{1, 2, 4, 4}, tensor.Shape{2, 3, 4, 4}, ConvParams{Stride: [2]int{2, 2}, Pad: [2]int{1, 1}}, [2]int{}},
	{tensor.Shape{2, 2, 3, 5}, tensor.Shape{2, 1, 3, 3}, ConvParams{Stride: [2]int{2, 2}, Pad: [2]int{1, 1}}, [2]int{1, 1}},
	{tensor.Shape{1, 1, 5, 4}, tensor.Shape{1, 2, 3, 2}, ConvParams{Stride: [2]int{1, 2}, Dilation: [2]int{2, 1}}, [2]int{0, 1}},
}

func TestConvTranspose2dForward(t *testing.T) {
	for i, tc := range convTCases {
		t.Run(fmt.Sprint(tc.x, tc.w, tc.p, tc.outPad), func(t *testing.T) {
			rng := newRNG(uint64(i))
			x, w := randData(rng, tc.x.TotalSize()), randData(rng, tc.w.TotalSize())
			want, ws := refConvTranspose(x, tc.x, w, tc.w, tc.p, tc.outPad)
			got, gs := forward(t, func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
				return ConvTranspose2d(in[0], in[1], tc.p, tc.outPad)
			}, []tensor.Shape{tc.x, tc.w}, [][]float64{x, w})
			if !sameShape(gs, ws) {
				t.Fatalf("shape %v, want %v", gs, ws)
			}
			if e := relErr(got, want); e > 1e-13 {
				t.Errorf("rel err %g", e)
			}
		})
	}
}

func TestConvShapeErrors(t *testing.T) {
	g := gorgonia.NewGraph()
	x := inputNode(g, "x", tensor.Shape{1, 2, 3, 3}, make([]float64, 18))
	w := inputNode(g, "w", tensor.Shape{1, 3, 3, 3}, make([]float64, 27))
	if _, err := Conv2d(x, w, ConvParams{}); err == nil {
		t.Error("channel mismatch accepted")
	}
	w2 := inputNode(g, "w2", tensor.Shape{1, 2, 5, 5}, make([]float64, 50))
	if _, err := Conv2d(x, w2, ConvParams{}); err == nil {
		t.Error("kernel larger than padded input accepted")
	}
}

func TestConvGradients(t *testing.T) {
	var cases []opCase
	for _, tc := range convCases {
		p := tc.p
		cases = append(cases, opCase{
			name:   fmt.Sprint("conv", tc.x, tc.w, tc.p),
			shapes: []tensor.Shape{tc.x, tc.w},
			b: func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
				return Conv2d(in[0], in[1], p)
			},
			wrt: []int{0, 1},
		})
	}
	for _, tc := range convTCases {
		p, op := tc.p, tc.outPad
		cases = append(cases, opCase{
			name:   fmt.Sprint("convT", tc.x, tc.w, tc.p, tc.outPad),
			shapes: []tensor.Shape{tc.x, tc.w},
			b: func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
				return ConvTranspose2d(in[0], in[1], p, op)
			},
			wrt: []int{0, 1},
		})
	}
	runOpCases(t, cases)
}
