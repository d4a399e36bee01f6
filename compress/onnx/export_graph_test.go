package onnx

import (
	"bytes"
	"context"
	"errors"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/compressq/compressq/compress/model"
	"github.com/compressq/compressq/compress/nn"
	"github.com/compressq/compressq/compress/packed"
	"github.com/compressq/compressq/compress/qnn"
	"github.com/compressq/compressq/compress/quant"
	"github.com/compressq/compressq/compress/safetensors"
)

// relu6 is the clip layer of MobileNet's ReLU6.
var relu6 = nn.LayerSpec{Type: nn.TypeClip, Min: 0, Max: 6}

// residualGraph is a small ResNet: a stem conv + BatchNorm + ReLU, a basic
// block with an identity shortcut, one with a stride-2 1×1 conv + BatchNorm
// projection shortcut, global average pooling and a dense classifier.
func residualGraph() nn.Arch {
	return nn.Arch{Name: "resnet-blocks", Input: []int{3, 12, 12}, Layers: []nn.LayerSpec{
		{Type: nn.TypeConv2D, Filters: 8, Kernel: 3, Pad: 1}, // 0: stem
		{Type: nn.TypeBatchNorm},
		{Type: nn.TypeReLU},                                  // 2: block 1 input
		{Type: nn.TypeConv2D, Filters: 8, Kernel: 3, Pad: 1}, // 3
		{Type: nn.TypeBatchNorm},
		{Type: nn.TypeReLU},
		{Type: nn.TypeConv2D, Filters: 8, Kernel: 3, Pad: 1}, // 6
		{Type: nn.TypeBatchNorm},
		{Type: nn.TypeAdd, Inputs: []int{7, 2}},                          // 8: identity shortcut
		{Type: nn.TypeReLU},                                              // 9: block 2 input
		{Type: nn.TypeConv2D, Filters: 16, Kernel: 3, Stride: 2, Pad: 1}, // 10
		{Type: nn.TypeBatchNorm},
		{Type: nn.TypeReLU},
		{Type: nn.TypeConv2D, Filters: 16, Kernel: 3, Pad: 1}, // 13
		{Type: nn.TypeBatchNorm},
		{Type: nn.TypeConv2D, Filters: 16, Kernel: 1, Stride: 2, Inputs: []int{9}}, // 15: projection
		{Type: nn.TypeBatchNorm},
		{Type: nn.TypeAdd, Inputs: []int{14, 16}}, // 17
		{Type: nn.TypeReLU},
		{Type: nn.TypeGlobalAvgPool},
		{Type: nn.TypeFlatten},
		{Type: nn.TypeDense, Units: 5},
	}}
}

// separableGraph is MobileNet-style: a stride-2 stem with asymmetric
// ("same") padding, depthwise-separable blocks with BatchNorm and ReLU6, a
// dilated depthwise conv, a grouped pointwise conv, an inverted-residual
// Add, global max pooling and a dense classifier.
func separableGraph() nn.Arch {
	return nn.Arch{Name: "separable", Input: []int{4, 13, 13}, Layers: []nn.LayerSpec{
		{Type: nn.TypeConv2D, Filters: 16, Kernel: 3, Stride: 2, Pads: nn.Pads{0, 0, 1, 1}}, // 0: 7×7
		{Type: nn.TypeBatchNorm},
		relu6,
		{Type: nn.TypeConv2D, Filters: 16, Kernel: 3, Pad: 1, Groups: 16}, // 3: depthwise
		{Type: nn.TypeBatchNorm},
		relu6,
		{Type: nn.TypeConv2D, Filters: 32, Kernel: 1}, // 6: pointwise
		{Type: nn.TypeBatchNorm},
		relu6, // 8
		{Type: nn.TypeConv2D, Filters: 32, Kernel: 3, Pad: 2, Dilation: 2, Groups: 32}, // 9: dilated depthwise
		{Type: nn.TypeBatchNorm},
		relu6,
		{Type: nn.TypeConv2D, Filters: 32, Kernel: 1, Groups: 4}, // 12: grouped pointwise
		{Type: nn.TypeBatchNorm},
		{Type: nn.TypeAdd, Inputs: []int{13, 8}},                                                       // 14
		{Type: nn.TypeConv2D, Filters: 24, Kernel: 3, Stride: 2, Pads: nn.Pads{1, 0, 1, 2}, Groups: 8}, // 15: grouped, asymmetric
		relu6,
		{Type: nn.TypeGlobalMaxPool},
		{Type: nn.TypeFlatten},
		{Type: nn.TypeDense, Units: 6},
	}}
}

