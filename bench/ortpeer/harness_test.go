package ortpeer

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestBenchJS runs tools/ort/bench.js once on the PyTorch ResNet fixture
// (dynamic batch) and once on the zoo MNIST CNN (fixed batch 1) at a batch
// it cannot take: the first must report the input shape and a latency for
// the asked setting, the second must fail naming the fixed batch. It skips
// without node or onnxruntime-node, except under CI (which installs both).
func TestBenchJS(t *testing.T) {
	node, err := exec.LookPath("node")
	dir := filepath.Join("..", "..", "tools", "ort")
	if err == nil {
		_, err = os.Stat(filepath.Join(dir, "node_modules", "onnxruntime-node", "package.json"))
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("node or onnxruntime-node missing (CI is set: .ci/run should have installed them): %v", err)
		}
		t.Skipf("node or onnxruntime-node missing: %v", err)
	}
	fixture := filepath.Join("..", "..", "compress", "onnx", "testdata")
	out, err := exec.Command(node, filepath.Join(dir, "bench.js"), filepath.Join(fixture, "pytorch", "resnet.onnx"),
		"--batch", "3", "--threads", "2", "--time-ms", "1", "--min-runs", "2").Output()
	if err != nil {
		t.Fatalf("bench.js: %v", err)
	}
	var rep struct {
		Version string `json:"version"`
		Results []struct {
			InputName  string  `json:"input_name"`
			InputShape []int   `json:"input_shape"`
			Batch      int     `json:"batch"`
			Threads    int     `json:"threads"`
			Runs       int     `json:"runs"`
			P50        float64 `json:"p50_ns"`
			P99        float64 `json:"p99_ns"`
			Images     float64 `json:"images_per_sec"`
		} `json:"results"`
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("bench.js output %q: %v", out, err)
	}
	if len(rep.Results) != 1 {
		t.Fatalf("%d results, want 1: %s", len(rep.Results), out)
	}
	r := rep.Results[0]
	if r.InputName != "input" || !slices.Equal(r.InputShape, []int{1, 28, 28}) || r.Batch != 3 || r.Threads != 2 ||
		r.Runs < 2 || r.P50 <= 0 || r.P99 < r.P50 || r.Images <= 0 || rep.Version == "" {
		t.Fatalf("result %s", out)
	}
	cmd := exec.Command(node, filepath.Join(dir, "bench.js"), filepath.Join(fixture, "mnist-8", "model.onnx"), "--batch", "2", "--time-ms", "1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Run(); err == nil || !strings.Contains(stderr.String(), "fixed batch 1") {
		t.Fatalf("batch 2 of a fixed-batch-1 model: error %v, stderr %q", err, stderr.String())
	}
}
