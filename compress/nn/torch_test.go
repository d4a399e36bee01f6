package nn

import (
	"encoding/json"
	"math"
	"os"
	"slices"
	"testing"
)

// torchCase is one case of testdata/torch_layers.json, written by
// testdata/gen_torch_layers.py with PyTorch: a layer, its input and
// parameters, a probe r, and PyTorch's output y and gradients of Σ y·r.
type torchCase struct {
	Name   string               `json:"name"`
	Spec   LayerSpec            `json:"spec"`
	Input  []int                `json:"input"`
	X      []float32            `json:"x"`
	R      []float32            `json:"r"`
	Y      []float32            `json:"y"`
	YShape []int                `json:"y_shape"`
	DX     []float32            `json:"dx"`
	Params map[string][]float32 `json:"params"`
	Grads  map[string][]float32 `json:"grads"`
}

// TestTorchConformance checks the layers with groups, dilation, per-side
// padding, ceil mode and count_include_pad, the global pools and the
// activations against PyTorch 1.13's outputs and gradients. Both sides
// compute in float32 with different summation orders; a value passes when
// |got − want| ≤ 1e-5 + 1e-4·|want|.
func TestTorchConformance(t *testing.T) {
	b, err := os.ReadFile("testdata/torch_layers.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Cases []torchCase `json:"cases"`
	}
	if err := json.Unmarshal(b, &file); err != nil {
		t.Fatal(err)
	}
	if len(file.Cases) == 0 {
		t.Fatal("no cases")
	}
	close := func(t *testing.T, what string, got, want []float32) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
		}
		for i, w := range want {
			if d := math.Abs(float64(got[i] - w)); d > 1e-5+1e-4*math.Abs(float64(w)) {
				t.Fatalf("%s[%d] = %v, PyTorch %v", what, i, got[i], w)
			}
		}
	}
	for _, tc := range file.Cases {
		t.Run(tc.Name, func(t *testing.T) {
			l := mustLayer(t, tc.Spec, tc.Input, newRand(1, 0))
			for _, p := range l.Params() {
				v, ok := tc.Params[p.Name]
				if !ok || len(v) != p.Value.Len() {
					t.Fatalf("parameter %s: PyTorch has %d values, the layer %v", p.Name, len(v), p.Value.Shape())
				}
				copy(p.Value.Float32s(), v)
				clear(p.Grad.Float32s())
			}
			n := len(tc.X) / prod(tc.Input)
			x := newTensor(slices.Clone(tc.X), batchShape(n, tc.Input)...)
			y, back, err := l.Forward(x, Pass{Train: true})
			if err != nil {
				t.Fatal(err)
			}
			if want := tc.YShape; !slices.Equal(y.Shape(), want) {
				t.Fatalf("output shape %v, PyTorch %v", y.Shape(), want)
			}
			close(t, "y", y.Float32s(), tc.Y)
			dx, err := back(newTensor(slices.Clone(tc.R), tc.YShape...), true)
			if err != nil {
				t.Fatal(err)
			}
			close(t, "dx", dx.Float32s(), tc.DX)
			for _, p := range l.Params() {
				close(t, "d"+p.Name, p.Grad.Float32s(), tc.Grads[p.Name])
			}
			// Inference gives the training output (no layer here differs).
			yi, _, err := l.Forward(x, Pass{})
			if err != nil {
				t.Fatal(err)
			}
			close(t, "inference y", yi.Float32s(), tc.Y)
		})
	}
}