// concatGraph is Inception-style: four branches from the network input
// (1×1 conv, 3×3 conv, padded 3×3 max pooling, dilated conv) joined by a
// Concat, then ceil-mode pooling and a three-way residual Add.
func concatGraph() nn.Arch {
	in := []int{nn.InputNet}
	return nn.Arch{Name: "concat", Input: []int{3, 12, 12}, Layers: []nn.LayerSpec{
		{Type: nn.TypeConv2D, Filters: 6, Kernel: 1, Inputs: in}, // 0
		{Type: nn.TypeReLU},
		{Type: nn.TypeConv2D, Filters: 4, Kernel: 3, Pad: 1, Inputs: in}, // 2
		{Type: nn.TypeReLU},
		{Type: nn.TypeMaxPool2D, Kernel: 3, Stride: 1, Pad: 1, Inputs: in},                        // 4
		{Type: nn.TypeConv2D, Filters: 4, Kernel: 3, Pad: 2, Dilation: 2, Inputs: in},             // 5
		{Type: nn.TypeConcat, Inputs: []int{1, 3, 4, 5}},                                          // 6: [17, 12, 12]
		{Type: nn.TypeAvgPool2D, Kernel: 3, Stride: 2, Pad: 1, CeilMode: true},                    // 7: 7×7, count_include_pad 0
		{Type: nn.TypeMaxPool2D, Kernel: 2, Stride: 2, CeilMode: true},                            // 8: 4×4
		{Type: nn.TypeConv2D, Filters: 8, Kernel: 1},                                              // 9
		{Type: nn.TypeConv2D, Filters: 8, Kernel: 3, Pad: 1, Inputs: []int{8}},                    // 10
		{Type: nn.TypeConv2D, Filters: 8, Kernel: 3, Pads: nn.Pads{2, 0, 0, 2}, Inputs: []int{8}}, // 11
		{Type: nn.TypeAdd, Inputs: []int{9, 10, 11}},                                              // 12
		{Type: nn.TypeBatchNorm},
		{Type: nn.TypeFlatten},
		{Type: nn.TypeDense, Units: 7},
	}}
}

