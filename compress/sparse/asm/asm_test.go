package main

import (
	"bytes"
	"os"
	"testing"
)

// TestGenerated checks that the committed ../kernels_amd64.s is exactly
// what this generator produces, so that nobody edits the output by hand
// and a generator change is not forgotten in the commit. On a mismatch,
// run go generate in compress/sparse.
func TestGenerated(t *testing.T) {
	want, err := generate()
	if err != nil {
		t.Fatalf("generate: %v", err)
	}
	got, err := os.ReadFile("../kernels_amd64.s")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		gl, wl := bytes.Split(got, []byte("\n")), bytes.Split(want, []byte("\n"))
		for i := range min(len(gl), len(wl)) {
			if !bytes.Equal(gl[i], wl[i]) {
				t.Fatalf("kernels_amd64.s differs from the generator's output at line %d:\n committed: %s\n generated: %s\nrun go generate in compress/sparse", i+1, gl[i], wl[i])
			}
		}
		t.Fatalf("kernels_amd64.s has %d lines, the generator's output %d; run go generate in compress/sparse", len(gl), len(wl))
	}
}
