package plot

import (
	"errors"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"strings"

	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/gradlab/gradlab/train/metrics"
)

// Default image size in pixels.
const (
	DefaultWidth  = 800
	DefaultHeight = 500
	dpi           = 96

	// yMargin is the fraction of the y range added above and below the data.
	yMargin = 0.03
)

// ErrNoData is returned by Lines when no series has a point that can be
// drawn.
var ErrNoData = errors.New("plot: no finite data points")

// Series is one named curve; X and Y must have the same length. An empty
// Name leaves the series out of the legend.
type Series struct {
	Name string
	X, Y []float64
}

// HLine is a horizontal reference line drawn dashed across the data's x
// range, with Label in the legend when it is not empty.
type HLine struct {
	Y     float64
	Label string
}

// Options adjusts a plot. The zero value gives a linear
// DefaultWidth×DefaultHeight plot.
type Options struct {
	// LogY makes the y axis logarithmic; points with y <= 0 are left out.
	LogY bool
	// HLines are horizontal reference lines; each Y must be finite (and
	// positive when LogY is set).
	HLines []HLine
	// Width and Height are the image size in pixels (0 means the default).
	Width, Height int
}

// palette holds the series colours, chosen to stay distinct in print.
var palette = []color.RGBA{
	{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
	{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
	{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff},
	{R: 0x94, G: 0x67, B: 0xbd, A: 0xff},
	{R: 0x8c, G: 0x56, B: 0x4b, A: 0xff},
	{R: 0xe3, G: 0x77, B: 0xc2, A: 0xff},
	{R: 0x17, G: 0xbe, B: 0xcf, A: 0xff},
}

var refColors = []color.RGBA{
	{R: 0x40, G: 0x40, B: 0x40, A: 0xff},
	{R: 0x99, G: 0x99, B: 0x99, A: 0xff},
}

// segments splits a series into runs of consecutive drawable points.
func segments(s Series, logY bool) []plotter.XYs {
	var out []plotter.XYs
	var cur plotter.XYs
	for i := range s.X {
		x, y := s.X[i], s.Y[i]
		ok := !math.IsNaN(x) && !math.IsInf(x, 0) && !math.IsNaN(y) && !math.IsInf(y, 0) && (!logY || y > 0)
		if ok {
			cur = append(cur, plotter.XY{X: x, Y: y})
			continue
		}
		if len(cur) > 0 {
			out = append(out, cur)
			cur = nil
		}
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// Lines draws series as lines on one set of axes and writes the PNG image
// to path (atomically: through a temporary file in the same directory).
// Non-drawable points break their line; a point with no drawable
// neighbour is drawn as a dot. It returns ErrNoData when nothing is
// drawable.
func Lines(path, title, xLabel, yLabel string, series []Series, opts Options) error {
	fig, err := build(title, xLabel, yLabel, series, opts)
	if err != nil {
		return fmt.Errorf("plot %s: %w", path, err)
	}
	if err := writePNG(path, fig, opts); err != nil {
		return fmt.Errorf("plot %s: %w", path, err)
	}
	return nil
}

// figure is a plot with its legend, which is drawn in a strip to the right
// of the axes so that it never hides data.
type figure struct {
	p       *gplot.Plot
	leg     gplot.Legend
	entries int
}

func build(title, xLabel, yLabel string, series []Series, opts Options) (*figure, error) {
	if opts.Width < 0 || opts.Height < 0 {
		return nil, fmt.Errorf("negative image size %dx%d", opts.Width, opts.Height)
	}
	for _, h := range opts.HLines {
		if math.IsNaN(h.Y) || math.IsInf(h.Y, 0) {
			return nil, fmt.Errorf("reference line %q at non-finite y %v", h.Label, h.Y)
		}
		if opts.LogY && h.Y <= 0 {
			return nil, fmt.Errorf("reference line %q at y=%v cannot be drawn on a log axis", h.Label, h.Y)
		}
	}
	for _, s := range series {
		if len(s.X) != len(s.Y) {
			return nil, fmt.Errorf("series %q has %d x values and %d y values", s.Name, len(s.X), len(s.Y))
		}
	}

	p := gplot.New()
	p.Title.Text = title
	p.X.Label.Text = xLabel
	p.Y.Label.Text = yLabel
	p.Add(plotter.NewGrid())
	fig := &figure{p: p, leg: gplot.NewLegend()}
	fig.leg.Top, fig.leg.Left = true, true

	xmin, xmax := math.Inf(1), math.Inf(-1)
	ymin, ymax := math.Inf(1), math.Inf(-1)
	for i, s := range series {
		col := palette[i%len(palette)]
		var legendThumb gplot.Thumbnailer
		for _, seg := range segments(s, opts.LogY) {
			for _, pt := range seg {
				xmin, xmax = math.Min(xmin, pt.X), math.Max(xmax, pt.X)
				ymin, ymax = math.Min(ymin, pt.Y), math.Max(ymax, pt.Y)
			}
			if len(seg) == 1 {
				sc, err := plotter.NewScatter(seg)
				if err != nil {
					return nil, err
				}
				sc.GlyphStyle.Color = col
				sc.GlyphStyle.Shape = draw.CircleGlyph{}
				sc.GlyphStyle.Radius = vg.Points(2)
				p.Add(sc)
				if legendThumb == nil {
					legendThumb = sc
				}
				continue
			}
			l, err := plotter.NewLine(seg)
			if err != nil {
				return nil, err
			}
			l.LineStyle.Color = col
			l.LineStyle.Width = vg.Points(1.5)
			p.Add(l)
			if _, isLine := legendThumb.(*plotter.Line); !isLine {
				legendThumb = l
			}
		}
		if s.Name != "" && legendThumb != nil {
			fig.leg.Add(s.Name, legendThumb)
			fig.entries++
		}
	}
	if math.IsInf(xmin, 1) {
		return nil, ErrNoData
	}
	xmin, xmax = widen(xmin, xmax)

	for i, h := range opts.HLines {
		l, err := plotter.NewLine(plotter.XYs{{X: xmin, Y: h.Y}, {X: xmax, Y: h.Y}})
		if err != nil {
			return nil, err
		}
		l.LineStyle.Color = refColors[i%len(refColors)]
		l.LineStyle.Width = vg.Points(1.5)
		l.LineStyle.Dashes = []vg.Length{vg.Points(6), vg.Points(3)}
		p.Add(l)
		if h.Label != "" {
			fig.leg.Add(h.Label, l)
			fig.entries++
		}
		ymin, ymax = math.Min(ymin, h.Y), math.Max(ymax, h.Y)
	}

	p.X.Min, p.X.Max = xmin, xmax
	if opts.LogY {
		p.Y.Scale = gplot.LogScale{}
		p.Y.Tick.Marker = gplot.LogTicks{Prec: -1}
		if ymin == ymax {
			ymin, ymax = ymin/2, ymax*2
		}
		// A small margin so that curves do not run along the frame.
		f := math.Pow(ymax/ymin, yMargin)
		if lo, hi := ymin/f, ymax*f; lo > 0 && !math.IsInf(hi, 0) && !math.IsInf(f, 0) {
			ymin, ymax = lo, hi
		}
		p.Y.Min, p.Y.Max = ymin, ymax
	} else {
		ymin, ymax = widen(ymin, ymax)
		span := ymax - ymin
		if math.IsInf(span, 0) {
			return nil, fmt.Errorf("y range [%g, %g] is too wide for a linear axis (use LogY)", ymin, ymax)
		}
		if lo, hi := ymin-yMargin*span, ymax+yMargin*span; !math.IsInf(hi-lo, 0) {
			ymin, ymax = lo, hi
		}
		p.Y.Min, p.Y.Max = ymin, ymax
	}
	if math.IsInf(xmax-xmin, 0) {
		return nil, fmt.Errorf("x range [%g, %g] is too wide", xmin, xmax)
	}
	return fig, nil
}

// widen turns an empty range [v, v] into one around v.
func widen(lo, hi float64) (float64, float64) {
	if lo != hi {
		return lo, hi
	}
	pad := math.Abs(lo) * 0.05
	if pad == 0 {
		pad = 1
	}
	return lo - pad, hi + pad
}

// writePNG renders p at the requested pixel size and writes it to path
// through a temporary file.
func writePNG(path string, fig *figure, opts Options) (err error) {
	w, h := opts.Width, opts.Height
	if w == 0 {
		w = DefaultWidth
	}
	if h == 0 {
		h = DefaultHeight
	}
	// gonum/plot panics on some degenerate axes; report that as an error.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("drawing failed: %v", r)
		}
	}()
	c := vgimg.NewWith(
		vgimg.UseWH(vg.Length(w)*vg.Inch/dpi, vg.Length(h)*vg.Inch/dpi),
		vgimg.UseDPI(dpi),
	)
	dc := draw.New(c)
	if fig.entries > 0 {
		r := fig.leg.Rectangle(dc)
		gap := vg.Points(8)
		lw := min(r.Max.X-r.Min.X+2*gap, (dc.Max.X-dc.Min.X)*2/5)
		top := vg.Length(0)
		if fig.p.Title.Text != "" {
			top = fig.p.Title.TextStyle.Height(fig.p.Title.Text) + fig.p.Title.Padding
		}
		fig.p.Draw(draw.Crop(dc, 0, -lw, 0, 0))
		fig.leg.Draw(draw.Crop(dc, dc.Max.X-dc.Min.X-lw+gap, 0, 0, -top))
	} else {
		fig.p.Draw(dc)
	}

	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err = (vgimg.PngCanvas{Canvas: c}).WriteTo(f); err != nil {
		return err
	}
	if err = f.Chmod(0o644); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// fileName turns a metric key into a safe file name stem.
func fileName(key string) string {
	var b strings.Builder
	for _, r := range key {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	s := strings.Trim(b.String(), ".")
	if s == "" {
		s = "metric"
	}
	return s
}

// MetricPlots reads the metrics.jsonl file at jsonlPath and writes one PNG
// per key ("loss" and every other value; not "step" or "epoch") into
// outDir, named after the key, with the step on the x axis. Keys without a
// finite value are skipped. optsFor, when not nil, gives the options for
// each key; when a key asks for LogY but has no positive finite value it is
// drawn on a linear axis instead. It returns the paths written, in key
// order.
func MetricPlots(jsonlPath, outDir string, optsFor func(key string) Options) ([]string, error) {
	recs, err := metrics.Read(jsonlPath)
	if err != nil {
		return nil, fmt.Errorf("plot: %w", err)
	}
	return RecordPlots(recs, outDir, optsFor)
}

// RecordPlots is MetricPlots for records already in memory.
func RecordPlots(recs []metrics.Record, outDir string, optsFor func(key string) Options) ([]string, error) {
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, fmt.Errorf("plot: %w", err)
	}
	keys := append([]string{metrics.KeyLoss}, metrics.Keys(recs)...)
	used := make(map[string]bool)
	var paths []string
	for _, key := range keys {
		x, y := metrics.Series(recs, key)
		finite, positive := false, false
		for _, v := range y {
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				finite = true
				positive = positive || v > 0
			}
		}
		if !finite {
			continue
		}
		var opts Options
		if optsFor != nil {
			opts = optsFor(key)
		}
		if opts.LogY && !positive {
			opts.LogY = false
		}
		stem := fileName(key)
		for i := 2; used[stem]; i++ {
			stem = fmt.Sprintf("%s-%d", fileName(key), i)
		}
		used[stem] = true
		path := filepath.Join(outDir, stem+".png")
		if err := Lines(path, key, "step", key, []Series{{X: x, Y: y}}, opts); err != nil {
			return paths, err
		}
		paths = append(paths, path)
	}
	return paths, nil
}
