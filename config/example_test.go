package config_test

import (
	"fmt"
	"os"

	"github.com/gradlab/gradlab/config"
)

func Example() {
	schema := config.MustSchema(
		config.Param{Key: "epochs", Default: 10, Help: "number of training epochs"},
		config.Param{Key: "batch_size", Default: 32, Help: "mini-batch size"},
		config.Param{Key: "optim.lr", Default: 0.1, Help: "learning rate"},
		config.Param{Key: "model.widths", Default: []int{64}, Help: "hidden widths"},
	)
	cfg, err := schema.Resolve(config.Sources{
		Preset: map[string]any{"epochs": 2},
		Env:    []string{"GRADLAB_BATCH_SIZE=128", "GRADLAB_DATA_DIR=/data", "HOME=/root"},
		Sets:   []string{"optim.lr=1e-3", "model.widths=[256, 128]"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, k := range cfg.Keys() {
		fmt.Printf("%-13s %-10s from %s\n", k, fmt.Sprint(cfg.Get(k)), cfg.Source(k))
	}
	y, _ := cfg.YAML()
	os.Stdout.Write(y)

	_, err = schema.Resolve(config.Sources{Sets: []string{"optim.lrr=0.1", "epochs=1.5"}})
	fmt.Println(err)
	// Output:
	// batch_size    128        from env
	// epochs        2          from preset
	// model.widths  [256 128]  from set
	// optim.lr      0.001      from set
	// batch_size: 128 # mini-batch size
	// epochs: 2 # number of training epochs
	// model:
	//   widths: [256, 128] # hidden widths
	// optim:
	//   lr: 0.001 # learning rate
	// config: 2 problems:
	//   - --set "optim.lrr=0.1": unknown key "optim.lrr" (did you mean "optim.lr"?)
	//   - --set "epochs=1.5": key "epochs": invalid value: expected int, got "1.5": not an integer
	// accepted keys: batch_size, epochs, model.widths, optim.lr
}
