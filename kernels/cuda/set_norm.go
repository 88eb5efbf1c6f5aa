//go:build cuda || gradlabcuda

package cuda

// normFunctions are the kernels of norm.cuh that New loads (each name gets
// the set's _f32 or _f64 suffix).
var normFunctions = []string{}
