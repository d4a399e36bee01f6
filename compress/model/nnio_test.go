package model

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/compressq/compressq/compress/nn"
	"github.com/compressq/compressq/compress/packed"
	"github.com/compressq/compressq/compress/quant"
	"github.com/compressq/compressq/compress/safetensors"
	"gorgonia.org/tensor"
)

// testArch has every parameterised layer type.
func testArch() nn.Arch {
	return nn.Arch{Input: []int{1, 8, 8}, Layers: []nn.LayerSpec{
		{Type: nn.TypeConv2D, Filters: 3, Kernel: 3, Pad: 1},
		{Type: nn.TypeBatchNorm},
		{Type: nn.TypeReLU},
		{Type: nn.TypeMaxPool2D, Kernel: 2},
		{Type: nn.TypeFlatten},
		{Type: nn.TypeDense, Units: 5},
	}}
}

func randomInput(seed uint64, shape ...int) *tensor.Dense {
	rng := rand.New(rand.NewPCG(seed, 1))
	n := 1
	for _, d := range shape {
		n *= d
	}
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(v))
}

// perturbRunningStats gives BatchNorm non-default statistics so that they
// matter in the round trip.
func perturbRunningStats(t *testing.T, net *nn.Network) {
	t.Helper()
	for _, p := range net.Params() {
		if strings.HasSuffix(p.Name, "running_mean") || strings.HasSuffix(p.Name, "running_var") {
			for i, v := range p.Value.Float32s() {
				p.Value.Float32s()[i] = v + 0.25*float32(i+1)
			}
		}
	}
}

func TestSaveLoadBitIdentical(t *testing.T) {
	net, err := nn.Build(testArch(), 42)
	if err != nil {
		t.Fatal(err)
	}
	perturbRunningStats(t, net)
	var buf bytes.Buffer
	if err := Save(&buf, net); err != nil {
		t.Fatal(err)
	}
	got, err := Load(buf.Bytes(), safetensors.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(net.Arch())
	b, _ := json.Marshal(got.Arch())
	if string(a) != string(b) {
		t.Fatalf("arch changed: %s → %s", a, b)
	}
	x := randomInput(9, 4, 1, 8, 8)
	ya, err := net.Forward(x, false)
	if err != nil {
		t.Fatal(err)
	}
	yb, err := got.Forward(x, false)
	if err != nil {
		t.Fatal(err)
	}
	va, vb := ya.Float32s(), yb.Float32s()
	for i := range va {
		if math.Float32bits(va[i]) != math.Float32bits(vb[i]) {
			t.Fatalf("output %d: %v vs %v after reload", i, va[i], vb[i])
		}
	}
	// A second save of the loaded network gives the same bytes.
	var buf2 bytes.Buffer
	if err := Save(&buf2, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), buf2.Bytes()) {
		t.Error("save → load → save changes the bytes")
	}
}

