package plot

import (
	"errors"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gradlab/gradlab/train/metrics"
)

func decode(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s does not decode as PNG: %v", path, err)
	}
	return img
}

func ramp(n int, f func(i int) float64) Series {
	s := Series{X: make([]float64, n), Y: make([]float64, n)}
	for i := range n {
		s.X[i] = float64(i)
		s.Y[i] = f(i)
	}
	return s
}

func TestLinesImageSize(t *testing.T) {
	tests := []struct {
		opts   Options
		w, h   int
		series []Series
	}{
		{Options{}, DefaultWidth, DefaultHeight, nil},
		{Options{Width: 640, Height: 480}, 640, 480, nil},
		{Options{Width: 333, Height: 211, LogY: true}, 333, 211, nil},
	}
	for i, tc := range tests {
		path := filepath.Join(t.TempDir(), "p.png")
		s := ramp(50, func(i int) float64 { return math.Exp(-float64(i) / 10) })
		if err := Lines(path, "title", "step", "loss", []Series{s}, tc.opts); err != nil {
			t.Fatal(err)
		}
		b := decode(t, path).Bounds()
		if b.Dx() != tc.w || b.Dy() != tc.h {
			t.Errorf("case %d: image %dx%d, want %dx%d", i, b.Dx(), b.Dy(), tc.w, tc.h)
		}
	}
}

// Non-finite and (on log axes) non-positive points must not break
// plotting, whatever their position.
func TestLinesToleratesBadPoints(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	tests := []struct {
		name   string
		series []Series
		opts   Options
	}{
		{"nan in the middle", []Series{{X: []float64{0, 1, 2, 3}, Y: []float64{1, nan, 2, 3}}}, Options{}},
		{"nan first and last", []Series{{X: []float64{0, 1, 2, 3}, Y: []float64{nan, 1, 2, nan}}}, Options{}},
		{"infinities", []Series{{X: []float64{0, 1, 2, 3}, Y: []float64{inf, 1, -inf, 3}}}, Options{}},
		{"nan x", []Series{{X: []float64{0, nan, 2, 3}, Y: []float64{1, 2, 3, 4}}}, Options{}},
		{"isolated points", []Series{{X: []float64{0, 1, 2, 3, 4}, Y: []float64{1, nan, 2, nan, 3}}}, Options{}},
		{"one all-nan series", []Series{{Name: "dead", X: []float64{0, 1}, Y: []float64{nan, nan}}, {Name: "ok", X: []float64{0, 1}, Y: []float64{1, 2}}}, Options{}},
		{"log with zeros and negatives", []Series{{X: []float64{0, 1, 2, 3}, Y: []float64{0, 1, -1, 10}}}, Options{LogY: true}},
		{"log constant", []Series{{X: []float64{0, 1, 2}, Y: []float64{5, 5, 5}}}, Options{LogY: true}},
		{"linear constant zero", []Series{{X: []float64{0, 1, 2}, Y: []float64{0, 0, 0}}}, Options{}},
		{"single point", []Series{{X: []float64{3}, Y: []float64{7}}}, Options{}},
		{"single far point", []Series{{X: []float64{1e300}, Y: []float64{-1e300}}}, Options{}},
		{"tiny range", []Series{{X: []float64{0, 1}, Y: []float64{1, 1 + 1e-15}}}, Options{}},
		{"wide log range", []Series{{X: []float64{0, 1}, Y: []float64{1e-300, 1e300}}}, Options{LogY: true}},
		{"reference lines", []Series{{Name: "sharpness", X: []float64{0, 1, 2}, Y: []float64{1, 30, nan}}}, Options{HLines: []HLine{{Y: 40, Label: "2/η"}, {Y: 20}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "p.png")
			if err := Lines(path, tc.name, "x", "y", tc.series, tc.opts); err != nil {
				t.Fatal(err)
			}
			b := decode(t, path).Bounds()
			if b.Dx() != DefaultWidth || b.Dy() != DefaultHeight {
				t.Errorf("image %dx%d", b.Dx(), b.Dy())
			}
		})
	}
}

