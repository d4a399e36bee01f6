package qnn

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/compressq/compressq/compress/nn"
	"github.com/compressq/compressq/compress/packed"
	"github.com/compressq/compressq/compress/safetensors"
	"gorgonia.org/tensor"
)

// randomRanges returns n calibration ranges of the kinds the differential
// tests use: one-sided, two-sided and all-negative.
func randomRanges(r *rand.Rand, n int) []Range {
	ranges := make([]Range, n)
	for i := range ranges {
		switch r.IntN(3) {
		case 0:
			ranges[i] = Range{0, r.Float64() * 3}
		case 1:
			ranges[i] = Range{-r.Float64() * 2, r.Float64() * 2}
		default:
			ranges[i] = Range{-r.Float64() * 0.1, 0}
		}
	}
	return ranges
}

// artifactBytes writes m as a compressed artifact.
func artifactBytes(t testing.TB, m *Model) []byte {
	t.Helper()
	c, err := m.Compressed()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := packed.WriteCompressed(&buf, c); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// checkRoundTrip saves m, loads it back and requires the loaded model to
// compute the same function bit for bit — fast and reference integer
// paths on random codes, the fake-quant simulation on random floats, the
// logit scale — and to save to the same bytes.
func checkRoundTrip(t *testing.T, m *Model, r *rand.Rand, what string) []byte {
	t.Helper()
	raw := artifactBytes(t, m)
	back, err := Load(raw, safetensors.Limits{}, 2)
	if err != nil {
		t.Fatalf("%s: load: %v", what, err)
	}
	if back.LogitScale != m.LogitScale || back.InScale != m.InScale || back.InZero != m.InZero || back.Classes != m.Classes || back.Graph() != m.Graph() {
		t.Fatalf("%s: loaded logit scale %v, input (%v, %d), %d classes, graph %v; saved %v, (%v, %d), %d, %v", what,
			back.LogitScale, back.InScale, back.InZero, back.Classes, back.Graph(), m.LogitScale, m.InScale, m.InZero, m.Classes, m.Graph())
	}
	n := 19
	x := make([]uint8, n*prod(m.Input))
	for i := range x {
		x[i] = uint8(r.UintN(256))
	}
	for _, f := range []struct {
		name     string
		got, ref func([]uint8) ([]int32, error)
	}{{"Forward", back.Forward, m.Forward}, {"ForwardRef", back.ForwardRef, m.ForwardRef}} {
		got, err := f.got(x)
		if err != nil {
			t.Fatal(err)
		}
		want, err := f.ref(x)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("%s: loaded model's %s differs from the saved model's", what, f.name)
		}
	}
	xf := make([]float32, 4*prod(m.Input))
	for i := range xf {
		xf[i] = r.Float32()*2 - 0.5
	}
	in := tensor.New(tensor.WithShape(append([]int{4}, m.Input...)...), tensor.WithBacking(xf))
	a, err := m.FakeQuant(in)
	if err != nil {
		t.Fatal(err)
	}
	b, err := back.FakeQuant(in)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range a.Float32s() {
		if math.Float32bits(v) != math.Float32bits(b.Float32s()[i]) {
			t.Fatalf("%s: fake-quant logit %d: loaded %v, saved %v", what, i, b.Float32s()[i], v)
		}
	}
	if again := artifactBytes(t, back); !bytes.Equal(again, raw) {
		t.Fatalf("%s: the loaded model saves to different bytes", what)
	}
	return raw
}

