package config

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
)

// Param declares one configuration key.
type Param struct {
	// Key is the dotted lower-case key, e.g. "epochs", "optim.lr", "model.widths".
	Key string
	// Default is the typed default value. Its Go type fixes the key's type
	// and must be one of int, float64, bool, string, []int, []float64, []string.
	Default any
	// Help is a one-line description.
	Help string
}

// kind is the type of a key.
type kind int

const (
	kindInt kind = iota
	kindFloat
	kindBool
	kindString
	kindInts
	kindFloats
	kindStrings
)

// String names the kind the way error messages show it.
func (k kind) String() string {
	switch k {
	case kindInt:
		return "int"
	case kindFloat:
		return "float"
	case kindBool:
		return "bool"
	case kindString:
		return "string"
	case kindInts:
		return "list of int"
	case kindFloats:
		return "list of float"
	case kindStrings:
		return "list of string"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// isList reports whether values of kind k are lists.
func (k kind) isList() bool { return k == kindInts || k == kindFloats || k == kindStrings }

// elem returns the element kind of a list kind.
func (k kind) elem() kind {
	switch k {
	case kindInts:
		return kindInt
	case kindFloats:
		return kindFloat
	case kindStrings:
		return kindString
	}
	return k
}

// goType names the Go type of values of kind k.
func (k kind) goType() string {
	switch k {
	case kindInt:
		return "int"
	case kindFloat:
		return "float64"
	case kindBool:
		return "bool"
	case kindString:
		return "string"
	case kindInts:
		return "[]int"
	case kindFloats:
		return "[]float64"
	case kindStrings:
		return "[]string"
	}
	return "?"
}

// entry is one key of a schema, with its default in canonical form.
type entry struct {
	param Param
	kind  kind
	def   any    // canonical copy of the default
	env   string // GRADLAB_ variable name
}

// Schema is the set of keys an experiment accepts. It is immutable once
// built and safe for concurrent use.
type Schema struct {
	keys    []string // sorted
	entries map[string]*entry
	byEnv   map[string]string // env variable name (upper case) -> key
}

// EnvPrefix starts the name of every environment variable this package reads.
const EnvPrefix = "GRADLAB_"

// EnvName returns the environment variable that sets key: GRADLAB_ followed
// by the key upper-cased with dots and underscores turned into '_'.
func EnvName(key string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// NewSchema builds a schema from params. It fails on an invalid or
// duplicate key, a key that is a prefix segment of another, two keys that
// map to the same environment variable, and a default of unsupported type
// or invalid value (a non-finite float).
func NewSchema(params ...Param) (*Schema, error) {
	s := &Schema{entries: make(map[string]*entry, len(params)), byEnv: make(map[string]string, len(params))}
	for _, p := range params {
		if err := checkKey(p.Key); err != nil {
			return nil, fmt.Errorf("config: schema: %w", err)
		}
		if _, dup := s.entries[p.Key]; dup {
			return nil, fmt.Errorf("config: schema: duplicate key %q", p.Key)
		}
		k, def, err := canonicalDefault(p.Default)
		if err != nil {
			return nil, fmt.Errorf("config: schema: key %q: %w", p.Key, err)
		}
		env := EnvName(p.Key)
		if other, clash := s.byEnv[env]; clash {
			return nil, fmt.Errorf("config: schema: keys %q and %q both map to %s", other, p.Key, env)
		}
		p.Default = cloneValue(def)
		s.entries[p.Key] = &entry{param: p, kind: k, def: def, env: env}
		s.byEnv[env] = p.Key
		s.keys = append(s.keys, p.Key)
	}
	sort.Strings(s.keys)
	for i := 1; i < len(s.keys); i++ {
		// '.' sorts before every other character a key may hold, so a key
		// that is a segment prefix of others is directly followed by one.
		if strings.HasPrefix(s.keys[i], s.keys[i-1]+".") {
			return nil, fmt.Errorf("config: schema: key %q is a prefix of key %q", s.keys[i-1], s.keys[i])
		}
	}
	return s, nil
}

// MustSchema is like [NewSchema] but panics on error. It is meant for
// schemas written as literals in code.
func MustSchema(params ...Param) *Schema {
	s, err := NewSchema(params...)
	if err != nil {
		panic(err)
	}
	return s
}

// Params returns the schema's parameters sorted by key. The returned slice
// and its defaults are copies.
func (s *Schema) Params() []Param {
	out := make([]Param, len(s.keys))
	for i, k := range s.keys {
		p := s.entries[k].param
		p.Default = cloneValue(s.entries[k].def)
		out[i] = p
	}
	return out
}

// Keys returns the schema's keys in sorted order.
func (s *Schema) Keys() []string { return slices.Clone(s.keys) }

// checkKey validates the form of a schema key.
func checkKey(key string) error {
	if key == "" {
		return fmt.Errorf("empty key")
	}
	for _, seg := range strings.Split(key, ".") {
		if seg == "" {
			return fmt.Errorf("key %q has an empty segment", key)
		}
		for _, r := range seg {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
				return fmt.Errorf("key %q: character %q not allowed (want a-z, 0-9, '_' and '.')", key, r)
			}
		}
	}
	return nil
}

// canonicalDefault checks a default value and returns its kind and a copy.
func canonicalDefault(v any) (kind, any, error) {
	switch d := v.(type) {
	case int:
		return kindInt, d, nil
	case float64:
		if math.IsNaN(d) || math.IsInf(d, 0) {
			return 0, nil, fmt.Errorf("default %v is not finite", d)
		}
		return kindFloat, d, nil
	case bool:
		return kindBool, d, nil
	case string:
		return kindString, d, nil
	case []int:
		return kindInts, append([]int{}, d...), nil
	case []float64:
		for _, f := range d {
			if math.IsNaN(f) || math.IsInf(f, 0) {
				return 0, nil, fmt.Errorf("default %v has a non-finite element", d)
			}
		}
		return kindFloats, append([]float64{}, d...), nil
	case []string:
		return kindStrings, append([]string{}, d...), nil
	case nil:
		return 0, nil, fmt.Errorf("nil default (its type fixes the key's type)")
	}
	return 0, nil, fmt.Errorf("unsupported default type %T (want int, float64, bool, string, []int, []float64 or []string)", v)
}

// cloneValue copies list values so that callers cannot alias internal state.
func cloneValue(v any) any {
	switch d := v.(type) {
	case []int:
		return append([]int{}, d...)
	case []float64:
		return append([]float64{}, d...)
	case []string:
		return append([]string{}, d...)
	}
	return v
}
