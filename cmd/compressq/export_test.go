package main

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/compressq/compressq/compress/onnx"
	"github.com/compressq/compressq/tasks"
)

// TestExportCommand exports the demo model as float ONNX and its int8
// artifact as QDQ, and checks the refusals.
func TestExportCommand(t *testing.T) {
	dir := t.TempDir()
	model, err := demoModel(3)
	if err != nil {
		t.Fatal(err)
	}
	in := dir + "/m.safetensors"
	if err := os.WriteFile(in, model, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, "export", "--model", in, "--format", "onnx", "--out", dir+"/m.onnx", "--mean", "0.5", "--std", "0.25", "--json")
	if err != nil {
		t.Fatalf("export: %v\n%s", err, out)
	}
	var res tasks.ExportResult
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.Form != "float" || res.Source != "float" {
		t.Fatalf("result %+v (%v) from:\n%s", res, err, out)
	}
	b, err := os.ReadFile(dir + "/m.onnx")
	if err != nil {
		t.Fatal(err)
	}
	meta, err := onnx.Metadata(b)
	if err != nil || int64(len(b)) != res.Bytes || meta[onnx.MetaMean] != "0.5" || meta[onnx.MetaStd] != "0.25" {
		t.Fatalf("%d bytes (result %d), metadata %v, %v", len(b), res.Bytes, meta, err)
	}

	if out, err := run(t, "quantize", "--model", in, "--bits", "8", "--out", dir+"/m8.cq.safetensors"); err != nil {
		t.Fatalf("quantize: %v\n%s", err, out)
	}
	if out, err = run(t, "export", "--model", dir+"/m8.cq.safetensors", "--form", "qdq", "--out", dir+"/m8.onnx"); err != nil || !strings.Contains(out, "qdq ONNX of a weight-only int8 model") {
		t.Fatalf("qdq export: %v\n%s", err, out)
	}

	// A form the model cannot take is refused by the recipe, naming the field.
	if _, err := run(t, "export", "--model", in, "--form", "qdq", "--out", dir+"/x.onnx"); err == nil || !strings.Contains(err.Error(), "form: qdq of a model without int8/int4 weights needs calibration data") {
		t.Errorf("qdq of a float model: error %v", err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--model", in, "--form", "qoperator"}, "form qoperator needs a calibration data set"},
		{[]string{"--model", in, "--format", "tflite"}, "format"},
		{[]string{"--model", in, "--mean", "0.5"}, "std"},
	} {
		_, err := run(t, append(append([]string{"export"}, tc.args...), "--out", dir+"/x.onnx")...)
		var ue usageError
		if err == nil || !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want a usage error mentioning %q", tc.args, err, tc.want)
		}
	}
}
