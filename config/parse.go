package config

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Errors that problems reported by this package match with errors.Is.
var (
	// ErrUnknownKey marks a key, variable or --set key that the schema does not accept.
	ErrUnknownKey = errors.New("unknown key")
	// ErrBadValue marks a value that does not parse as, or fit, the key's type.
	ErrBadValue = errors.New("invalid value")
	// ErrBadSet marks a --set argument that is not of the form key=value.
	ErrBadSet = errors.New("invalid --set argument")
	// ErrFile marks a configuration file that is missing, unreadable or not valid YAML.
	ErrFile = errors.New("invalid configuration file")
)

// ParseSet splits a --set argument "key=value" at its first '='. The key
// is trimmed of surrounding white space and lower-cased; it must be made
// of dot-separated non-empty segments of letters, digits and '_'. The
// value is returned verbatim (it may be empty and may contain '='). The
// key is not checked against any schema.
func ParseSet(s string) (key, value string, err error) {
	i := strings.IndexByte(s, '=')
	if i < 0 {
		return "", "", fmt.Errorf("%w %q: missing '=' (want key=value)", ErrBadSet, s)
	}
	key = strings.TrimSpace(s[:i])
	if key == "" {
		return "", "", fmt.Errorf("%w %q: empty key (want key=value)", ErrBadSet, s)
	}
	for _, seg := range strings.Split(key, ".") {
		if seg == "" {
			return "", "", fmt.Errorf("%w %q: key %q has an empty segment", ErrBadSet, s, key)
		}
		for _, r := range seg {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_') {
				return "", "", fmt.Errorf("%w %q: character %q not allowed in a key (want letters, digits, '_' and '.')", ErrBadSet, s, r)
			}
		}
	}
	return strings.ToLower(key), s[i+1:], nil
}

var (
	intSyntax   = regexp.MustCompile(`^[+-]?[0-9]+$`)
	floatSyntax = regexp.MustCompile(`^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$`)
)

// maxExactInt is the largest magnitude up to which every integer is a float64.
const maxExactInt = 1 << 53

// badValue builds an ErrBadValue error.
func badValue(k kind, got string, why string) error {
	if why != "" {
		return fmt.Errorf("%w: expected %s, got %s: %s", ErrBadValue, k, got, why)
	}
	return fmt.Errorf("%w: expected %s, got %s", ErrBadValue, k, got)
}

// parseString parses the text of an environment variable, a --set value,
// or a string found in a file or preset as a value of kind k.
func parseString(k kind, s string) (any, error) {
	switch k {
	case kindString:
		return checkUTF8(s)
	case kindInts, kindFloats, kindStrings:
		return parseList(k, s)
	}
	return parseScalar(k, s)
}

// parseScalar parses a non-list, non-string value; s is trimmed first.
func parseScalar(k kind, s string) (any, error) {
	t := strings.TrimSpace(s)
	q := strconv.Quote(s)
	switch k {
	case kindInt:
		if intSyntax.MatchString(t) {
			n, err := strconv.ParseInt(t, 10, strconv.IntSize)
			if err != nil {
				return nil, badValue(k, q, "out of range")
			}
			return int(n), nil
		}
		if floatSyntax.MatchString(t) {
			f, err := strconv.ParseFloat(t, 64)
			if err != nil {
				return nil, badValue(k, q, "out of range")
			}
			return floatToInt(f, q)
		}
		return nil, badValue(k, q, "")
	case kindFloat:
		if !floatSyntax.MatchString(t) {
			return nil, badValue(k, q, "")
		}
		f, err := strconv.ParseFloat(t, 64)
		if err != nil || math.IsInf(f, 0) {
			return nil, badValue(k, q, "out of range")
		}
		return f, nil
	case kindBool:
		switch strings.ToLower(t) {
		case "true", "1":
			return true, nil
		case "false", "0":
			return false, nil
		}
		return nil, badValue(k, q, "want true, false, 1 or 0")
	case kindString:
		return checkUTF8(s)
	}
	return nil, badValue(k, q, "")
}

// checkUTF8 accepts a string value only when it is valid UTF-8, which
// YAML (and so the run directory's config.yaml) requires.
func checkUTF8(s string) (any, error) {
	if !utf8.ValidString(s) {
		return nil, badValue(kindString, strconv.Quote(s), "not valid UTF-8")
	}
	return s, nil
}

// floatToInt converts an integral float to int; desc describes the value.
func floatToInt(f float64, desc string) (any, error) {
	if f != math.Trunc(f) || math.IsInf(f, 0) {
		return nil, badValue(kindInt, desc, "not an integer")
	}
	if math.Abs(f) > maxExactInt {
		return nil, badValue(kindInt, desc, "integer in float notation beyond 2^53")
	}
	return int(f), nil
}

