package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestModelInspect inspects a PyTorch ONNX export and a model file, and
// checks that an ONNX model with ops compressq lacks is refused naming them.
func TestModelInspect(t *testing.T) {
	resnet := filepath.Join("..", "..", "compress", "onnx", "testdata", "pytorch", "resnet.onnx")
	out, err := run(t, "model", "inspect", resnet, "--json")
	if err != nil {
		t.Fatalf("inspect: %v\n%s", err, out)
	}
	var info modelInfo
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		t.Fatal(err)
	}
	adds := 0
	for _, l := range info.Layers {
		if l.Type == "add" {
			adds++
		}
	}
	if info.Format != "onnx" || strings.Trim(strings.Join(strings.Fields(dims(info.Input)), " "), " ") != "1 28 28" || adds != 2 || info.MACs != 6_535_744 {
		t.Errorf("resnet: %+v", info)
	}
	text, err := run(t, "model", "inspect", resnet)
	if err != nil || !strings.Contains(text, "6,535,744 MACs per sample") || !strings.Contains(text, "globalavgpool") {
		t.Errorf("text: %v\n%s", err, text)
	}

	dir := t.TempDir()
	m, err := demoModel(3)
	if err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(dir, "m.safetensors")
	if err := os.WriteFile(in, m, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := run(t, "model", "inspect", in); err != nil || !strings.Contains(out, "safetensors") || !strings.Contains(out, "dense") {
		t.Errorf("safetensors: %v\n%s", err, out)
	}
	// A compressed artifact also says where its bytes go, and the figures
	// add up to the file.
	q := filepath.Join(dir, "m8.cq.safetensors")
	if out, err := run(t, "quantize", "--model", in, "--bits", "8", "--out", q); err != nil {
		t.Fatalf("quantize: %v\n%s", err, out)
	}
	out, err = run(t, "model", "inspect", q, "--json")
	if err != nil {
		t.Fatalf("inspect artifact: %v\n%s", err, out)
	}
	info = modelInfo{}
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		t.Fatal(err)
	}
	st, statErr := os.Stat(q)
	if statErr != nil {
		t.Fatal(statErr)
	}
	if info.Format != "compressed" || info.Storage == nil || info.Storage.TotalBytes != st.Size() ||
		info.Storage.HeaderBytes+info.Storage.DataBytes != st.Size() || info.Storage.Ratio() < 2 {
		t.Errorf("artifact storage: %+v (file %d bytes)", info.Storage, st.Size())
	}
	if text, err := run(t, "model", "inspect", q); err != nil || !strings.Contains(text, "storage:") || !strings.Contains(text, "(header)") {
		t.Errorf("artifact text: %v\n%s", err, text)
	}

	// The zoo model with its Relu ops renamed to an op compressq lacks.
	zoo, err := os.ReadFile(filepath.Join("..", "..", "compress", "onnx", "testdata", "mnist-8", "model.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.onnx")
	if err := os.WriteFile(bad, []byte(strings.ReplaceAll(string(zoo), "\x22\x04Relu", "\x22\x04Celu")), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, "model", "inspect", bad); err == nil || !strings.Contains(err.Error(), `unsupported ops: Celu (nodes "ReLU114", "ReLU32")`) {
		t.Errorf("unsupported model: error %v", err)
	}
}