func TestLinesErrors(t *testing.T) {
	nan := math.NaN()
	ok := []Series{{X: []float64{0, 1}, Y: []float64{1, 2}}}
	tests := []struct {
		name   string
		series []Series
		opts   Options
		want   string
	}{
		{"no series", nil, Options{}, "no finite data"},
		{"all nan", []Series{{X: []float64{0, 1}, Y: []float64{nan, nan}}}, Options{}, "no finite data"},
		{"log of negatives", []Series{{X: []float64{0, 1}, Y: []float64{-1, 0}}}, Options{LogY: true}, "no finite data"},
		{"length mismatch", []Series{{Name: "s", X: []float64{0, 1}, Y: []float64{1}}}, Options{}, "2 x values and 1 y values"},
		{"nan reference", ok, Options{HLines: []HLine{{Y: nan, Label: "r"}}}, "non-finite"},
		{"reference below log axis", ok, Options{LogY: true, HLines: []HLine{{Y: 0, Label: "r"}}}, "log axis"},
		{"negative size", ok, Options{Width: -1}, "negative image size"},
		{"overflowing range", []Series{{X: []float64{0, 1}, Y: []float64{-1e308, 1e308}}}, Options{}, "too wide"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "p.png")
			err := Lines(path, "t", "x", "y", tc.series, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			if tc.want == "no finite data" && !errors.Is(err, ErrNoData) {
				t.Errorf("error %v is not ErrNoData", err)
			}
			if _, err := os.Stat(path); !os.IsNotExist(err) {
				t.Errorf("a failed plot left %s", path)
			}
		})
	}
}

// colorColumns returns, for each image column, whether some pixel in the
// row range [y0, y1) has exactly colour c.
func colorColumns(img image.Image, c color.RGBA, y0, y1 int) []bool {
	b := img.Bounds()
	cols := make([]bool, b.Dx())
	for x := b.Min.X; x < b.Max.X; x++ {
		for y := max(y0, b.Min.Y); y < min(y1, b.Max.Y); y++ {
			if color.RGBAModel.Convert(img.At(x, y)).(color.RGBA) == c {
				cols[x-b.Min.X] = true
				break
			}
		}
	}
	return cols
}

// runs returns the [start, end) intervals where v is true.
func runs(v []bool) [][2]int {
	var out [][2]int
	for i := 0; i < len(v); i++ {
		if v[i] {
			j := i
			for j < len(v) && v[j] {
				j++
			}
			out = append(out, [2]int{i, j})
			i = j
		}
	}
	return out
}

// A NaN breaks the line: the series colour appears in two separate column
// ranges, and the gap lies where the missing point is.
func TestLinesBreakAtNaN(t *testing.T) {
	s := ramp(21, func(i int) float64 { return float64(i % 3) })
	s.Y[10] = math.NaN()
	path := filepath.Join(t.TempDir(), "gap.png")
	if err := Lines(path, "", "", "", []Series{s}, Options{}); err != nil {
		t.Fatal(err)
	}
	img := decode(t, path)
	r := runs(colorColumns(img, palette[0], 0, img.Bounds().Dy()))
	if len(r) != 2 {
		t.Fatalf("series colour in %d column runs %v, want 2", len(r), r)
	}
	// Data x runs over [0, 20], so x=9..11 is the middle tenth of the drawn
	// span; the gap must lie around the centre of it.
	left, right := r[0][0], r[1][1]
	gapMid := float64(r[0][1]+r[1][0]) / 2
	centre := float64(left+right) / 2
	if math.Abs(gapMid-centre) > 0.02*float64(right-left) {
		t.Errorf("gap centred at column %v, want near %v", gapMid, centre)
	}
	if w := float64(r[1][0] - r[0][1]); w < 0.05*float64(right-left) || w > 0.15*float64(right-left) {
		t.Errorf("gap %v columns wide, want about a tenth of %d", w, right-left)
	}
}

