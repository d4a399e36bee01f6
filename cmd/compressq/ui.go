package main

import (
	"net"

	"github.com/spf13/cobra"

	"github.com/compressq/compressq/internal/ui"
)

func newUICmd() *cobra.Command {
	var addr string
	cmd := &cobra.Command{
		Use:   "ui",
		Short: "Serve asynq's web UI (queues, tasks, workers) under /ui/",
		Long: `ui serves the asynq web dashboard for compressq's Redis. It can retry, archive and
delete tasks and has no authentication of its own: keep it on a loopback address or
behind an authenticating proxy.`,
		Example: "  compressq ui --redis-url redis://127.0.0.1:6379/0 --ui-addr 127.0.0.1:8081\n  open http://127.0.0.1:8081/ui/",
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
			e.log.Info("ui listening", "url", "http://"+ln.Addr().String()+"/ui/")
			return serveHTTP(cmd.Context(), ln, ui.Handler(rc, "/ui"))
		},
	}
	cmd.Flags().StringVar(&addr, "ui-addr", "127.0.0.1:8081", "listen address of the web UI")
	return cmd
}
