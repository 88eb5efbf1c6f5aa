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
	// interval (a held-out batch, the full objective, ...). It is called
	// only with SamuelIntervalLoss feedback.
	Loss(params []*tensor.Dense) (float64, error)
}

// SamuelFeedback selects the losses by which Samuel re-weights its experts.
type SamuelFeedback int

const (
	// SamuelStepLoss is the rule of the paper (Lu, Xia, Arora, Hazan 2022,
	// the practical version of SAMUEL): at every step each expert's loss on
	// that step's minibatch (the value Oracle.Grad returns, at the
	// parameters before the update) enters the weights, and the current
	// expert is drawn anew from the column sums at every step. Over an
	// interval the weights thus move by the sum of the per-step loss
	// differences. Copies are resynchronised every Interval steps.
	SamuelStepLoss SamuelFeedback = iota
	// SamuelIntervalLoss re-weights once per interval from a single
	// evaluation Oracle.Loss of every expert at the end of the interval,
	// and draws the current expert once per interval.
	SamuelIntervalLoss
)

// String names the feedback rule.
func (f SamuelFeedback) String() string {
	switch f {
	case SamuelStepLoss:
		return "step"
	case SamuelIntervalLoss:
		return "interval"
	}
	return "SamuelFeedback(" + strconv.Itoa(int(f)) + ")"
}

// SamuelConfig configures Samuel.
type SamuelConfig struct {
	// Interval is the number of steps between resynchronisations of the
	// copies (and, with SamuelIntervalLoss, between expert evaluations).
	Interval int
	// Feedback selects the losses that re-weight the experts; the zero
	// value is the paper's per-step rule.
	Feedback SamuelFeedback
	// KeepWeights carries the weights over from one interval to the next. By default they restart at their initial
	// values at every resynchronisation: each interval is a fresh
	// multiplicative-weights run over the experts from a common starting
	// point, as in the paper's practical algorithm and its reference
	// implementation (whose trainer re-initialises the whole optimizer
	// state, weights included, when it resynchronises the copies).
	KeepWeights bool
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
// learning rates η₀·3ʲ), each on its own copy of the parameters, and chooses
// among them by multiplicative weights w(q, j) with several rates η_q (one
// row of weights per rate). The current expert is drawn with probability
// proportional to the column sums Σ_q w(q, j); after a loss is observed for
// every expert, w(q, j) ← w(q, j)·exp(η_q·(L_current − L_j)). Every Interval
// steps all copies are overwritten with the current expert's parameters.
//
// With SamuelStepLoss (the default, as in the paper) the losses are the
// experts' minibatch losses of every step (one common term per row, the
// current expert's, cancels within the row) and the current expert is drawn
// at every step; with SamuelIntervalLoss they are one Oracle.Loss
// evaluation per interval and the draw happens once per interval. Unless
// KeepWeights is set, the weights restart at their initial values after
// every resynchronisation, so that each interval is a fresh
// multiplicative-weights run from a common starting point. Row q starts at
// w = min(½, η_q), the paper's initial weights (the reference
// implementation starts at η_q; only the balance between rows differs).
//
// Experts keep their own optimizer state across resynchronisations (the
// reference implementation re-initialises it; this matters only for
// experts with state, such as momentum or Adam, not for plain SGD).
// Experts that implement LossSetter are given the minibatch loss from
// Oracle.Grad before each step. Weights are kept as logarithms, so they do
// not overflow.
type Samuel struct {
	experts  []Optimizer
	copies   [][]*tensor.Dense // copies[j][i]
	grads    [][]*tensor.Dense
	logw     [][]float64 // logw[r][j]
	rates    []float64
	interval int
	feedback SamuelFeedback
	keep     bool
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
	if cfg.Feedback != SamuelStepLoss && cfg.Feedback != SamuelIntervalLoss {
		return nil, fmt.Errorf("optim: samuel: unknown feedback %v", cfg.Feedback)
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
		feedback: cfg.Feedback,
		keep:     cfg.KeepWeights,
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
	for r := range s.rates {
		s.logw[r] = make([]float64, k)
	}
	s.resetWeights()
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

// LastLosses returns the expert losses that entered the latest re-weighting
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

// Step runs one step of every expert on its copy, re-weights (every step or
// at the end of each interval, by Feedback), draws the current expert and
// every Interval steps resynchronises the copies. It returns the current
// expert's minibatch loss before its update.
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
		if s.feedback == SamuelStepLoss {
			s.losses[j] = l
		}
		if ls, ok := e.(LossSetter); ok {
			ls.SetLoss(l)
		}
		if err := e.Step(s.copies[j], s.grads[j]); err != nil {
			return 0, fmt.Errorf("optim: samuel: step %d, expert %d: %w", s.step, j, err)
		}
	}
	s.step++
	boundary := s.step%s.interval == 0
	if s.feedback == SamuelStepLoss {
		// The current expert was drawn from the weights before this
		// step's losses; its copy becomes everyone's at a boundary.
		s.reweight()
		if boundary {
			s.resync()
			if !s.keep {
				s.resetWeights()
			}
		}
		s.current = s.sample()
		return cur, nil
	}
	if !boundary {
		return cur, nil
	}
	for j := range s.experts {
		l, err := o.Loss(s.copies[j])
		if err != nil {
			return 0, fmt.Errorf("optim: samuel: step %d, expert %d: loss: %w", s.step, j, err)
		}
		s.losses[j] = l
	}
	s.reweight()
	s.current = s.sample()
	s.resync()
	if !s.keep {
		// Restart with the weights of the interval's last evaluation
		// still deciding the expert just kept.
		s.resetWeights()
	}
	return cur, nil
}

// reweight applies w(q, j) ← w(q, j)·exp(η_q·(L_current − L_j)) with the
// losses in s.losses (NaN counts as +Inf), then the optional fixed share.
func (s *Samuel) reweight() {
	for j, l := range s.losses {
		if math.IsNaN(l) {
			s.losses[j] = math.Inf(1)
		}
	}
	lc := s.losses[s.current]
	inf := false
	for r, rate := range s.rates {
		for j, l := range s.losses {
			d := lc - l
			if math.IsNaN(d) { // both infinite
				d = 0
			}
			s.logw[r][j] += rate * d
			inf = inf || math.IsInf(s.logw[r][j], 1)
		}
	}
	if inf {
		// The current expert diverged while others did not: in the limit
		// the weight sits uniformly on the experts whose log-weight became
		// +Inf.
		for _, row := range s.logw {
			for j, v := range row {
				if math.IsInf(v, 1) {
					row[j] = 0
				} else {
					row[j] = math.Inf(-1)
				}
			}
		}
	}
	if s.share > 0 {
		for _, row := range s.logw {
			shareRow(row, s.share)
		}
	}
}

// resetWeights sets row q of the weights to min(½, η_q).
func (s *Samuel) resetWeights() {
	for r, rate := range s.rates {
		for j := range s.logw[r] {
			s.logw[r][j] = math.Log(min(0.5, rate))
		}
	}
}

// resync copies the current expert's parameters into every other copy.
func (s *Samuel) resync() {
	src := s.copies[s.current]
	for j := range s.copies {
		if j == s.current {
			continue
		}
		for i, p := range s.copies[j] {
			copyData(p, src[i])
		}
	}
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
