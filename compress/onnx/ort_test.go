package onnx

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// This file runs exported models on the other side: ONNX Runtime through
// the node harness in tools/ort (see its run.js), and the ONNX checker of
// the python3 onnx package. Both are found through PATH; a missing one
// skips the test, except under CI (the CI environment variable set), where
// it fails: .ci/run installs them.

// missing skips t, or fails it under CI.
func missing(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf(format+" (CI is set: .ci/run should have installed it)", args...)
	}
	t.Skipf(format+"; skipping", args...)
}

// ortHarness returns the node binary and the harness script, or skips.
func ortHarness(t *testing.T) (node, script string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		missing(t, "ONNX Runtime check: node not found on PATH")
	}
	dir, err := filepath.Abs(filepath.Join("..", "..", "tools", "ort"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "onnxruntime-node", "package.json")); err != nil {
		missing(t, "ONNX Runtime check: onnxruntime-node is not installed in tools/ort (run `npm ci --ignore-scripts` there)")
	}
	return node, filepath.Join(dir, "run.js")
}

// ortTensor is one tensor passed to or from the harness.
type ortTensor struct {
	Type string `json:"type"`
	Dims []int  `json:"dims"`
	File string `json:"file"`
	raw  []byte
}

func float32Input(dims []int, v []float32) ortTensor {
	raw := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(x))
	}
	return ortTensor{Type: "float32", Dims: dims, raw: raw}
}

// float32s decodes a float32 output.
func (o ortTensor) float32s(t *testing.T) []float32 {
	t.Helper()
	if o.Type != "float32" {
		t.Fatalf("output type %s, want float32", o.Type)
	}
	v := make([]float32, len(o.raw)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(o.raw[4*i:]))
	}
	return v
}

// runORT runs model in ONNX Runtime with threads intra-op threads and
// returns its outputs by name.
func runORT(t *testing.T, model []byte, inputs map[string]ortTensor, threads int) map[string]ortTensor {
	t.Helper()
	return runORTLevel(t, model, inputs, threads, "")
}

// runORTLevel is runORT with the session's graph optimization level
// ("disabled", "basic", "extended" or "all"; "" for all).
func runORTLevel(t *testing.T, model []byte, inputs map[string]ortTensor, threads int, level string) map[string]ortTensor {
	t.Helper()
	node, script := ortHarness(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "model.onnx"), model, 0o644); err != nil {
		t.Fatal(err)
	}
	req := struct {
		Model   string               `json:"model"`
		Threads int                  `json:"intraOpNumThreads"`
		Level   string               `json:"graphOptimizationLevel,omitempty"`
		Inputs  map[string]ortTensor `json:"inputs"`
	}{Model: "model.onnx", Threads: threads, Level: level, Inputs: map[string]ortTensor{}}
	for name, in := range inputs {
		in.File = "in_" + name + ".bin"
		if err := os.WriteFile(filepath.Join(dir, in.File), in.raw, 0o644); err != nil {
			t.Fatal(err)
		}
		req.Inputs[name] = in
	}
	b, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "request.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, script, filepath.Join(dir, "request.json"))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("ONNX Runtime: %v\n%s", err, stderr.String())
	}
	var resp struct {
		Outputs map[string]ortTensor `json:"outputs"`
	}
	if err := json.Unmarshal(stdout, &resp); err != nil {
		t.Fatalf("ONNX Runtime harness output %q: %v", stdout, err)
	}
	for name, o := range resp.Outputs {
		if o.raw, err = os.ReadFile(filepath.Join(dir, o.File)); err != nil {
			t.Fatal(err)
		}
		resp.Outputs[name] = o
	}
	return resp.Outputs
}

// onnxPython returns a python3 interpreter on PATH that can import onnx
// (the first python3 on PATH may be one without it), or skips.
func onnxPython(t *testing.T) string {
	t.Helper()
	seen := map[string]bool{}
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		p := filepath.Join(dir, "python3")
		if real, err := filepath.EvalSymlinks(p); err != nil || seen[real] {
			continue
		} else {
			seen[real] = true
		}
		if exec.Command(p, "-c", "import onnx.checker, onnx.shape_inference").Run() == nil {
			return p
		}
	}
	missing(t, "ONNX checker: no python3 on PATH can import onnx (install python3-onnx)")
	return ""
}

// checkONNX runs onnx.checker.check_model with full shape inference
// (full_check) on model and fails t if it reports a problem.
func checkONNX(t *testing.T, model []byte) {
	t.Helper()
	py := onnxPython(t)
	path := filepath.Join(t.TempDir(), "model.onnx")
	if err := os.WriteFile(path, model, 0o644); err != nil {
		t.Fatal(err)
	}
	const script = `import sys, onnx
m = onnx.load(sys.argv[1])
onnx.checker.check_model(m, full_check=True)
print(onnx.__version__)`
	out, err := exec.Command(py, "-c", script, path).CombinedOutput()
	if err != nil {
		t.Fatalf("onnx.checker.check_model(full_check=True): %v\n%s", err, out)
	}
}
