package engine

import (
	"reflect"
	"testing"
)

func TestOpField(t *testing.T) {
	cases := []struct {
		s, key, want string
		ok           bool
	}{
		{"SumAxis{axis=1,in=(2, 3),scale=0.5}", "axis", "1", true},
		{"SumAxis{axis=1,in=(2, 3),scale=0.5}", "in", "(2, 3)", true},
		{"SumAxis{axis=1,in=(2, 3),scale=0.5}", "scale", "0.5", true},
		{"Conv2d{x=(2, 3, 4, 5),w=(1, 3, 3, 3),stride=[1 1],pad=[0 0],dil=[1 1]}", "stride", "[1 1]", true},
		{"Conv2d{x=(2, 3, 4, 5),w=(1, 3, 3, 3),stride=[1 1],pad=[0 2],dil=[1 1]}", "pad", "[0 2]", true},
		{"ReLU{leak=0.01,shape=(8, 5)}", "leak", "0.01", true},
		{"ReLU{leak=0.01,shape=(8, 5)}", "scale", "", false},
		{"Fill{out=(),scale=1}", "out", "()", true},
		{"no braces", "x", "", false},
	}
	for _, c := range cases {
		got, ok := opField(c.s, c.key)
		if got != c.want || ok != c.ok {
			t.Errorf("opField(%q, %q) = %q, %v; want %q, %v", c.s, c.key, got, ok, c.want, c.ok)
		}
	}
}

func TestParseInts(t *testing.T) {
	cases := map[string][]int{"[0 1]": {0, 1}, "(2, 3)": {2, 3}, "[1]": {1}, "4": {4}, "()": {}}
	for in, want := range cases {
		got, err := parseInts(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("parseInts(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := parseInts("[a]"); err == nil {
		t.Error("parseInts accepted a letter")
	}
}
