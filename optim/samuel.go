package optim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"

	"gorgonia.org/tensor"
)

// Oracle is the objective as SAMUEL sees it.
type Oracle interface {
	// Next is called once at the start of every SAMUEL step, before any
	// expert's gradient, e.g. to draw the minibatch all experts share.
	Next() error
	// Grad writes the gradient at params on the current minibatch into grads
	// and returns the minibatch loss.
	Grad(params, grads []*tensor.Dense) (float64, error)
	// Loss returns the loss by which experts are compared at the end of an
	// interval (a held-out batch, the full objective, ...).
	Loss(params []*tensor.Dense) (float64, error)
}

// SamuelConfig configures Samuel.
type SamuelConfig struct {
	// Interval is the number of steps between expert evaluations.
	Interval int
	// MWRates are the multiplicative-weights rates (one row of weights each).
	MWRates []float64
	// Seed seeds the expert sampling.
	Seed uint64
	// Share, in [0, 1), is an optional fixed-share mixing applied after each
	// re-weighting: every row of weights becomes (1−Share)·w + Share·mean(w),
	// which keeps a floor under every expert so that the choice can move again
	// after a long run of one expert winning. 0 (the default) is the plain
	// multiplicative-weights rule.
	Share float64
}

// Samuel runs k experts (base optimizers, typically the same rule with
// learning rates η₀·3ʲ), each on its own copy of the parameters. Every
// Interval steps it evaluates each expert's loss Lᵢ, multiplies the weight
// matrix (#rates × k) by exp(rate·(L_current − Lᵢ)), samples the current
// expert with probability proportional to the column sums, and copies that
// expert's parameters into every other copy. Experts keep their own
// optimizer state; experts that implement LossSetter are given the
// minibatch loss from Oracle.Grad before each step. Weights start at 1 and
// are kept as logarithms, so they do not overflow.
type Samuel struct {
	experts  []Optimizer
	copies   [][]*tensor.Dense // copies[j][i]
	grads    [][]*tensor.Dense
	logw     [][]float64 // logw[r][j]
	rates    []float64
	interval int
	share    float64
	seed     uint64
	rng      *rand.Rand
	draws    int
	current  int
	step     int
	losses   []float64
	probs    []float64
}

const samuelStream = 0x73616d75656c

// NewSamuel returns SAMUEL over the given experts, every copy starting from init
// (which is copied, not retained). The initial expert is drawn uniformly.
func NewSamuel(experts []Optimizer, init []*tensor.Dense, cfg SamuelConfig) (*Samuel, error) {
	if len(experts) == 0 {
		return nil, fmt.Errorf("optim: samuel: no experts")
	}
	if cfg.Interval <= 0 {
		return nil, fmt.Errorf("optim: samuel: interval %d must be positive", cfg.Interval)
	}
	if len(cfg.MWRates) == 0 {
		return nil, fmt.Errorf("optim: samuel: no multiplicative-weights rates")
	}
	for _, r := range cfg.MWRates {
		if !(r > 0) || math.IsInf(r, 0) {
			return nil, fmt.Errorf("optim: samuel: rate %v must be positive and finite", r)
		}
	}
	if cfg.Share < 0 || cfg.Share >= 1 {
		return nil, fmt.Errorf("optim: samuel: share %v must lie in [0, 1)", cfg.Share)
	}
	for j, e := range experts {
		if e == nil {
			return nil, fmt.Errorf("optim: samuel: expert %d is nil", j)
		}
	}
	for i, p := range init {
		if err := checkTensor("parameter", i, p); err != nil {
			return nil, fmt.Errorf("optim: samuel: %w", err)
		}
	}
	k := len(experts)
	s := &Samuel{
		experts:  append([]Optimizer(nil), experts...),
		rates:    append([]float64(nil), cfg.MWRates...),
		interval: cfg.Interval,
		share:    cfg.Share,
		seed:     cfg.Seed,
		rng:      rand.New(rand.NewPCG(cfg.Seed, samuelStream)),
		losses:   make([]float64, k),
		probs:    make([]float64, k),
	}
	s.copies = make([][]*tensor.Dense, k)
	s.grads = make([][]*tensor.Dense, k)
	for j := range k {
		s.copies[j] = make([]*tensor.Dense, len(init))
		s.grads[j] = make([]*tensor.Dense, len(init))
		for i, p := range init {
			s.copies[j][i] = cloneDense(p)
			s.grads[j][i] = zerosLike(p)
		}
	}
	s.logw = make([][]float64, len(s.rates))
	for r := range s.logw {
		s.logw[r] = make([]float64, k)
	}
	s.current = s.sample()
	return s, nil
}

