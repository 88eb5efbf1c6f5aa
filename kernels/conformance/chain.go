package conformance

import "github.com/gradlab/gradlab/kernels"

func testChain[T kernels.Float](e *env[T]) {
	e.t.Skip("chain kernels: not written yet")
}
