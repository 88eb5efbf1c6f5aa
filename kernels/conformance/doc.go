// Package conformance is the test suite every kernel set must pass.
//
// Run executes the same cases on any kernels.Set: inputs are drawn from a
// seeded generator, sizes are deliberately awkward (1, primes, sizes that
// do not divide evenly among workers, sizes large enough to take parallel
// paths), destinations are filled with NaN before each call so that an
// element the kernel forgets to write shows up, and results are compared
// with a float64 reference written here with plain loops (it shares no code
// with any implementation).
package conformance
