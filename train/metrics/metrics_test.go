package metrics

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestRecordMarshal(t *testing.T) {
	tests := []struct {
		name string
		rec  Record
		want string
	}{
		{"fixed keys only", Record{Step: 0, Epoch: 0, Loss: 2.5}, `{"step":0,"epoch":0,"loss":2.5}`},
		{"values sorted", Record{Step: 7, Epoch: 1, Loss: 0.1, Values: map[string]float64{"z": 1, "a": -3, "m_x": 1e-7}},
			`{"step":7,"epoch":1,"loss":0.1,"a":-3,"m_x":1e-07,"z":1}`},
		{"non-finite", Record{Step: 3, Loss: math.NaN(), Values: map[string]float64{"up": math.Inf(1), "down": math.Inf(-1)}},
			`{"step":3,"epoch":0,"loss":"NaN","down":"-Inf","up":"+Inf"}`},
		{"large and tiny", Record{Step: 1, Loss: 1e300, Values: map[string]float64{"t": 5e-324}},
			`{"step":1,"epoch":0,"loss":1e+300,"t":5e-324}`},
		{"escaped name", Record{Step: 1, Loss: 1, Values: map[string]float64{`a"b`: 2}},
			`{"step":1,"epoch":0,"loss":1,"a\"b":2}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.rec.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
			if !json.Valid(got) {
				t.Errorf("%s is not valid JSON", got)
			}
		})
	}
}

func TestRecordRejectsReservedNames(t *testing.T) {
	for _, k := range []string{"", "step", "epoch", "loss"} {
		if _, err := (Record{Values: map[string]float64{k: 1}}).MarshalJSON(); err == nil {
			t.Errorf("value name %q accepted", k)
		}
	}
}

// Records survive encoding bit for bit; encoding/json decoding the same
// line into generic values sees the same numbers.
func TestRecordRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 200 {
		r := Record{Step: i * 10, Epoch: i / 7, Loss: rng.ExpFloat64(), Values: map[string]float64{
			"lambda_max": rng.NormFloat64() * math.Pow(10, float64(rng.IntN(600)-300)),
			"trace":      float64(float32(rng.Float64())),
			"nan":        math.NaN(),
			"inf":        math.Inf(1 - 2*(i%2)),
		}}
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		var back Record
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if back.Step != r.Step || back.Epoch != r.Epoch || math.Float64bits(back.Loss) != math.Float64bits(r.Loss) {
			t.Fatalf("fixed fields %+v, want %+v", back, r)
		}
		for k, v := range r.Values {
			got, ok := back.Values[k]
			if !ok || (math.IsNaN(v) != math.IsNaN(got)) || (!math.IsNaN(v) && math.Float64bits(got) != math.Float64bits(v)) {
				t.Fatalf("%s: %v, want %v", k, got, v)
			}
		}
		var generic map[string]any
		if err := json.Unmarshal(b, &generic); err != nil {
			t.Fatal(err)
		}
		if generic["lambda_max"].(float64) != r.Values["lambda_max"] || generic["loss"].(float64) != r.Loss {
			t.Fatalf("encoding/json reads %v from %s", generic, b)
		}
	}
}

func TestRecordUnmarshal(t *testing.T) {
	var r Record
	if err := json.Unmarshal([]byte(`{"loss":null,"epoch":2,"step":5,"x":"+Inf","y":1.5}`), &r); err != nil {
		t.Fatal(err)
	}
	if r.Step != 5 || r.Epoch != 2 || !math.IsNaN(r.Loss) || !math.IsInf(r.Values["x"], 1) || r.Values["y"] != 1.5 {
		t.Errorf("decoded %+v", r)
	}
	bad := []struct{ in, want string }{
		{`{"epoch":0,"loss":1}`, `missing "step"`},
		{`{"step":1.5,"epoch":0,"loss":1}`, "step"},
		{`{"step":1,"epoch":0,"loss":1,"x":"big"}`, `"x"`},
		{`{"step":1,"epoch":0,"loss":[1]}`, "loss"},
		{`[1]`, "not a JSON object"},
	}
	for _, tc := range bad {
		var r Record
		if err := json.Unmarshal([]byte(tc.in), &r); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.in, err, tc.want)
		}
	}
}

func writeRecords(t *testing.T, dir string, steps ...int) {
	t.Helper()
	w, err := Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range steps {
		if err := w.Write(Record{Step: s, Epoch: s / 100, Loss: 1 / float64(s+1), Values: map[string]float64{"sq": float64(s * s)}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func stepsOf(recs []Record) []int {
	var s []int
	for _, r := range recs {
		s = append(s, r.Step)
	}
	return s
}

func TestWriterReadBack(t *testing.T) {
	dir := t.TempDir()
	writeRecords(t, dir, 0, 10, 20, 35)
	recs, err := Read(filepath.Join(dir, JSONLFile))
	if err != nil {
		t.Fatal(err)
	}
	if got := stepsOf(recs); !slices.Equal(got, []int{0, 10, 20, 35}) {
		t.Fatalf("steps %v", got)
	}
	for _, r := range recs {
		if r.Loss != 1/float64(r.Step+1) || r.Values["sq"] != float64(r.Step*r.Step) || r.Epoch != r.Step/100 {
			t.Errorf("record %+v", r)
		}
	}
}

func TestWriterRejectsNonIncreasingSteps(t *testing.T) {
	w, err := Create(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Write(Record{Step: 5}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []int{5, 4, -1} {
		if err := w.Write(Record{Step: s}); err == nil {
			t.Errorf("step %d after 5 accepted", s)
		}
	}
}

// TestKilledWriterHelper is the child of TestWriterSurvivesKill: it logs
// records and exits without closing the writer.
func TestKilledWriterHelper(t *testing.T) {
	dir := os.Getenv("GRADLAB_METRICS_KILL_DIR")
	if dir == "" {
		t.Skip("helper process only")
	}
	w, err := Create(dir)
	if err != nil {
		os.Exit(2)
	}
	for s := range 3 {
		if err := w.Write(Record{Step: s, Loss: float64(s)}); err != nil {
			os.Exit(2)
		}
	}
	os.Exit(3)
}

func TestWriterSurvivesKill(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKilledWriterHelper$")
	cmd.Env = append(os.Environ(), "GRADLAB_METRICS_KILL_DIR="+dir)
	if err := cmd.Run(); err == nil || cmd.ProcessState.ExitCode() != 3 {
		t.Fatalf("helper: %v, want exit status 3", err)
	}
	recs, err := Read(filepath.Join(dir, JSONLFile))
	if err != nil {
		t.Fatal(err)
	}
	if got := stepsOf(recs); !slices.Equal(got, []int{0, 1, 2}) {
		t.Errorf("after the kill the file holds steps %v, want [0 1 2]", got)
	}
}

func TestReadTornAndBadLines(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, JSONLFile)
	good := "{\"step\":1,\"epoch\":0,\"loss\":1}\n{\"step\":2,\"epoch\":0,\"loss\":0.5}\n"
	tests := []struct {
		name    string
		content string
		want    []int
		wantErr string
	}{
		{"clean", good, []int{1, 2}, ""},
		{"torn last line", good + `{"step":3,"epo`, []int{1, 2}, ""},
		{"unterminated but complete", good + `{"step":3,"epoch":0,"loss":0.25}`, []int{1, 2, 3}, ""},
		{"blank lines", "\n" + good + "\n", []int{1, 2}, ""},
		{"bad middle line", "{\"step\":1,\"epoch\":0,\"loss\":1}\n{oops}\n" + good, nil, JSONLFile + ":2:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(path, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			recs, err := Read(path)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := stepsOf(recs); !slices.Equal(got, tc.want) {
				t.Errorf("steps %v, want %v", got, tc.want)
			}
		})
	}
}

