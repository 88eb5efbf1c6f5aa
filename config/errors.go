package config

import (
	"errors"
	"fmt"
	"strings"
)

// Error reports every problem found while resolving a configuration.
// It unwraps to the individual problems, so errors.Is matches
// [ErrUnknownKey], [ErrBadValue], [ErrBadSet] and [ErrFile].
type Error struct {
	// Problems holds one error per problem, in a deterministic order:
	// preset (by key), file (by key), environment and --set (as given).
	Problems []error

	acceptedKeys string // filled when a key was unknown
	acceptedEnv  string // filled when a GRADLAB_ variable was unknown
}

// Error lists the problems, then the accepted keys or variables when an
// unknown one was among them.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("config: ")
	if len(e.Problems) == 1 {
		b.WriteString(e.Problems[0].Error())
	} else {
		fmt.Fprintf(&b, "%d problems:", len(e.Problems))
		for _, p := range e.Problems {
			b.WriteString("\n  - ")
			b.WriteString(p.Error())
		}
	}
	if e.acceptedKeys != "" {
		b.WriteString("\naccepted keys: ")
		b.WriteString(e.acceptedKeys)
	}
	if e.acceptedEnv != "" {
		b.WriteString("\naccepted GRADLAB_ variables: ")
		b.WriteString(e.acceptedEnv)
	}
	return b.String()
}

// Unwrap returns the individual problems.
func (e *Error) Unwrap() []error { return e.Problems }

// envError marks an unknown GRADLAB_ variable, so that the accepted
// variables are listed.
type envError struct{ error }

func (e envError) Unwrap() error { return e.error }

// newError assembles the problems found by a resolution; allow is the
// allow-list of non-configuration variables in force.
func (s *Schema) newError(problems []error, allow []string) *Error {
	e := &Error{Problems: problems}
	for _, p := range problems {
		if !errors.Is(p, ErrUnknownKey) {
			continue
		}
		var ee envError
		if errors.As(p, &ee) {
			e.acceptedEnv = "set"
		} else {
			e.acceptedKeys = "set"
		}
	}
	if e.acceptedKeys != "" {
		e.acceptedKeys = strings.Join(s.keys, ", ")
	}
	if e.acceptedEnv != "" {
		names := make([]string, len(s.keys))
		for i, k := range s.keys {
			names[i] = s.entries[k].env
		}
		e.acceptedEnv = strings.Join(names, ", ")
		if len(allow) > 0 {
			e.acceptedEnv += "; allowed, not configuration: " + strings.Join(allow, ", ")
		}
	}
	return e
}

// suggest returns the candidate closest to name, or "" when none is close:
// within an edit distance of about a third of the name's length (at least
// one), or, failing that, a dotted candidate whose last segment is name.
func suggest(name string, candidates []string) string {
	best, bestD := "", -1
	limit := max(1, len(name)/3)
	for _, c := range candidates {
		d := editDistance(name, c)
		if d <= limit && (bestD < 0 || d < bestD) {
			best, bestD = c, d
		}
	}
	if best != "" {
		return best
	}
	for _, c := range candidates {
		if i := strings.LastIndexAny(c, "._"); i >= 0 && c[i+1:] == name {
			return c
		}
	}
	return ""
}

// editDistance is the Levenshtein distance between a and b, over bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
