package train

import (
	"context"
	"path/filepath"
	"testing"

	gt "gorgonia.org/tensor"

	"github.com/gradlab/gradlab/nn"
	"github.com/gradlab/gradlab/optim"
	"github.com/gradlab/gradlab/tensor"
)

// resnetRun trains a small batch-norm ResNet (two stages with a strided
// down-sampling block, as zoo-resnet-fmnist's model) with Adam on
// bnImages, on the host (dev nil) or on dev, logging every step and
// evaluating every third, and returns the model.
func resnetRun(t *testing.T, dev *Device, dir string, dt gt.Dtype) nn.Model {
	t.Helper()
	m, err := nn.NewResNet(tensor.NewRNG(2, 0), dt, nn.ResNetConfig{InChannels: 1, Classes: 2, Widths: []int{4, 6}, Blocks: []int{1, 1}})
	if err != nil {
		t.Fatal(err)
	}
	opt, err := optim.NewAdam(optim.AdamConfig{LR: 2e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := New(m, opt, bnImages(48, 1), bnImages(16, 2), Options{Epochs: 2, BatchSize: 8, Seed: 4, LogEvery: 1,
		EvalEvery: 3, Dir: dir, Device: dev})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestDeviceResNetMatchesHost trains the ResNet of resnetRun on the host
// and on a stand-in device (CPU sets behind a hidden type) and requires
// identical metrics and parameters, batch-norm running statistics
// included, in both dtypes.
func TestDeviceResNetMatchesHost(t *testing.T) {
	for _, dt := range []gt.Dtype{gt.Float32, gt.Float64} {
		t.Run(dt.String(), func(t *testing.T) {
			dh, dd := t.TempDir(), t.TempDir()
			dev, h32, h64 := testDevice(t)
			mh, md := resnetRun(t, nil, dh, dt), resnetRun(t, dev, dd, dt)
			if h32.uploads+h64.uploads == 0 {
				t.Fatal("the device sets were not used")
			}
			if a, b := readFile(t, filepath.Join(dh, "metrics.jsonl")), readFile(t, filepath.Join(dd, "metrics.jsonl")); a != b {
				t.Errorf("metrics differ\nhost:   %s\ndevice: %s", a, b)
			}
			for i, p := range mh.Params() {
				if !equal(tensor.List{p.Value}.Flatten(nil), tensor.List{md.Params()[i].Value}.Flatten(nil)) {
					t.Errorf("parameter %s differs", p.Name)
				}
			}
		})
	}
}
