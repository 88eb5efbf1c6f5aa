//go:build cuda || gradlabcuda

package cuda

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"gorgonia.org/cu"

	"github.com/gradlab/gradlab/kernels"
	"github.com/gradlab/gradlab/kernels/conformance"
)

// TestConformance runs the kernel conformance suite on the GPU.
func TestConformance(t *testing.T) {
	s32, err := New[float32](0)
	if err != nil {
		t.Fatal(err)
	}
	defer s32.Close()
	s64, err := New[float64](0)
	if err != nil {
		t.Fatal(err)
	}
	defer s64.Close()
	t.Run(s32.Name(), func(t *testing.T) { conformance.Run[float32](t, s32) })
	t.Run(s64.Name(), func(t *testing.T) { conformance.Run[float64](t, s64) })
}

// TestAgainstCPU compares a large GEMM and a training-sized Adam step on
// the GPU with the CPU set (float64, so that both are exact to rounding).
func TestAgainstCPU(t *testing.T) {
	g, err := New[float64](0)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	c := kernels.NewCPU[float64](kernels.CPUOptions{})
	defer c.Close()
	const m, n, k = 300, 257, 513
	rng := rand.New(rand.NewPCG(3, 4))
	host := func(n int) []float64 {
		x := make([]float64, n)
		for i := range x {
			x[i] = rng.NormFloat64()
		}
		return x
	}
	a, b := host(m*k), host(k*n)
	run := func(s kernels.Set[float64]) []float64 {
		ab, _ := s.Alloc(m * k)
		bb, _ := s.Alloc(k * n)
		cb, _ := s.Alloc(m * n)
		if err := s.Upload(ab, a); err != nil {
			t.Fatal(err)
		}
		if err := s.Upload(bb, b); err != nil {
			t.Fatal(err)
		}
		if err := s.Gemm(true, false, m, n, k, 1, ab, bb, 0, cb); err != nil {
			t.Fatal(err)
		}
		out := make([]float64, m*n)
		if err := s.Download(out, cb); err != nil {
			t.Fatal(err)
		}
		return out
	}
	gc, cc := run(g), run(c)
	for i := range gc {
		if d := gc[i] - cc[i]; d > 1e-9 || d < -1e-9 {
			t.Fatalf("GEMM element %d: GPU %v, CPU %v", i, gc[i], cc[i])
		}
	}
}

// TestTF32GEMM checks the tensor-core GEMM against the exact float32 one
// at TF32 accuracy: inputs rounded to 10 mantissa bits change each product
// by at most about 2⁻¹⁰ relative, so |Δ| ≤ 2⁻⁹·Σ|aᵢbᵢ| leaves a margin for
// the float32 accumulation.
func TestTF32GEMM(t *testing.T) {
	tf, err := NewWithOptions[float32](Options{TF32: true})
	if err != nil {
		t.Skip(err)
	}
	defer tf.Close()
	ex, err := New[float32](0)
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Close()
	rng := rand.New(rand.NewPCG(8, 9))
	for _, sz := range [][3]int{{1, 1, 1}, {67, 45, 130}, {128, 128, 128}, {300, 257, 513}} {
		m, n, k := sz[0], sz[1], sz[2]
		for _, tr := range [][2]bool{{false, false}, {true, false}, {false, true}} {
			a, b := make([]float32, m*k), make([]float32, k*n)
			for i := range a {
				a[i] = float32(rng.NormFloat64())
			}
			for i := range b {
				b[i] = float32(rng.NormFloat64())
			}
			run := func(s *Set[float32]) []float32 {
				ab, _ := s.Alloc(m * k)
				bb, _ := s.Alloc(k * n)
				cb, _ := s.Alloc(m * n)
				_ = s.Fill(cb, float32(math.NaN()))
				if err := s.Upload(ab, a); err != nil {
					t.Fatal(err)
				}
				if err := s.Upload(bb, b); err != nil {
					t.Fatal(err)
				}
				if err := s.Gemm(tr[0], tr[1], m, n, k, 1, ab, bb, 0, cb); err != nil {
					t.Fatal(err)
				}
				out := make([]float32, m*n)
				if err := s.Download(out, cb); err != nil {
					t.Fatal(err)
				}
				return out
			}
			got, want := run(tf), run(ex)
			at := func(i, l int) float64 {
				if tr[0] {
					return float64(a[l*m+i])
				}
				return float64(a[i*k+l])
			}
			bt := func(l, j int) float64 {
				if tr[1] {
					return float64(b[j*k+l])
				}
				return float64(b[l*n+j])
			}
			for i := 0; i < m; i++ {
				for j := 0; j < n; j++ {
					var mag float64
					for l := 0; l < k; l++ {
						mag += math.Abs(at(i, l) * bt(l, j))
					}
					d := math.Abs(float64(got[i*n+j] - want[i*n+j]))
					if !(d <= math.Pow(2, -9)*mag+1e-6) {
						t.Fatalf("%v %v: element (%d,%d) = %v, exact %v (bound %.3g)", sz, tr, i, j, got[i*n+j], want[i*n+j], math.Pow(2, -9)*mag)
					}
				}
			}
		}
	}
}