// Params returns the parameters of the current expert (owned by Samuel;
// valid until the next Step).
func (s *Samuel) Params() []*tensor.Dense { return s.copies[s.current] }

// Current returns the index of the current expert.
func (s *Samuel) Current() int { return s.current }

// Probabilities writes the current sampling probabilities (normalised column
// sums of the weight matrix) into dst, which must have one entry per expert.
func (s *Samuel) Probabilities(dst []float64) {
	s.colProbs(dst)
}

// LastLosses returns the expert losses seen at the latest evaluation
// (owned by Samuel).
func (s *Samuel) LastLosses() []float64 { return s.losses }

// colProbs computes normalised column sums of exp(logw) into dst.
func (s *Samuel) colProbs(dst []float64) {
	m := math.Inf(-1)
	for _, row := range s.logw {
		for _, v := range row {
			m = max(m, v)
		}
	}
	var total float64
	for j := range dst {
		var c float64
		for _, row := range s.logw {
			c += math.Exp(row[j] - m)
		}
		dst[j] = c
		total += c
	}
	for j := range dst {
		dst[j] /= total
	}
}

func (s *Samuel) sample() int {
	s.colProbs(s.probs)
	u := s.rng.Float64()
	s.draws++
	for j, p := range s.probs {
		u -= p
		if u < 0 {
			return j
		}
	}
	return len(s.probs) - 1
}

// Step runs one step of every expert on its copy and, at the end of each
// interval, re-weights, samples the current expert and resynchronises the
// copies. It returns the current expert's minibatch loss before its update.
func (s *Samuel) Step(o Oracle) (float64, error) {
	if err := o.Next(); err != nil {
		return 0, fmt.Errorf("optim: samuel: step %d: %w", s.step, err)
	}
	var cur float64
	for j, e := range s.experts {
		l, err := o.Grad(s.copies[j], s.grads[j])
		if err != nil {
			return 0, fmt.Errorf("optim: samuel: step %d, expert %d: gradient: %w", s.step, j, err)
		}
		if j == s.current {
			cur = l
		}
		if ls, ok := e.(LossSetter); ok {
			ls.SetLoss(l)
		}
		if err := e.Step(s.copies[j], s.grads[j]); err != nil {
			return 0, fmt.Errorf("optim: samuel: step %d, expert %d: %w", s.step, j, err)
		}
	}
	s.step++
	if s.step%s.interval != 0 {
		return cur, nil
	}
	for j := range s.experts {
		l, err := o.Loss(s.copies[j])
		if err != nil {
			return 0, fmt.Errorf("optim: samuel: step %d, expert %d: loss: %w", s.step, j, err)
		}
		if math.IsNaN(l) {
			l = math.Inf(1)
		}
		s.losses[j] = l
	}
	lc := s.losses[s.current]
	for r, rate := range s.rates {
		for j, l := range s.losses {
			d := lc - l
			if math.IsNaN(d) { // both infinite
				d = 0
			}
			s.logw[r][j] += rate * d
		}
		if s.share > 0 {
			shareRow(s.logw[r], s.share)
		}
	}
	s.current = s.sample()
	src := s.copies[s.current]
	for j := range s.copies {
		if j == s.current {
			continue
		}
		for i, p := range s.copies[j] {
			copyData(p, src[i])
		}
	}
	return cur, nil
}

