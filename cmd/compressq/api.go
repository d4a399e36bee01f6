package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/compressq/compressq/configs"
	"github.com/compressq/compressq/producer"
)

func newAPICmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "api",
		Short: "Serve the JSON HTTP API (jobs: submit, status, results, list; sweeps: start, watch, steer, export)",
		Example: `  compressq api --redis-url redis://127.0.0.1:6379/0 --api-addr 127.0.0.1:8080
  curl -s -X POST --data-binary @job.json localhost:8080/v1/jobs`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withEnv(cmd, needProducer, func(e *env) error {
				ln, err := listenAPI(e)
				if err != nil {
					return err
				}
				e.log.Info("api listening", "addr", ln.Addr().String())
				return serveAPI(cmd.Context(), e, ln)
			})
		},
	}
	configs.BindRedisFlags(cmd.Flags())
	configs.BindArtifactFlags(cmd.Flags())
	configs.BindAPIFlags(cmd.Flags())
	return cmd
}

// listenAPI listens on api.addr.
func listenAPI(e *env) (net.Listener, error) {
	ln, err := net.Listen("tcp", e.cfg.API.Addr)
	if err != nil {
		return nil, fmt.Errorf("api.addr %q: %w", e.cfg.API.Addr, err)
	}
	return ln, nil
}

// serveAPI serves the HTTP API of e.p on ln until ctx ends.
func serveAPI(ctx context.Context, e *env, ln net.Listener) error {
	ctl, err := e.sweeps()
	if err != nil {
		return err
	}
	defer ctl.Close()
	h := producer.NewAPI(e.p, producer.APIOptions{MaxBodyBytes: e.cfg.API.MaxBodyBytes, Token: e.cfg.API.Token, ReadToken: e.cfg.API.ReadToken,
		Logger: e.log, Sweeps: ctl})
	return serveHTTP(ctx, ln, h, e.cfg.API)
}

// serveHTTP serves h on ln until ctx ends, then shuts down gracefully; over
// TLS when api.tls_cert_file and api.tls_key_file are set.
func serveHTTP(ctx context.Context, ln net.Listener, h http.Handler, api configs.API) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() {
		if api.TLSCertFile != "" {
			errc <- srv.ServeTLS(ln, api.TLSCertFile, api.TLSKeyFile)
			return
		}
		errc <- srv.Serve(ln)
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}