// poolingGraph runs one pooling variant per branch of the network input,
// each reduced by a global pool, and concatenates the results: ceil mode
// with and without an overhang, a window ceil mode drops (it would start
// in the end padding), count_include_pad with and without ceil mode, and
// asymmetric padding.
func poolingGraph() nn.Arch {
	in := []int{nn.InputNet}
	return nn.Arch{Name: "pooling", Input: []int{2, 9, 10}, Layers: []nn.LayerSpec{
		{Type: nn.TypeMaxPool2D, Kernel: 3, Stride: 2, Pad: 1, CeilMode: true, Inputs: in}, // 0
		{Type: nn.TypeGlobalAvgPool}, // 1
		{Type: nn.TypeAvgPool2D, Kernel: 2, Stride: 3, Pad: 1, CeilMode: true, Inputs: in}, // 2: a dropped window
		{Type: nn.TypeGlobalMaxPool}, // 3
		{Type: nn.TypeAvgPool2D, Kernel: 3, Stride: 2, Pad: 1, CeilMode: true, CountIncludePad: true, Inputs: in}, // 4: ceil_mode 1
		{Type: nn.TypeGlobalAvgPool}, // 5
		{Type: nn.TypeAvgPool2D, Kernel: 3, Stride: 2, Pads: nn.Pads{1, 2, 0, 1}, CountIncludePad: true, Inputs: in}, // 6
		{Type: nn.TypeGlobalAvgPool}, // 7
		{Type: nn.TypeMaxPool2D, Kernel: 3, Stride: 2, Pads: nn.Pads{0, 1, 2, 0}, CeilMode: true, Inputs: in}, // 8
		{Type: nn.TypeGlobalAvgPool}, // 9
		{Type: nn.TypeAvgPool2D, Kernel: 4, Stride: 3, Pads: nn.Pads{2, 1, 1, 3}, Inputs: in}, // 10
		{Type: nn.TypeGlobalMaxPool},                            // 11
		{Type: nn.TypeConcat, Inputs: []int{1, 3, 5, 7, 9, 11}}, // 12: [12, 1, 1]
		{Type: nn.TypeFlatten},
		{Type: nn.TypeDense, Units: 4},
	}}
}

// padAvgGraph has an average pooling with count_include_pad in ceil mode
// whose rows overhang the padding while a column window is dropped, which
// the exporter writes as Pad + AveragePool.
func padAvgGraph() nn.Arch {
	return nn.Arch{Name: "pad-avg", Input: []int{2, 9, 10}, Layers: []nn.LayerSpec{
		{Type: nn.TypeAvgPool2D, Kernel: 3, Stride: 3, Pads: nn.Pads{1, 2, 1, 2}, CeilMode: true, CountIncludePad: true}, // [2, 4, 4]
		{Type: nn.TypeFlatten},
		{Type: nn.TypeDense, Units: 4},
	}}
}

// activationGraph chains every activation between dense layers, with a
// reshape to [C, H, W] and back, a 1-D BatchNorm, a softmax in the middle
// and an identity as the last layer.
func activationGraph() nn.Arch {
	d := func(units int) nn.LayerSpec { return nn.LayerSpec{Type: nn.TypeDense, Units: units} }
	return nn.Arch{Name: "activations", Input: []int{12}, Layers: []nn.LayerSpec{
		d(16), {Type: nn.TypeLeakyReLU, Alpha: 0.1},
		d(16), {Type: nn.TypeSigmoid},
		d(16), {Type: nn.TypeTanh},
		d(16), {Type: nn.TypeHardSwish},
		d(16), {Type: nn.TypeHardSigmoid, Alpha: 0.3, Beta: 0.4},
		{Type: nn.TypeReshape, Shape: nn.Dims{4, 2, -1}},
		{Type: nn.TypeConv2D, Filters: 3, Kernel: 1},
		{Type: nn.TypeIdentity},
		{Type: nn.TypeReshape, Shape: nn.Dims{-1}},
		d(16), {Type: nn.TypeClip, Min: -1, Max: 1.5},
		{Type: nn.TypeBatchNorm},
		d(8), {Type: nn.TypeLeakyReLU},
		{Type: nn.TypeDropout, Rate: 0.2},
		{Type: nn.TypeSoftmax},
		d(5),
		{Type: nn.TypeIdentity},
	}}
}

// scaleDense multiplies every dense weight by f, so the pre-activations of
// activationGraph spread over the ranges where its activations bend (±3
// for the hard ones).
func scaleDense(net *nn.Network, f float32) {
	for _, l := range net.Layers() {
		if d, ok := l.(*nn.Dense); ok {
			for i := range d.W.Float32s() {
				d.W.Float32s()[i] *= f
			}
		}
	}
}

