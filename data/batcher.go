package data

import (
	"fmt"
	"math/rand/v2"
)

// BatcherOptions configure a [Batcher].
type BatcherOptions struct {
	BatchSize int    // examples per batch (> 0)
	Shuffle   bool   // visit examples in a fresh random order each epoch
	DropLast  bool   // skip an epoch's final batch when it would be short
	Seed      uint64 // shuffle seed: epoch e's order is a function of (Seed, e) only
}

// BatcherState is a Batcher's position: the epoch and the number of
// examples of that epoch already handed out.
type BatcherState struct {
	Epoch int `json:"epoch"`
	Pos   int `json:"pos"`
}

// Batch is one batch of examples. X holds Size examples contiguously, Y
// their labels (nil when the dataset has none), Targets their regression
// targets (nil when none) and Indices their positions in the dataset.
type Batch struct {
	X          []float32
	Y          []int
	Targets    []float32
	Indices    []int
	Size       int
	Epoch      int  // the epoch the batch belongs to
	EndOfEpoch bool // the batch is its epoch's last
}

// Batcher cuts a dataset into batches, epoch after epoch, without end.
// Copying examples into the batch reuses buffers, so that in steady state a
// batch costs no allocation. The sequence of batches is a pure function of
// the options and the dataset, and [Batcher.State] / [Batcher.Restore]
// resume it exactly.
type Batcher struct {
	ds        *Dataset
	opt       BatcherOptions
	n, limit  int
	epoch     int
	pos       int
	order     []int
	permEpoch int // the epoch order currently holds; -1 when none
	pcg       *rand.PCG
	rng       *rand.Rand
	buf       Batch
}

// NewBatcher returns a batcher over ds positioned at the start of epoch 0.
func NewBatcher(ds *Dataset, opt BatcherOptions) (*Batcher, error) {
	if err := ds.Validate(); err != nil {
		return nil, fmt.Errorf("batcher: %w", err)
	}
	n := ds.Len()
	if opt.BatchSize <= 0 {
		return nil, fmt.Errorf("batcher: batch size %d must be positive", opt.BatchSize)
	}
	if n == 0 {
		return nil, fmt.Errorf("batcher: dataset %q is empty", ds.Name)
	}
	limit := n
	if opt.DropLast {
		limit = n - n%opt.BatchSize
		if limit == 0 {
			return nil, fmt.Errorf("batcher: with drop-last, %d examples make no batch of %d", n, opt.BatchSize)
		}
	}
	pcg := rand.NewPCG(opt.Seed, 0)
	b := &Batcher{ds: ds, opt: opt, n: n, limit: limit, order: make([]int, n), permEpoch: -1, pcg: pcg, rng: rand.New(pcg)}
	return b, nil
}

// BatchesPerEpoch is the number of batches in each epoch.
func (b *Batcher) BatchesPerEpoch() int {
	return (b.limit + b.opt.BatchSize - 1) / b.opt.BatchSize
}

// State returns the current position.
func (b *Batcher) State() BatcherState { return BatcherState{Epoch: b.epoch, Pos: b.pos} }

// Restore moves to a position returned by State (of this batcher or of one
// with the same options over the same dataset); the following batches are
// those that followed that position.
func (b *Batcher) Restore(s BatcherState) error {
	if s.Epoch < 0 || s.Pos < 0 || s.Pos > b.limit {
		return fmt.Errorf("batcher: state %+v outside epoch ≥ 0, 0 ≤ pos ≤ %d", s, b.limit)
	}
	b.epoch, b.pos = s.Epoch, s.Pos
	return nil
}

// EpochOrder returns the order in which epoch e visits the examples (a copy).
func (b *Batcher) EpochOrder(e int) []int {
	o := make([]int, b.n)
	b.fillOrder(o, e)
	return o
}

func (b *Batcher) fillOrder(o []int, e int) {
	if !b.opt.Shuffle {
		for i := range o {
			o[i] = i
		}
		return
	}
	b.pcg.Seed(b.opt.Seed, uint64(e))
	fillPermutation(o, b.rng)
}

// Next returns the next batch in buffers owned by the batcher, valid until
// the next call.
func (b *Batcher) Next() Batch {
	b.NextInto(&b.buf)
	return b.buf
}

// NextInto writes the next batch into dst, reusing its slices when they have
// the capacity (they are grown otherwise).
func (b *Batcher) NextInto(dst *Batch) {
	if b.pos >= b.limit {
		b.epoch++
		b.pos = 0
	}
	if b.permEpoch != b.epoch {
		b.fillOrder(b.order, b.epoch)
		b.permEpoch = b.epoch
	}
	size := min(b.opt.BatchSize, b.limit-b.pos)
	idx := b.order[b.pos : b.pos+size]
	ds := b.ds
	es := ds.ExampleSize()
	dst.X = resize(dst.X, size*es)
	dst.Indices = resize(dst.Indices, size)
	copy(dst.Indices, idx)
	for j, i := range idx {
		copy(dst.X[j*es:(j+1)*es], ds.X[i*es:(i+1)*es])
	}
	if ds.Y != nil {
		dst.Y = resize(dst.Y, size)
		for j, i := range idx {
			dst.Y[j] = ds.Y[i]
		}
	} else {
		dst.Y = nil
	}
	if ds.Targets != nil {
		td := ds.TargetDim
		dst.Targets = resize(dst.Targets, size*td)
		for j, i := range idx {
			copy(dst.Targets[j*td:(j+1)*td], ds.Targets[i*td:(i+1)*td])
		}
	} else {
		dst.Targets = nil
	}
	dst.Size = size
	dst.Epoch = b.epoch
	b.pos += size
	dst.EndOfEpoch = b.pos >= b.limit
}

// resize returns s with length n, reallocating only when its capacity is
// too small.
func resize[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}
