package main

import (
	"net"

	"github.com/spf13/cobra"

	"github.com/compressq/compressq/internal/sweep"
	"github.com/compressq/compressq/internal/ui"
	"github.com/compressq/compressq/worker"
)

func newUICmd() *cobra.Command {
	var addr string
	cmd := &cobra.Command{
		Use:   "ui",
		Short: "Serve the web UI: queues, tasks and workers under /ui/, sweeps under /sweeps/",
		Long: `ui serves asynq's web dashboard for compressq's Redis under /ui/ and compressq's
sweep pages (progress, best trials, Pareto front) under /sweeps/. The dashboard can
retry, archive and delete tasks and has no authentication of its own: keep it on a
loopback address or behind an authenticating proxy.`,
		Example: "  compressq ui --redis-url redis://127.0.0.1:6379/0 --ui-addr 127.0.0.1:8081\n  open http://127.0.0.1:8081/ui/ http://127.0.0.1:8081/sweeps/",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			e, err := loadEnv(cmd)
			if err != nil {
				return err
			}
			defer e.close()
			rc, err := e.redis()
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return usageError{err}
			}
			ctl := sweep.New(rc, e.cfg.Jobs.StateTTL, worker.Defaults(e.cfg))
			defer ctl.Close()
			e.log.Info("ui listening", "url", "http://"+ln.Addr().String()+"/ui/", "sweeps", "http://"+ln.Addr().String()+"/sweeps/")
			return serveHTTP(cmd.Context(), ln, ui.Mux(rc, ctl))
		},
	}
	cmd.Flags().StringVar(&addr, "ui-addr", "127.0.0.1:8081", "listen address of the web UI")
	return cmd
}