// State returns the SAMUEL state: scalars "step", "current", "draws" and
// "logw/r/j"; buffers "copy/j/i" (expert parameter copies); and each expert's
// own state under the prefix "expert/j/".
func (s *Samuel) State() State {
	st := newState("samuel", s.step)
	st.Scalars["current"] = float64(s.current)
	st.Scalars["draws"] = float64(s.draws)
	for r, row := range s.logw {
		for j, v := range row {
			st.Scalars["logw/"+strconv.Itoa(r)+"/"+strconv.Itoa(j)] = v
		}
	}
	for j, c := range s.copies {
		for i, p := range c {
			st.Buffers[BufferKey("copy/"+strconv.Itoa(j), i)] = cloneDense(p)
		}
	}
	for j, e := range s.experts {
		es := e.State()
		pre := "expert/" + strconv.Itoa(j) + "/"
		for k, v := range es.Scalars {
			st.Scalars[pre+k] = v
		}
		for k, v := range es.Buffers {
			st.Buffers[pre+k] = v
		}
	}
	return st
}

// SetState restores a state produced by State on a Samuel built with the
// same experts, rates and parameter shapes.
func (s *Samuel) SetState(st State) error {
	if st.Kind != "samuel" {
		return fmt.Errorf("optim: samuel: set state: kind %q, want \"samuel\"", st.Kind)
	}
	k := len(s.experts)
	intScalar := func(name string, lo, hi int) (int, error) {
		v, ok := st.Scalars[name]
		if !ok || v != math.Trunc(v) || v < float64(lo) || v > float64(hi) {
			return 0, fmt.Errorf("optim: samuel: set state: scalar %q = %v missing or not an integer in [%d, %d]", name, v, lo, hi)
		}
		return int(v), nil
	}
	step, err := intScalar("step", 0, 1<<53)
	if err != nil {
		return err
	}
	cur, err := intScalar("current", 0, k-1)
	if err != nil {
		return err
	}
	draws, err := intScalar("draws", 1, 1<<53)
	if err != nil {
		return err
	}
	logw := make([][]float64, len(s.rates))
	for r := range logw {
		logw[r] = make([]float64, k)
		for j := range logw[r] {
			key := "logw/" + strconv.Itoa(r) + "/" + strconv.Itoa(j)
			v, ok := st.Scalars[key]
			if !ok {
				return fmt.Errorf("optim: samuel: set state: missing scalar %q", key)
			}
			logw[r][j] = v
		}
	}
	// Check the copies before changing anything.
	for j := range s.copies {
		for i, p := range s.copies[j] {
			key := BufferKey("copy/"+strconv.Itoa(j), i)
			b, ok := st.Buffers[key]
			if !ok || b == nil {
				return fmt.Errorf("optim: samuel: set state: missing buffer %q", key)
			}
			if b.Dtype() != p.Dtype() || !sameShape(b.Shape(), p.Shape()) || b.RequiresIterator() {
				return fmt.Errorf("optim: samuel: set state: buffer %s has shape %v %v, parameter %d has shape %v %v",
					key, b.Shape(), b.Dtype(), i, p.Shape(), p.Dtype())
			}
		}
	}
	for j, e := range s.experts {
		pre := "expert/" + strconv.Itoa(j) + "/"
		es := State{Kind: e.State().Kind, Scalars: map[string]float64{}, Buffers: map[string]*tensor.Dense{}}
		for key, v := range st.Scalars {
			if rest, ok := strings.CutPrefix(key, pre); ok {
				es.Scalars[rest] = v
			}
		}
		for key, v := range st.Buffers {
			if rest, ok := strings.CutPrefix(key, pre); ok {
				es.Buffers[rest] = v
			}
		}
		if err := e.SetState(es); err != nil {
			return fmt.Errorf("optim: samuel: set state: expert %d: %w", j, err)
		}
	}
	for j := range s.copies {
		for i, p := range s.copies[j] {
			copyData(p, st.Buffers[BufferKey("copy/"+strconv.Itoa(j), i)])
		}
	}
	s.step, s.current, s.logw = step, cur, logw
	s.rng = rand.New(rand.NewPCG(s.seed, samuelStream))
	for range draws {
		s.rng.Float64()
	}
	s.draws = draws
	return nil
}

// shareRow applies w ← (1−α)w + α·mean(w) to a row held as log-weights.
func shareRow(logw []float64, alpha float64) {
	m := math.Inf(-1)
	for _, v := range logw {
		m = max(m, v)
	}
	var mean float64
	for _, v := range logw {
		mean += math.Exp(v-m) / float64(len(logw))
	}
	for j, v := range logw {
		logw[j] = m + math.Log((1-alpha)*math.Exp(v-m)+alpha*mean)
	}
}
