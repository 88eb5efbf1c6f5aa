package checkpoint_test

import (
	"encoding/json"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"gorgonia.org/tensor"

	"github.com/gradlab/gradlab/train/checkpoint"
)

func Example() {
	runDir, err := os.MkdirTemp("", "run")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(runDir)
	root := filepath.Join(runDir, "ckpt")

	for _, step := range []int{100, 200, 300} {
		w := tensor.New(tensor.WithShape(2, 2), tensor.WithBacking([]float32{1, 2, 3, float32(step)}))
		state := checkpoint.State{Step: step, Epoch: step / 150, ConfigHash: "demo"}
		if err := checkpoint.Save(root, step, map[string]*tensor.Dense{"fc.w": w}, state); err != nil {
			log.Fatal(err)
		}
		if err := checkpoint.Prune(root, 2); err != nil {
			log.Fatal(err)
		}
	}

	dir, ok, err := checkpoint.Latest(root)
	if err != nil || !ok {
		log.Fatal("no checkpoint", err)
	}
	tensors, raw, err := checkpoint.Load(dir)
	if err != nil {
		log.Fatal(err)
	}
	var st checkpoint.State
	if err := json.Unmarshal(raw, &st); err != nil {
		log.Fatal(err)
	}
	cks, _ := checkpoint.List(root)
	fmt.Println(filepath.Base(dir), "step", st.Step, "epoch", st.Epoch)
	fmt.Println("fc.w", tensors["fc.w"].Shape(), tensors["fc.w"].Data())
	fmt.Println("kept", len(cks), "checkpoints, oldest step", cks[0].Step)
	// Output:
	// step-300 step 300 epoch 2
	// fc.w (2, 2) [1 2 3 300]
	// kept 2 checkpoints, oldest step 200
}