// graphCases are the float graph networks the export tests run.
var graphCases = []struct {
	name  string
	arch  func() nn.Arch
	setup func(*nn.Network)
	ops   map[string]int // op counts the export must have
	opset int64
	// importGap, if set, says why the importer cannot read the export
	// yet; the round trip is then tried, not required.
	importGap string
}{
	{"residual identity and projection shortcuts", residualGraph, nil,
		map[string]int{"Add": 2, "BatchNormalization": 6, "GlobalAveragePool": 1, "Conv": 6}, ExportOpset, ""},
	{"depthwise separable relu6", separableGraph, nil,
		map[string]int{"Clip": 5, "Conv": 6, "Add": 1, "GlobalMaxPool": 1}, ExportOpset, ""},
	{"concat branches", concatGraph, nil,
		map[string]int{"Concat": 1, "Add": 2, "AveragePool": 1, "MaxPool": 2}, ExportOpset, ""},
	{"pooling pads ceil count_include_pad", poolingGraph, nil,
		map[string]int{"Pad": 0, "AveragePool": 4, "MaxPool": 2, "Concat": 1}, ExportOpset, ""},
	{"average pooling count_include_pad ceil dropped window", padAvgGraph, nil,
		map[string]int{"Pad": 1, "AveragePool": 1}, ExportOpset, "the importer maps no Pad"},
	{"every activation", activationGraph, func(net *nn.Network) { scaleDense(net, 4) },
		map[string]int{"LeakyRelu": 2, "Sigmoid": 1, "Tanh": 1, "HardSwish": 1, "HardSigmoid": 1, "Clip": 1,
			"Softmax": 1, "Reshape": 2, "Identity": 1, "BatchNormalization": 1}, ExportOpsetHardSwish, ""},
}

// buildGraph builds a case's network with seed weights and non-trivial
// BatchNorm statistics.
func buildGraph(t *testing.T, a nn.Arch, setup func(*nn.Network)) *nn.Network {
	t.Helper()
	net, err := nn.Build(a, 11)
	if err != nil {
		t.Fatal(err)
	}
	setBatchNormStats(net)
	if setup != nil {
		setup(net)
	}
	return net
}

// tryRoundTrip re-imports an export and checks its logits, or, when the
// importer cannot read the graph (an op it does not map yet), logs why and
// returns false.
func tryRoundTrip(t *testing.T, net *nn.Network, model []byte, x []float32, n int) bool {
	t.Helper()
	g, err := Decode(model, Limits{})
	if err != nil {
		t.Fatalf("decode the export: %v", err)
	}
	if _, err := GraphToNetwork(g); err != nil {
		var u *UnsupportedOpsError
		if errors.As(err, &u) || errors.Is(err, ErrNotImportable) {
			t.Logf("round trip skipped: the importer does not read this export yet: %v", err)
			return false
		}
		t.Fatalf("re-import: %v", err)
	}
	checkRoundTrip(t, net, model, x, n)
	return true
}

