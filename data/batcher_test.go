package data

import (
	"slices"
	"testing"
)

// indexDataset has n examples of shape [3]; example i holds (i, i+0.25,
// i+0.5), label i mod 4 and target -i.
func indexDataset(n int) *Dataset {
	ds := &Dataset{Name: "index", Shape: []int{3}, Classes: 4, TargetDim: 1}
	for i := 0; i < n; i++ {
		ds.X = append(ds.X, float32(i), float32(i)+0.25, float32(i)+0.5)
		ds.Y = append(ds.Y, i%4)
		ds.Targets = append(ds.Targets, float32(-i))
	}
	return ds
}

type batchRecord struct {
	idx        []int
	epoch      int
	endOfEpoch bool
}

func collect(t *testing.T, b *Batcher, ds *Dataset, k int) []batchRecord {
	t.Helper()
	var out []batchRecord
	for range k {
		bt := b.Next()
		if len(bt.Indices) != bt.Size || len(bt.X) != bt.Size*3 || len(bt.Y) != bt.Size || len(bt.Targets) != bt.Size {
			t.Fatalf("batch buffers of lengths %d %d %d %d for size %d", len(bt.Indices), len(bt.X), len(bt.Y), len(bt.Targets), bt.Size)
		}
		for j, i := range bt.Indices {
			if !slices.Equal(bt.X[3*j:3*j+3], ds.Example(i)) || bt.Y[j] != ds.Y[i] || bt.Targets[j] != ds.Targets[i] {
				t.Fatalf("batch row %d does not hold example %d", j, i)
			}
		}
		out = append(out, batchRecord{slices.Clone(bt.Indices), bt.Epoch, bt.EndOfEpoch})
	}
	return out
}

func TestBatcherEpochs(t *testing.T) {
	ds := indexDataset(10)
	tests := []struct {
		name      string
		opt       BatcherOptions
		sizes     []int // batch sizes of one epoch
		coverSize int   // examples seen per epoch
	}{
		{"keep last", BatcherOptions{BatchSize: 4, Shuffle: true, Seed: 1}, []int{4, 4, 2}, 10},
		{"drop last", BatcherOptions{BatchSize: 4, Shuffle: true, DropLast: true, Seed: 1}, []int{4, 4}, 8},
		{"exact", BatcherOptions{BatchSize: 5, Shuffle: true, Seed: 2}, []int{5, 5}, 10},
		{"in order", BatcherOptions{BatchSize: 3}, []int{3, 3, 3, 1}, 10},
		{"batch bigger than data", BatcherOptions{BatchSize: 32, Shuffle: true}, []int{10}, 10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := NewBatcher(ds, tc.opt)
			if err != nil {
				t.Fatal(err)
			}
			if b.BatchesPerEpoch() != len(tc.sizes) {
				t.Fatalf("BatchesPerEpoch = %d, want %d", b.BatchesPerEpoch(), len(tc.sizes))
			}
			recs := collect(t, b, ds, 3*len(tc.sizes))
			for e := 0; e < 3; e++ {
				var seen []int
				for k, s := range tc.sizes {
					r := recs[e*len(tc.sizes)+k]
					if len(r.idx) != s || r.epoch != e || r.endOfEpoch != (k == len(tc.sizes)-1) {
						t.Fatalf("epoch %d batch %d: size %d epoch %d end %v", e, k, len(r.idx), r.epoch, r.endOfEpoch)
					}
					seen = append(seen, r.idx...)
				}
				// The epoch's batches follow its order, and without drop-last
				// they visit every example exactly once.
				if want := b.EpochOrder(e)[:tc.coverSize]; !slices.Equal(seen, want) {
					t.Fatalf("epoch %d visited %v, its order starts %v", e, seen, want)
				}
				sorted := slices.Sorted(slices.Values(seen))
				if tc.coverSize == 10 && !slices.Equal(sorted, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}) {
					t.Fatalf("epoch %d visited %v", e, sorted)
				}
			}
			if !tc.opt.Shuffle {
				if !slices.Equal(b.EpochOrder(2), []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}) {
					t.Fatal("unshuffled order is not the identity")
				}
			} else if slices.Equal(b.EpochOrder(0), b.EpochOrder(1)) {
				t.Fatal("two epochs in the same order")
			}
		})
	}
}

