package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/gradlab/gradlab/benchmarks/harness"
	"github.com/gradlab/gradlab/benchmarks/peer"
	"github.com/gradlab/gradlab/engine"
	"github.com/gradlab/gradlab/internal/openblas"
)

// benchRow is one line of the bench table and of bench.json.
type benchRow struct {
	Workload string  `json:"workload"`
	Impl     string  `json:"implementation"`
	WallMs   float64 `json:"wall_ms"`
	CPUMs    float64 `json:"cpu_ms,omitempty"`
	Allocs   float64 `json:"allocs_per_run"` // -1: not measured (the peer)
	Bytes    float64 `json:"bytes_per_run"`
	Note     string  `json:"note,omitempty"`
}

func newBenchCmd() *cobra.Command {
	var reps, warmup int
	var peerMode, out string
	c := &cobra.Command{
		Use:   "bench",
		Short: "Time the training step, gradient and HVP against the TapeMachine and PyTorch",
		Long: `Times the MNIST MLP 784-512-512-10 (ReLU, cross-entropy, float32, batch 128):
  step: one training step with Adam, three ways — gorgonia as shipped (TapeMachine
        and gorgonia's AdamSolver), the TapeMachine with gradlab's Adam, and the
        compiled engine with gradlab's Adam;
  grad: loss and gradient on the TapeMachine and on the engine;
  hvp:  one exact Hessian-vector product (curvature.HessianOperator).
Workloads run round-robin, so a changing machine load slows all alike; medians of
wall and process CPU time per run are reported, with heap allocations per run.
With --peer auto (the default) the same workloads run in PyTorch (Debian's
python3-torch) with 1 thread and with GOMAXPROCS threads, right after.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if reps < 1 || warmup < 0 {
				return fmt.Errorf("bench: --reps must be ≥ 1 and --warmup ≥ 0 (got %d, %d)", reps, warmup)
			}
			if peerMode != "auto" && peerMode != "on" && peerMode != "off" {
				return fmt.Errorf("bench: --peer %q: want auto, on or off", peerMode)
			}
			openblas.Enable()
			w := cmd.OutOrStdout()
			rows, err := benchGradlab(reps, warmup)
			if err != nil {
				return err
			}
			if peerMode != "off" {
				pr, err := benchPeer(cmd.Context(), reps)
				switch {
				case err == nil:
					rows = append(rows, pr...)
				case peerMode == "auto" && errors.Is(err, peer.ErrNoTorch):
					fmt.Fprintf(cmd.ErrOrStderr(), "bench: PyTorch peer skipped: %v\n", err)
				default:
					return err
				}
			}
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			fmt.Fprintf(tw, "workload\timplementation\twall ms\tCPU ms\tallocs/run\tKB/run\tnote\n")
			for _, r := range rows {
				cpu := "-"
				if r.CPUMs > 0 {
					cpu = fmt.Sprintf("%.2f", r.CPUMs)
				}
				allocs, kb := "-", "-"
				if r.Allocs >= 0 {
					allocs, kb = fmt.Sprintf("%.0f", r.Allocs), fmt.Sprintf("%.0f", r.Bytes/1024)
				}
				fmt.Fprintf(tw, "%s\t%s\t%.2f\t%s\t%s\t%s\t%s\n", r.Workload, r.Impl, r.WallMs, cpu, allocs, kb, r.Note)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintln(w)
			for _, q := range [][3]string{{"step", "gorgonia", "engine"}, {"step", "tape", "engine"}, {"grad", "tape", "engine"}} {
				if r, base, ok := benchRatio(rows, q[0], q[1], q[2]); ok {
					fmt.Fprintf(w, "%s: %s (best: %s) ÷ %s = %.2f×\n", q[0], q[1], base, q[2], r)
				}
			}
			for _, impl := range []string{"engine", "torch-1", fmt.Sprintf("torch-%d", runtime.GOMAXPROCS(0))} {
				var g, h float64
				for _, r := range rows {
					if r.Impl == impl && r.Workload == "grad" {
						g = r.WallMs
					}
					if r.Impl == impl && r.Workload == "hvp" {
						h = r.WallMs
					}
				}
				if g > 0 && h > 0 {
					fmt.Fprintf(w, "hvp ÷ grad (%s) = %.2f\n", impl, h/g)
				}
			}
			if out != "" {
				b, err := json.MarshalIndent(map[string]any{"date": time.Now().UTC().Format(time.RFC3339),
					"blas": openblas.Name(), "gomaxprocs": runtime.GOMAXPROCS(0), "reps": reps, "rows": rows}, "", "  ")
				if err != nil {
					return err
				}
				if err := os.WriteFile(out, append(b, '\n'), 0o644); err != nil {
					return fmt.Errorf("bench: %w", err)
				}
			}
			return nil
		},
	}
	c.Flags().IntVar(&reps, "reps", 40, "timed runs of each workload")
	c.Flags().IntVar(&warmup, "warmup", 3, "untimed runs of each workload first")
	c.Flags().StringVar(&peerMode, "peer", "auto", "PyTorch side by side: auto (when python3-torch is present), on, off")
	c.Flags().StringVar(&out, "out", "", "also write the table as JSON to this file")
	return c
}

// benchGradlab times gradlab's workloads. Each runs with the OpenBLAS
// thread count it is measured at (set before each run, untimed): the plain
// rows let OpenBLAS run every GEMM on GOMAXPROCS threads (its default, and
// what `gradlab run` uses), the "-1" rows make it single-threaded, in which
// case the engine's kernel set splits each GEMM over its own workers. The
// TapeMachine baselines are timed both ways and compared at their best.
func benchGradlab(reps, warmup int) ([]benchRow, error) {
	n := runtime.GOMAXPROCS(0)
	type mk struct {
		workload, impl, note string
		threads              int
		build                func(name string) (*harness.Workload, error)
	}
	step := func(b engine.Backend, st harness.Step) func(string) (*harness.Workload, error) {
		return func(name string) (*harness.Workload, error) { return harness.NewMLPStep(name, b, st) }
	}
	blasN := fmt.Sprintf("OpenBLAS %d threads", n)
	split := "OpenBLAS 1 thread, GEMMs split over the kernel set's workers"
	if n == 1 {
		blasN = "OpenBLAS 1 thread"
	}
	makers := []mk{
		{"step", "gorgonia", "TapeMachine + gorgonia AdamSolver, " + blasN, n, step(engine.Tape, harness.GorgoniaAdam)},
		{"step", "gorgonia-1", "TapeMachine + gorgonia AdamSolver, OpenBLAS 1 thread", 1, step(engine.Tape, harness.GorgoniaAdam)},
		{"step", "tape", "TapeMachine + optim.Adam, " + blasN, n, step(engine.Tape, harness.GradlabAdam)},
		{"step", "tape-1", "TapeMachine + optim.Adam, OpenBLAS 1 thread", 1, step(engine.Tape, harness.GradlabAdam)},
		{"step", "engine", "engine + optim.Adam, " + blasN, n, step(engine.Native, harness.GradlabAdam)},
		{"step", "engine-1", "engine + optim.Adam, " + split, 1, step(engine.Native, harness.GradlabAdam)},
		{"grad", "tape", blasN, n, step(engine.Tape, harness.GradOnly)},
		{"grad", "tape-1", "OpenBLAS 1 thread", 1, step(engine.Tape, harness.GradOnly)},
		{"grad", "engine", blasN, n, step(engine.Native, harness.GradOnly)},
		{"grad", "engine-1", split, 1, step(engine.Native, harness.GradOnly)},
		{"hvp", "engine", blasN, n, harness.NewMLPHVP},
	}
	if n == 1 {
		// Both thread counts are the same: keep one row of each.
		makers = slices.DeleteFunc(makers, func(m mk) bool { return strings.HasSuffix(m.impl, "-1") })
	}
	prev := openblas.Threads()
	defer openblas.SetThreads(prev)
	ws := make([]*harness.Workload, 0, len(makers))
	defer func() {
		for _, w := range ws {
			w.Close()
		}
	}()
	for _, m := range makers {
		openblas.SetThreads(m.threads)
		w, err := m.build(m.workload + "/" + m.impl)
		if err != nil {
			return nil, fmt.Errorf("bench: %s/%s: %w", m.workload, m.impl, err)
		}
		threads := m.threads
		w.Before = func() { openblas.SetThreads(threads) }
		w.Group = fmt.Sprintf("openblas-%d", threads)
		ws = append(ws, w)
	}
	st, err := harness.Measure(ws, warmup, reps)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	rows := make([]benchRow, len(st))
	for i, s := range st {
		rows[i] = benchRow{Workload: makers[i].workload, Impl: makers[i].impl, WallMs: ms(s.Wall), CPUMs: ms(s.CPU),
			Allocs: s.AllocsPerRun, Bytes: s.BytesPerRun, Note: makers[i].note}
	}
	return rows, nil
}

func benchPeer(ctx context.Context, reps int) ([]benchRow, error) {
	py, err := peer.Python(ctx)
	if err != nil {
		return nil, err
	}
	var rows []benchRow
	threads := []int{1}
	if n := runtime.GOMAXPROCS(0); n > 1 {
		threads = append(threads, n)
	}
	for _, t := range threads {
		res, err := peer.Run(ctx, py, "mlp_torch.py", "--reps", fmt.Sprint(reps), "--threads", fmt.Sprint(t))
		if err != nil {
			return nil, err
		}
		for _, wl := range []string{"step", "grad", "hvp"} {
			v, ok := res[wl+"_ms"].(float64)
			if !ok {
				return nil, fmt.Errorf("bench: peer output %v has no %s_ms", res, wl)
			}
			rows = append(rows, benchRow{Workload: wl, Impl: fmt.Sprintf("torch-%d", t), WallMs: v, Allocs: -1, Bytes: -1,
				Note: fmt.Sprintf("PyTorch %v, %d thread(s)", res["torch"], t)})
		}
	}
	return rows, nil
}

// benchRatio is the wall time of the faster of a workload's baseline rows
// (impl and its "-1" variant: the baseline at its best OpenBLAS thread
// count) over the wall time of the row impl b, with the baseline row used.
func benchRatio(rows []benchRow, wl, a, b string) (ratio float64, base string, ok bool) {
	var x, y float64
	for _, r := range rows {
		if r.Workload != wl {
			continue
		}
		if (r.Impl == a || r.Impl == a+"-1") && (x == 0 || r.WallMs < x) {
			x, base = r.WallMs, r.Impl
		}
		if r.Impl == b {
			y = r.WallMs
		}
	}
	return x / y, base, x > 0 && y > 0
}

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }
