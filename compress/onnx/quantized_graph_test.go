package onnx

import (
	"errors"
	"strings"
	"testing"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/compress/nn"
	"github.com/compressq/compressq/compress/qnn"
)

// qdqGraph is a small graph with every integer graph step the QDQ exporter
// maps: a conv with fused ReLU6, an asymmetrically padded depthwise conv
// with fused ReLU, a dilated conv and a padded max pooling of the network
// input followed by a standalone ReLU (codes with a non-zero zero point),
// a Concat of three branches, a standalone Clip after it, ceil-mode
// max pooling, a residual Add with fused ReLU, a strided conv, global
// average pooling, a Reshape and a dense classifier.
func qdqGraph() nn.Arch {
	in := []int{nn.InputNet}
	return nn.Arch{Name: "qdq-graph", Input: []int{3, 11, 11}, Layers: []nn.LayerSpec{
		{Type: nn.TypeConv2D, Filters: 8, Kernel: 3, Pad: 1, Inputs: in}, // 0
		relu6,
		{Type: nn.TypeConv2D, Filters: 8, Kernel: 3, Pads: nn.Pads{1, 0, 1, 2}, Groups: 8}, // 2: depthwise
		{Type: nn.TypeReLU},
		{Type: nn.TypeConv2D, Filters: 4, Kernel: 3, Pad: 2, Dilation: 2, Inputs: in}, // 4
		{Type: nn.TypeMaxPool2D, Kernel: 3, Stride: 1, Pad: 1, Inputs: in},            // 5
		{Type: nn.TypeReLU},                                            // 6: standalone
		{Type: nn.TypeConcat, Inputs: []int{3, 4, 6}},                  // 7: [15, 11, 11]
		{Type: nn.TypeClip, Min: -0.1, Max: 0.5},                       // 8: standalone
		{Type: nn.TypeMaxPool2D, Kernel: 2, Stride: 2, CeilMode: true}, // 9: [15, 6, 6]
		{Type: nn.TypeConv2D, Filters: 15, Kernel: 1},                  // 10
		{Type: nn.TypeAdd, Inputs: []int{10, 9}},                       // 11
		{Type: nn.TypeReLU},
		{Type: nn.TypeConv2D, Filters: 16, Kernel: 3, Stride: 2, Pad: 1}, // 13: [16, 3, 3]
		{Type: nn.TypeGlobalAvgPool},
		{Type: nn.TypeReshape, Shape: nn.Dims{-1}},
		{Type: nn.TypeDense, Units: 10},
	}}
}

// TestExportQuantizedGraphSynthetic quantizes seed-weight graph networks
// (qdqGraph, the residual and the separable graph of the float export
// tests) with min/max calibration on random inputs, exports them in QDQ
// and QOperator form, checks them with the ONNX checker and compares ONNX Runtime's
// top-1 with the integer path on those inputs (≥ 99%), in both forms.
func TestExportQuantizedGraphSynthetic(t *testing.T) {
	for _, a := range []nn.Arch{qdqGraph(), residualGraph(), separableGraph()} {
		t.Run(a.Name, func(t *testing.T) {
			net, err := nn.Build(a, 5)
			if err != nil {
				t.Fatal(err)
			}
			set := syntheticSet(300, a.Input)
			m := quantizeNet(t, net, set, 300, nil)
			if !m.Graph() {
				t.Fatal("qnn built a chain model")
			}
			kinds := map[string]int{}
			for _, l := range m.Layers {
				kinds[l.Kind]++
			}
			for _, form := range []Form{FormQDQ, FormQOperator} {
				t.Run(string(form), func(t *testing.T) {
					model, err := ExportQuantized(m, form, ExportOptions{})
					if err != nil {
						t.Fatal(err)
					}
					checkONNX(t, model)
					ops := opCounts(t, model)
					want := map[string]int{
						"Add":               kinds[qnn.KindAdd],
						"Concat":            kinds[qnn.KindConcat],
						"GlobalAveragePool": kinds[qnn.KindGlobalAvgPool],
						"Gemm":              kinds[qnn.KindDense],
						"Conv":              kinds[qnn.KindConv] + kinds[qnn.KindDepthwise],
					}
					if form == FormQOperator {
						// Convs are QLinearConv, dense layers MatMulInteger;
						// a conv logits layer is a float Conv; each dense layer
						// adds its int32 bias with an Add.
						want["Gemm"], want["Conv"] = 0, 0
						want["Add"] += kinds[qnn.KindDense]
						want["MatMulInteger"] = kinds[qnn.KindDense]
						want["QLinearConv"] = kinds[qnn.KindConv] + kinds[qnn.KindDepthwise]
						if last := m.Layers[len(m.Layers)-1]; last.Kind == qnn.KindConv {
							want["QLinearConv"]--
							want["Conv"] = 1
						}
					}
					for op, n := range want {
						if ops[op] != n {
							t.Errorf("%d %s nodes, want %d (integer layers %v)", ops[op], op, n, kinds)
						}
					}
					if a.Name == "qdq-graph" && (kinds[qnn.KindClip] != 1 || kinds[qnn.KindReLU] != 1 || kinds[qnn.KindDepthwise] != 1 || ops["Clip"] == 0) {
						t.Errorf("integer layers %v, ops %v: want a standalone clip and relu, a depthwise conv and a Clip node", kinds, ops)
					}
					agree, _, _ := agreement(t, m, model, set, form)
					t.Logf("%d bytes, integer layers %v, ops %v; top-1 agreement with the integer path %d/%d", len(model), kinds, ops, agree, set.Len())
					if agree < set.Len()*99/100 {
						t.Errorf("top-1 agreement %d/%d < 99%%", agree, set.Len())
					}
				})
			}
		})
	}
}

