package nn

import (
	"fmt"
	"math/rand/v2"

	"gorgonia.org/gorgonia"
	gt "gorgonia.org/tensor"

	"github.com/gradlab/gradlab/autodiff"
)

// Reparametrized is a linear predictor f(z) = ⟨x, z⟩ whose coefficient
// vector x = G(w) is a fixed function of the parameters w: the models of the
// implicit-bias studies (diagonal linear networks, matrix factorization).
// Forward maps input rows z of length Dim to outputs of shape (batch, 1).
type Reparametrized interface {
	Model
	// Dim is the length of the coefficient vector x.
	Dim() int
	// Effective builds x = G(w) on b's graph as a (Dim, 1) column.
	Effective(b *Binding) (*gorgonia.Node, error)
	// EffectiveValues computes x from the current parameter values in
	// float64, without a graph.
	EffectiveValues() []float64
}

// linearForward is ⟨x, z⟩ for every row z of input: input (batch, d) times
// the (d, 1) column x.
func linearForward(m Reparametrized, b *Binding, input *gorgonia.Node) (*gorgonia.Node, error) {
	if input.Dims() != 2 || input.Shape()[1] != m.Dim() {
		return nil, fmt.Errorf("nn: linear predictor input has shape %v, want (batch, %d)", input.Shape(), m.Dim())
	}
	x, err := m.Effective(b)
	if err != nil {
		return nil, err
	}
	out, err := gorgonia.Mul(input, x)
	if err != nil {
		return nil, fmt.Errorf("nn: linear predictor: %w", err)
	}
	return out, nil
}

// column makes a (len(vals), 1) tensor of dtype dt holding vals.
func column(dt gt.Dtype, vals []float64) (*gt.Dense, error) {
	switch dt {
	case gt.Float64:
		return gt.New(gt.WithShape(len(vals), 1), gt.WithBacking(append([]float64(nil), vals...))), nil
	case gt.Float32:
		f := make([]float32, len(vals))
		for i, v := range vals {
			f[i] = float32(v)
		}
		return gt.New(gt.WithShape(len(vals), 1), gt.WithBacking(f)), nil
	}
	return nil, fmt.Errorf("nn: dtype %v: want float32 or float64", dt)
}

// float64s returns a tensor's values as float64 (a copy).
func float64s(t *gt.Dense) []float64 {
	switch d := t.Data().(type) {
	case []float64:
		return append([]float64(nil), d...)
	case []float32:
		out := make([]float64, len(d))
		for i, v := range d {
			out[i] = float64(v)
		}
		return out
	}
	panic(fmt.Sprintf("nn: unsupported tensor data %T", t.Data()))
}

func constVec(d int, c float64) []float64 {
	v := make([]float64, d)
	for i := range v {
		v[i] = c
	}
	return v
}

// DiagNet is the diagonal linear network x = u⊙u − v⊙v with the linear
// prediction f(z) = ⟨x, z⟩. Its parameters "diag.u" and "diag.v" are (d, 1)
// columns. Gradient flow on (u, v) from u₀ = v₀ = α·1 is mirror flow on x
// under the hyperbolic entropy R_α.
type DiagNet struct {
	d      int
	params Params
}

// NewDiagNet returns a diagonal net of dimension d initialised at
// u = v = α·1 (so x = 0).
func NewDiagNet(dt gt.Dtype, d int, alpha float64) (*DiagNet, error) {
	if d <= 0 {
		return nil, fmt.Errorf("nn: DiagNet dimension must be positive, got %d", d)
	}
	return NewDiagNetFrom(dt, constVec(d, alpha), constVec(d, alpha))
}

// NewDiagNetFrom returns a diagonal net with the given initial u and v.
func NewDiagNetFrom(dt gt.Dtype, u, v []float64) (*DiagNet, error) {
	if len(u) == 0 || len(u) != len(v) {
		return nil, fmt.Errorf("nn: DiagNet needs u and v of equal positive length, got %d and %d", len(u), len(v))
	}
	ut, err := column(dt, u)
	if err != nil {
		return nil, err
	}
	vt, err := column(dt, v)
	if err != nil {
		return nil, err
	}
	return &DiagNet{d: len(u), params: Params{{Name: "diag.u", Value: ut}, {Name: "diag.v", Value: vt}}}, nil
}

// Params implements Model.
func (m *DiagNet) Params() Params { return m.params }

// Dim implements Reparametrized.
func (m *DiagNet) Dim() int { return m.d }

