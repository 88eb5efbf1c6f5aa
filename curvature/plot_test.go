package curvature

import (
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"gonum.org/v1/plot/vg"
)

func TestSaveDensityPNG(t *testing.T) {
	m := spectra[1].build(t, testDim, 61)
	sd, err := Density(NewDense(m.h), newRNG(62), DensityOptions{Probes: 2, Steps: 20})
	if err != nil {
		t.Fatal(err)
	}
	x, err := sd.Grid(500, 1)
	if err != nil {
		t.Fatal(err)
	}
	y := make([]float64, len(x))
	if err := sd.Eval(y, x, 0.1); err != nil {
		t.Fatal(err)
	}
	y[0] = 0 // a zero must not break the log axis
	dir := t.TempDir()
	tests := []struct {
		name string
		opts PlotOptions
		w, h int
	}{
		{"linear", PlotOptions{Title: "Hessian spectral density"}, 576, 384},
		{"log", PlotOptions{LogY: true, Width: 4 * vg.Inch, Height: 3 * vg.Inch}, 384, 288},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name+".png")
			if err := SaveDensityPNG(path, x, y, tc.opts); err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			cfg, err := png.DecodeConfig(f)
			if err != nil {
				t.Fatalf("not a PNG: %v", err)
			}
			if cfg.Width != tc.w || cfg.Height != tc.h {
				t.Errorf("image %d×%d, want %d×%d", cfg.Width, cfg.Height, tc.w, tc.h)
			}
		})
	}
	bad := []struct {
		name string
		x, y []float64
		opts PlotOptions
	}{
		{"length mismatch", x, y[:10], PlotOptions{}},
		{"all zero on log axis", []float64{0, 1}, []float64{0, 0}, PlotOptions{LogY: true}},
	}
	for _, b := range bad {
		if err := SaveDensityPNG(filepath.Join(dir, "bad.png"), b.x, b.y, b.opts); err == nil {
			t.Errorf("%s: want error", b.name)
		}
	}
}
