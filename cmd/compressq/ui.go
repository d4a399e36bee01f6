package main

import (
	"net"

	"github.com/spf13/cobra"

	"github.com/compressq/compressq/configs"
	"github.com/compressq/compressq/internal/auth"
	"github.com/compressq/compressq/internal/ui"
)

func newUICmd() *cobra.Command {
	var addr string
	cmd := &cobra.Command{
		Use:   "ui",
		Short: "Serve the web UI: queues, tasks and workers under /ui/, sweeps under /sweeps/",
		Long: `ui serves asynq's web dashboard for compressq's Redis under /ui/ and compressq's
sweep pages (progress, optimisation history, Pareto front, parallel coordinates,
parameter importance, each trial's learning curve and checkpoints) under /sweeps/. With api.read_token or
api.token set, every page needs a token (the browser asks for it: any user name, the token
as password) and the dashboard's actions (pause, retry, archive, delete) need api.token.
Without tokens keep it on a loopback address or behind an authenticating proxy.`,
		Example: "  compressq ui --redis-url redis://127.0.0.1:6379/0 --ui-addr 127.0.0.1:8081\n  open http://127.0.0.1:8081/ui/ http://127.0.0.1:8081/sweeps/",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withEnv(cmd, needRedis, func(e *env) error {
				ln, err := net.Listen("tcp", addr)
				if err != nil {
					return usageError{err}
				}
				ctl, err := e.sweeps()
				if err != nil {
					return err
				}
				defer ctl.Close()
				base := "http://" + ln.Addr().String()
				if e.cfg.API.TLSCertFile != "" {
					base = "https://" + ln.Addr().String()
				}
				e.log.Info("ui listening", "url", base+"/ui/", "sweeps", base+"/sweeps/")
				// The trial pages list checkpoints from the store; without
				// one they say so.
				st, err := e.store(cmd.Context())
				if err != nil {
					e.log.Warn("artifact store not reachable: trial pages list no checkpoints", "error", err)
					st = nil
				}
				tokens := auth.Tokens{Submit: e.cfg.API.Token, Read: e.cfg.API.ReadToken}
				if !tokens.Enabled() {
					e.log.Warn("ui has no token (api.token, api.read_token): anyone who reaches it can delete tasks")
				}
				return serveHTTP(cmd.Context(), ln, auth.Guard(ui.Mux(e.rc, ctl, st), tokens, true, nil), e.cfg.API)
			})
		},
	}
	configs.BindRedisFlags(cmd.Flags())
	cmd.Flags().StringVar(&addr, "ui-addr", "127.0.0.1:8081", "listen address of the web UI")
	return cmd
}
