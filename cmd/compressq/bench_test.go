package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBenchCommand runs `compressq bench` on a LeNet-300-100 file at two
// batch sizes and two thread counts and checks the JSON report and the
// text one.
func TestBenchCommand(t *testing.T) {
	dir := t.TempDir()
	raw, err := demoModel(3)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "m.safetensors")
	if err := os.WriteFile(file, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, "bench", "--model", file, "--batch", "1,4", "--threads", "1,2", "--time", "20ms", "--kernel-time", "1ms", "--json")
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, out)
	}
	var rep benchReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if rep.Format != "safetensors" || len(rep.Results) != 4 || !strings.Contains(rep.InputData, "random") {
		t.Fatalf("report %+v", rep)
	}
	for _, r := range rep.Results {
		if r.Runs < 20 || r.P50Nanos <= 0 || r.P99Nanos < r.P50Nanos || r.ImagesPerSec <= 0 {
			t.Errorf("batch %d threads %d: %+v", r.Batch, r.Threads, r)
		}
		weights := 0
		for _, l := range r.Layers {
			if l.Rows > 0 {
				weights++
				if l.Kernel != "dense" {
					t.Errorf("dense weights ran %s", l.Kernel)
				}
			}
		}
		if weights != 3 {
			t.Errorf("%d layers with weights reported, want 3", weights)
		}
	}
	out, err = run(t, "bench", "--model", file, "--batch", "2", "--time", "10ms", "--kernel-time", "1ms")
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, out)
	}
	for _, want := range []string{"batch 2, threads 1: p50", "images/s", "fused into 1", "300×784"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestBenchBadInput checks that bench refuses bad settings naming the flag,
// and passes on the loaders' error for a file they refuse.
func TestBenchBadInput(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.onnx")
	if err := os.WriteFile(bad, []byte("not a model at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"bench"}, "--model: required"},
		{[]string{"bench", "--model", bad, "--batch", "0"}, "--batch: 0"},
		{[]string{"bench", "--model", bad, "--threads", "1,-2"}, "--threads: -2"},
		{[]string{"bench", "--model", bad, "--kernels", "coo"}, `unknown kernel "coo"`},
		{[]string{"bench", "--model", bad}, "not a model file compressq reads"},
		{[]string{"bench", "--model", filepath.Join(dir, "missing")}, "no such file"},
	} {
		if _, err := run(t, c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want one containing %q", c.args, err, c.want)
		}
	}
}
