package experiments

import (
	"encoding/json"
	"fmt"
	"math"
)

// Check is one verdict criterion with its measured value.
type Check struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Want  string  `json:"want"`
	Pass  bool    `json:"pass"`
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// AtLeast passes when value ≥ min.
func AtLeast(name string, value, min float64) Check {
	return Check{Name: name, Value: value, Want: fmt.Sprintf(">= %g", min), Pass: finite(value) && value >= min}
}

// AtMost passes when value ≤ max.
func AtMost(name string, value, max float64) Check {
	return Check{Name: name, Value: value, Want: fmt.Sprintf("<= %g", max), Pass: finite(value) && value <= max}
}

// Within passes when lo ≤ value ≤ hi.
func Within(name string, value, lo, hi float64) Check {
	return Check{Name: name, Value: value, Want: fmt.Sprintf("in [%g, %g]", lo, hi), Pass: finite(value) && value >= lo && value <= hi}
}

// AllPass is the conjunction of the checks; no checks is a failure.
func AllPass(cs []Check) bool {
	if len(cs) == 0 {
		return false
	}
	for _, c := range cs {
		if !c.Pass {
			return false
		}
	}
	return true
}

// MarshalJSON writes a non-finite value as null (JSON has no NaN).
func (c Check) MarshalJSON() ([]byte, error) {
	type plain struct {
		Name  string   `json:"name"`
		Value *float64 `json:"value"`
		Want  string   `json:"want"`
		Pass  bool     `json:"pass"`
	}
	p := plain{Name: c.Name, Want: c.Want, Pass: c.Pass}
	if finite(c.Value) {
		v := c.Value
		p.Value = &v
	}
	return json.Marshal(p)
}
