package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/spf13/cobra"

	"github.com/compressq/compressq/compress/model"
	"github.com/compressq/compressq/compress/nn"
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
running afterwards and serves the HTTP API, so you can submit more jobs.`,
		Example: `  compressq local
  compressq local --serve --api-addr 127.0.0.1:8080`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			e, err := loadEnv(cmd)
			if err != nil {
				return err
			}
			if !e.cfg.Redis.Configured() {
				mr := miniredis.NewMiniRedis()
				if err := mr.Start(); err != nil {
					return fmt.Errorf("embedded redis: %w", err)
				}
				defer mr.Close()
				e.cfg.Redis.URL = "redis://" + mr.Addr()
				e.log.Info("embedded redis started", "addr", mr.Addr())
			}
			if a := e.cfg.Worker.HTTPAddr; a != "" && !canListen(a) {
				e.log.Warn("worker.http_addr in use; serving metrics on a free port instead", "addr", a)
				e.cfg.Worker.HTTPAddr = "127.0.0.1:0"
			}
			defer e.close()
			return runLocal(cmd.Context(), e, cmd.OutOrStdout(), serve)
		},
	}
	cmd.Flags().BoolVar(&serve, "serve", false, "keep running after the demo and serve the HTTP API")
	return cmd
}

func canListen(addr string) bool {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

func runLocal(ctx context.Context, e *env, out io.Writer, serve bool) error {
	rc, err := e.redis()
	if err != nil {
		return err
	}
	st, err := e.store(ctx)
	if err != nil {
		return err
	}
	p, err := e.producer()
	if err != nil {
		return err
	}
	w, err := worker.New(worker.Options{Config: e.cfg, Redis: rc, Store: st, Logger: e.log})
	if err != nil {
		return err
	}
	defer w.Close()
	wctx, stopWorker := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := w.Run(wctx); err != nil {
			e.log.Error("worker", "error", err)
		}
	})
	defer wg.Wait()
	defer stopWorker()

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
			return err
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
	if addr := w.HTTPAddr(); addr != "" {
		fmt.Fprintf(out, "\nmetrics: http://%s/metrics\n", addr)
	}
	fmt.Fprintf(out, "serving the API on http://%s (Ctrl-C to stop)\n", e.cfg.API.Addr)
	return serveAPI(ctx, e, p)
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
