package curvature

import (
	"testing"

	gt "gorgonia.org/tensor"

	"github.com/gradlab/gradlab/internal/openblas"
)

// BenchmarkSharpnessMeasure times one λ₁ measurement (gradient, 10 Lanczos
// steps, ‖θ‖²) of an MLP 64-64-10 over 512 examples in chunks of 256, on
// the host and attached to the CPU set behind a hidden type (the device
// path: resident parameters and vectors, uploads of the examples only),
// with OpenBLAS GEMM where the build has it (gonum's parallel SGEMM
// allocates on every call).
func BenchmarkSharpnessMeasure(b *testing.B) {
	openblas.Enable()
	ds := gaussianData(512, 10, 7, 64)
	model := newTinyMLP(b, gt.Float32, 3, 64, 64, 10)
	op, err := NewHessianOperator(model, ds, HVPOptions{Flatten: true, Chunk: 256})
	if err != nil {
		b.Fatal(err)
	}
	defer op.Close()
	opts := SharpnessOptions{Every: 1, Method: LanczosMethod, LanczosSteps: 10, WarmStart: true, Seed: 1}
	for _, dev := range []bool{false, true} {
		b.Run(map[bool]string{false: "host", true: "device"}[dev], func(b *testing.B) {
			p, err := NewSharpnessProbe(op, opts)
			if err != nil {
				b.Fatal(err)
			}
			if dev {
				set := newHidden[float32](b)
				prog, params := residentStep[float32](b, model, set, 8)
				detach, err := p.AttachDevice(prog, params)
				if err != nil {
					b.Fatal(err)
				}
				defer detach()
			}
			if _, err := p.Measure(0); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := p.Measure(i); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
