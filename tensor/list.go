package tensor

import (
	"fmt"
	"math"

	gt "gorgonia.org/tensor"
)

// List is an ordered list of dense float32 or float64 tensors viewed as one
// vector. All operations between two lists require equal lengths, shapes and
// dtypes, element for element.
type List []*gt.Dense

// Len is the total number of elements.
func (l List) Len() int {
	n := 0
	for _, t := range l {
		n += t.Shape().TotalSize()
	}
	return n
}

func (l List) check(o List, op string) error {
	if len(l) != len(o) {
		return fmt.Errorf("tensor: %s: lists have %d and %d tensors", op, len(l), len(o))
	}
	for i := range l {
		if l[i].Dtype() != o[i].Dtype() {
			return fmt.Errorf("tensor: %s: tensor %d has dtypes %v and %v", op, i, l[i].Dtype(), o[i].Dtype())
		}
		if !l[i].Shape().Eq(o[i].Shape()) {
			return fmt.Errorf("tensor: %s: tensor %d has shapes %v and %v", op, i, l[i].Shape(), o[i].Shape())
		}
	}
	return nil
}

// Dot returns Σ lᵢ·oᵢ over all elements, accumulated in float64.
func (l List) Dot(o List) (float64, error) {
	if err := l.check(o, "dot"); err != nil {
		return 0, err
	}
	var s float64
	for i := range l {
		switch a := l[i].Data().(type) {
		case []float64:
			b := o[i].Data().([]float64)
			for j := range a {
				s += a[j] * b[j]
			}
		case []float32:
			b := o[i].Data().([]float32)
			for j := range a {
				s += float64(a[j]) * float64(b[j])
			}
		default:
			return 0, fmt.Errorf("tensor: dot: unsupported dtype %v", l[i].Dtype())
		}
	}
	return s, nil
}

// Norm returns the Euclidean norm of the whole list.
func (l List) Norm() float64 {
	s, _ := l.Dot(l) // a list always matches itself
	return math.Sqrt(s)
}

// Axpy sets l ← l + alpha·x.
func (l List) Axpy(alpha float64, x List) error {
	if err := l.check(x, "axpy"); err != nil {
		return err
	}
	for i := range l {
		switch a := l[i].Data().(type) {
		case []float64:
			b := x[i].Data().([]float64)
			for j := range a {
				a[j] += alpha * b[j]
			}
		case []float32:
			b := x[i].Data().([]float32)
			al := float32(alpha)
			for j := range a {
				a[j] += al * b[j]
			}
		default:
			return fmt.Errorf("tensor: axpy: unsupported dtype %v", l[i].Dtype())
		}
	}
	return nil
}

// Scale sets l ← alpha·l.
func (l List) Scale(alpha float64) {
	for i := range l {
		switch a := l[i].Data().(type) {
		case []float64:
			for j := range a {
				a[j] *= alpha
			}
		case []float32:
			al := float32(alpha)
			for j := range a {
				a[j] *= al
			}
		}
	}
}

// CopyFrom sets l ← x element for element.
func (l List) CopyFrom(x List) error {
	if err := l.check(x, "copy"); err != nil {
		return err
	}
	for i := range l {
		switch a := l[i].Data().(type) {
		case []float64:
			copy(a, x[i].Data().([]float64))
		case []float32:
			copy(a, x[i].Data().([]float32))
		default:
			return fmt.Errorf("tensor: copy: unsupported dtype %v", l[i].Dtype())
		}
	}
	return nil
}

// Zero sets every element to zero.
func (l List) Zero() { l.Scale(0) }

// Clone returns a deep copy.
func (l List) Clone() List {
	c := make(List, len(l))
	for i, t := range l {
		c[i] = t.Clone().(*gt.Dense)
	}
	return c
}

// ZerosLike returns a list of zero tensors with l's shapes and dtypes.
func (l List) ZerosLike() List {
	c := make(List, len(l))
	for i, t := range l {
		c[i] = gt.New(gt.Of(t.Dtype()), gt.WithShape(t.Shape().Clone()...))
	}
	return c
}

// AllFinite reports whether every element is finite.
func (l List) AllFinite() bool {
	for _, t := range l {
		switch a := t.Data().(type) {
		case []float64:
			for _, v := range a {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					return false
				}
			}
		case []float32:
			for _, v := range a {
				if v != v || math.IsInf(float64(v), 0) {
					return false
				}
			}
		}
	}
	return true
}

// Flatten writes the list into dst (length Len()) as float64 and returns it;
// dst is allocated when nil or too short.
func (l List) Flatten(dst []float64) []float64 {
	n := l.Len()
	if cap(dst) < n {
		dst = make([]float64, n)
	}
	dst = dst[:n]
	k := 0
	for _, t := range l {
		switch a := t.Data().(type) {
		case []float64:
			k += copy(dst[k:], a)
		case []float32:
			for _, v := range a {
				dst[k] = float64(v)
				k++
			}
		}
	}
	return dst
}

// Unflatten copies src (length Len()) into the list, converting to each
// tensor's dtype.
func (l List) Unflatten(src []float64) error {
	if n := l.Len(); len(src) != n {
		return fmt.Errorf("tensor: unflatten: got %d values for %d elements", len(src), n)
	}
	k := 0
	for _, t := range l {
		switch a := t.Data().(type) {
		case []float64:
			k += copy(a, src[k:k+len(a)])
		case []float32:
			for j := range a {
				a[j] = float32(src[k])
				k++
			}
		default:
			return fmt.Errorf("tensor: unflatten: unsupported dtype %v", t.Dtype())
		}
	}
	return nil
}
