package curvature

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// PlotOptions configures a density plot.
type PlotOptions struct {
	// Title is drawn above the plot.
	Title string
	// LogY draws the density on a logarithmic axis (as PyHessian's plots
	// do). Values below Floor are drawn at Floor.
	LogY bool
	// Floor is the smallest value shown with LogY; zero means 1e-10 times
	// the largest density value.
	Floor float64
	// Width and Height of the image; zero means 6 by 4 inches.
	Width, Height vg.Length
}

// WriteDensityPNG draws the curve (x, y), typically a grid and the output
// of SpectralDensity.Eval, as density against eigenvalue and writes it to
// w as a PNG image.
func WriteDensityPNG(w io.Writer, x, y []float64, opts PlotOptions) error {
	if len(x) != len(y) || len(x) < 2 {
		return fmt.Errorf("curvature: density plot: len(x)=%d, len(y)=%d, want equal and >= 2", len(x), len(y))
	}
	ymax := math.Inf(-1)
	for i := range y {
		if math.IsNaN(x[i]) || math.IsNaN(y[i]) || math.IsInf(x[i], 0) || math.IsInf(y[i], 0) {
			return fmt.Errorf("curvature: density plot: non-finite point %d (%g, %g)", i, x[i], y[i])
		}
		ymax = math.Max(ymax, y[i])
	}
	pts := make(plotter.XYs, len(x))
	floor := opts.Floor
	if opts.LogY {
		if !(ymax > 0) {
			return errors.New("curvature: density plot: log axis needs a positive value")
		}
		if floor <= 0 {
			floor = 1e-10 * ymax
		}
	}
	for i := range x {
		pts[i].X, pts[i].Y = x[i], y[i]
		if opts.LogY && pts[i].Y < floor {
			pts[i].Y = floor
		}
	}
	p := plot.New()
	p.Title.Text = opts.Title
	p.X.Label.Text = "eigenvalue"
	p.Y.Label.Text = "density"
	if opts.LogY {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
		p.Y.Min = floor
	}
	line, err := plotter.NewLine(pts)
	if err != nil {
		return fmt.Errorf("curvature: density plot: %w", err)
	}
	p.Add(line)
	wd, ht := opts.Width, opts.Height
	if wd == 0 {
		wd = 6 * vg.Inch
	}
	if ht == 0 {
		ht = 4 * vg.Inch
	}
	c, err := p.WriterTo(wd, ht, "png")
	if err != nil {
		return fmt.Errorf("curvature: density plot: %w", err)
	}
	if _, err := c.WriteTo(w); err != nil {
		return fmt.Errorf("curvature: density plot: %w", err)
	}
	return nil
}

// SaveDensityPNG is WriteDensityPNG to a file at path.
func SaveDensityPNG(path string, x, y []float64, opts PlotOptions) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("curvature: density plot: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("curvature: density plot: %w", cerr)
		}
	}()
	return WriteDensityPNG(f, x, y, opts)
}
