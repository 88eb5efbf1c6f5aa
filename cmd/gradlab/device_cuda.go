//go:build gradlabcuda

package main

import (
	"fmt"

	"github.com/gradlab/gradlab/kernels/cuda"
	"github.com/gradlab/gradlab/train"
)

// openDevice opens GPU 0's CUDA kernel sets for --device cuda (this file is
// built with -tags gradlabcuda only: importing gorgonia.org/cu ends a
// process on a machine without a GPU).
func openDevice(name string) (*train.Device, func() error, error) {
	if name != "cuda" {
		return nil, nil, fmt.Errorf("unknown device %q", name)
	}
	s32, err := cuda.New[float32](0)
	if err != nil {
		return nil, nil, err
	}
	s64, err := cuda.New[float64](0)
	if err != nil {
		s32.Close()
		return nil, nil, err
	}
	closeAll := func() error {
		e1, e2 := s32.Close(), s64.Close()
		if e1 != nil {
			return e1
		}
		return e2
	}
	return &train.Device{Set32: s32, Set64: s64}, closeAll, nil
}

// deviceOpener returns what `gradlab run` passes to experiments.Run as
// RunOptions.OpenDevice.
func deviceOpener() func(string) (*train.Device, func() error, error) { return openDevice }
