package config_test

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/gradlab/gradlab/config"
)

// setKeySyntax is the documented key syntax of ParseSet, as a regexp (the
// implementation checks it by hand).
var setKeySyntax = regexp.MustCompile(`^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$`)

// FuzzParseSet checks ParseSet against its documented contract: it never
// panics, accepts exactly the arguments whose trimmed text before the first
// '=' is a valid key, and returns the key lower-cased and the rest verbatim.
func FuzzParseSet(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		key, val, err := config.ParseSet(s)
		before, after, hasEq := strings.Cut(s, "=")
		valid := hasEq && setKeySyntax.MatchString(strings.TrimSpace(before))
		if err != nil {
			if valid {
				t.Fatalf("ParseSet(%q) rejected a valid argument: %v", s, err)
			}
			if !errors.Is(err, config.ErrBadSet) || !strings.Contains(err.Error(), strconv.Quote(s)) {
				t.Fatalf("ParseSet(%q) error %q does not match ErrBadSet or quote the argument", s, err)
			}
			return
		}
		if !valid {
			t.Fatalf("ParseSet(%q) accepted an invalid argument: (%q, %q)", s, key, val)
		}
		if key != strings.ToLower(strings.TrimSpace(before)) || val != after {
			t.Fatalf("ParseSet(%q) = (%q, %q), want (%q, %q)", s, key, val, strings.ToLower(strings.TrimSpace(before)), after)
		}
		k2, v2, err := config.ParseSet(key + "=" + val)
		if err != nil || k2 != key || v2 != val {
			t.Fatalf("ParseSet not idempotent on %q: (%q, %q, %v)", key+"="+val, k2, v2, err)
		}
	})
}

// FuzzResolveSet resolves one random --set argument against the test
// schema. It must never panic; it either fails with one problem that names
// the key (or the malformed argument), or succeeds with a value that agrees
// with an independent reading of the text and survives a YAML round trip.
func FuzzResolveSet(f *testing.F) {
	s := testSchema()
	f.Fuzz(func(t *testing.T, arg string) {
		c, err := s.Resolve(config.Sources{Sets: []string{arg}})
		key, val, perr := config.ParseSet(arg)
		if err != nil {
			var ce *config.Error
			if !errors.As(err, &ce) || len(ce.Problems) != 1 {
				t.Fatalf("--set %q: want one *config.Error problem, got %v", arg, err)
			}
			msg := err.Error()
			switch {
			case perr != nil:
				if !errors.Is(err, config.ErrBadSet) {
					t.Fatalf("--set %q: malformed argument not reported as such: %v", arg, err)
				}
			case !strings.Contains(msg, strconv.Quote(key)):
				t.Fatalf("--set %q: error does not name key %q: %v", arg, key, err)
			case !errors.Is(err, config.ErrUnknownKey) && !errors.Is(err, config.ErrBadValue):
				t.Fatalf("--set %q: unexpected error class: %v", arg, err)
			}
			if errors.Is(err, config.ErrUnknownKey) && !strings.Contains(msg, "accepted keys: ") {
				t.Fatalf("--set %q: unknown key without the accepted keys: %v", arg, err)
			}
			return
		}
		if perr != nil {
			t.Fatalf("--set %q resolved although ParseSet rejects it: %v", arg, perr)
		}
		if c.Source(key) != config.SourceSet {
			t.Fatalf("--set %q: Source(%q) = %q", arg, key, c.Source(key))
		}
		checkReading(t, key, val, c.Get(key))
		y, err := c.YAML()
		if err != nil {
			t.Fatalf("--set %q: YAML: %v", arg, err)
		}
		p := filepath.Join(t.TempDir(), "c.yaml")
		if err := os.WriteFile(p, y, 0o644); err != nil {
			t.Fatal(err)
		}
		back, err := s.Resolve(config.Sources{File: p})
		if err != nil {
			t.Fatalf("--set %q: YAML does not read back: %v\n%s", arg, err, y)
		}
		if back.Hash() != c.Hash() || !reflect.DeepEqual(back.Get(key), c.Get(key)) {
			t.Fatalf("--set %q: round trip changed %v into %v\n%s", arg, c.Get(key), back.Get(key), y)
		}
	})
}

// checkReading compares a value accepted from text with an independent
// reading of that text.
func checkReading(t *testing.T, key, text string, got any) {
	t.Helper()
	trim := strings.TrimSpace(text)
	switch g := got.(type) {
	case int:
		if n, err := strconv.ParseInt(trim, 10, 64); err == nil {
			if int64(g) != n {
				t.Fatalf("%s=%q read as %d", key, text, g)
			}
			return
		}
		f, err := strconv.ParseFloat(trim, 64)
		if err != nil || f != float64(g) || math.Abs(f) > 1<<53 {
			t.Fatalf("%s=%q read as int %d (float reading %v, %v)", key, text, g, f, err)
		}
	case float64:
		f, err := strconv.ParseFloat(trim, 64)
		if err != nil || f != g || math.IsInf(f, 0) || math.IsNaN(f) {
			t.Fatalf("%s=%q read as %v (reference %v, %v)", key, text, g, f, err)
		}
	case bool:
		l := strings.ToLower(trim)
		if want := l == "true" || l == "1"; g != want || !(want || l == "false" || l == "0") {
			t.Fatalf("%s=%q read as %v", key, text, g)
		}
	case string:
		if g != text {
			t.Fatalf("%s=%q read as %q", key, text, g)
		}
	case []int, []float64, []string:
		inner := trim
		if strings.HasPrefix(inner, "[") && strings.HasSuffix(inner, "]") {
			inner = strings.TrimSpace(inner[1 : len(inner)-1])
		}
		var parts []string
		if inner != "" {
			parts = strings.Split(inner, ",")
		}
		rv := reflect.ValueOf(g)
		if rv.Len() != len(parts) {
			t.Fatalf("%s=%q read as %d elements, want %d", key, text, rv.Len(), len(parts))
		}
		for i, p := range parts {
			checkReading(t, key+"["+strconv.Itoa(i)+"]", strings.TrimSpace(p), rv.Index(i).Interface())
		}
	default:
		t.Fatalf("%s: unexpected type %T", key, got)
	}
}
