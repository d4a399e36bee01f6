package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/spf13/cobra"

	"github.com/compressq/compressq/compress/model"
	"github.com/compressq/compressq/compress/nn"
	"github.com/compressq/compressq/configs"
	"github.com/compressq/compressq/internal/rdb"
	"github.com/compressq/compressq/tasks"
	"github.com/compressq/compressq/worker"
)

func newLocalCmd() *cobra.Command {
	var serve bool
	cmd := &cobra.Command{
		Use:   "local",
		Short: "Run Redis, a worker pool and a demo job in one process",
		Long: `local runs everything in one process: an embedded Redis (unless --redis-url
names a real one), a worker pool, and a demo job that quantizes a generated
LeNet-300-100 model three ways, printing the results. With --serve it keeps
running afterwards and serves the HTTP API, so you can submit more jobs.

It logs where it listens: the worker's /metrics, /healthz and /readyz on
--http-addr and, with --serve, the API on --api-addr. Port 0 picks a free port.`,
		Example: `  compressq local --http-addr 127.0.0.1:0
  compressq local --serve --api-addr 127.0.0.1:8080`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withEnv(cmd, 0, func(e *env) error {
				if !e.cfg.Redis.Configured() {
					if err := e.startEmbeddedRedis(); err != nil {
						return err
					}
				}
				if err := e.open(cmd.Context(), needRedis|needStore|needProducer); err != nil {
					return err
				}
				return runLocal(cmd.Context(), e, cmd.OutOrStdout(), serve)
			})
		},
	}
	f := cmd.Flags()
	f.BoolVar(&serve, "serve", false, "keep running after the demo and serve the HTTP API")
	configs.BindRedisFlags(f)
	configs.BindArtifactFlags(f)
	configs.BindWorkerFlags(f)
	configs.BindAPIFlags(f)
	return cmd
}

// startEmbeddedRedis starts an in-process Redis, which e.close stops, and
// points the configuration at it.
func (e *env) startEmbeddedRedis() error {
	mr := miniredis.NewMiniRedis()
	if err := mr.Start(); err != nil {
		return fmt.Errorf("embedded redis: %w", err)
	}
	e.mr = mr
	e.cfg.Redis.URL = "redis://" + mr.Addr()
	e.log.Info("embedded redis started", "addr", mr.Addr())
	return nil
}

// runLocal runs a worker on e, submits the demo jobs and prints their
// results; with serve it then serves the API until ctx ends.
func runLocal(ctx context.Context, e *env, out io.Writer, serve bool) error {
	var apiLn net.Listener
	if serve {
		ln, err := listenAPI(e)
		if err != nil {
			return err
		}
		defer ln.Close()
		apiLn = ln
	}
	w, err := worker.New(worker.Options{Config: e.cfg, Redis: e.rc, Store: e.st, Logger: e.log})
	if err != nil {
		return err
	}
	defer w.Close()
	// A worker that fails (its address taken) ends the demo with its error
	// instead of leaving it waiting for jobs nobody runs.
	ctx, fail := context.WithCancelCause(ctx)
	defer fail(nil)
	wctx, stopWorker := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := w.Run(wctx); err != nil {
			if errors.Is(err, syscall.EADDRINUSE) {
				err = fmt.Errorf("%w (--http-addr 127.0.0.1:0 picks a free port)", err)
			}
			fail(fmt.Errorf("worker: %w", err))
		}
	})
	defer wg.Wait()
	defer stopWorker()
	metrics, err := metricsURL(ctx, e, w)
	if err != nil {
		return err
	}
	apiURL := "off (--serve serves it)"
	if apiLn != nil {
		apiURL = "http://" + apiLn.Addr().String()
	}
	e.log.Info("local mode listening", "metrics", metrics, "api", apiURL)

	p, st := e.p, e.st
	data, err := demoModel(1)
	if err != nil {
		return err
	}
	uri, err := st.Put(ctx, bytes.NewReader(data), ".safetensors")
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "demo model: LeNet-300-100 (generated weights, %d bytes)\n  %s\n\n", len(data), uri)
	type variant struct {
		name string
		p    tasks.QuantizePayload
	}
	variants := []variant{
		{"int8 per-channel", tasks.QuantizePayload{Bits: 8, Granularity: tasks.PerChannel}},
		{"int8 per-tensor", tasks.QuantizePayload{Bits: 8, Granularity: tasks.PerTensor}},
		{"int4 per-channel", tasks.QuantizePayload{Bits: 4, Granularity: tasks.PerChannel}},
	}
	ids := make([]string, len(variants))
	for i, v := range variants {
		v.p.V, v.p.Model = tasks.Version, uri
		raw, err := tasks.Marshal(&v.p)
		if err != nil {
			return err
		}
		ids[i], err = p.Submit(ctx, &tasks.JobSpec{Name: "demo " + v.name, Type: tasks.TypeQuantize, Payload: raw})
		if err != nil {
			return err
		}
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "JOB\tSCHEME\tSTATUS\tBYTES AFTER\tRATIO\tWORST max|err|/bound")
	var first *tasks.QuantizeResult
	for i, id := range ids {
		s, err := waitJob(ctx, p, id, 100*time.Millisecond)
		if err != nil {
			return cmp.Or(context.Cause(ctx), err)
		}
		if s.Status != rdb.StatusSucceeded {
			fmt.Fprintf(tw, "%s\t%s\t%s\t\t\t%s\n", id, variants[i].name, s.Status, s.Error)
			continue
		}
		var r tasks.QuantizeResult
		if err := json.Unmarshal(s.Results[0], &r); err != nil {
			return err
		}
		worst := 0.0
		for _, t := range r.Tensors {
			if t.Bound > 0 {
				worst = max(worst, t.MaxAbs/t.Bound)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%.2f×\t%.3f\n", id, variants[i].name, s.Status, r.BytesAfter, r.Ratio, worst)
		if first == nil {
			first = &r
		}
	}
	tw.Flush()
	if first != nil {
		fmt.Fprintln(out, "\nper tensor, int8 per-channel:")
		printQuantizeResult(out, first)
	}
	if !serve {
		return nil
	}
	fmt.Fprintf(out, "\nmetrics: %s\nserving the API on %s (Ctrl-C to stop)\n", metrics, apiURL)
	return serveAPI(ctx, e, apiLn)
}

// metricsURL waits until the worker listens and returns its /metrics URL,
// or says the endpoint is off; it returns ctx's cause if ctx ends first.
func metricsURL(ctx context.Context, e *env, w *worker.Worker) (string, error) {
	if e.cfg.Worker.HTTPAddr == "" {
		return "off (worker.http_addr is empty)", nil
	}
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for w.HTTPAddr() == "" {
		select {
		case <-ctx.Done():
			return "", context.Cause(ctx)
		case <-t.C:
		}
	}
	return "http://" + w.HTTPAddr() + "/metrics", nil
}

// demoModel generates a LeNet-300-100 with freshly initialised weights as a
// model file (safetensors with the architecture in its metadata).
func demoModel(seed int64) ([]byte, error) {
	arch, err := nn.ArchByName("lenet-300-100")
	if err != nil {
		return nil, err
	}
	net, err := nn.Build(arch, seed)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := model.Save(&buf, net); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
