package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/compressq/compressq/compress/packed"
	"github.com/compressq/compressq/compress/safetensors"
	"github.com/compressq/compressq/tasks"
)

// TestQuantizeEvalBenchInt8 runs the integer-only recipe from the command
// line and uses its artifact directly: `quantize --calibration` writes the
// integer model with its activation scales (format version 2), `eval`
// runs it in integers and measures the accuracy quantize reported for the
// integer path, and `bench` times its int8 plan — no calibration data
// after quantize.
func TestQuantizeEvalBenchInt8(t *testing.T) {
	dir := t.TempDir()
	common := []string{"--artifacts", filepath.Join(dir, "artifacts"), "--log-level", "warn"}
	set := filepath.Join(dir, "shades")
	writeFolders(t, set, 40, 10)
	arch := filepath.Join(dir, "arch.json")
	if err := os.WriteFile(arch, []byte(`{"name":"tiny","input":[1,4,4],"layers":[{"type":"conv2d","filters":3,"kernel":3,"pad":1},{"type":"relu"},{"type":"flatten"},{"type":"dense","units":2}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	model := filepath.Join(dir, "tiny.safetensors")
	cli(t, common, "train", "--arch", arch, "--data", set, "--epochs", "3", "--out", model)
	q := filepath.Join(dir, "tiny.int8.safetensors")
	var qr tasks.QuantizeResult
	if err := json.Unmarshal([]byte(cli(t, common, "quantize", "--model", model, "--calibration", "minmax", "--data", set, "--out", q, "--json")), &qr); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(q)
	if err != nil {
		t.Fatal(err)
	}
	c, err := packed.ReadCompressed(raw, safetensors.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Activations == nil || len(c.Activations.Tensors) != 2 {
		t.Fatalf("quantize wrote no activation table: %+v", c.Activations)
	}
	var ev tasks.EvalResult
	if err := json.Unmarshal([]byte(cli(t, common, "eval", "--model", q, "--data", set, "--json")), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Path != "int8" || ev.Accuracy != qr.AccuracyInt8 || ev.Samples != 10 {
		t.Fatalf("eval: path %q, accuracy %v on %d samples; quantize measured int8 %v", ev.Path, ev.Accuracy, ev.Samples, qr.AccuracyInt8)
	}
	if out := cli(t, common, "eval", "--model", q, "--data", set); !strings.Contains(out, "path      int8") {
		t.Errorf("eval output lacks the path:\n%s", out)
	}
	var rep benchReport
	if err := json.Unmarshal([]byte(cli(t, nil, "bench", "--model", q, "--batch", "1,3", "--threads", "1,2", "--time", "10ms", "--json")), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Format != "compressed" || rep.Path != "int8" || len(rep.Results) != 4 {
		t.Fatalf("bench report %+v", rep)
	}
	for _, r := range rep.Results {
		if r.Runs < 20 || r.P50Nanos <= 0 || len(r.Layers) != 3 || r.Layers[0].Kernel != "int8" || r.Layers[0].Rows != 3 || r.Layers[0].Cols != 9 {
			t.Errorf("batch %d threads %d: %+v", r.Batch, r.Threads, r)
		}
	}
	if err := json.Unmarshal([]byte(cli(t, nil, "bench", "--model", q, "--float", "--time", "10ms", "--kernel-time", "1ms", "--json")), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Path != "float32" {
		t.Fatalf("bench --float ran %q", rep.Path)
	}
}
