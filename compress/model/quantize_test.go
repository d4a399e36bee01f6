package model

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/compressq/compressq/compress/nn"
	"github.com/compressq/compressq/compress/quant"
)

func TestQuantizeWeights(t *testing.T) {
	net, err := nn.Build(testArch(), 3)
	if err != nil {
		t.Fatal(err)
	}
	ts, err := NetworkTensors(net)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := Save(&buf, net); err != nil {
		t.Fatal(err)
	}
	f, err := ReadSafetensors(buf.Bytes(), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := QuantizeWeights(f.Tensors, f.Metadata[ArchKey], quant.Params{Bits: 4, Scheme: quant.PerChannel}, nil)
	if err != nil {
		t.Fatal(err)
	}
	quantized := 0
	for _, p := range c.Params {
		isW := strings.HasSuffix(p.Name, ".weight")
		if isW != (p.Quantized != nil) {
			t.Errorf("%q: quantized = %v", p.Name, p.Quantized != nil)
		}
		if isW {
			quantized++
		}
	}
	if quantized != 2 || len(c.Params) != len(ts) {
		t.Errorf("%d of %d quantized, want 2 of %d", quantized, len(c.Params), len(ts))
	}
	var out bytes.Buffer
	if err := WriteCompressed(&out, c); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(out.Bytes(), Limits{}); err != nil {
		t.Fatalf("quantized artifact does not load: %v", err)
	}
}

func TestQuantizeWeightsNaNNamesTensor(t *testing.T) {
	w := []float32{1, 2, 3, float32(math.NaN())}
	ts := []Tensor{F32Tensor("layers.0.weight", []int{2, 2}, w)}
	_, err := QuantizeWeights(ts, "", quant.Params{Bits: 8}, nil)
	if err == nil || !strings.Contains(err.Error(), `tensor "layers.0.weight": quant: index 3 ([1 1])`) || !errors.Is(err, quant.ErrNonFinite) {
		t.Fatalf("err = %v", err)
	}
}
