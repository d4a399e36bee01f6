package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
)

// run executes the CLI in-process with args and returns what it wrote to
// stdout and stderr (logs included).
func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRoot()
	var out syncBuffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

// syncBuffer is a bytes.Buffer that the command and its goroutines (the
// logs of a worker) may write at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestLocalDemo runs `compressq local`: asynq on the embedded miniredis
// processes the demo jobs end to end, through the same worker code as a
// deployment.
func TestLocalDemo(t *testing.T) {
	out, err := run(t, "local", "--artifacts", t.TempDir(), "--http-addr", "127.0.0.1:0", "--log-level", "warn")
	if err != nil {
		t.Fatalf("local: %v\n%s", err, out)
	}
	if n := strings.Count(out, "succeeded"); n != 3 {
		t.Fatalf("%d of 3 demo jobs succeeded:\n%s", n, out)
	}
	for _, want := range []string{"int8 per-channel", "int4 per-channel", "layers.1.weight", "[300×784]"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestQuantizeCommand(t *testing.T) {
	dir := t.TempDir()
	model, err := demoModel(3)
	if err != nil {
		t.Fatal(err)
	}
	in := dir + "/m.safetensors"
	if err := os.WriteFile(in, model, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, "quantize", "--model", in, "--bits", "4", "--out", dir+"/m4.cq.safetensors", "--json")
	if err != nil {
		t.Fatalf("quantize: %v\n%s", err, out)
	}
	if !strings.Contains(out, `"encoding": "int4/per-channel/symmetric"`) {
		t.Fatalf("unexpected output:\n%s", out)
	}
	if _, err := run(t, "quantize", "--model", in, "--bits", "3", "--out", dir+"/x"); err == nil || !strings.Contains(err.Error(), "bits: 3 not supported") {
		t.Fatalf("bits 3: %v", err)
	}
	if _, err := run(t, "quantize", "--model", dir+"/missing", "--out", dir+"/x"); err == nil {
		t.Fatal("missing model accepted")
	}
}

func TestBadConfigIsUsageError(t *testing.T) {
	_, err := run(t, "jobs", "--log-level", "loud")
	var ue usageError
	if err == nil || !errors.As(err, &ue) || !strings.Contains(err.Error(), "log.level") {
		t.Fatalf("got %v", err)
	}
}
