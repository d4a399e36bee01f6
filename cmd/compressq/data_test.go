package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/compressq/compressq/tasks"
)

// writeFolders writes an image-folder data set of 4x4 gray PNGs: class
// "dark" around 40, class "light" around 200.
func writeFolders(t *testing.T, dir string, train, test int) {
	t.Helper()
	for _, split := range []struct {
		name string
		n    int
	}{{"train", train}, {"test", test}} {
		for i := 0; i < split.n; i++ {
			class, v := "dark", 40+i%20
			if i%2 == 1 {
				class, v = "light", 200-i%20
			}
			g := image.NewGray(image.Rect(0, 0, 4, 4))
			for j := range g.Pix {
				g.Pix[j] = uint8(v + j)
			}
			var buf bytes.Buffer
			if err := png.Encode(&buf, g); err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(dir, split.name, class, fmt.Sprintf("%03d.png", i))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestDataTrainEval puts an image-folder data set into the store, inspects
// it, trains on its URI, and evaluates the model on the directory: the
// transform train computed is recorded and reused by eval.
func TestDataTrainEval(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "artifacts")
	common := []string{"--artifacts", root, "--log-level", "warn"}
	set := filepath.Join(dir, "shades")
	writeFolders(t, set, 40, 10)

	uri := strings.TrimSpace(cli(t, common, "data", "put", set))
	if !strings.HasPrefix(uri, "file://"+root) || !strings.HasSuffix(uri, ".zip") {
		t.Fatalf("data put printed %q", uri)
	}
	var info dataInfo
	if err := json.Unmarshal([]byte(cli(t, common, "data", "inspect", uri, "--json")), &info); err != nil {
		t.Fatal(err)
	}
	if info.Layout != "image-folders" || info.Train != 40 || info.Test != 10 || info.Classes != 2 ||
		fmt.Sprint(info.Shape) != "[1 4 4]" || fmt.Sprint(info.Names) != "[dark light]" || fmt.Sprint(info.Counts) != "[[20 20] [5 5]]" {
		t.Fatalf("inspect: %+v", info)
	}
	arch := filepath.Join(dir, "arch.json")
	if err := os.WriteFile(arch, []byte(`{"name":"tiny","input":[1,4,4],"layers":[{"type":"flatten"},{"type":"dense","units":2}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	model := filepath.Join(dir, "tiny.safetensors")
	var tr tasks.TrainResult
	if err := json.Unmarshal([]byte(cli(t, common, "train", "--arch", arch, "--data", uri, "--epochs", "5", "--out", model, "--json")), &tr); err != nil {
		t.Fatal(err)
	}
	if len(tr.Mean) != 1 || fmt.Sprint(tr.Mean) != fmt.Sprint(info.Mean) || fmt.Sprint(tr.Std) != fmt.Sprint(info.Std) {
		t.Fatalf("train recorded mean %v std %v; the training split has %v %v", tr.Mean, tr.Std, info.Mean, info.Std)
	}
	var ev tasks.EvalResult
	if err := json.Unmarshal([]byte(cli(t, common, "eval", "--model", model, "--data", set, "--json")), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Accuracy != tr.Accuracy || ev.Samples != 10 || len(ev.PerClass) != 2 || fmt.Sprint(ev.Mean) != fmt.Sprint(tr.Mean) {
		t.Fatalf("eval %+v; train measured %v", ev, tr.Accuracy)
	}
	// --std overrides the recorded transform.
	if err := json.Unmarshal([]byte(cli(t, common, "eval", "--model", model, "--data", set, "--mean", "0", "--std", "0.00392157", "--json")), &ev); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(ev.Std) != "[0.00392157]" {
		t.Fatalf("override: std %v", ev.Std)
	}

	// Bad input: each error names the file or the URI and the reason.
	writeFolders(t, filepath.Join(dir, "bad"), 4, 2)
	if err := os.MkdirAll(filepath.Join(dir, "bad", "train", "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(t.TempDir(), "x.zip")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"data", "put", filepath.Join(dir, "bad")}, "bad/train/empty: empty class folder"},
		{[]string{"eval", "--model", model, "--data", "file://" + outside}, "outside the artifact roots"},
		{[]string{"eval", "--model", model, "--data", set, "--mean", "0,0", "--std", "1,1"}, "mean has 2 values, want 1 or 1 (one per channel)"},
		{[]string{"train", "--arch", arch, "--data", set, "--std", "0", "--mean", "0", "--out", model}, "std[0]"},
	} {
		_, err := run(t, append(tc.args, common...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("compressq %s: err = %v, want it to contain %q", strings.Join(tc.args, " "), err, tc.want)
		}
	}
}