// TestExportQuantizedGraphBadInput checks that graph models the exporter
// would write wrongly are refused with an error naming the layer.
func TestExportQuantizedGraphBadInput(t *testing.T) {
	a := qdqGraph()
	net, err := nn.Build(a, 5)
	if err != nil {
		t.Fatal(err)
	}
	m := quantizeNet(t, net, syntheticSet(50, a.Input), 50, nil)
	// variant edits copies of m's layers; the model itself cannot be
	// copied (qnn.Model holds a sync.Pool), so each case swaps them in.
	variant := func(edit func(ls []*qnn.Layer)) []*qnn.Layer {
		ls := make([]*qnn.Layer, len(m.Layers))
		for i, l := range m.Layers {
			c := *l
			ls[i] = &c
		}
		edit(ls)
		return ls
	}
	cases := []struct {
		name   string
		layers []*qnn.Layer
		want   string
	}{
		{"forward reference", variant(func(ls []*qnn.Layer) { ls[0].Inputs = []int{3} }), "quantized layer 0 (conv2d): inputs[0] = 3 is not the network input"},
		{"unknown kind", variant(func(ls []*qnn.Layer) { ls[1].Kind = "softmax" }), `quantized layer 1 (softmax): kind has no QDQ/QOperator mapping`},
		{"add of one input", variant(func(ls []*qnn.Layer) {
			for _, l := range ls {
				if l.Kind == qnn.KindAdd {
					l.Inputs = l.Inputs[:1]
				}
			}
		}), "(add): 1 inputs"},
		{"concat channels", variant(func(ls []*qnn.Layer) {
			for _, l := range ls {
				if l.Kind == qnn.KindConcat {
					l.Out = []int{14, 11, 11}
				}
			}
		}), "(concat): inputs have 15 channels in all, the output [14 11 11]"},
		{"add shapes", variant(func(ls []*qnn.Layer) {
			for _, l := range ls {
				if l.Kind == qnn.KindAdd {
					l.Out = []int{15, 5, 5}
				}
			}
		}), "(add): inputs[0] has shape [15 6 6], the sum [15 5 5]"},
		{"shape mismatch", variant(func(ls []*qnn.Layer) { ls[1].In = []int{9, 9, 9} }), "input shape [9 9 9]"},
		{"logits in the middle", variant(func(ls []*qnn.Layer) { ls[0].Logits = true }), "logits flag true"},
	}
	orig := m.Layers
	for _, tc := range cases {
		m.Layers = tc.layers
		_, err := ExportQuantized(m, FormQDQ, ExportOptions{})
		m.Layers = orig
		if !errors.Is(err, ErrNotExportable) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want ErrNotExportable saying %q", tc.name, err, tc.want)
		}
	}
}

// TestExportQuantizedGraphMNIST imports the PyTorch ResNet and MobileNet
// fixtures, quantizes them (min/max calibration on 1,000 MNIST training
// images, pixels/255 so raw pixels are the input codes), exports them in
// QDQ and QOperator form and runs them in ONNX Runtime on the 10,000 test images: top-1
// must agree with compressq's integer path on ≥ 99.5% of images and the
// accuracies must be within 0.2 pt.
//
//	go test ./compress/onnx -run TestExportQuantizedGraphMNIST -v
func TestExportQuantizedGraphMNIST(t *testing.T) {
	if testing.Short() {
		t.Skip("quantizes and evaluates on MNIST")
	}
	train, test := mnistUnitRange(t)
	norm := data.UnitRange()
	for _, name := range torchModels {
		t.Run(name, func(t *testing.T) {
			net, _ := torchFixture(t, name)
			m := quantizeNet(t, net, train, 1000, &norm)
			if !m.Graph() {
				t.Fatal("qnn built a chain model")
			}
			pre := PreprocessingFromNormalization(norm)
			for _, form := range []Form{FormQDQ, FormQOperator} {
				t.Run(string(form), func(t *testing.T) {
					model, err := ExportQuantized(m, form, ExportOptions{Preprocessing: &pre})
					if err != nil {
						t.Fatal(err)
					}
					checkONNX(t, model)
					agree, ortAcc, intAcc := agreement(t, m, model, test, form)
					rate := float64(agree) / float64(test.Len())
					t.Logf("%s %s (%d bytes): top-1 agreement %.4f (%d of %d differ); accuracy ONNX Runtime %.4f, compressq int8 %.4f (%+.2f pt)",
						name, form, len(model), rate, test.Len()-agree, test.Len(), ortAcc, intAcc, 100*(ortAcc-intAcc))
					if rate < 0.995 {
						t.Errorf("top-1 agreement %.4f < 0.995", rate)
					}
					if d := ortAcc - intAcc; d > 0.002 || d < -0.002 {
						t.Errorf("accuracy differs by %.2f pt (> 0.2)", 100*d)
					}
				})
			}
		})
	}
}
