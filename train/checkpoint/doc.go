// Package checkpoint saves and restores training checkpoints.
//
// A checkpoint is a directory root/step-<N>/ holding two files:
//
//   - weights.safetensors: named tensors (model parameters and optimizer
//     buffers) in the safetensors format, Float32 or Float64;
//   - state.json: the trainer state as JSON (see State for the usual
//     fields; any JSON-encodable value is accepted).
//
// Save writes both files into a temporary directory inside root (named
// with the prefix ".tmp-"), fsyncs them, renames the directory to its
// final name and fsyncs root. A crash at any point therefore leaves either
// the complete checkpoint or no step-<N> directory at all; a stale
// temporary directory may remain and is ignored by List, Latest and Prune
// (RemoveTemp deletes it).
//
// The safetensors reader and writer are implemented here rather than taken
// from a library so that every malformed input is rejected with an error
// that names the problem, and so that no buffer is allocated before the
// file is known to hold the bytes it claims: a header length, a shape or an
// offset that the file's size does not back is an error, never an
// allocation. The format is: an 8-byte little-endian header length n, n
// bytes of JSON mapping each tensor name to {"dtype", "shape",
// "data_offsets"} (plus an optional "__metadata__" object of strings), then
// the tensors' raw little-endian bytes, packed with no gaps or overlaps.
package checkpoint
