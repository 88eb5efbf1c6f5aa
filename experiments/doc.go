// Package experiments holds gradlab's registered studies and the runner
// that gives every run the same shape: a resolved configuration, a run
// directory (config.yaml, metrics.jsonl, summary.json, plots/, ckpt/), and a
// verdict computed from measured values.
//
// An experiment is a value of type Experiment: a name, a description, its
// configuration keys with defaults, presets ("small" for a CPU in minutes,
// "full" for one GPU) and a Run function that returns measured checks. To
// add one, write a file with a constructor returning *Experiment and add it
// to Builtin.
package experiments
