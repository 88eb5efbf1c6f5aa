package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/spf13/viper"
)

// Where a resolved value came from, as [Config.Source] reports it.
const (
	SourceDefault = "default"
	SourcePreset  = "preset"
	SourceFile    = "file"
	SourceEnv     = "env"
	SourceSet     = "set"
)

// Sources are the layers a configuration is resolved from. Every field is
// optional; the zero value resolves to the defaults.
type Sources struct {
	// Preset overrides defaults; keys are dotted (nested maps are
	// flattened by dots) and values are checked like file values.
	Preset map[string]any
	// File is the path of a YAML file; "" means none.
	File string
	// Env is the environment as os.Environ returns it ("NAME=value");
	// only GRADLAB_* entries are looked at. nil means none.
	Env []string
	// Sets are raw "key=value" arguments of --set, applied in order (a
	// later one for the same key wins).
	Sets []string
	// EnvAllow names GRADLAB_ variables that are not configuration keys
	// and are ignored rather than rejected (e.g. GRADLAB_DATA_DIR). nil
	// means [DefaultEnvAllow]; an empty non-nil slice allows none. A name
	// that is also a key's variable is read as that key.
	EnvAllow []string
}

// DefaultEnvAllow returns the GRADLAB_ variables that gradlab reads
// outside the configuration and that Resolve therefore ignores by default:
// GRADLAB_CACHE_DIR, GRADLAB_DATA_DIR and GRADLAB_NO_PROGRESS. It returns a
// new slice on each call.
func DefaultEnvAllow() []string {
	return []string{"GRADLAB_CACHE_DIR", "GRADLAB_DATA_DIR", "GRADLAB_NO_PROGRESS"}
}

// layer holds the checked values of one source.
type layer struct {
	source string
	values map[string]any
}

// Resolve layers defaults < preset < file < environment < --set and
// returns the typed configuration. It reports all the problems it finds
// at once as an [*Error]: unknown keys, values of the wrong type,
// malformed --set arguments and unreadable or invalid YAML files.
func (s *Schema) Resolve(src Sources) (*Config, error) {
	allow := src.EnvAllow
	if allow == nil {
		allow = DefaultEnvAllow()
	}
	var problems []error
	preset := s.presetLayer(src.Preset, &problems)
	file := s.fileLayer(src.File, &problems)
	env := s.envLayer(src.Env, allow, &problems)
	sets := s.setLayer(src.Sets, &problems)
	if len(problems) > 0 {
		return nil, s.newError(problems, allow)
	}

	// A private viper instance does the layering: defaults, then the
	// preset and the file merged into its config layer in that order,
	// then the environment and --set values in its override layer.
	v := viper.New()
	c := &Config{schema: s, values: make(map[string]any, len(s.keys)), sources: make(map[string]string, len(s.keys))}
	for _, k := range s.keys {
		v.SetDefault(k, cloneValue(s.entries[k].def))
		c.sources[k] = SourceDefault
	}
	for _, l := range []layer{preset, file} {
		if len(l.values) == 0 {
			continue
		}
		if err := v.MergeConfigMap(nest(l.values)); err != nil {
			return nil, fmt.Errorf("config: merging %s values: %w", l.source, err)
		}
		for k := range l.values {
			c.sources[k] = l.source
		}
	}
	for _, l := range []layer{env, sets} {
		for _, k := range sortedKeys(l.values) {
			v.Set(k, l.values[k])
			c.sources[k] = l.source
		}
	}
	for _, k := range s.keys {
		val := v.Get(k)
		if !hasKind(val, s.entries[k].kind) {
			// Cannot happen: every layer holds checked, typed values.
			return nil, fmt.Errorf("config: internal error: key %q resolved to %T, want %s", k, val, s.entries[k].kind.goType())
		}
		c.values[k] = cloneValue(val)
	}
	return c, nil
}

// hasKind reports whether v has the Go type of kind k.
func hasKind(v any, k kind) bool {
	switch v.(type) {
	case int:
		return k == kindInt
	case float64:
		return k == kindFloat
	case bool:
		return k == kindBool
	case string:
		return k == kindString
	case []int:
		return k == kindInts
	case []float64:
		return k == kindFloats
	case []string:
		return k == kindStrings
	}
	return false
}

// presetLayer checks the preset values.
func (s *Schema) presetLayer(preset map[string]any, problems *[]error) layer {
	l := layer{source: SourcePreset, values: map[string]any{}}
	if len(preset) == 0 {
		return l
	}
	flat, dups := flatten(preset)
	for _, d := range dups {
		*problems = append(*problems, fmt.Errorf("preset: key %q given more than once", d))
	}
	for _, k := range sortedKeys(flat) {
		s.checkInto(l.values, k, flat[k], "preset", problems)
	}
	return l
}

// checkInto checks that key k is known and that raw converts to its type,
// storing the converted value in dst or appending a problem.
func (s *Schema) checkInto(dst map[string]any, k string, raw any, where string, problems *[]error) {
	e, ok := s.entries[k]
	if !ok {
		*problems = append(*problems, s.unknownKey(where, k))
		return
	}
	val, err := convertValue(e.kind, raw)
	if err != nil {
		*problems = append(*problems, fmt.Errorf("%s: key %q: %w", where, k, err))
		return
	}
	dst[k] = val
}

// unknownKey builds the error for an unknown key.
func (s *Schema) unknownKey(where, k string) error {
	hint := ""
	if s.isPrefix(k) {
		var group []string
		for _, key := range s.keys {
			if strings.HasPrefix(key, k+".") {
				group = append(group, key)
			}
		}
		hint = fmt.Sprintf(" (it groups the keys %s)", strings.Join(group, ", "))
	} else if c := suggest(k, s.keys); c != "" {
		hint = fmt.Sprintf(" (did you mean %q?)", c)
	}
	return fmt.Errorf("%s: %w %q%s", where, ErrUnknownKey, k, hint)
}

// fileLayer reads and checks the YAML file at path.
func (s *Schema) fileLayer(path string, problems *[]error) layer {
	l := layer{source: SourceFile, values: map[string]any{}}
	if path == "" {
		return l
	}
	data, err := os.ReadFile(path)
	if err != nil {
		*problems = append(*problems, fmt.Errorf("%w %q: %w", ErrFile, path, err))
		return l
	}
	v := viper.New()
	v.SetConfigType("yaml")
	if err := v.ReadConfig(bytes.NewReader(data)); err != nil {
		var pe viper.ConfigParseError
		if errors.As(err, &pe) && pe.Unwrap() != nil {
			err = pe.Unwrap()
		}
		*problems = append(*problems, fmt.Errorf("%w %q: %w", ErrFile, path, err))
		return l
	}
	// Viper lower-cases keys and merges those that differ only in case;
	// a second look at the YAML finds such clashes and the line of each key.
	// Viper lower-cases keys, merges keys that differ only in case or
	// are written both flat and nested, and drops nulls and empty
	// mappings: a second look at the YAML finds those, and the line of
	// each key.
	info := scanYAML(data)
	for _, p := range info.problems {
		*problems = append(*problems, fmt.Errorf("%w %q: %s", ErrFile, path, p))
	}
	for _, k := range info.holes {
		// A null or an empty mapping is harmless above known keys
		// ("model: {}") and wrong anywhere else.
		where := fmt.Sprintf("file %q line %d", path, info.lines[k])
		if e, ok := s.entries[k]; ok {
			*problems = append(*problems, fmt.Errorf("%s: key %q: %w", where, k, badValue(e.kind, info.holeText[k], "")))
		} else if !s.isPrefix(k) {
			*problems = append(*problems, s.unknownKey(where, k))
		}
	}
	flat, dups := flatten(v.AllSettings())
	for _, d := range dups {
		*problems = append(*problems, fmt.Errorf("%w %q: key %q given more than once", ErrFile, path, d))
	}
	for _, k := range sortedKeys(flat) {
		where := fmt.Sprintf("file %q", path)
		if n, ok := info.lines[k]; ok {
			where = fmt.Sprintf("file %q line %d", path, n)
		}
		s.checkInto(l.values, k, flat[k], where, problems)
	}
	return l
}

