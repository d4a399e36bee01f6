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
	"github.com/compressq/compressq/compress/quant"
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
	got, err := Load(buf.Bytes(), Limits{})
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
	c := &Compressed{Arch: string(arch)}
	for _, p := range net.Params() {
		v := p.Value.Float32s()
		shape := []int(p.Value.Shape())
		cp := CompressedParam{Name: p.Name, Shape: shape}
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
	if err := WriteCompressed(&buf, c); err != nil {
		t.Fatal(err)
	}
	got, err := Load(buf.Bytes(), Limits{})
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
	rewrite := func(mod func(f *File)) []byte {
		f, err := ReadSafetensors(good, Limits{})
		if err != nil {
			t.Fatal(err)
		}
		mod(f)
		var b bytes.Buffer
		if err := WriteSafetensors(&b, f); err != nil {
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
		{"no arch", rewrite(func(f *File) { delete(f.Metadata, ArchKey) }), "compressq.arch is missing"},
		{"bad arch json", rewrite(func(f *File) {
			f.Metadata[ArchKey] = `{"input":[1,8,8],"layers":[{"type":"dense","units":5,"colour":1}]}`
		}), "unknown field"},
		{"invalid arch", rewrite(func(f *File) { f.Metadata[ArchKey] = `{"input":[1,8,8],"layers":[]}` }), "layers: empty"},
		{"huge arch", rewrite(func(f *File) { f.Metadata[ArchKey] = string(hugeArch) }), "more than a"},
		{"missing param", rewrite(func(f *File) { removeTensor(f, "layers.5.bias") }), `parameter "layers.5.bias" is missing`},
		{"wrong shape", rewrite(func(f *File) {
			removeTensor(f, "layers.5.bias")
			f.Tensors = append(f.Tensors, F32Tensor("layers.5.bias", []int{6}, make([]float32, 6)))
		}), `parameter "layers.5.bias" has shape [6]`},
		{"extra tensor", rewrite(func(f *File) { f.Tensors = append(f.Tensors, F32Tensor("layers.9.weight", []int{1}, []float32{1})) }), `"layers.9.weight"`},
		{"int tensor", rewrite(func(f *File) {
			removeTensor(f, "layers.5.bias")
			f.Tensors = append(f.Tensors, I32Tensor("layers.5.bias", []int{5}, make([]int32, 5)))
		}), `parameter "layers.5.bias"`},
		{"other format", rewrite(func(f *File) { f.Metadata[FormatKey] = "something/2" }), "not a model format"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(tc.data, Limits{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
			if !errors.Is(err, ErrFormat) {
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
		lim := Limits{MaxFileBytes: 1 << 20, MaxHeaderBytes: 1 << 16, MaxElements: 1 << 16}
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
