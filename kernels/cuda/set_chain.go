//go:build cuda || gradlabcuda

package cuda

// chainFunctions are the kernels of chain.cuh that New loads (each name gets
// the set's _f32 or _f64 suffix).
var chainFunctions = []string{}
