package engine

import (
	"fmt"
	"strconv"
	"strings"
)

// opField extracts the value of key=value from an op description such as
// "SumAxis{axis=1,in=(2, 3),scale=0.5}". Values may contain parentheses or
// brackets (shapes, pairs), which are skipped as a whole.
func opField(s, key string) (string, bool) {
	open := strings.IndexByte(s, '{')
	if open < 0 {
		return "", false
	}
	body := s[open+1:]
	depth, start := 0, 0
	for i := 0; i <= len(body); i++ {
		end := i == len(body)
		var c byte
		if !end {
			c = body[i]
		}
		switch {
		case !end && (c == '(' || c == '['):
			depth++
		case !end && (c == ')' || c == ']'):
			depth--
		case end || (depth == 0 && (c == ',' || c == '}')):
			part := body[start:i]
			if k, v, ok := strings.Cut(part, "="); ok && k == key {
				return v, true
			}
			start = i + 1
			if !end && c == '}' {
				return "", false
			}
		}
	}
	return "", false
}

func opFloat(s, key string) (float64, error) {
	v, ok := opField(s, key)
	if !ok {
		return 0, fmt.Errorf("op %q has no %s", s, key)
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return 0, fmt.Errorf("op %q: %s: %w", s, key, err)
	}
	return f, nil
}

func opInt(s, key string) (int, error) {
	v, ok := opField(s, key)
	if !ok {
		return 0, fmt.Errorf("op %q has no %s", s, key)
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("op %q: %s: %w", s, key, err)
	}
	return n, nil
}

// parseInts parses a list of integers written as "[1 2]", "(1, 2)", "[1]"
// or "1".
func parseInts(s string) ([]int, error) {
	s = strings.Trim(strings.TrimSpace(s), "[]()")
	f := strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' })
	out := make([]int, len(f))
	for i, x := range f {
		n, err := strconv.Atoi(x)
		if err != nil {
			return nil, fmt.Errorf("integer list %q: %w", s, err)
		}
		out[i] = n
	}
	return out, nil
}