// TestExportGraphs exports random-weight graph networks covering every
// layer type, checks the op mapping and the ONNX checker (full_check),
// runs them in ONNX Runtime against compressq's forward pass (1e-4 of each
// sample's largest logit) and checks that re-importing the export computes
// the same logits (tried only where a case names an importer gap).
func TestExportGraphs(t *testing.T) {
	for _, tc := range graphCases {
		t.Run(tc.name, func(t *testing.T) {
			net := buildGraph(t, tc.arch(), tc.setup)
			model, err := ExportNetwork(net, ExportOptions{ProducerVersion: "test"})
			if err != nil {
				t.Fatal(err)
			}
			g, err := Decode(model, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if g.Opset != tc.opset {
				t.Errorf("opset %d, want %d", g.Opset, tc.opset)
			}
			ops := opCounts(t, model)
			for op, want := range tc.ops {
				if ops[op] != want {
					t.Errorf("%d %s nodes, want %d (ops %v)", ops[op], op, want, ops)
				}
			}
			if ops["HardSigmoid"] > 0 && ops["Mul"] > 0 {
				t.Errorf("ops %v: hardswish written as HardSigmoid·Mul, want HardSwish", ops)
			}
			const n = 6
			x := randomInputs(n, net.InputShape())
			roundTrip := true
			if tc.importGap == "" {
				checkRoundTrip(t, net, model, x, n)
			} else {
				roundTrip = tryRoundTrip(t, net, model, x, n)
			}
			checkONNX(t, model)
			worst := checkORT(t, net, model, x, n)
			t.Logf("%d nodes, %d bytes, round trip %v; ONNX Runtime worst relative logit difference %.2g", len(g.Nodes), len(model), roundTrip, worst)
		})
	}
}

// TestExportGraphArtifacts exports compressed artifacts of a graph network
// (the residual blocks): int8 and int4 weights in QDQ form, k-means and
// sparse storage as float, and compares ONNX Runtime with the network
// compressq loads from each artifact.
func TestExportGraphArtifacts(t *testing.T) {
	net := buildGraph(t, residualGraph(), nil)
	kmeans := func(name string, v []float32, shape []int) packed.CompressedParam {
		s, err := quant.KMeans(v, 4, nil, 10)
		if err != nil {
			t.Fatal(err)
		}
		return packed.CompressedParam{Name: name, Shape: shape, Shared: s}
	}
	perChannel8 := quantized(t, quant.Params{Bits: 8, Scheme: quant.PerChannel, Symmetric: true})
	cases := []struct {
		name   string
		raw    []byte
		form   Form
		source string
		dq     int // DequantizeLinear nodes
	}{
		{"int8 per-channel", artifact(t, net, perChannel8, false), FormQDQ, "weight-only int8", 7},
		{"int4 per-channel", artifact(t, net, quantized(t, quant.Params{Bits: 4, Scheme: quant.PerChannel, Symmetric: true}), false), FormQDQ, "weight-only int4", 7},
		{"int8 per-tensor asymmetric", artifact(t, net, quantized(t, quant.Params{Bits: 8, Scheme: quant.PerTensor}), false), FormQDQ, "weight-only int8", 7},
		{"int8 dequantized", artifact(t, net, perChannel8, false), FormFloat, "float", 0},
		{"k-means", artifact(t, net, kmeans, false), FormFloat, "float", 0},
		{"sparse", artifact(t, net, nil, true), FormFloat, "float", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Export(context.Background(), tc.raw, Request{Form: tc.form})
			if err != nil {
				t.Fatal(err)
			}
			if res.Source != tc.source {
				t.Errorf("source %q, want %q", res.Source, tc.source)
			}
			ops := opCounts(t, res.ONNX)
			if ops["DequantizeLinear"] != tc.dq || ops["Add"] != 2 {
				t.Errorf("ops %v: want %d DequantizeLinear and 2 Add", ops, tc.dq)
			}
			loaded, err := model.Load(tc.raw, safetensors.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if loaded.Arch().IsChain() {
				t.Fatal("the artifact loads as a chain")
			}
			checkONNX(t, res.ONNX)
			const n = 5
			x := randomInputs(n, loaded.InputShape())
			worst := checkORT(t, loaded, res.ONNX, x, n)
			t.Logf("%d bytes (artifact %d), warnings %q; ONNX Runtime worst relative logit difference %.2g", len(res.ONNX), len(tc.raw), res.Warnings, worst)
		})
	}
}

// TestCeilOverhang checks the padding emitPool adds for ceil mode, and
// its test for a dropped window, against the window count nn computes.
func TestCeilOverhang(t *testing.T) {
	for in := 1; in <= 9; in++ {
		for k := 1; k <= 4; k++ {
			for s := 1; s <= 4; s++ {
				for lo := 0; lo < k; lo++ {
					for hi := 0; hi < k; hi++ {
						a := nn.Arch{Input: []int{1, in, 1}, Layers: []nn.LayerSpec{{Type: nn.TypeMaxPool2D, Kernel: k, Stride: s,
							Pads: nn.Pads{lo, 0, hi, 0}, CeilMode: true}}}
						if lo == 0 && hi == 0 {
							a.Layers[0].Pads = nn.Pads{}
						}
						a.Input[2] = k // one window across
						shapes, err := a.Shapes()
						if err != nil {
							continue // the window does not fit
						}
						e, dropped := ceilAxis(in, k, s, lo, hi)
						floor := (in+lo+hi+e-k)/s + 1
						ceil := (in+lo+hi-k+s-1)/s + 1
						if e < 0 || hi+e >= k || floor != shapes[1][1] || dropped != (ceil != shapes[1][1]) || dropped && e != 0 {
							t.Errorf("in %d kernel %d stride %d pads %d,%d: overhang %d (dropped %v) gives %d windows, nn %d", in, k, s, lo, hi, e, dropped, floor, shapes[1][1])
						}
					}
				}
			}
		}
	}
}

// TestExportGraphErrors checks that the integer-only export paths refuse
// graph networks and graph-shaped integer models with a clear error rather
// than writing a chain.
func TestExportGraphErrors(t *testing.T) {
	net := buildGraph(t, residualGraph(), nil)
	raw := artifact(t, net, nil, false)
	// With calibration data a graph exports as an integer-only model.
	for _, form := range []Form{FormQDQ, FormQOperator} {
		res, err := Export(context.Background(), raw, Request{Form: form, Calib: syntheticSet(20, []int{3, 12, 12})})
		if err != nil {
			t.Errorf("%s export of a graph with calibration data: %v", form, err)
			continue
		}
		if res.Source != "integer-only int8" || !bytes.Contains(res.ONNX, []byte("QuantizeLinear")) {
			t.Errorf("%s export of a graph with calibration data: source %q, %d bytes", form, res.Source, len(res.ONNX))
		}
	}

	// An integer chain model, then graph-shaped variants of it.
	a := nn.Arch{Input: []int{2, 6, 6}, Layers: []nn.LayerSpec{
		{Type: nn.TypeConv2D, Filters: 4, Kernel: 3, Pad: 1},
		{Type: nn.TypeReLU},
		{Type: nn.TypeConv2D, Filters: 2, Kernel: 3, Pad: 1},
		{Type: nn.TypeFlatten},
		{Type: nn.TypeDense, Units: 3},
	}}
	chain, err := nn.Build(a, 2)
	if err != nil {
		t.Fatal(err)
	}
	m := quantizeNet(t, chain, syntheticSet(50, a.Input), 50, nil)
	if _, err := ExportQuantized(m, FormQDQ, ExportOptions{}); err != nil {
		t.Fatalf("the chain: %v", err)
	}
	variant := func(edit func(ls []*qnn.Layer) []*qnn.Layer) *qnn.Model {
		ls := make([]*qnn.Layer, len(m.Layers))
		for i, l := range m.Layers {
			c := *l
			ls[i] = &c
		}
		v := &qnn.Model{Input: m.Input, InScale: m.InScale, InZero: m.InZero, LogitScale: m.LogitScale, Classes: m.Classes}
		v.Layers = edit(ls)
		return v
	}
	cases := []struct {
		name string
		m    *qnn.Model
		want string
	}{
		{"residual add", variant(func(ls []*qnn.Layer) []*qnn.Layer {
			add := *ls[1]
			add.Kind = "add"
			return append(ls[:2], append([]*qnn.Layer{&add}, ls[2:]...)...)
		}), `kind "add" has no QDQ/QOperator mapping`},
		{"branch from the input", variant(func(ls []*qnn.Layer) []*qnn.Layer {
			return append([]*qnn.Layer{ls[0]}, ls...) // a second conv reads the network input
		}), "does not follow the previous output"},
		{"logits in the middle", variant(func(ls []*qnn.Layer) []*qnn.Layer {
			ls[0].Logits = true
			return ls
		}), "logits flag"},
	}
	// A real integer graph model: qnn quantizes a residual network.
	res := nn.Arch{Input: []int{1, 6, 6}, Layers: []nn.LayerSpec{
		{Type: nn.TypeConv2D, Filters: 2, Kernel: 3, Pad: 1},
		{Type: nn.TypeReLU},
		{Type: nn.TypeConv2D, Filters: 2, Kernel: 3, Pad: 1},
		{Type: nn.TypeAdd, Inputs: []int{2, 1}},
		{Type: nn.TypeFlatten},
		{Type: nn.TypeDense, Units: 3},
	}}
	rnet, err := nn.Build(res, 3)
	if err != nil {
		t.Fatal(err)
	}
	cases = append(cases, struct {
		name string
		m    *qnn.Model
		want string
	}{"qnn graph model", quantizeNet(t, rnet, syntheticSet(50, res.Input), 50, nil), "the integer model is a graph"})
	for _, tc := range cases {
		for _, form := range []Form{FormQDQ, FormQOperator} {
			_, err := ExportQuantized(tc.m, form, ExportOptions{})
			if tc.name == "qnn graph model" {
				if err != nil { // written by exportGraph
					t.Errorf("%s (%s): %v", tc.name, form, err)
				}
				continue
			}
			if !errors.Is(err, ErrNotExportable) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s (%s): %v, want ErrNotExportable saying %q", tc.name, form, err, tc.want)
			}
		}
	}
}