// A reference line is drawn at its y value: halfway up a line that rises
// from 0 to 4 when it sits at 2.
func TestLinesReferenceLinePosition(t *testing.T) {
	s := Series{X: []float64{0, 10}, Y: []float64{0, 4}}
	path := filepath.Join(t.TempDir(), "ref.png")
	if err := Lines(path, "", "", "", []Series{s}, Options{HLines: []HLine{{Y: 2}}}); err != nil {
		t.Fatal(err)
	}
	img := decode(t, path)
	b := img.Bounds()
	// Vertical extent of the data line.
	top, bottom := b.Max.Y, b.Min.Y
	left, right := b.Max.X, b.Min.X
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if color.RGBAModel.Convert(img.At(x, y)).(color.RGBA) == palette[0] {
				top, bottom = min(top, y), max(bottom, y)
				left, right = min(left, x), max(right, x)
			}
		}
	}
	// Rows with the reference colour inside the plot area.
	var rows []int
	for y := top; y <= bottom; y++ {
		for x := left; x <= right; x++ {
			if color.RGBAModel.Convert(img.At(x, y)).(color.RGBA) == refColors[0] {
				rows = append(rows, y)
				break
			}
		}
	}
	if len(rows) == 0 || rows[len(rows)-1]-rows[0] > 3 {
		t.Fatalf("reference colour in rows %v, want one thin band", rows)
	}
	mid := float64(top+bottom) / 2
	if got := float64(rows[0]+rows[len(rows)-1]) / 2; math.Abs(got-mid) > 3 {
		t.Errorf("reference line at row %v, want about %v", got, mid)
	}
}

func TestMetricPlots(t *testing.T) {
	dir := t.TempDir()
	w, err := metrics.Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	for s := range 30 {
		loss := math.Exp(-float64(s) / 8)
		if s == 12 {
			loss = math.NaN()
		}
		vals := map[string]float64{"all_nan": math.NaN(), "weird/key": float64(s % 4)}
		if s%5 == 0 {
			vals["lambda_max"] = 10 + float64(s)
		}
		if err := w.Write(metrics.Record{Step: s * 10, Loss: loss, Values: vals}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "plots")
	paths, err := MetricPlots(filepath.Join(dir, metrics.JSONLFile), out, func(key string) Options {
		switch key {
		case "loss":
			return Options{LogY: true, Width: 400, Height: 300}
		case "lambda_max":
			return Options{HLines: []HLine{{Y: 2 / 0.05, Label: "2/η"}}, Width: 400, Height: 300}
		case "weird/key":
			return Options{LogY: true, Width: 400, Height: 300} // has zeros, still plotted
		}
		return Options{Width: 400, Height: 300}
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"loss.png", "lambda_max.png", "weird_key.png"}
	var got []string
	for _, p := range paths {
		if filepath.Dir(p) != out {
			t.Errorf("%s not in %s", p, out)
		}
		got = append(got, filepath.Base(p))
		b := decode(t, p).Bounds()
		if b.Dx() != 400 || b.Dy() != 300 {
			t.Errorf("%s is %dx%d, want 400x300", p, b.Dx(), b.Dy())
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("wrote %v, want %v", got, want)
	}
	entries, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(want) {
		t.Errorf("plots directory holds %d entries, want %d", len(entries), len(want))
	}
}

func TestFileName(t *testing.T) {
	tests := map[string]string{
		"loss": "loss", "test_acc": "test_acc", "a/b c": "a_b_c", "..": "metric", "λ": "_", "x.y-z": "x.y-z",
	}
	for in, want := range tests {
		if got := fileName(in); got != want {
			t.Errorf("fileName(%q) = %q, want %q", in, got, want)
		}
	}
}