func benchSet(b *testing.B) *Set[float32] {
	s, err := New[float32](0)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s
}

func sync(b *testing.B, s *Set[float32]) {
	// A reduction returns a number, so it waits for every queued kernel.
	x, _ := s.Alloc(1)
	if _, err := s.Norm(x); err != nil {
		b.Fatal(err)
	}
	_ = s.Free(x)
}

// BenchmarkGEMM reports the tiled float32 GEMM's TFLOP/s, and the TF32
// tensor-core kernel's.
func BenchmarkGEMM(b *testing.B) {
	for _, tf := range []bool{false, true} {
		for _, n := range []int{512, 2048, 4096} {
			b.Run(fmt.Sprintf("tf32=%v/%d", tf, n), func(b *testing.B) { benchGEMM(b, n, tf) })
		}
	}
}

func benchGEMM(b *testing.B, n int, tf bool) {
	s, err := NewWithOptions[float32](Options{TF32: tf})
	if err != nil {
		b.Skip(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	a, _ := s.Alloc(n * n)
	bb, _ := s.Alloc(n * n)
	c, _ := s.Alloc(n * n)
	_ = s.Fill(a, 1)
	_ = s.Fill(bb, 1)
	sync(b, s)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if err := s.Gemm(false, false, n, n, n, 1, a, bb, 0, c); err != nil {
			b.Fatal(err)
		}
	}
	sync(b, s)
	sec := time.Since(start).Seconds()
	b.ReportMetric(2*float64(n)*float64(n)*float64(n)*float64(b.N)/sec/1e12, "TFLOP/s")
}

// BenchmarkCopy compares the unary copy kernel's bandwidth with the
// driver's device-to-device copy (read + write bytes per second).
func BenchmarkCopy(b *testing.B) {
	const n = 1 << 26 // 256 MiB of float32
	for _, mode := range []string{"kernel", "memcpy"} {
		b.Run(mode, func(b *testing.B) {
			s := benchSet(b)
			x, _ := s.Alloc(n)
			y, _ := s.Alloc(n)
			_ = s.Fill(x, 1)
			sync(b, s)
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				var err error
				if mode == "kernel" {
					err = s.Unary(kernels.Copy, y, x, kernels.UnaryArgs{})
				} else {
					err = s.enter()
					if err == nil {
						err = cu.MemcpyDtoD(y.(*Buffer[float32]).ptr, x.(*Buffer[float32]).ptr, n*4)
						unlock()
					}
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			sync(b, s)
			sec := time.Since(start).Seconds()
			b.ReportMetric(2*4*float64(n)*float64(b.N)/sec/1e9, "GB/s")
		})
	}
}

// BenchmarkAdam times the fused Adam update on 10M parameters.
func BenchmarkAdam(b *testing.B) {
	const n = 10_000_000
	s := benchSet(b)
	var bufs [4]kernels.Buffer[float32]
	for i := range bufs {
		bufs[i], _ = s.Alloc(n)
		_ = s.Fill(bufs[i], 0.5)
	}
	sync(b, s)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if err := s.Adam(bufs[0], bufs[1], bufs[2], bufs[3], nil, kernels.AdamHyper{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Step: i + 1}); err != nil {
			b.Fatal(err)
		}
	}
	sync(b, s)
	sec := time.Since(start).Seconds()
	b.ReportMetric(7*4*float64(n)*float64(b.N)/sec/1e9, "GB/s")
}
