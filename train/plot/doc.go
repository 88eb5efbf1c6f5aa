// Package plot draws the PNG line plots of a training run with
// gonum.org/v1/plot.
//
// Lines draws several named series on one set of axes, optionally with a
// logarithmic y axis and horizontal reference lines (such as the 2/η
// stability threshold next to the sharpness). Points whose x or y is NaN or
// infinite (or, on a log axis, whose y is not positive) are left out and
// break their line, so a run that diverged still gets a plot of what it
// measured before. MetricPlots draws one PNG per key of a metrics.jsonl
// file against the step.
package plot