func TestTruncateAfter(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, JSONLFile)
	writeRecords(t, dir, 0, 10, 20, 30, 40)
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Append a torn line, as a killed writer may leave.
	if err := os.WriteFile(path, append(slices.Clone(orig), `{"step":50,"ep`...), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := TruncateAfter(path, 25); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(orig, []byte{'\n'})
	if want := bytes.Join(lines[:3], nil); !bytes.Equal(got, want) {
		t.Errorf("after TruncateAfter(25):\n%s\nwant the first three original lines:\n%s", got, want)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file %s left", e.Name())
		}
	}

	// Nothing to drop: the file is not rewritten.
	before, _ := os.Stat(path)
	if err := TruncateAfter(path, 1000); err != nil {
		t.Fatal(err)
	}
	after, _ := os.Stat(path)
	if !os.SameFile(before, after) {
		t.Error("file replaced although no record was dropped")
	}
	if err := TruncateAfter(filepath.Join(dir, "absent.jsonl"), 1); !os.IsNotExist(unwrapAll(err)) {
		t.Errorf("missing file: error %v", err)
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok || u.Unwrap() == nil {
			return err
		}
		err = u.Unwrap()
	}
}

func TestResume(t *testing.T) {
	dir := t.TempDir()
	writeRecords(t, dir, 10, 20, 30, 40, 50)
	w, err := Resume(dir, 30)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(Record{Step: 25}); err == nil {
		t.Error("step 25 accepted after resuming at 30")
	}
	if err := w.Write(Record{Step: 40, Loss: 9, Values: map[string]float64{"new": 1}}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	recs, err := Read(filepath.Join(dir, JSONLFile))
	if err != nil {
		t.Fatal(err)
	}
	if got := stepsOf(recs); !slices.Equal(got, []int{10, 20, 30, 40}) {
		t.Fatalf("steps %v, want [10 20 30 40]", got)
	}
	if recs[3].Loss != 9 {
		t.Errorf("step 40 is the old record: %+v", recs[3])
	}
	// The CSV written at Close covers the records from before the resume.
	rows := readCSV(t, filepath.Join(dir, CSVFile))
	if len(rows) != 5 || !slices.Equal(rows[0], []string{"step", "epoch", "loss", "new", "sq"}) {
		t.Errorf("summary.csv rows %v", rows)
	}

	// A file whose last complete line lacks its newline is repaired first.
	path := filepath.Join(dir, JSONLFile)
	if err := os.WriteFile(path, []byte(`{"step":1,"epoch":0,"loss":1}`), 0o644); err != nil {
		t.Fatal(err)
	}
	w, err = Resume(dir, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(Record{Step: 2}); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if recs, err := Read(path); err != nil || !slices.Equal(stepsOf(recs), []int{1, 2}) {
		t.Errorf("after repair: %v, %v", stepsOf(recs), err)
	}

	// Resuming without a metrics file starts one.
	fresh := t.TempDir()
	w, err = Resume(fresh, 100)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(Record{Step: 101}); err != nil {
		t.Fatal(err)
	}
	w.Close()
}

func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func TestWriteCSV(t *testing.T) {
	recs := []Record{
		{Step: 1, Epoch: 0, Loss: 2, Values: map[string]float64{"b": 0.5}},
		{Step: 2, Epoch: 0, Loss: math.NaN(), Values: map[string]float64{"a,comma": math.Inf(-1)}},
		{Step: 3, Epoch: 1, Loss: 1e-9},
	}
	path := filepath.Join(t.TempDir(), CSVFile)
	if err := WriteCSV(path, recs); err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{"step", "epoch", "loss", "a,comma", "b"},
		{"1", "0", "2", "", "0.5"},
		{"2", "0", "NaN", "-Inf", ""},
		{"3", "1", "1e-09", "", ""},
	}
	got := readCSV(t, path)
	if len(got) != len(want) {
		t.Fatalf("rows %v, want %v", got, want)
	}
	for i := range want {
		if !slices.Equal(got[i], want[i]) {
			t.Errorf("row %d: %q, want %q", i, got[i], want[i])
		}
	}
	// Every cell parses back to the record's value.
	for i, r := range recs {
		if v, err := strconv.ParseFloat(got[i+1][2], 64); err != nil || (v != r.Loss && !(math.IsNaN(v) && math.IsNaN(r.Loss))) {
			t.Errorf("row %d loss cell %q", i+1, got[i+1][2])
		}
	}
}

func TestKeysAndSeries(t *testing.T) {
	recs := []Record{
		{Step: 0, Loss: 3, Values: map[string]float64{"test_acc": 0.1, "trace": 5}},
		{Step: 10, Loss: 2, Values: map[string]float64{"trace": 6}},
		{Step: 20, Epoch: 1, Loss: 1, Values: map[string]float64{"test_acc": 0.3}},
	}
	if got := Keys(recs); !slices.Equal(got, []string{"test_acc", "trace"}) {
		t.Errorf("Keys = %v", got)
	}
	tests := []struct {
		key   string
		steps []float64
		vals  []float64
	}{
		{"loss", []float64{0, 10, 20}, []float64{3, 2, 1}},
		{"epoch", []float64{0, 10, 20}, []float64{0, 0, 1}},
		{"test_acc", []float64{0, 20}, []float64{0.1, 0.3}},
		{"absent", nil, nil},
	}
	for _, tc := range tests {
		x, y := Series(recs, tc.key)
		if !slices.Equal(x, tc.steps) || !slices.Equal(y, tc.vals) {
			t.Errorf("Series(%q) = %v, %v; want %v, %v", tc.key, x, y, tc.steps, tc.vals)
		}
	}
}