// Effective implements Reparametrized: u⊙u − v⊙v.
func (m *DiagNet) Effective(b *Binding) (*gorgonia.Node, error) {
	u, v := b.Node("diag.u"), b.Node("diag.v")
	uu, err := gorgonia.HadamardProd(u, u)
	if err != nil {
		return nil, fmt.Errorf("nn: DiagNet: %w", err)
	}
	vv, err := gorgonia.HadamardProd(v, v)
	if err != nil {
		return nil, fmt.Errorf("nn: DiagNet: %w", err)
	}
	return gorgonia.Sub(uu, vv)
}

// EffectiveValues implements Reparametrized.
func (m *DiagNet) EffectiveValues() []float64 {
	u, v := float64s(m.params[0].Value), float64s(m.params[1].Value)
	x := make([]float64, m.d)
	for i := range x {
		x[i] = u[i]*u[i] - v[i]*v[i]
	}
	return x
}

// Forward implements Model: input (batch, d) to output (batch, 1).
func (m *DiagNet) Forward(b *Binding, input *gorgonia.Node) (*gorgonia.Node, error) {
	return linearForward(m, b, input)
}

// DeepDiag is the depth-L diagonal network x = w₁⊙w₂⊙…⊙w_L with the linear
// prediction f(z) = ⟨x, z⟩. Its parameters "diag.w1" … "diag.wL" are (d, 1)
// columns. Each xᵢ depends only on the i-th entries of the factors, so the
// parametrization is commuting.
type DeepDiag struct {
	d      int
	params Params
}

// NewDeepDiag returns a depth-L diagonal net with every factor at α·1.
func NewDeepDiag(dt gt.Dtype, d, depth int, alpha float64) (*DeepDiag, error) {
	if d <= 0 || depth <= 0 {
		return nil, fmt.Errorf("nn: DeepDiag needs positive dimension and depth, got %d and %d", d, depth)
	}
	ws := make([][]float64, depth)
	for l := range ws {
		ws[l] = constVec(d, alpha)
	}
	return NewDeepDiagFrom(dt, ws)
}

// NewDeepDiagFrom returns a diagonal net with the given initial factors
// (all of the same positive length).
func NewDeepDiagFrom(dt gt.Dtype, ws [][]float64) (*DeepDiag, error) {
	if len(ws) == 0 || len(ws[0]) == 0 {
		return nil, fmt.Errorf("nn: DeepDiag needs at least one non-empty factor")
	}
	m := &DeepDiag{d: len(ws[0])}
	for l, w := range ws {
		if len(w) != m.d {
			return nil, fmt.Errorf("nn: DeepDiag factor %d has length %d, want %d", l+1, len(w), m.d)
		}
		t, err := column(dt, w)
		if err != nil {
			return nil, err
		}
		m.params = append(m.params, &Param{Name: fmt.Sprintf("diag.w%d", l+1), Value: t})
	}
	return m, nil
}

// Params implements Model.
func (m *DeepDiag) Params() Params { return m.params }

// Dim implements Reparametrized.
func (m *DeepDiag) Dim() int { return m.d }

// Depth is the number of factors.
func (m *DeepDiag) Depth() int { return len(m.params) }

// Effective implements Reparametrized: the elementwise product of the factors.
func (m *DeepDiag) Effective(b *Binding) (*gorgonia.Node, error) {
	x := b.Node(m.params[0].Name)
	for _, p := range m.params[1:] {
		var err error
		if x, err = gorgonia.HadamardProd(x, b.Node(p.Name)); err != nil {
			return nil, fmt.Errorf("nn: DeepDiag: %w", err)
		}
	}
	if len(m.params) == 1 {
		// A node that is not the parameter itself, so that callers may
		// treat the result as a computed value.
		one := gorgonia.NewConstant(castScalar(x, 1))
		return gorgonia.Mul(x, one)
	}
	return x, nil
}

// EffectiveValues implements Reparametrized.
func (m *DeepDiag) EffectiveValues() []float64 {
	x := constVec(m.d, 1)
	for _, p := range m.params {
		w := float64s(p.Value)
		for i := range x {
			x[i] *= w[i]
		}
	}
	return x
}

// Forward implements Model: input (batch, d) to output (batch, 1).
func (m *DeepDiag) Forward(b *Binding, input *gorgonia.Node) (*gorgonia.Node, error) {
	return linearForward(m, b, input)
}

