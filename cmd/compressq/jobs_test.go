package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/compressq/compressq/configs"
	"github.com/compressq/compressq/internal/artifact"
	"github.com/compressq/compressq/internal/rdb"
	"github.com/compressq/compressq/internal/redistest"
	"github.com/compressq/compressq/worker"
)

// startWorker runs a worker on a fresh redis-server for the test, points
// the CLI at them through COMPRESSQ_REDIS_URL and COMPRESSQ_ARTIFACTS_ROOT
// (as a user's shell would, since not every command takes both flags), and
// returns the flags every command takes.
func startWorker(t *testing.T) (common []string, dir string) {
	t.Helper()
	srv := redistest.Start(t)
	dir = t.TempDir()
	cfg := configs.Default()
	cfg.Redis.URL, cfg.Artifacts.Root, cfg.Worker.HTTPAddr, cfg.Log.Level = srv.URL(), dir, "", "warn"
	rc, err := rdb.Open(cfg.Redis)
	if err != nil {
		t.Fatal(err)
	}
	st, err := artifact.Open(context.Background(), dir, nil, cfg.Artifacts.MaxBytes)
	if err != nil {
		t.Fatal(err)
	}
	w, err := worker.New(worker.Options{Config: cfg, Redis: rc, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { w.Run(ctx) })
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		w.Close()
		st.Close()
		rc.Close()
	})
	t.Setenv("COMPRESSQ_REDIS_URL", srv.URL())
	t.Setenv("COMPRESSQ_ARTIFACTS_ROOT", dir)
	return []string{"--log-level", "warn"}, dir
}

// cli runs the CLI with args followed by common and fails the test on error.
func cli(t *testing.T, common []string, args ...string) string {
	t.Helper()
	out, err := run(t, append(args, common...)...)
	if err != nil {
		t.Fatalf("compressq %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// TestJobCommands drives submit, status, result, jobs and artifact put
// against a real redis-server with a worker running.
func TestJobCommands(t *testing.T) {
	common, _ := startWorker(t)
	cli := func(args ...string) string {
		t.Helper()
		return cli(t, common, args...)
	}
	model, err := demoModel(5)
	if err != nil {
		t.Fatal(err)
	}
	modelFile := filepath.Join(t.TempDir(), "m.safetensors")
	if err := os.WriteFile(modelFile, model, 0o644); err != nil {
		t.Fatal(err)
	}
	uri := strings.TrimSpace(cli("artifact", "put", modelFile))
	if !strings.HasPrefix(uri, "file://") || !strings.HasSuffix(uri, ".safetensors") {
		t.Fatalf("artifact put printed %q", uri)
	}
	spec := filepath.Join(t.TempDir(), "job.yaml")
	yaml := "name: cli\nid: cli-job\noptions: {priority: high}\ntype: compress:quantize\npayload: {v: 1, model: \"" + uri + "\", bits: 8, granularity: per-channel}\n"
	if err := os.WriteFile(spec, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	out := cli("submit", "--wait", spec)
	if !strings.Contains(out, "layers.1.weight") || !strings.Contains(out, "× smaller") {
		t.Fatalf("submit --wait printed:\n%s", out)
	}
	if out := cli("status", "cli-job"); !strings.Contains(out, "succeeded") || !strings.Contains(out, "1 of 1") {
		t.Fatalf("status printed:\n%s", out)
	}
	var results []map[string]any
	if err := json.Unmarshal([]byte(cli("result", "--json", "cli-job")), &results); err != nil || len(results) != 1 || results[0]["artifact"] == "" {
		t.Fatalf("result --json: %v %v", results, err)
	}
	if out := cli("jobs"); !strings.Contains(out, "cli-job") || !strings.Contains(out, "succeeded") {
		t.Fatalf("jobs printed:\n%s", out)
	}
	// Bad specs are usage errors naming the field.
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("type: compress:quantize\npayload: {v: 1, bits: 9}\n"), 0o644)
	if _, err := run(t, append([]string{"submit", bad}, common...)...); err == nil || !strings.Contains(err.Error(), "steps[0].payload.bits") {
		t.Fatalf("bad spec: %v", err)
	}
}
