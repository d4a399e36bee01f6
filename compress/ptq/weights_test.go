package ptq

import (
	"bytes"
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/compressq/compressq/compress/packed"
	"github.com/compressq/compressq/compress/quant"
	"github.com/compressq/compressq/compress/safetensors"
)

func testModel(t *testing.T, extra ...safetensors.Tensor) ([]byte, map[string][]float32) {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	shapes := map[string][]int{"layers.0.weight": {64, 196}, "layers.0.bias": {64}, "layers.2.weight": {10, 64}, "layers.2.bias": {10}}
	f := &safetensors.File{Metadata: map[string]string{packed.ArchKey: `{"input":[196]}`}}
	vals := map[string][]float32{}
	for name, shape := range shapes {
		n := 1
		for _, d := range shape {
			n *= d
		}
		w := make([]float32, n)
		for i := range w {
			w[i] = float32(rng.NormFloat64() * 0.2)
		}
		vals[name] = w
		f.Tensors = append(f.Tensors, safetensors.F32Tensor(name, shape, w))
	}
	f.Tensors = append(f.Tensors, extra...)
	var buf bytes.Buffer
	if err := safetensors.WriteSafetensors(&buf, f); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), vals
}

func TestWeightOnly(t *testing.T) {
	data, vals := testModel(t)
	for _, o := range []Options{
		{Bits: 8, Scheme: quant.PerChannel, Symmetric: true},
		{Bits: 8, Scheme: quant.PerTensor, Symmetric: false},
		{Bits: 4, Scheme: quant.PerChannel, Symmetric: true},
	} {
		out, rep, err := WeightOnly(context.Background(), data, safetensors.Limits{}, o)
		if err != nil {
			t.Fatalf("%+v: %v", o, err)
		}
		if rep.BytesBefore != int64(len(data)) || rep.BytesAfter != int64(len(out)) {
			t.Fatalf("%+v: report bytes %d/%d, real %d/%d", o, rep.BytesBefore, rep.BytesAfter, len(data), len(out))
		}
		// Float32 weights shrink by about 32/bits; scales and the header cost a little.
		if ratio := float64(len(data)) / float64(len(out)); ratio < 0.7*32/float64(o.Bits) {
			t.Errorf("%+v: compression ratio %.2f", o, ratio)
		}
		c, err := packed.ReadCompressed(out, safetensors.Limits{})
		if err != nil {
			t.Fatalf("%+v: artifact does not read back: %v", o, err)
		}
		if c.Arch != `{"input":[196]}` {
			t.Errorf("arch metadata lost: %q", c.Arch)
		}
		if len(rep.Tensors) != len(vals) {
			t.Fatalf("%d tensors reported, want %d", len(rep.Tensors), len(vals))
		}
		for _, tr := range rep.Tensors {
			p, ok := c.Param(tr.Name)
			if !ok {
				t.Fatalf("%q missing from the artifact", tr.Name)
			}
			got, err := p.Float32s()
			if err != nil {
				t.Fatal(err)
			}
			var maxErr float64
			for i, w := range vals[tr.Name] {
				maxErr = max(maxErr, math.Abs(float64(w)-float64(got[i])))
			}
			if maxErr > tr.Bound*(1+1e-5) || math.Abs(maxErr-tr.MaxAbsError) > 1e-7 {
				t.Errorf("%+v %q: measured max error %g, reported %g, bound %g", o, tr.Name, maxErr, tr.MaxAbsError, tr.Bound)
			}
			if len(tr.Shape) == 1 && p.Quantized.Axis != -1 {
				t.Errorf("%q: rank-1 tensor quantized per channel", tr.Name)
			}
		}
	}
}

func TestWeightOnlyRejects(t *testing.T) {
	withInt, _ := testModel(t, safetensors.I32Tensor("steps", []int{1}, []int32{3}))
	o := Options{Bits: 8, Scheme: quant.PerChannel, Symmetric: true}
	if _, _, err := WeightOnly(context.Background(), withInt, safetensors.Limits{}, o); !errors.Is(err, safetensors.ErrFormat) {
		t.Errorf("integer tensor: %v", err)
	}
	if _, _, err := WeightOnly(context.Background(), []byte("not a model"), safetensors.Limits{}, o); !errors.Is(err, safetensors.ErrFormat) && !errors.Is(err, safetensors.ErrLimit) {
		t.Errorf("garbage: %v", err)
	}
	good, _ := testModel(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := WeightOnly(ctx, good, safetensors.Limits{}, o); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: %v", err)
	}
}

// TestWeightOnlyTensorBits: a mixed-precision policy stores each named
// tensor at its own width (the rest at Bits); an unknown name or width is
// refused.
func TestWeightOnlyTensorBits(t *testing.T) {
	data, _ := testModel(t)
	o := Options{Bits: 8, Scheme: quant.PerChannel, Symmetric: true, TensorBits: map[string]int{"layers.0.weight": 4}}
	out, rep, err := WeightOnly(context.Background(), data, safetensors.Limits{}, o)
	if err != nil {
		t.Fatal(err)
	}
	c, err := packed.ReadCompressed(out, safetensors.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"layers.0.weight", "layers.2.weight", "layers.0.bias"} {
		p, ok := c.Param(name)
		want := 8
		if name == "layers.0.weight" {
			want = 4
		}
		if !ok || p.Quantized == nil || p.Quantized.Bits != want {
			t.Errorf("%s: stored %+v, want %d bits", name, p.Quantized, want)
		}
	}
	all8, _, err := WeightOnly(context.Background(), data, safetensors.Limits{}, Options{Bits: 8, Scheme: quant.PerChannel, Symmetric: true})
	if err != nil {
		t.Fatal(err)
	}
	// layers.0.weight (12,544 entries) takes half the bytes at 4 bits.
	if d := len(all8) - len(out); d < 6000 || d > 6400 {
		t.Errorf("4-bit layers.0.weight saves %d bytes, want about 6,272 (report %d)", d, rep.BytesAfter)
	}
	for _, bad := range []map[string]int{{"layers.9.weight": 4}, {"layers.0.weight": 2}} {
		o.TensorBits = bad
		if _, _, err := WeightOnly(context.Background(), data, safetensors.Limits{}, o); !errors.Is(err, safetensors.ErrFormat) {
			t.Errorf("%v: %v", bad, err)
		}
	}
}
