package train

import (
	"fmt"
	"io"
	"time"

	"github.com/schollz/progressbar/v3"
)

// reporter shows training progress: a bar on a terminal, nothing per step
// otherwise (the trainer prints a line per evaluation instead).
type reporter struct {
	bar  *progressbar.ProgressBar
	last time.Time
}

func newReporter(w io.Writer, bar bool, total, done int) *reporter {
	r := &reporter{}
	if w == nil || !bar || total <= 0 {
		return r
	}
	r.bar = progressbar.NewOptions(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription("train"),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("step"),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionClearOnFinish(),
	)
	_ = r.bar.Set(done)
	return r
}

func (r *reporter) step(step int, loss float64) {
	if r.bar == nil {
		return
	}
	if now := time.Now(); now.Sub(r.last) > 200*time.Millisecond {
		r.bar.Describe(fmt.Sprintf("train loss %.4f", loss))
		r.last = now
	}
	_ = r.bar.Set(step)
}

func (r *reporter) finish() {
	if r.bar != nil {
		_ = r.bar.Finish()
	}
}
