package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/compressq/compressq/configs"
	"github.com/compressq/compressq/internal/rdb"
)

func newMigrateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Rename job, sweep and sensitivity keys written by older versions to their hash-tagged names",
		Long: `migrate renames the Redis keys of jobs, sweeps and sensitivity runs that compressq
wrote before its keys carried Redis Cluster hash tags (compressq:job:<id> becomes
compressq:{<id>}:job, and so on), keeping values and expiry. Run it once, against the
single server that holds the old keys, after stopping the old workers and before
starting the new ones. Running it again renames nothing.`,
		Example: `  COMPRESSQ_REDIS_URL=redis://127.0.0.1:6379/0 compressq migrate`,
		Args:    usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withEnv(cmd, needRedis, func(e *env) error {
				rep, err := rdb.Migrate(cmd.Context(), e.rc)
				if err != nil {
					return err
				}
				_, err = fmt.Fprintf(cmd.OutOrStdout(), "renamed keys: %d job, %d sweep, %d sensitivity\n", rep.Jobs, rep.Sweeps, rep.Sensitivity)
				return err
			})
		},
	}
	configs.BindRedisFlags(cmd.Flags())
	return cmd
}
