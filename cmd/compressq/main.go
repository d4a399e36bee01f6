// Command compressq is the one binary of compressq: worker, producer
// commands (submit, status, result, jobs), the HTTP API, local mode with an
// embedded Redis, and local runs of single tasks.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/compressq/compressq/configs"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := newRoot().ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "compressq:", err)
		var ue usageError
		if errors.As(err, &ue) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// usageError marks errors in how the command was called (exit code 2).
type usageError struct{ error }

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "compressq",
		Short: "A distributed job queue for neural-network compression",
		Long: `compressq queues prune, quantize, distill and architecture-search tasks in Redis
and runs them on horizontally scaled workers.

Start with:  compressq local          (embedded Redis, a worker pool and a demo job)`,
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	configs.BindFlags(root.PersistentFlags())
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(
		newWorkerCmd(),
		newSubmitCmd(), newStatusCmd(), newResultCmd(), newJobsCmd(),
		newAPICmd(),
		newLocalCmd(),
		newSweepCmd(),
		newUICmd(),
		newQuantizeCmd(), newTrainCmd(), newPruneCmd(), newSensitivityCmd(), newDistillCmd(),
		newExportCmd(),
		newArtifactCmd(),
		newDataCmd(), newEvalCmd(), newModelCmd(),
		newMigrateCmd(),
	)
	root.AddCommand(newOpsCmds()...)
	root.AddCommand(newBenchCmd())
	return root
}