func TestBatcherOrderIsFunctionOfSeedAndEpoch(t *testing.T) {
	ds := indexDataset(50)
	opt := BatcherOptions{BatchSize: 7, Shuffle: true, Seed: 99}
	a, _ := NewBatcher(ds, opt)
	collect(t, a, ds, 30) // move a well into epoch 4
	b, _ := NewBatcher(ds, opt)
	for e := 0; e < 6; e++ {
		if !slices.Equal(a.EpochOrder(e), b.EpochOrder(e)) {
			t.Fatalf("epoch %d order depends on history", e)
		}
	}
	opt.Seed = 100
	c, _ := NewBatcher(ds, opt)
	if slices.Equal(a.EpochOrder(0), c.EpochOrder(0)) {
		t.Fatal("seed does not change the order")
	}
}

func TestBatcherResume(t *testing.T) {
	ds := indexDataset(23)
	for _, opt := range []BatcherOptions{
		{BatchSize: 5, Shuffle: true, Seed: 3},
		{BatchSize: 5, Shuffle: true, DropLast: true, Seed: 3},
		{BatchSize: 4},
	} {
		ref, _ := NewBatcher(ds, opt)
		refRecs := collect(t, ref, ds, 25)
		for _, cut := range []int{0, 1, 2, 4, 5, 7, 13, 24} {
			// Run a batcher cut batches in, save its state, restore a fresh one.
			a, _ := NewBatcher(ds, opt)
			collect(t, a, ds, cut)
			st := a.State()
			b, _ := NewBatcher(ds, opt)
			if err := b.Restore(st); err != nil {
				t.Fatal(err)
			}
			got := collect(t, b, ds, 25-cut)
			for k := range got {
				w := refRecs[cut+k]
				if !slices.Equal(got[k].idx, w.idx) || got[k].epoch != w.epoch || got[k].endOfEpoch != w.endOfEpoch {
					t.Fatalf("%+v: resumed after %d batches (state %+v), batch %d = %v, want %v", opt, cut, st, cut+k, got[k], w)
				}
			}
		}
	}
	b, _ := NewBatcher(ds, BatcherOptions{BatchSize: 5, DropLast: true})
	for _, bad := range []BatcherState{{-1, 0}, {0, -1}, {0, 21}} {
		if err := b.Restore(bad); err == nil {
			t.Errorf("Restore(%+v) succeeded", bad)
		}
	}
}

func TestBatcherNoAllocation(t *testing.T) {
	ds := indexDataset(100)
	b, _ := NewBatcher(ds, BatcherOptions{BatchSize: 8, Shuffle: true, Seed: 1})
	b.Next()
	if a := testing.AllocsPerRun(200, func() { b.Next() }); a != 0 { // crosses many epochs
		t.Fatalf("%v allocations per Next", a)
	}
	var dst Batch
	b.NextInto(&dst)
	if a := testing.AllocsPerRun(200, func() { b.NextInto(&dst) }); a != 0 {
		t.Fatalf("%v allocations per NextInto", a)
	}
	// Caller buffers with enough capacity are used as they are.
	buf := Batch{X: make([]float32, 0, 24), Y: make([]int, 0, 8), Targets: make([]float32, 0, 8), Indices: make([]int, 0, 8)}
	x0 := &buf.X[:1][0]
	b.NextInto(&buf)
	if &buf.X[0] != x0 {
		t.Fatal("NextInto replaced a large enough caller buffer")
	}
}

func TestBatcherUnlabelled(t *testing.T) {
	ds, _ := LinearRegression(9, []float32{1, 2}, 0, 1)
	b, err := NewBatcher(ds, BatcherOptions{BatchSize: 4})
	if err != nil {
		t.Fatal(err)
	}
	bt := b.Next()
	if bt.Y != nil || len(bt.Targets) != 4 || bt.Targets[3] != ds.Targets[3] {
		t.Fatalf("unlabelled batch: Y=%v Targets=%v", bt.Y, bt.Targets)
	}
}

func TestNewBatcherErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		ds   *Dataset
		opt  BatcherOptions
	}{
		{"zero batch", indexDataset(5), BatcherOptions{}},
		{"empty", &Dataset{Name: "e", Shape: []int{3}}, BatcherOptions{BatchSize: 2}},
		{"drop-last leaves nothing", indexDataset(3), BatcherOptions{BatchSize: 4, DropLast: true}},
		{"invalid dataset", &Dataset{Name: "bad", Shape: []int{3}, X: make([]float32, 4)}, BatcherOptions{BatchSize: 1}},
	} {
		if _, err := NewBatcher(tc.ds, tc.opt); err == nil {
			t.Errorf("%s: NewBatcher succeeded", tc.name)
		}
	}
}
