// Package metrics records a training run's measurements.
//
// A Writer appends one JSON object per logged step to metrics.jsonl and,
// when closed, writes summary.csv with the same records as a table. Each
// line of metrics.jsonl has the keys "step", "epoch" and "loss" first, in
// that order, then the record's other values sorted by name, for example
//
//	{"step":100,"epoch":1,"loss":0.4127,"lambda_max":38.2,"test_acc":"NaN"}
//
// Numbers are written in the shortest form that reads back to the same
// float64. JSON has no NaN or infinities: these are written as the strings
// "NaN", "+Inf" and "-Inf" (so a reader can tell a diverged loss from a
// missing one), and Read turns them back into numbers; Read also accepts
// null as NaN. summary.csv uses the same three spellings and leaves a cell
// empty when a record lacks that key.
//
// Every Write reaches the operating system before it returns, so a run
// killed at any point keeps all the records it logged (at worst the last
// line is torn, and Read and TruncateAfter drop a torn last line). The CSV
// is derived from metrics.jsonl and can be rebuilt at any time with
// WriteCSV. For an exact resume from a checkpoint at step N, Resume (or
// TruncateAfter) first removes the records logged after step N.
package metrics