// TestLoadCompressed quantizes a network's weights to int8 per-channel,
// writes an artifact with the architecture, and checks Load rebuilds a
// network whose parameters are the dequantized weights.
func TestLoadCompressed(t *testing.T) {
	net, err := nn.Build(testArch(), 7)
	if err != nil {
		t.Fatal(err)
	}
	arch, _ := json.Marshal(net.Arch())
	c := &packed.Compressed{Arch: string(arch)}
	for _, p := range net.Params() {
		v := p.Value.Float32s()
		shape := []int(p.Value.Shape())
		cp := packed.CompressedParam{Name: p.Name, Shape: shape}
		if strings.HasSuffix(p.Name, ".weight") {
			q, err := quant.QuantizeTensor(v, shape, quant.Params{Bits: 8, Scheme: quant.PerChannel, Symmetric: true})
			if err != nil {
				t.Fatal(err)
			}
			cp.Quantized = q
		} else {
			cp.Values = append([]float32(nil), v...)
		}
		c.Params = append(c.Params, cp)
	}
	var buf bytes.Buffer
	if err := packed.WriteCompressed(&buf, c); err != nil {
		t.Fatal(err)
	}
	got, err := Load(buf.Bytes(), safetensors.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	for _, cp := range c.Params {
		want, err := cp.Float32s()
		if err != nil {
			t.Fatal(err)
		}
		p, ok := got.Param(cp.Name)
		if !ok {
			t.Fatalf("%q missing", cp.Name)
		}
		for i, v := range p.Value.Float32s() {
			if v != want[i] {
				t.Fatalf("%q[%d] = %v, want dequantized %v", cp.Name, i, v, want[i])
			}
		}
	}
}

func TestLoadRejects(t *testing.T) {
	net, err := nn.Build(testArch(), 1)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := Save(&buf, net); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	rewrite := func(mod func(f *safetensors.File)) []byte {
		f, err := safetensors.ReadSafetensors(good, safetensors.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		mod(f)
		var b bytes.Buffer
		if err := safetensors.WriteSafetensors(&b, f); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	hugeArch, _ := json.Marshal(nn.Arch{Input: []int{100000}, Layers: []nn.LayerSpec{{Type: nn.TypeDense, Units: 100000}}})
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"no arch", rewrite(func(f *safetensors.File) { delete(f.Metadata, packed.ArchKey) }), "compressq.arch is missing"},
		{"bad arch json", rewrite(func(f *safetensors.File) {
			f.Metadata[packed.ArchKey] = `{"input":[1,8,8],"layers":[{"type":"dense","units":5,"colour":1}]}`
		}), "unknown field"},
		{"invalid arch", rewrite(func(f *safetensors.File) { f.Metadata[packed.ArchKey] = `{"input":[1,8,8],"layers":[]}` }), "layers: empty"},
		{"huge arch", rewrite(func(f *safetensors.File) { f.Metadata[packed.ArchKey] = string(hugeArch) }), "more than a"},
		{"missing param", rewrite(func(f *safetensors.File) { removeTensor(f, "layers.5.bias") }), `parameter "layers.5.bias" is missing`},
		{"wrong shape", rewrite(func(f *safetensors.File) {
			removeTensor(f, "layers.5.bias")
			f.Tensors = append(f.Tensors, safetensors.F32Tensor("layers.5.bias", []int{6}, make([]float32, 6)))
		}), `parameter "layers.5.bias" has shape [6]`},
		{"extra tensor", rewrite(func(f *safetensors.File) {
			f.Tensors = append(f.Tensors, safetensors.F32Tensor("layers.9.weight", []int{1}, []float32{1}))
		}), `"layers.9.weight"`},
		{"int tensor", rewrite(func(f *safetensors.File) {
			removeTensor(f, "layers.5.bias")
			f.Tensors = append(f.Tensors, safetensors.I32Tensor("layers.5.bias", []int{5}, make([]int32, 5)))
		}), `parameter "layers.5.bias"`},
		{"other format", rewrite(func(f *safetensors.File) { f.Metadata[packed.FormatKey] = "something/2" }), "not a model format"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(tc.data, safetensors.Limits{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
			if !errors.Is(err, safetensors.ErrFormat) {
				t.Errorf("err %v does not wrap ErrFormat", err)
			}
		})
	}
}

func FuzzLoad(f *testing.F) {
	net, err := nn.Build(testArch(), 1)
	if err != nil {
		f.Fatal(err)
	}
	var buf bytes.Buffer
	if err := Save(&buf, net); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add(compressedBytes(f, sparseNetwork(f, 0.99)))
	general, err := nn.Build(generalArch(), 1)
	if err != nil {
		f.Fatal(err)
	}
	buf.Reset()
	if err := Save(&buf, general); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		lim := safetensors.Limits{MaxFileBytes: 1 << 20, MaxHeaderBytes: 1 << 16, MaxElements: 1 << 16}
		got, err := Load(data, lim)
		if err != nil {
			return
		}
		// A parameter takes at least a bit, except in sparse encodings.
		if int64(got.NumParams()) > 8*int64(len(data))+lim.MaxElements {
			t.Fatalf("%d parameters from %d bytes", got.NumParams(), len(data))
		}
	})
}

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
	f, err := safetensors.ReadSafetensors(buf.Bytes(), safetensors.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := packed.QuantizeWeights(f.Tensors, f.Metadata[packed.ArchKey], quant.Params{Bits: 4, Scheme: quant.PerChannel}, nil)
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
	if err := packed.WriteCompressed(&out, c); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(out.Bytes(), safetensors.Limits{}); err != nil {
		t.Fatalf("quantized artifact does not load: %v", err)
	}
}

