package metrics_test

import (
	"fmt"
	"log"
	"math"
	"os"
	"path/filepath"

	"github.com/gradlab/gradlab/train/metrics"
)

func Example() {
	dir, err := os.MkdirTemp("", "run")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	w, err := metrics.Create(dir)
	if err != nil {
		log.Fatal(err)
	}
	for step, loss := range []float64{2.3, 0.9, math.Inf(1)} {
		r := metrics.Record{Step: step * 10, Loss: loss, Values: map[string]float64{"lambda_max": 40 + float64(step), "lr": 0.05}}
		if err := w.Write(r); err != nil {
			log.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		log.Fatal(err)
	}
	jsonl, _ := os.ReadFile(filepath.Join(dir, metrics.JSONLFile))
	csv, _ := os.ReadFile(filepath.Join(dir, metrics.CSVFile))
	fmt.Print(string(jsonl), string(csv))

	// Resuming from a checkpoint at step 10 drops the later record.
	if err := metrics.TruncateAfter(filepath.Join(dir, metrics.JSONLFile), 10); err != nil {
		log.Fatal(err)
	}
	recs, _ := metrics.Read(filepath.Join(dir, metrics.JSONLFile))
	fmt.Println(len(recs), "records, last step", recs[len(recs)-1].Step)
	// Output:
	// {"step":0,"epoch":0,"loss":2.3,"lambda_max":40,"lr":0.05}
	// {"step":10,"epoch":0,"loss":0.9,"lambda_max":41,"lr":0.05}
	// {"step":20,"epoch":0,"loss":"+Inf","lambda_max":42,"lr":0.05}
	// step,epoch,loss,lambda_max,lr
	// 0,0,2.3,40,0.05
	// 10,0,0.9,41,0.05
	// 20,0,+Inf,42,0.05
	// 2 records, last step 10
}