// parseList parses "a,b,c" or "[a, b, c]"; "" and "[]" are empty lists.
func parseList(k kind, s string) (any, error) {
	t := strings.TrimSpace(s)
	if strings.HasPrefix(t, "[") {
		if !strings.HasSuffix(t, "]") {
			return nil, badValue(k, strconv.Quote(s), "unclosed '['")
		}
		t = strings.TrimSpace(t[1 : len(t)-1])
	}
	var parts []string
	if t != "" {
		parts = strings.Split(t, ",")
	}
	ek := k.elem()
	out := makeList(k, len(parts))
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if p == "" {
			return nil, badValue(k, strconv.Quote(s), fmt.Sprintf("element %d is empty", i))
		}
		v, err := parseScalar(ek, p)
		if err != nil {
			return nil, fmt.Errorf("%w (element %d of %s)", err, i, strconv.Quote(s))
		}
		out = appendList(out, v)
	}
	return out, nil
}

// makeList returns an empty list of kind k with room for n elements.
func makeList(k kind, n int) any {
	switch k {
	case kindInts:
		return make([]int, 0, n)
	case kindFloats:
		return make([]float64, 0, n)
	}
	return make([]string, 0, n)
}

// appendList appends an element of matching type to a list made by makeList.
func appendList(list, v any) any {
	switch l := list.(type) {
	case []int:
		return append(l, v.(int))
	case []float64:
		return append(l, v.(float64))
	case []string:
		return append(l, v.(string))
	}
	panic(fmt.Sprintf("config: appendList on %T", list))
}

// describe renders a value found in a file or preset for an error message.
func describe(v any) string {
	if v != nil && reflect.TypeOf(v).PkgPath() != "" {
		return fmt.Sprintf("%v (%T)", v, v)
	}
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return strconv.Quote(x)
	case bool:
		return fmt.Sprintf("%v (bool)", x)
	case float32, float64:
		return fmt.Sprintf("%v (float)", x)
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return fmt.Sprintf("%v (int)", v)
	case reflect.Slice, reflect.Array:
		return fmt.Sprintf("%v (list)", v)
	case reflect.Map:
		return fmt.Sprintf("%v (mapping)", v)
	}
	return fmt.Sprintf("%v (%T)", v, v)
}

// convertValue checks and converts a value decoded from YAML or given in a
// preset to kind k. Strings are parsed with the rules of parseString.
func convertValue(k kind, v any) (any, error) {
	if s, ok := v.(string); ok {
		return parseString(k, s)
	}
	if v == nil {
		return nil, badValue(k, "null", "")
	}
	rv := reflect.ValueOf(v)
	if rv.Type().PkgPath() != "" {
		// A named type such as time.Duration (or the time.Time of an
		// unquoted YAML date) has a meaning of its own that a key would drop.
		return nil, badValue(k, describe(v), stringHint(k))
	}
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return convertInt(k, v, rv.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		u := rv.Uint()
		if u > math.MaxInt64 {
			return nil, badValue(k, describe(v), "out of range")
		}
		return convertInt(k, v, int64(u))
	case reflect.Float32, reflect.Float64:
		f := rv.Float()
		switch k {
		case kindFloat:
			if math.IsNaN(f) || math.IsInf(f, 0) {
				return nil, badValue(k, describe(v), "not finite")
			}
			return f, nil
		case kindInt:
			return floatToInt(f, describe(v))
		}
	case reflect.Bool:
		if k == kindBool {
			return rv.Bool(), nil
		}
	case reflect.Slice, reflect.Array:
		if !k.isList() {
			break
		}
		ek := k.elem()
		out := makeList(k, rv.Len())
		for i := 0; i < rv.Len(); i++ {
			ev := rv.Index(i).Interface()
			if ev != nil {
				if ek := reflect.ValueOf(ev).Kind(); ek == reflect.Slice || ek == reflect.Array || ek == reflect.Map {
					return nil, badValue(k, describe(v), fmt.Sprintf("element %d is not a scalar", i))
				}
			}
			var (
				x   any
				err error
			)
			if s, ok := ev.(string); ok {
				x, err = parseScalar(ek, s)
			} else {
				x, err = convertValue(ek, ev)
			}
			if err != nil {
				return nil, fmt.Errorf("%w (element %d of %s)", err, i, describe(v))
			}
			out = appendList(out, x)
		}
		return out, nil
	}
	return nil, badValue(k, describe(v), stringHint(k))
}

// stringHint is the advice for a non-string value given for a string key.
func stringHint(k kind) string {
	if k == kindString {
		return "quote it to make it a string"
	}
	return ""
}

// convertInt converts an integer found in a file or preset to kind k.
func convertInt(k kind, v any, n int64) (any, error) {
	switch k {
	case kindInt:
		if n < math.MinInt || n > math.MaxInt {
			return nil, badValue(k, describe(v), "out of range")
		}
		return int(n), nil
	case kindFloat:
		return float64(n), nil
	case kindBool:
		switch n {
		case 0:
			return false, nil
		case 1:
			return true, nil
		}
		return nil, badValue(k, describe(v), "want true, false, 1 or 0")
	}
	return nil, badValue(k, describe(v), stringHint(k))
}
