package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/compressq/compressq/compress/nas"
	"github.com/compressq/compressq/internal/sweep"
)

// TestSweepCommands runs a small sweep with the table evaluator through the
// CLI: start, status, top, pareto with a plot, export.
func TestSweepCommands(t *testing.T) {
	common, root := startWorker(t)
	space := "space:\n  conv: {depth: [0, 1], channels: [4, 8], kernels: [3]}\n  dense: {depth: [1], widths: [16, 32, 64]}\n  compression: {weight_bits: [8, 32]}\n"
	// A table with a result for every genome of the space.
	spec, err := sweep.ParseSpec([]byte(space + "strategy: grid\nmax_trials: 1000\nevaluator: {type: table, table: x}\n"))
	if err != nil {
		t.Fatal(err)
	}
	g, _ := nas.New(spec.Config)
	all, err := g.Ask(1000)
	if err != nil {
		t.Fatal(err)
	}
	var csv strings.Builder
	csv.WriteString("hash,accuracy,params,bytes\n")
	for i, tr := range all {
		fmt.Fprintf(&csv, "%s,%v,%d,%d\n", tr.Candidate.Hash, 0.9+float64(i%7)/100, 1000+100*i, 4000+50*(i%5))
	}
	dir := t.TempDir()
	tableFile := filepath.Join(dir, "table.csv")
	os.WriteFile(tableFile, []byte(csv.String()), 0o644)
	table := strings.TrimSpace(cli(t, common, "artifact", "put", tableFile))

	// A table the store does not hold is refused before anything is
	// queued, naming the field, with the exit code of bad input.
	badFile := filepath.Join(dir, "bad.yaml")
	os.WriteFile(badFile, []byte(space+"id: bad-sweep\nstrategy: random\nmax_trials: 2\nevaluator: {type: table, table: \"file://"+root+"/none.csv\"}\n"), 0o644)
	_, err = run(t, append([]string{"sweep", "start", badFile}, common...)...)
	var ue usageError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "evaluator.table") || !strings.Contains(err.Error(), "no such artifact") {
		t.Fatalf("sweep start with a missing table: %v, want a usage error naming evaluator.table", err)
	}
	if out := cli(t, common, "sweep", "list"); strings.Contains(out, "bad-sweep") {
		t.Fatalf("a refused sweep is listed:\n%s", out)
	}

	specFile := filepath.Join(dir, "sweep.yaml")
	os.WriteFile(specFile, []byte(space+"id: cli-sweep\nstrategy: evolution\npopulation: 4\nsample: 2\nseed: 1\nmax_trials: 12\nconcurrency: 3\nevaluator: {type: table, table: \""+table+"\"}\n"), 0o644)
	if id := strings.TrimSpace(cli(t, common, "sweep", "start", specFile)); id != "cli-sweep" {
		t.Fatalf("sweep start printed %q", id)
	}
	var st struct {
		Status   string
		Progress struct{ Completed int }
	}
	for deadline := time.Now().Add(60 * time.Second); st.Status != "done"; {
		if err := json.Unmarshal([]byte(cli(t, common, "sweep", "status", "--json", "cli-sweep")), &st); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("sweep not done: %+v", st)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if st.Progress.Completed != 12 {
		t.Fatalf("%d trials completed, want 12", st.Progress.Completed)
	}
	if out := cli(t, common, "sweep", "status", "cli-sweep"); !strings.Contains(out, "12 completed, 0 failed, 0 pending") {
		t.Fatalf("status:\n%s", out)
	}
	if out := cli(t, common, "sweep", "top", "cli-sweep", "-n", "3"); strings.Count(out, "\n") != 4 || !strings.Contains(out, "ACCURACY") {
		t.Fatalf("top:\n%s", out)
	}
	plot := filepath.Join(dir, "front.png")
	if out := cli(t, common, "sweep", "pareto", "cli-sweep", "--plot", plot); !strings.Contains(out, "TRIAL") {
		t.Fatalf("pareto:\n%s", out)
	}
	if b, err := os.ReadFile(plot); err != nil || !strings.HasPrefix(string(b), "\x89PNG") {
		t.Fatalf("plot: %v", err)
	}
	exported := cli(t, common, "sweep", "export", "cli-sweep")
	if lines := strings.Count(exported, "\n"); lines != 13 {
		t.Fatalf("export has %d lines, want header + 12:\n%s", lines, exported)
	}
	if _, err := run(t, append([]string{"sweep", "resume", "cli-sweep"}, common...)...); err == nil {
		t.Fatal("a finished sweep was resumed")
	}
}