// TestArtifactRoundTripChain saves and reloads chain models — LeNet-5 and
// the odd chains of TestForwardMatchesRef (strides, padding, fused and
// standalone pools, a conv as logits, BatchNorm folded) — with random
// calibration ranges and 8- and 4-bit weights, some pruned so their
// weights are stored sparsely.
func TestArtifactRoundTripChain(t *testing.T) {
	lenet, err := nn.ArchByName("lenet-5")
	if err != nil {
		t.Fatal(err)
	}
	archs := []nn.Arch{lenet,
		{Input: []int{3, 11, 9}, Layers: []nn.LayerSpec{
			{Type: nn.TypeConv2D, Filters: 5, Kernel: 3, Stride: 2, Pad: 1}, {Type: nn.TypeReLU},
			{Type: nn.TypeConv2D, Filters: 7, Kernel: 2}, {Type: nn.TypeMaxPool2D, Kernel: 2}, {Type: nn.TypeReLU},
			{Type: nn.TypeFlatten}, {Type: nn.TypeDropout, Rate: 0.5}, {Type: nn.TypeDense, Units: 33}, {Type: nn.TypeReLU},
			{Type: nn.TypeDense, Units: 10},
		}},
		{Input: []int{2, 6, 6}, Layers: []nn.LayerSpec{
			{Type: nn.TypeConv2D, Filters: 4, Kernel: 5, Pad: 2}, {Type: nn.TypeBatchNorm}, {Type: nn.TypeReLU},
			{Type: nn.TypeConv2D, Filters: 3, Kernel: 6},
		}},
	}
	r := rand.New(rand.NewPCG(21, 22))
	for ai, a := range archs {
		net, err := nn.Build(a, int64(ai))
		if err != nil {
			t.Fatal(err)
		}
		randomize(t, net, r)
		if ai == 0 {
			// Prune LeNet-5's weights to 90 % zeros: sparse-int8 storage.
			for _, p := range net.Params() {
				if strings.HasSuffix(p.Name, ".weight") {
					for i := range p.Value.Float32s() {
						if r.IntN(10) != 0 {
							p.Value.Float32s()[i] = 0
						}
					}
				}
			}
		}
		p, err := Prepare(net)
		if err != nil {
			t.Fatal(err)
		}
		pl, err := planNet(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, bits := range []int{8, 4} {
			m, err := Quantize(p, randomRanges(r, pl.points), Options{WeightBits: bits})
			if err != nil {
				t.Fatal(err)
			}
			raw := checkRoundTrip(t, m, r, fmt.Sprintf("arch %d, %d-bit", ai, bits))
			if ai == 0 && bits == 8 {
				rep, err := packed.ReportSize(raw, safetensors.Limits{})
				if err != nil {
					t.Fatal(err)
				}
				for _, ps := range rep.Params {
					if strings.HasSuffix(ps.Name, ".weight") && ps.Scheme != packed.SchemeSparseInt8 {
						t.Errorf("pruned %s stored as %s, want %s", ps.Name, ps.Scheme, packed.SchemeSparseInt8)
					}
				}
			}
		}
	}
}

// TestArtifactRoundTripGraph saves and reloads the graph models of the
// differential tests: residual Adds, depthwise-separable blocks with
// ReLU6, concat branches, grouped, dilated and asymmetrically padded
// convs, global pools, reshapes, a three-input Add; 8- and 4-bit weights.
func TestArtifactRoundTripGraph(t *testing.T) {
	r := rand.New(rand.NewPCG(23, 24))
	for name, a := range graphArchs() {
		t.Run(name, func(t *testing.T) {
			_, p := buildPrepared(t, a, 5, r)
			pl, err := planNet(p)
			if err != nil {
				t.Fatal(err)
			}
			for _, bits := range []int{8, 4} {
				m, err := Quantize(p, randomRanges(r, pl.points), Options{WeightBits: bits})
				if err != nil {
					t.Fatal(err)
				}
				checkRoundTrip(t, m, r, fmt.Sprintf("%d-bit", bits))
			}
		})
	}
}

// mutateFile rewrites the safetensors file raw after change edits it.
func mutateFile(t *testing.T, raw []byte, change func(f *safetensors.File)) []byte {
	t.Helper()
	// The tensors' data alias the bytes read: edit a copy.
	f, err := safetensors.ReadSafetensors(bytes.Clone(raw), safetensors.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	change(f)
	var buf bytes.Buffer
	if err := safetensors.WriteSafetensors(&buf, f); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// tensorOf returns the tensor named name of f.
func tensorOf(t *testing.T, f *safetensors.File, name string) *safetensors.Tensor {
	t.Helper()
	tt, ok := f.Tensor(name)
	if !ok {
		t.Fatalf("no tensor %q", name)
	}
	return tt
}

// setF32 sets element i of an F32 tensor.
func setF32(t *testing.T, f *safetensors.File, name string, i int, v float32) {
	t.Helper()
	tt := tensorOf(t, f, name)
	b := math.Float32bits(v)
	tt.Data[4*i], tt.Data[4*i+1], tt.Data[4*i+2], tt.Data[4*i+3] = byte(b), byte(b>>8), byte(b>>16), byte(b>>24)
}

// TestArtifactRejectsCorruptTables corrupts one piece of a valid integer
// artifact at a time — an activation scale (NaN, 0, negative, +Inf), a
// zero point out of range, table lengths, a tensor name, a bias out of
// range or with the wrong scale, a weight without per-channel scales —
// and requires Load to refuse it with an ErrFormat error naming the
// tensor or parameter.
func TestArtifactRejectsCorruptTables(t *testing.T) {
	r := rand.New(rand.NewPCG(25, 26))
	_, p := buildPrepared(t, graphArchs()["resnet"], 5, r)
	pl, err := planNet(p)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Quantize(p, randomRanges(r, pl.points), Options{})
	if err != nil {
		t.Fatal(err)
	}
	raw := artifactBytes(t, m)
	names := pl.pointNames()
	// Point 4 is the output of the first Add and its ReLU: layers.6 of the
	// prepared (BatchNorm-folded) network.
	if names[4] != "layers.6" {
		t.Fatalf("point names %q", names)
	}
	const scales, zeros = "activations.scale", "activations.zero_point"
	tests := []struct {
		name   string
		change func(f *safetensors.File)
		want   []string
	}{
		{"NaN scale", func(f *safetensors.File) { setF32(t, f, scales, 4, float32(math.NaN())) }, []string{`"layers.6"`, "scale NaN"}},
		{"zero scale", func(f *safetensors.File) { setF32(t, f, scales, 0, 0) }, []string{`"input"`, "scale 0"}},
		{"negative scale", func(f *safetensors.File) { setF32(t, f, scales, 4, -0.5) }, []string{`"layers.6"`, "scale -0.5"}},
		{"infinite scale", func(f *safetensors.File) { setF32(t, f, scales, 4, float32(math.Inf(1))) }, []string{`"layers.6"`, "+Inf"}},
		{"zero point out of range", func(f *safetensors.File) {
			z := make([]int32, len(names))
			z[4] = 300
			*tensorOf(t, f, zeros) = safetensors.I32Tensor(zeros, []int{len(z)}, z)
		}, []string{`"layers.6"`, "zero point 300 outside [0, 255]"}},
		{"negative zero point", func(f *safetensors.File) {
			z := make([]int32, len(names))
			z[1] = -1
			*tensorOf(t, f, zeros) = safetensors.I32Tensor(zeros, []int{len(z)}, z)
		}, []string{`"` + names[1] + `"`, "zero point -1"}},
		{"scale table too short", func(f *safetensors.File) {
			tt := tensorOf(t, f, scales)
			tt.Shape, tt.Data = []int{len(names) - 1}, tt.Data[:4*(len(names)-1)]
		}, []string{"activations.scale", fmt.Sprintf("%d elements for %d tensors", len(names)-1, len(names))}},
		{"name of no layer", func(f *safetensors.File) {
			f.Metadata[packed.ActivationsKey] = strings.Replace(f.Metadata[packed.ActivationsKey], `"layers.6"`, `"layers.66"`, 1)
		}, []string{`"layers.66"`, `want "layers.6"`}},
		{"tensor missing from the table", func(f *safetensors.File) {
			f.Metadata[packed.ActivationsKey] = strings.Replace(f.Metadata[packed.ActivationsKey], `"layers.6",`, ``, 1)
			for _, n := range []string{scales, zeros} {
				tt := tensorOf(t, f, n)
				w := len(tt.Data) / len(names)
				tt.Shape, tt.Data = []int{len(names) - 1}, tt.Data[:w*(len(names)-1)]
			}
		}, []string{"activations", fmt.Sprintf("%d tensors, the network quantizes %d", len(names)-1, len(names))}},
		{"bias table length", func(f *safetensors.File) {
			enc := f.Metadata[packed.EncodingKey]
			f.Metadata[packed.EncodingKey] = strings.Replace(enc, `"layers.2.bias":{"scheme":"int32","shape":[8]`, `"layers.2.bias":{"scheme":"int32","shape":[7]`, 1)
			for _, n := range []string{"layers.2.bias.q", "layers.2.bias.scale"} {
				tt := tensorOf(t, f, n)
				tt.Shape, tt.Data = []int{7}, tt.Data[:28]
			}
		}, []string{`"layers.2.bias"`, "[7]"}},
		{"bias scale", func(f *safetensors.File) { setF32(t, f, "layers.2.bias.scale", 2, 1) }, []string{`"layers.2.bias"`, "scale[2] = 1"}},
		{"bias too large", func(f *safetensors.File) {
			tt := tensorOf(t, f, "layers.2.bias.q")
			tt.Data[4], tt.Data[5], tt.Data[6], tt.Data[7] = 0, 0, 0, 0x50
		}, []string{`"layers.2.bias"`, "code[1]", "2^30"}},
		{"bias as float", func(f *safetensors.File) {
			enc := f.Metadata[packed.EncodingKey]
			f.Metadata[packed.EncodingKey] = strings.Replace(enc,
				`"layers.2.bias":{"scheme":"int32","shape":[8],"bits":32,"axis":0,"symmetric":true,"components":{"q":"layers.2.bias.q","scale":"layers.2.bias.scale"}}`,
				`"layers.2.bias":{"scheme":"float32","shape":[8],"bits":32,"axis":-1,"components":{"values":"layers.2.bias"}}`, 1)
			q := tensorOf(t, f, "layers.2.bias.q")
			q.Name, q.DType = "layers.2.bias", safetensors.F32
			var kept []safetensors.Tensor
			for _, tt := range f.Tensors {
				if tt.Name != "layers.2.bias.scale" {
					kept = append(kept, tt)
				}
			}
			f.Tensors = kept
		}, []string{`"layers.2.bias"`, "scheme float32, want int32"}},
		{"weight scale table length", func(f *safetensors.File) {
			tt := tensorOf(t, f, "layers.2.weight.scale")
			tt.Shape, tt.Data = []int{7}, tt.Data[:28]
		}, []string{`"layers.2.weight"`, "7 elements, want 8"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bad := mutateFile(t, raw, tc.change)
			_, err := Load(bad, safetensors.Limits{}, 1)
			if err == nil {
				t.Fatal("corrupt artifact loaded")
			}
			t.Log(err)
			if !errors.Is(err, safetensors.ErrFormat) {
				t.Errorf("error %v does not wrap ErrFormat", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// TestLoadWeightOnlyArtifact checks that a weight-only artifact (no
// activation table) is refused with ErrNoActivations.
func TestLoadWeightOnlyArtifact(t *testing.T) {
	net, err := nn.Build(nn.MLP([]int{6}, []int{5}, 3), 1)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Prepare(net)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Quantize(p, randomRanges(rand.New(rand.NewPCG(1, 2)), 3), Options{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := m.Compressed()
	if err != nil {
		t.Fatal(err)
	}
	c.Activations = nil
	var buf bytes.Buffer
	if err := packed.WriteCompressed(&buf, c); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(buf.Bytes(), safetensors.Limits{}, 1); !errors.Is(err, ErrNoActivations) {
		t.Fatalf("err = %v, want ErrNoActivations", err)
	}
}

// update makes TestLoadFixture rewrite the integer artifact fixture.
var update = flag.Bool("update", false, "rewrite compress/packed/testdata/int8-v2.safetensors")

// fixtureArch is the network of compress/packed/testdata/int8-v2.safetensors:
// a small graph with a depthwise conv, an Add and a Concat.
func fixtureArch() nn.Arch {
	return nn.Arch{Input: []int{2, 6, 6}, Layers: []nn.LayerSpec{
		conv(4, 3, 1, 1), relu, // 0, 1
		{Type: nn.TypeConv2D, Filters: 4, Kernel: 3, Pad: 1, Groups: 4}, bn, relu6, // 2-4
		conv(4, 1, 1, 0),   // 5
		L(add, 5, 1), relu, // 6, 7
		L(cat, 7, 1), // 8
		{Type: nn.TypeGlobalAvgPool}, {Type: nn.TypeFlatten}, {Type: nn.TypeDense, Units: 3},
	}}
}

// TestLoadFixture loads the integer artifact fixture that compress/packed
// fuzzes from: the format and loader keep reading it, and the model it
// holds runs with the fast path equal to the reference path.
//
// With -update it first rewrites the fixture from fixtureArch (seeded, so
// the same code writes the same bytes).
func TestLoadFixture(t *testing.T) {
	const file = "../packed/testdata/int8-v2.safetensors"
	if *update {
		r := rand.New(rand.NewPCG(31, 32))
		_, p := buildPrepared(t, fixtureArch(), 9, r)
		pl, err := planNet(p)
		if err != nil {
			t.Fatal(err)
		}
		m, err := Quantize(p, randomRanges(r, pl.points), Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, artifactBytes(t, m), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Load(raw, safetensors.Limits{}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !m.Graph() || m.Classes != 3 {
		t.Fatalf("graph %v, %d classes; want a graph model with 3", m.Graph(), m.Classes)
	}
	kinds := map[string]bool{}
	for _, l := range m.Layers {
		kinds[l.Kind] = true
	}
	for _, k := range []string{KindDepthwise, KindAdd, KindConcat} {
		if !kinds[k] {
			t.Errorf("fixture has no %s layer", k)
		}
	}
	checkRandomRef(t, m, rand.New(rand.NewPCG(1, 1)), 9, "fixture")
	if again := artifactBytes(t, m); !bytes.Equal(again, raw) {
		t.Error("the fixture's model saves to different bytes")
	}
}

// FuzzLoad feeds mutations of integer artifacts to Load: it must refuse
// them with an error or return a model whose fast path equals its
// reference path and that saves to an artifact Load accepts again.
func FuzzLoad(f *testing.F) {
	raw, err := os.ReadFile("../packed/testdata/int8-v2.safetensors")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(raw)
	net, err := nn.Build(nn.MLP([]int{6}, []int{5}, 3), 1)
	if err != nil {
		f.Fatal(err)
	}
	p, err := Prepare(net)
	if err != nil {
		f.Fatal(err)
	}
	m, err := Quantize(p, randomRanges(rand.New(rand.NewPCG(1, 2)), 3), Options{WeightBits: 4})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(artifactBytes(f, m))
	f.Fuzz(func(t *testing.T, data []byte) {
		lim := safetensors.Limits{MaxFileBytes: 1 << 20, MaxHeaderBytes: 1 << 16, MaxElements: 1 << 16}
		m, err := Load(data, lim, 1)
		if err != nil {
			if !errors.Is(err, safetensors.ErrFormat) && !errors.Is(err, safetensors.ErrLimit) && !errors.Is(err, ErrNoActivations) {
				t.Fatalf("error %v wraps neither ErrFormat, ErrLimit nor ErrNoActivations", err)
			}
			return
		}
		for _, l := range m.Layers {
			if prod(l.In) > 1<<14 || prod(l.Out) > 1<<14 {
				return // valid but large: not worth running here
			}
		}
		x := make([]uint8, 2*prod(m.Input))
		for i := range x {
			x[i] = uint8(i * 37)
		}
		checkCodesRef(t, m, x, "accepted model")
		if _, err := Load(artifactBytes(t, m), lim, 1); err != nil {
			t.Fatalf("accepted model saves to an artifact Load refuses: %v", err)
		}
	})
}