// pytorchPairs returns the reference input and PyTorch's logits of each
// test_data_set of a fixture.
func pytorchPairs(t *testing.T, name string) (inputs, outputs []*Constant) {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join("testdata", "pytorch", name, "test_data_set_*"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("%s: no reference sets (%v)", name, err)
	}
	for _, dir := range dirs {
		in, err := readPB(filepath.Join(dir, "input_0.pb"))
		if err != nil {
			t.Fatal(err)
		}
		out, err := readPB(filepath.Join(dir, "output_0.pb"))
		if err != nil {
			t.Fatal(err)
		}
		inputs, outputs = append(inputs, in), append(outputs, out)
	}
	return inputs, outputs
}

// pytorchRtol and pytorchAtol bound the difference from PyTorch's logits:
// |got − want| ≤ pytorchRtol·|want| + pytorchAtol. The absolute term is
// for logits near zero, whose error is set by the float32 sums behind them
// (the fixtures' logits reach |11|, where one float32 ulp is 9.5e-7; the
// conv stacks and their summation order differ between PyTorch, ONNX
// Runtime and compressq). Measured worst: 1.1e-5.
const (
	pytorchRtol = 1e-4
	pytorchAtol = 5e-5
)

// checkPyTorch fails t if got and want differ by more than pytorchRtol
// relative plus pytorchAtol; it returns the worst absolute difference.
func checkPyTorch(t *testing.T, what string, got, want []float32) float64 {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d logits, want %d", what, len(got), len(want))
	}
	worst := 0.0
	for i, w := range want {
		d := math.Abs(float64(got[i]) - float64(w))
		worst = max(worst, d)
		if !(d <= pytorchRtol*math.Abs(float64(w))+pytorchAtol) {
			t.Errorf("%s: logit %d = %g, PyTorch %g (difference %.2g > %g·|want| + %g)", what, i, got[i], w, d, pytorchRtol, pytorchAtol)
		}
	}
	return worst
}

