//go:build gradlabcuda

package benchmarks

import (
	"testing"

	"github.com/gradlab/gradlab/benchmarks/harness"
	"github.com/gradlab/gradlab/kernels"
	"github.com/gradlab/gradlab/kernels/cuda"
)

// BenchmarkCUDAMLP times the MNIST MLP workloads on the GPU with
// everything resident (parameters, gradients, Adam's moments, the HVP's
// probe): the training step as the trainer runs it, the gradient alone
// (with the finiteness test), and one exact Hessian–vector product, in
// float32 and in float32 with TF32 tensor-core GEMMs. Each run reads a
// scalar back, so it includes its kernels. Compare with
// `python3 benchmarks/peer/mlp_torch.py --device cuda [--tf32]` on the
// same card (the GPU check runs both):
//
//	go test -c -tags gradlabcuda -o bench-cuda.test ./benchmarks
//	./bench-cuda.test -test.run NONE -test.bench CUDAMLP -test.benchtime 200x
func BenchmarkCUDAMLP(b *testing.B) {
	for _, tf32 := range []bool{false, true} {
		set, err := cuda.NewWithOptions[float32](cuda.Options{Device: 0, TF32: tf32})
		if err != nil {
			b.Fatal(err)
		}
		name := "fp32"
		if tf32 {
			name = "tf32"
		}
		for _, w := range []struct {
			name  string
			build func(kernels.Set[float32]) (*harness.Workload, error)
		}{
			{"step", func(s kernels.Set[float32]) (*harness.Workload, error) {
				return harness.NewMLPDeviceStep("step", s, harness.GradlabAdam)
			}},
			{"grad", func(s kernels.Set[float32]) (*harness.Workload, error) {
				return harness.NewMLPDeviceStep("grad", s, harness.GradOnly)
			}},
			{"hvp", func(s kernels.Set[float32]) (*harness.Workload, error) { return harness.NewMLPDeviceHVP("hvp", s) }},
		} {
			b.Run(name+"/"+w.name, func(b *testing.B) {
				wl, err := w.build(set)
				if err != nil {
					b.Fatal(err)
				}
				defer wl.Close()
				for range 5 {
					if err := wl.Run(); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					if err := wl.Run(); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
		if err := set.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
