// Command gradlab runs, checks and extends the training-dynamics studies
// registered in the experiments package.
//
//	gradlab list
//	gradlab run NAME [--preset small|full] [--config FILE] [--set key=value ...] [--out DIR] [--device cpu|cuda] [--resume]
//	gradlab version
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/gradlab/gradlab/internal/openblas"
	"github.com/gradlab/gradlab/train"
)

func main() {
	openblas.Enable()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmd := newRootCmd(os.Stdout, os.Stderr, os.Environ())
	err := cmd.ExecuteContext(ctx)
	if err == nil {
		return
	}
	fmt.Fprintln(os.Stderr, "gradlab:", err)
	if errors.Is(err, train.ErrInterrupted) {
		os.Exit(130)
	}
	os.Exit(1)
}