// TestSparseLoad: Load rebuilds a network from an artifact whose weights
// are stored sparsely, even one smaller than a bit per parameter.
func TestSparseLoad(t *testing.T) {
	c := sparseNetwork(t, 0.999)
	var buf bytes.Buffer
	if err := packed.WriteCompressed(&buf, c); err != nil {
		t.Fatal(err)
	}
	net, err := Load(buf.Bytes(), safetensors.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if n := net.NumParams(); n <= 8*buf.Len() {
		t.Fatalf("%d parameters in %d bytes: not the case this test is for", n, buf.Len())
	}
	for _, cp := range c.Params {
		want, _ := cp.Float32s()
		p, _ := net.Param(cp.Name)
		if !equalF32(p.Value.Float32s(), want) {
			t.Fatalf("%q differs after Load", cp.Name)
		}
	}
	if _, err := Load(buf.Bytes(), safetensors.Limits{MaxElements: 1000}); !errors.Is(err, safetensors.ErrLimit) {
		t.Errorf("Load with MaxElements 1000: %v", err)
	}
}

// sparseNetwork returns a compressed dense 256→128→10 network whose
// weights have the given fraction of zeros, stored sparsely as codebooks.
func sparseNetwork(t testing.TB, zeros float64) *packed.Compressed {
	t.Helper()
	r := rand.New(rand.NewPCG(11, 12))
	c := &packed.Compressed{Arch: `{"input":[256],"layers":[{"type":"dense","units":128},{"type":"relu"},{"type":"dense","units":10}]}`}
	for _, l := range []struct {
		name  string
		shape []int
	}{{"layers.0.weight", []int{128, 256}}, {"layers.2.weight", []int{10, 128}}} {
		w := sparseWeights(r, safetensors.Numel(l.shape), zeros)
		mask := make([]float32, len(w))
		for i, v := range w {
			if v != 0 {
				mask[i] = 1
			}
		}
		s, err := quant.KMeans(w, 3, mask, 5)
		if err != nil {
			t.Fatal(err)
		}
		c.Params = append(c.Params, packed.CompressedParam{Name: l.name, Shape: l.shape, Shared: s, Huffman: true, Sparse: true})
	}
	c.Params = append(c.Params, packed.CompressedParam{Name: "layers.0.bias", Shape: []int{128}, Values: make([]float32, 128)},
		packed.CompressedParam{Name: "layers.2.bias", Shape: []int{10}, Values: make([]float32, 10)})
	return c
}

// sparseWeights returns n normal weights with about a fraction zeros of
// them exactly 0 (the same draws as package packed's sparse tests).
func sparseWeights(r *rand.Rand, n int, zeros float64) []float32 {
	w := make([]float32, n)
	for i := range w {
		if r.Float64() < zeros {
			continue
		}
		w[i] = float32(r.NormFloat64())
		if w[i] == 0 {
			w[i] = 1
		}
	}
	return w
}

func compressedBytes(t testing.TB, c *packed.Compressed) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := packed.WriteCompressed(&buf, c); err != nil {
		t.Fatalf("WriteCompressed: %v", err)
	}
	return buf.Bytes()
}

func removeTensor(f *safetensors.File, name string) {
	for i := range f.Tensors {
		if f.Tensors[i].Name == name {
			f.Tensors = append(f.Tensors[:i], f.Tensors[i+1:]...)
			return
		}
	}
}

func equalF32(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}
