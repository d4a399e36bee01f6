package main

import (
	"github.com/spf13/cobra"

	"github.com/compressq/compressq/configs"
	"github.com/compressq/compressq/worker"
)

func newWorkerCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Run a worker process that pulls tasks from Redis",
		Example: `  compressq worker --redis-url redis://127.0.0.1:6379/0 --concurrency 2
  COMPRESSQ_WORKER_QUEUES=critical=6,default=3 compressq worker --config prod.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withEnv(cmd, needRedis|needStore, func(e *env) error {
				e.log.Info("config", "config", e.cfg.Redacted())
				w, err := worker.New(worker.Options{Config: e.cfg, Redis: e.rc, Store: e.st, Logger: e.log})
				if err != nil {
					return err
				}
				defer w.Close()
				return w.Run(cmd.Context())
			})
		},
	}
	configs.BindRedisFlags(cmd.Flags())
	configs.BindArtifactFlags(cmd.Flags())
	configs.BindWorkerFlags(cmd.Flags())
	return cmd
}
