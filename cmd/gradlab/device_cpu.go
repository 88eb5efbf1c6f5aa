//go:build !gradlabcuda

package main

import "github.com/gradlab/gradlab/train"

// deviceOpener returns nil in builds without a device kernel set: `gradlab
// run --device cuda` then says how to build one (make build-cuda).
func deviceOpener() func(string) (*train.Device, func() error, error) { return nil }
