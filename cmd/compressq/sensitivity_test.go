package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/compressq/compressq/internal/mnist"
	"github.com/compressq/compressq/tasks"
)

// TestSensitivityCommand submits a sensitivity analysis of a local model
// file to a worker, waits for the report, writes it and a plot, and checks
// that --local, without Redis, measures the same curves.
func TestSensitivityCommand(t *testing.T) {
	common, _ := startWorker(t)
	dir := t.TempDir()
	m, err := demoModel(4)
	if err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(dir, "lenet.safetensors")
	if err := os.WriteFile(in, m, 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"sensitivity", in, "--data", mnistDir(t), "--levels", "0.5,0.9", "--eval-size", "300", "--target", "0.6"}
	out := cli(t, common, append(args, "--wait", "--out", filepath.Join(dir, "report.json"), "--plot", filepath.Join(dir, "curves.svg"))...)
	for _, want := range []string{"baseline", "layers.1.weight", "layers.5.weight", "choice for target 0.6"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	var queued, local tasks.SensitivityResult
	b, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &queued); err != nil {
		t.Fatal(err)
	}
	if svg, err := os.ReadFile(filepath.Join(dir, "curves.svg")); err != nil || !strings.Contains(string(svg), "<svg") {
		t.Errorf("plot: %v", err)
	}
	if !strings.HasSuffix(queued.Plot, ".svg") || queued.Artifact == "" {
		t.Errorf("stored report %q, plot %q", queued.Artifact, queued.Plot)
	}
	out = cli(t, common, append(args, "--local", "--json")...)
	if err := json.Unmarshal([]byte(out), &local); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if !reflect.DeepEqual(local.Curves, queued.Curves) || local.Baseline != queued.Baseline || !reflect.DeepEqual(local.Choice, queued.Choice) {
		t.Errorf("--local %+v\nqueued %+v", local, queued)
	}
	if _, err := run(t, append([]string{"sensitivity", in, "--levels", "0.5,1.5", "--wait"}, common...)...); err == nil || !strings.Contains(err.Error(), "levels[1]: 1.5 out of range") {
		t.Errorf("level 1.5: %v", err)
	}
	if _, err := run(t, append([]string{"sensitivity", in, "--plot", "x.gif", "--wait"}, common...)...); err == nil || !strings.Contains(err.Error(), "--plot") {
		t.Errorf("--plot x.gif: %v", err)
	}
}

// mnistDir writes MNIST's IDX files (as `compressq data mnist` does) to a
// directory for the test.
func mnistDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "mnist")
	if _, err := mnist.Write(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	return dir
}
