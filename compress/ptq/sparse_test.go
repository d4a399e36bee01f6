package ptq

import (
	"bytes"
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/compressq/compressq/compress/model"
	"github.com/compressq/compressq/compress/nn"
	"github.com/compressq/compressq/compress/packed"
	"github.com/compressq/compressq/compress/quant"
	"github.com/compressq/compressq/compress/safetensors"
	"gorgonia.org/tensor"
)

// prunedNet returns a 196→64→10 network with 90% of each weight zeroed at
// random: layer 0 carries a pruning mask, layer 2 only its exact zeros.
func prunedNet(t *testing.T) *nn.Network {
	t.Helper()
	a := nn.Arch{Input: []int{196}, Layers: []nn.LayerSpec{{Type: nn.TypeDense, Units: 64}, {Type: nn.TypeReLU}, {Type: nn.TypeDense, Units: 10}}}
	net, err := nn.Build(a, 1)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 1))
	for _, name := range []string{"layers.0.weight", "layers.2.weight"} {
		p, _ := net.Param(name)
		w := p.Value.Float32s()
		mask := make([]float32, len(w))
		for i := range w {
			if r.Float64() < 0.1 {
				mask[i] = 1
			} else {
				w[i] = 0
			}
		}
		if name == "layers.0.weight" {
			if err := net.SetMask(name, tensor.New(tensor.WithShape(p.Value.Shape()...), tensor.WithBacking(mask))); err != nil {
				t.Fatal(err)
			}
		}
	}
	return net
}

// TestShareSparse: pruned weights stay zero through weight sharing, the
// artifact stores them sparsely (biases dense), is smaller than the dense
// artifact, and loads back to the shared network exactly.
func TestShareSparse(t *testing.T) {
	net := prunedNet(t)
	sn, err := Share(context.Background(), net, nil, 5, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	for name, s := range sn.Shared {
		orig, _ := net.Param(name)
		got, _ := sn.Net.Param(name)
		for i, w := range orig.Value.Float32s() {
			if (w == 0) != (got.Value.Float32s()[i] == 0) {
				t.Fatalf("%s[%d]: %v shared as %v", name, i, w, got.Value.Float32s()[i])
			}
		}
		if !s.ZeroCluster {
			t.Errorf("%s: no zero cluster", name)
		}
	}
	c, err := sn.Compressed(true)
	if err != nil {
		t.Fatal(err)
	}
	// The 10×64 layer is too small for its gaps to pay off; the biases
	// have no zeros.
	for _, p := range c.Params {
		if p.Sparse != (p.Name == "layers.0.weight") {
			t.Errorf("%s: sparse %v", p.Name, p.Sparse)
		}
	}
	var sparse, dense bytes.Buffer
	if err := packed.WriteCompressed(&sparse, c); err != nil {
		t.Fatal(err)
	}
	for i := range c.Params {
		c.Params[i].Sparse = false
	}
	if err := packed.WriteCompressed(&dense, c); err != nil {
		t.Fatal(err)
	}
	t.Logf("artifact %d bytes sparse, %d dense", sparse.Len(), dense.Len())
	if sparse.Len() >= dense.Len() {
		t.Errorf("sparse artifact %d bytes, dense %d", sparse.Len(), dense.Len())
	}
	back, err := model.Load(sparse.Bytes(), safetensors.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range sn.Net.Params() {
		q, _ := back.Param(p.Name)
		for i, v := range p.Value.Float32s() {
			if math.Float32bits(v) != math.Float32bits(q.Value.Float32s()[i]) {
				t.Fatalf("%s[%d] = %v after Load, want %v", p.Name, i, q.Value.Float32s()[i], v)
			}
		}
	}
}

func TestPruneMask(t *testing.T) {
	mk := func(zeros, n int, masked bool) nn.Param {
		w := make([]float32, n)
		for i := zeros; i < n; i++ {
			w[i] = 1
		}
		p := nn.Param{Name: "w", Value: tensor.New(tensor.WithShape(n), tensor.WithBacking(w))}
		if masked {
			m := make([]float32, n)
			p.Mask = tensor.New(tensor.WithShape(n), tensor.WithBacking(m))
		}
		return p
	}
	tests := []struct {
		name       string
		p          nn.Param
		bits       int
		wantMasked bool
	}{
		{"mask", mk(0, 64, true), 4, true},
		{"no zeros", mk(0, 64, false), 4, false},
		{"one in 16 zeros", mk(4, 64, false), 4, true},
		{"fewer", mk(3, 64, false), 4, false},
		{"fewer than one in 2", mk(31, 64, false), 1, false},
	}
	for _, tt := range tests {
		if got := pruneMask(tt.p, tt.bits); (got != nil) != tt.wantMasked {
			t.Errorf("%s: mask %v", tt.name, got)
		}
	}
}

// TestWeightOnlySparse: a 90%-zero weight in a model file is stored
// sparsely by int8 weight-only quantization, and its zeros read back as 0.
func TestWeightOnlySparse(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	w := make([]float32, 64*196)
	for i := range w {
		if r.Float64() < 0.1 {
			w[i] = float32(r.NormFloat64() * 0.2)
		}
	}
	f := &safetensors.File{Tensors: []safetensors.Tensor{safetensors.F32Tensor("layers.0.weight", []int{64, 196}, w)}}
	var buf bytes.Buffer
	if err := safetensors.WriteSafetensors(&buf, f); err != nil {
		t.Fatal(err)
	}
	out, rep, err := WeightOnly(context.Background(), buf.Bytes(), safetensors.Limits{}, Options{Bits: 8, Scheme: quant.PerChannel, Symmetric: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Tensors[0].Encoding != "int8/per-channel/symmetric/sparse" {
		t.Errorf("encoding %q", rep.Tensors[0].Encoding)
	}
	// 10% of the elements as int8 plus their gaps: well under a third of
	// dense int8.
	if rep.BytesAfter > int64(len(w))/3 {
		t.Errorf("artifact %d bytes for %d weights", rep.BytesAfter, len(w))
	}
	c, err := packed.ReadCompressed(out, safetensors.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := c.Params[0].Float32s()
	for i := range w {
		if w[i] == 0 && got[i] != 0 {
			t.Fatalf("element %d: 0 read back as %v", i, got[i])
		}
	}
}