// MatrixFactorization is the linear predictor on matrices f(Z) = ⟨X, Z⟩
// with X = U·Uᵀ (symmetric) or X = U·Vᵀ, the non-commuting contrast to the
// diagonal nets. Inputs are the matrices Z flattened row-major to length
// rows·cols; x = vec(X) in the same order. Parameters: "mf.u" (rows, rank)
// and, when not symmetric, "mf.v" (cols, rank).
type MatrixFactorization struct {
	rows, cols, rank int
	symmetric        bool
	params           Params
}

// NewMatrixFactorization returns a factorization with entries of U (and V)
// drawn from N(0, scale²) by rng. Symmetric forces cols = rows.
func NewMatrixFactorization(rng *rand.Rand, dt gt.Dtype, rows, cols, rank int, symmetric bool, scale float64) (*MatrixFactorization, error) {
	if rows <= 0 || cols <= 0 || rank <= 0 {
		return nil, fmt.Errorf("nn: MatrixFactorization needs positive sizes, got %d×%d rank %d", rows, cols, rank)
	}
	if symmetric && rows != cols {
		return nil, fmt.Errorf("nn: symmetric MatrixFactorization needs rows = cols, got %d×%d", rows, cols)
	}
	draw := func(n int) []float64 {
		v := make([]float64, n)
		for i := range v {
			v[i] = scale * rng.NormFloat64()
		}
		return v
	}
	u := draw(rows * rank)
	var v []float64
	if !symmetric {
		v = draw(cols * rank)
	}
	return NewMatrixFactorizationFrom(dt, rows, cols, rank, u, v)
}

// NewMatrixFactorizationFrom returns a factorization with the given
// row-major factors; a nil v makes it symmetric (X = U·Uᵀ, cols = rows).
func NewMatrixFactorizationFrom(dt gt.Dtype, rows, cols, rank int, u, v []float64) (*MatrixFactorization, error) {
	m := &MatrixFactorization{rows: rows, cols: cols, rank: rank, symmetric: v == nil}
	if m.symmetric && rows != cols {
		return nil, fmt.Errorf("nn: symmetric MatrixFactorization needs rows = cols, got %d×%d", rows, cols)
	}
	mk := func(name string, r int, vals []float64) error {
		if len(vals) != r*rank {
			return fmt.Errorf("nn: MatrixFactorization %s has %d values, want %d", name, len(vals), r*rank)
		}
		t, err := column(dt, vals)
		if err != nil {
			return err
		}
		if err := t.Reshape(r, rank); err != nil {
			return fmt.Errorf("nn: MatrixFactorization %s: %w", name, err)
		}
		m.params = append(m.params, &Param{Name: name, Value: t})
		return nil
	}
	if err := mk("mf.u", rows, u); err != nil {
		return nil, err
	}
	if !m.symmetric {
		if err := mk("mf.v", cols, v); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Params implements Model.
func (m *MatrixFactorization) Params() Params { return m.params }

// Dim implements Reparametrized: rows·cols.
func (m *MatrixFactorization) Dim() int { return m.rows * m.cols }

// Symmetric reports whether X = U·Uᵀ.
func (m *MatrixFactorization) Symmetric() bool { return m.symmetric }

// Effective implements Reparametrized: vec(U·Vᵀ) (V = U when symmetric) as
// a (rows·cols, 1) column.
func (m *MatrixFactorization) Effective(b *Binding) (*gorgonia.Node, error) {
	u := b.Node("mf.u")
	v := u
	if !m.symmetric {
		v = b.Node("mf.v")
	}
	vt, err := gorgonia.Transpose(v)
	if err != nil {
		return nil, fmt.Errorf("nn: MatrixFactorization: %w", err)
	}
	x, err := gorgonia.Mul(u, vt)
	if err != nil {
		return nil, fmt.Errorf("nn: MatrixFactorization: %w", err)
	}
	return autodiff.Reshape(x, gt.Shape{m.rows * m.cols, 1})
}

// EffectiveValues implements Reparametrized.
func (m *MatrixFactorization) EffectiveValues() []float64 {
	u := float64s(m.params[0].Value)
	v := u
	if !m.symmetric {
		v = float64s(m.params[1].Value)
	}
	x := make([]float64, m.rows*m.cols)
	for i := 0; i < m.rows; i++ {
		for j := 0; j < m.cols; j++ {
			var s float64
			for k := 0; k < m.rank; k++ {
				s += u[i*m.rank+k] * v[j*m.rank+k]
			}
			x[i*m.cols+j] = s
		}
	}
	return x
}

// Forward implements Model: input (batch, rows·cols) to output (batch, 1).
func (m *MatrixFactorization) Forward(b *Binding, input *gorgonia.Node) (*gorgonia.Node, error) {
	return linearForward(m, b, input)
}