// envLayer checks the GRADLAB_ entries of env.
func (s *Schema) envLayer(env []string, allow []string, problems *[]error) layer {
	l := layer{source: SourceEnv, values: map[string]any{}}
	allowed := make(map[string]bool, len(allow))
	for _, a := range allow {
		allowed[strings.ToUpper(a)] = true
	}
	seen := map[string]string{}
	for _, kv := range env {
		name, val, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		up := strings.ToUpper(name)
		if !strings.HasPrefix(up, EnvPrefix) {
			continue
		}
		k, known := s.byEnv[up]
		if !known {
			if allowed[up] {
				continue
			}
			*problems = append(*problems, envError{s.unknownEnv(name)})
			continue
		}
		if prev, dup := seen[k]; dup {
			*problems = append(*problems, fmt.Errorf("environment: %s and %s both set key %q", prev, name, k))
			continue
		}
		seen[k] = name
		parsed, err := parseString(s.entries[k].kind, val)
		if err != nil {
			*problems = append(*problems, fmt.Errorf("environment %s: key %q: %w", name, k, err))
			continue
		}
		l.values[k] = parsed
	}
	return l
}

// unknownEnv builds the error for an unknown GRADLAB_ variable.
func (s *Schema) unknownEnv(name string) error {
	hint := ""
	names := make([]string, len(s.keys))
	for i, k := range s.keys {
		names[i] = s.entries[k].env
	}
	if c := suggest(strings.ToUpper(name), names); c != "" {
		hint = fmt.Sprintf(" (did you mean %s for key %q?)", c, s.byEnv[c])
	}
	return fmt.Errorf("environment: %w %s%s", ErrUnknownKey, name, hint)
}

// setLayer checks the --set arguments.
func (s *Schema) setLayer(sets []string, problems *[]error) layer {
	l := layer{source: SourceSet, values: map[string]any{}}
	for _, raw := range sets {
		k, val, err := ParseSet(raw)
		if err != nil {
			*problems = append(*problems, err)
			continue
		}
		where := fmt.Sprintf("--set %q", raw)
		e, ok := s.entries[k]
		if !ok {
			*problems = append(*problems, s.unknownKey(where, k))
			continue
		}
		parsed, err := parseString(e.kind, val)
		if err != nil {
			*problems = append(*problems, fmt.Errorf("%s: key %q: %w", where, k, err))
			continue
		}
		l.values[k] = parsed
	}
	return l
}

// flatten turns nested maps into dotted keys (lower-cased), reporting keys
// that occur more than once, e.g. both as "a.b" and as a: {b: …}. An empty
// nested map is kept as a value under its own key, so that it is reported.
func flatten(m map[string]any) (map[string]any, []string) {
	out := map[string]any{}
	var dups []string
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for _, k := range sortedKeys(m) {
			key := strings.ToLower(k)
			if prefix != "" {
				key = prefix + "." + key
			}
			v := m[k]
			if sub, ok := asStringMap(v); ok && len(sub) > 0 {
				walk(key, sub)
				continue
			}
			if _, dup := out[key]; dup {
				dups = append(dups, key)
				continue
			}
			out[key] = v
		}
	}
	walk("", m)
	sort.Strings(dups)
	return out, slices.Compact(dups)
}

// asStringMap returns v as a map with string keys when it is a map.
func asStringMap(v any) (map[string]any, bool) {
	switch m := v.(type) {
	case map[string]any:
		return m, true
	case map[any]any:
		out := make(map[string]any, len(m))
		for k, x := range m {
			out[fmt.Sprint(k)] = x
		}
		return out, true
	}
	return nil, false
}

// nest turns dotted keys into nested maps, the form viper stores.
func nest(flat map[string]any) map[string]any {
	root := map[string]any{}
	for k, v := range flat {
		segs := strings.Split(k, ".")
		m := root
		for _, seg := range segs[:len(segs)-1] {
			sub, ok := m[seg].(map[string]any)
			if !ok {
				sub = map[string]any{}
				m[seg] = sub
			}
			m = sub
		}
		m[segs[len(segs)-1]] = cloneValue(v)
	}
	return root
}

// sortedKeys returns the keys of m in sorted order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// isPrefix reports whether p is a proper segment prefix of some key.
func (s *Schema) isPrefix(p string) bool {
	for _, k := range s.keys {
		if strings.HasPrefix(k, p+".") {
			return true
		}
	}
	return false
}