// TestExportPyTorchRoundTrip imports the PyTorch-exported ResNet and
// MobileNet fixtures, exports them again, checks the export (full_check),
// re-imports it, and runs it in ONNX Runtime on the reference inputs: ONNX
// Runtime's logits on the export, and compressq's on the import and the
// re-import, must match PyTorch's.
func TestExportPyTorchRoundTrip(t *testing.T) {
	for _, name := range torchModels {
		t.Run(name, func(t *testing.T) {
			raw := readTestdata(t, filepath.Join("pytorch", name+".onnx"))
			net, _ := torchFixture(t, name)
			if name == "resnet" && net.Arch().IsChain() {
				t.Fatal("resnet imports as a chain, want a graph with residual adds")
			}
			opts := ExportOptions{ProducerVersion: "test", Preprocessing: &Preprocessing{PixelScale: 1.0 / 255, Mean: []float32{0}, Std: []float32{1}}}
			model, err := ExportNetwork(net, opts)
			if err != nil {
				t.Fatal(err)
			}
			// The recipe, given the ONNX file, writes the same model.
			res, err := Export(context.Background(), raw, Request{Options: opts})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(res.ONNX, model) || res.Source != "float" || len(res.Warnings) != 0 {
				t.Errorf("Export of the ONNX file: %d bytes, source %q, warnings %q; want the %d bytes of ExportNetwork", len(res.ONNX), res.Source, res.Warnings, len(model))
			}
			checkONNX(t, model)
			back, err := Import(model)
			if err != nil {
				t.Fatalf("re-import the export: %v", err)
			}
			inputs, outputs := pytorchPairs(t, name)
			for k, in := range inputs {
				n := in.Shape[0]
				want := outputs[k].Float
				out := runORT(t, model, map[string]ortTensor{InputName: float32Input(in.Shape, in.Float)}, 1)
				ortWorst := checkPyTorch(t, "ONNX Runtime on the export", out[OutputName].float32s(t), want)
				impWorst := checkPyTorch(t, "compressq on the import", forward(t, net, in.Float, n), want)
				backWorst := checkPyTorch(t, "compressq on the re-import", forward(t, back, in.Float, n), want)
				t.Logf("set %d (%d images): worst |difference| from PyTorch: ONNX Runtime on the export %.2g, compressq on the import %.2g, on the re-import %.2g",
					k, n, ortWorst, impWorst, backWorst)
			}
			t.Logf("export: %d bytes, ops %v", len(model), opCounts(t, model))
		})
	}
}

