package metrics

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
)

const (
	// JSONLFile is the name of the per-step record file in a run directory.
	JSONLFile = "metrics.jsonl"
	// CSVFile is the name of the table written from the records.
	CSVFile = "summary.csv"
)

// Reserved keys hold the fixed fields of a record and may not be used in
// Record.Values.
const (
	KeyStep  = "step"
	KeyEpoch = "epoch"
	KeyLoss  = "loss"
)

// Record is one logged step.
type Record struct {
	Step  int
	Epoch int
	Loss  float64
	// Values holds everything else the run measured at this step, by name.
	Values map[string]float64
}

// Get returns the value of key in r, including the reserved keys "step",
// "epoch" and "loss"; ok is false when r lacks key.
func (r Record) Get(key string) (v float64, ok bool) {
	switch key {
	case KeyStep:
		return float64(r.Step), true
	case KeyEpoch:
		return float64(r.Epoch), true
	case KeyLoss:
		return r.Loss, true
	}
	v, ok = r.Values[key]
	return v, ok
}

func appendFloat(b []byte, v float64) []byte {
	switch {
	case math.IsNaN(v):
		return append(b, `"NaN"`...)
	case math.IsInf(v, 1):
		return append(b, `"+Inf"`...)
	case math.IsInf(v, -1):
		return append(b, `"-Inf"`...)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

func checkKey(k string) error {
	switch k {
	case "":
		return errors.New("empty value name")
	case KeyStep, KeyEpoch, KeyLoss:
		return fmt.Errorf("value name %q is reserved", k)
	}
	return nil
}

// MarshalJSON encodes r as one JSON object: step, epoch and loss first,
// then the other values sorted by name, with NaN and infinities as the
// strings "NaN", "+Inf" and "-Inf".
func (r Record) MarshalJSON() ([]byte, error) {
	keys := make([]string, 0, len(r.Values))
	for k := range r.Values {
		if err := checkKey(k); err != nil {
			return nil, fmt.Errorf("metrics: step %d: %w", r.Step, err)
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b := make([]byte, 0, 48+24*len(keys))
	b = append(b, `{"step":`...)
	b = strconv.AppendInt(b, int64(r.Step), 10)
	b = append(b, `,"epoch":`...)
	b = strconv.AppendInt(b, int64(r.Epoch), 10)
	b = append(b, `,"loss":`...)
	b = appendFloat(b, r.Loss)
	for _, k := range keys {
		name, err := json.Marshal(k)
		if err != nil {
			return nil, fmt.Errorf("metrics: encode name %q: %w", k, err)
		}
		b = append(b, ',')
		b = append(b, name...)
		b = append(b, ':')
		b = appendFloat(b, r.Values[k])
	}
	return append(b, '}'), nil
}

// decodeFloat reads a JSON number, one of the strings "NaN", "+Inf",
// "-Inf", or null (as NaN).
func decodeFloat(raw json.RawMessage) (float64, error) {
	raw = bytes.TrimSpace(raw)
	switch string(raw) {
	case "null", `"NaN"`:
		return math.NaN(), nil
	case `"+Inf"`:
		return math.Inf(1), nil
	case `"-Inf"`:
		return math.Inf(-1), nil
	}
	var v float64
	if err := json.Unmarshal(raw, &v); err != nil {
		return 0, fmt.Errorf("%s is not a number", raw)
	}
	return v, nil
}

func decodeInt(raw json.RawMessage) (int, error) {
	var v int
	if err := json.Unmarshal(raw, &v); err != nil {
		return 0, fmt.Errorf("%s is not an integer", raw)
	}
	return v, nil
}

// UnmarshalJSON decodes a record written by MarshalJSON. "step", "epoch"
// and "loss" are required; every other key must hold a number, null or one
// of the strings "NaN", "+Inf", "-Inf".
func (r *Record) UnmarshalJSON(b []byte) error {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return fmt.Errorf("not a JSON object: %w", err)
	}
	var out Record
	for _, k := range []string{KeyStep, KeyEpoch, KeyLoss} {
		if _, ok := fields[k]; !ok {
			return fmt.Errorf("missing %q", k)
		}
	}
	var err error
	if out.Step, err = decodeInt(fields[KeyStep]); err != nil {
		return fmt.Errorf("step: %w", err)
	}
	if out.Epoch, err = decodeInt(fields[KeyEpoch]); err != nil {
		return fmt.Errorf("epoch: %w", err)
	}
	if out.Loss, err = decodeFloat(fields[KeyLoss]); err != nil {
		return fmt.Errorf("loss: %w", err)
	}
	if len(fields) > 3 {
		out.Values = make(map[string]float64, len(fields)-3)
	}
	for k, raw := range fields {
		if k == KeyStep || k == KeyEpoch || k == KeyLoss {
			continue
		}
		if out.Values[k], err = decodeFloat(raw); err != nil {
			return fmt.Errorf("%q: %w", k, err)
		}
	}
	*r = out
	return nil
}

// Writer appends records to a run directory's metrics.jsonl. It is not
// safe for concurrent use.
type Writer struct {
	dir    string
	f      *os.File
	buf    []byte
	last   int // step of the last record in the file, -1 if none
	closed bool
}

// Create starts a new metrics.jsonl in dir (created if missing),
// replacing any existing one.
func Create(dir string) (*Writer, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("metrics: create: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, JSONLFile), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("metrics: create: %w", err)
	}
	return &Writer{dir: dir, f: f, last: -1}, nil
}

// Resume continues dir's metrics.jsonl after a restart from a checkpoint
// taken at step: records logged after step are removed first (see
// TruncateAfter), and later records are appended. A missing file is
// created.
func Resume(dir string, step int) (*Writer, error) {
	path := filepath.Join(dir, JSONLFile)
	err := TruncateAfter(path, step)
	if errors.Is(err, fs.ErrNotExist) {
		return Create(dir)
	}
	if err != nil {
		return nil, fmt.Errorf("metrics: resume: %w", err)
	}
	recs, err := Read(path)
	if err != nil {
		return nil, fmt.Errorf("metrics: resume: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("metrics: resume: %w", err)
	}
	w := &Writer{dir: dir, f: f, last: -1}
	if len(recs) > 0 {
		w.last = recs[len(recs)-1].Step
	}
	return w, nil
}

// Write appends r as one line and hands it to the operating system before
// returning. Steps must be non-negative and strictly increasing across
// the file.
func (w *Writer) Write(r Record) error {
	if w.closed {
		return errors.New("metrics: write after close")
	}
	if r.Step < 0 || r.Step <= w.last {
		return fmt.Errorf("metrics: step %d does not follow step %d", r.Step, w.last)
	}
	line, err := r.MarshalJSON()
	if err != nil {
		return err
	}
	w.buf = append(append(w.buf[:0], line...), '\n')
	if _, err := w.f.Write(w.buf); err != nil {
		return fmt.Errorf("metrics: write step %d: %w", r.Step, err)
	}
	w.last = r.Step
	return nil
}

// WriteSummary rewrites summary.csv from the records written so far
// (including those kept from before a Resume).
func (w *Writer) WriteSummary() error {
	recs, err := Read(filepath.Join(w.dir, JSONLFile))
	if err != nil {
		return err
	}
	return WriteCSV(filepath.Join(w.dir, CSVFile), recs)
}

// Close fsyncs and closes metrics.jsonl, then writes summary.csv.
func (w *Writer) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	if err := w.f.Sync(); err != nil {
		w.f.Close()
		return fmt.Errorf("metrics: sync: %w", err)
	}
	if err := w.f.Close(); err != nil {
		return fmt.Errorf("metrics: close: %w", err)
	}
	return w.WriteSummary()
}

// line is one newline-terminated line of a metrics file with its record.
type line struct {
	raw []byte
	rec Record
}

// readLines parses every line of path. A last line without a newline is
// dropped when it does not decode (a torn write); an undecodable complete
// line is an error naming its number. unterminated reports that the file
// does not end with a newline (torn or not), so appending to it as it is
// would corrupt it.
func readLines(path string) (lines []line, unterminated bool, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, false, err
	}
	for n := 1; len(data) > 0; n++ {
		raw, rest, complete := bytes.Cut(data, []byte{'\n'})
		data = rest
		if !complete {
			unterminated = true
		}
		if len(bytes.TrimSpace(raw)) == 0 {
			continue
		}
		var rec Record
		if err := json.Unmarshal(raw, &rec); err != nil {
			if !complete {
				return lines, true, nil
			}
			return nil, false, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		lines = append(lines, line{raw: raw, rec: rec})
	}
	return lines, unterminated, nil
}

// Read loads the records of a metrics.jsonl file in file order. A torn
// last line (no newline, not valid JSON), as left by a killed process, is
// ignored; any other bad line is an error naming the line.
func Read(path string) ([]Record, error) {
	lines, _, err := readLines(path)
	if err != nil {
		return nil, fmt.Errorf("metrics: read: %w", err)
	}
	recs := make([]Record, len(lines))
	for i, l := range lines {
		recs[i] = l.rec
	}
	return recs, nil
}

// TruncateAfter atomically rewrites the metrics.jsonl file at path keeping
// only the records with step <= step (byte for byte, each ending in a
// newline) and dropping a torn last line: the new content is written to a
// temporary file in the same directory, fsynced and renamed over path, and
// the directory is fsynced. The file is left untouched when nothing needs
// changing.
func TruncateAfter(path string, step int) error {
	lines, unterminated, err := readLines(path)
	if err != nil {
		return fmt.Errorf("metrics: truncate: %w", err)
	}
	var out []byte
	dropped := unterminated
	for _, l := range lines {
		if l.rec.Step > step {
			dropped = true
			continue
		}
		out = append(append(out, l.raw...), '\n')
	}
	if !dropped {
		return nil
	}
	if err := writeAtomic(path, out); err != nil {
		return fmt.Errorf("metrics: truncate: %w", err)
	}
	return nil
}

// Keys returns the names of the non-reserved values that occur in any of
// recs, sorted.
func Keys(recs []Record) []string {
	seen := make(map[string]bool)
	for _, r := range recs {
		for k := range r.Values {
			seen[k] = true
		}
	}
	keys := make([]string, 0, len(seen))
	for k := range seen {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Series returns the steps and values of key (which may be "loss" or
// "epoch") over the records that have it.
func Series(recs []Record, key string) (steps, values []float64) {
	for _, r := range recs {
		if v, ok := r.Get(key); ok {
			steps = append(steps, float64(r.Step))
			values = append(values, v)
		}
	}
	return steps, values
}

func formatCell(v float64) string {
	return strconv.FormatFloat(v, 'g', -1, 64) // NaN, +Inf, -Inf as such
}

// WriteCSV atomically writes recs as a CSV table at path: columns step,
// epoch, loss, then the union of the records' other keys sorted by name;
// a record lacking a key has an empty cell there.
func WriteCSV(path string, recs []Record) error {
	keys := Keys(recs)
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	row := append([]string{KeyStep, KeyEpoch, KeyLoss}, keys...)
	if err := cw.Write(row); err != nil {
		return fmt.Errorf("metrics: csv: %w", err)
	}
	for _, r := range recs {
		row = append(row[:0], strconv.Itoa(r.Step), strconv.Itoa(r.Epoch), formatCell(r.Loss))
		for _, k := range keys {
			if v, ok := r.Values[k]; ok {
				row = append(row, formatCell(v))
			} else {
				row = append(row, "")
			}
		}
		if err := cw.Write(row); err != nil {
			return fmt.Errorf("metrics: csv: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("metrics: csv: %w", err)
	}
	if err := writeAtomic(path, buf.Bytes()); err != nil {
		return fmt.Errorf("metrics: csv: %w", err)
	}
	return nil
}

// writeAtomic replaces path with data through a fsynced temporary file in
// the same directory.
func writeAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Chmod(0o644); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err = d.Sync(); err != nil {
		d.Close()
		return err
	}
	return d.Close()
}