// TestExportPyTorchMNIST runs the re-exported PyTorch fixtures in ONNX
// Runtime on the 10,000 MNIST test images ([0, 1] pixels, as they were
// trained): the error count must be PyTorch's (reference.json), and every
// image's top-1 class compressq's.
func TestExportPyTorchMNIST(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the MNIST test set")
	}
	_, test := mnistUnitRange(t)
	for _, name := range torchModels {
		t.Run(name, func(t *testing.T) {
			net, ref := torchFixture(t, name)
			if ref.TestImages != test.Len() {
				t.Fatalf("reference.json counts %d test images, MNIST has %d", ref.TestImages, test.Len())
			}
			model, err := ExportNetwork(net, ExportOptions{})
			if err != nil {
				t.Fatal(err)
			}
			n := test.Len()
			out := runORT(t, model, map[string]ortTensor{InputName: float32Input(append([]int{n}, net.InputShape()...), test.Images)}, 1)
			got := out[OutputName].float32s(t)
			mine := forward(t, net, test.Images, n)
			classes := len(got) / n
			errs, disagree := 0, 0
			for i := range n {
				o := argmax(got[i*classes : (i+1)*classes])
				if o != test.Labels[i] {
					errs++
				}
				if o != argmax(mine[i*classes:(i+1)*classes]) {
					disagree++
				}
			}
			t.Logf("ONNX Runtime on the export: %d errors in %d images (PyTorch %d); top-1 differs from compressq on %d", errs, n, ref.TestErrors, disagree)
			if errs != ref.TestErrors || disagree != 0 {
				t.Errorf("%d errors (PyTorch %d), %d top-1 disagreements with compressq", errs, ref.TestErrors, disagree)
			}
		})
	}
}

func argmax(v []float32) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}
