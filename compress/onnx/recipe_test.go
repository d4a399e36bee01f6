package onnx

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/compress/model"
	"github.com/compressq/compressq/compress/nn"
	"github.com/compressq/compressq/compress/packed"
	"github.com/compressq/compressq/compress/prune"
	"github.com/compressq/compressq/compress/qnn"
	"github.com/compressq/compressq/compress/quant"
	"github.com/compressq/compressq/compress/safetensors"
)

// artifact writes net as a compressed artifact, each weight encoded by
// enc (nil: float32), biases float32, every parameter stored sparsely
// when sparse is set.
func artifact(t *testing.T, net *nn.Network, enc func(name string, v []float32, shape []int) packed.CompressedParam, sparse bool) []byte {
	t.Helper()
	arch, err := json.Marshal(net.Arch())
	if err != nil {
		t.Fatal(err)
	}
	c := &packed.Compressed{Arch: string(arch)}
	for _, p := range net.Params() {
		v, shape := p.Value.Float32s(), []int(p.Value.Shape())
		cp := packed.CompressedParam{Name: p.Name, Shape: shape, Values: append([]float32(nil), v...)}
		if enc != nil && strings.HasSuffix(p.Name, ".weight") {
			cp = enc(p.Name, v, shape)
		}
		cp.Sparse = sparse && cp.Quantized == nil || sparse && cp.Quantized.Bits == 8
		c.Params = append(c.Params, cp)
	}
	var buf bytes.Buffer
	if err := packed.WriteCompressed(&buf, c); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func quantized(t *testing.T, p quant.Params) func(string, []float32, []int) packed.CompressedParam {
	return func(name string, v []float32, shape []int) packed.CompressedParam {
		q, err := quant.QuantizeTensor(v, shape, p)
		if err != nil {
			t.Fatal(err)
		}
		return packed.CompressedParam{Name: name, Shape: shape, Quantized: q}
	}
}

// TestExportArtifacts exports compressed artifacts of a LeNet-5 (seed
// weights, half of them pruned) — int8 and int4 per channel, int8 per
// tensor asymmetric, k-means, sparse — in the forms they allow, checks
// the warnings, runs the ONNX checker and compares ONNX Runtime's logits
// with the dequantized network compressq loads from the artifact.
func TestExportArtifacts(t *testing.T) {
	a, _ := nn.ArchByName("lenet-5")
	net, err := nn.Build(a, 5)
	if err != nil {
		t.Fatal(err)
	}
	if err := prune.Magnitude(net, map[string]float64{"layers.5.weight": 0.9, "layers.2.weight": 0.5}); err != nil {
		t.Fatal(err)
	}
	kmeans := func(name string, v []float32, shape []int) packed.CompressedParam {
		s, err := quant.KMeans(v, 4, nil, 10)
		if err != nil {
			t.Fatal(err)
		}
		return packed.CompressedParam{Name: name, Shape: shape, Shared: s}
	}
	cases := []struct {
		name     string
		raw      []byte
		forms    []Form
		warnings []string // substrings, one per expected warning
		source   string
		dq       int // DequantizeLinear nodes in the qdq form
	}{
		{"int8 per-channel", artifact(t, net, quantized(t, quant.Params{Bits: 8, Scheme: quant.PerChannel, Symmetric: true}), false),
			[]Form{FormQDQ, FormFloat}, nil, "weight-only int8", 4},
		{"int8 per-tensor asymmetric", artifact(t, net, quantized(t, quant.Params{Bits: 8, Scheme: quant.PerTensor}), false),
			[]Form{FormQDQ}, nil, "weight-only int8", 4},
		{"int4 per-channel", artifact(t, net, quantized(t, quant.Params{Bits: 4, Scheme: quant.PerChannel, Symmetric: true}), false),
			[]Form{FormQDQ}, []string{"int4 codes are widened"}, "weight-only int4", 4},
		{"k-means", artifact(t, net, kmeans, false), []Form{FormFloat}, []string{"k-means weight sharing is lost"}, "float", 0},
		{"sparse int8", artifact(t, net, quantized(t, quant.Params{Bits: 8, Scheme: quant.PerChannel, Symmetric: true}), true),
			[]Form{FormQDQ}, []string{"sparse storage is lost"}, "weight-only int8", 4},
	}
	for _, tc := range cases {
		for _, form := range tc.forms {
			t.Run(tc.name+"/"+string(form), func(t *testing.T) {
				res, err := Export(context.Background(), tc.raw, Request{Form: form})
				if err != nil {
					t.Fatal(err)
				}
				want := tc.warnings
				if form == FormFloat && tc.source != "float" {
					want = append(want, "dequantized to float32")
				}
				if len(res.Warnings) != len(want) {
					t.Fatalf("warnings %q, want %d matching %q", res.Warnings, len(want), want)
				}
				for i, w := range want {
					if !strings.Contains(res.Warnings[i], w) {
						t.Errorf("warning %q does not say %q", res.Warnings[i], w)
					}
				}
				if form == FormQDQ && res.Source != tc.source {
					t.Errorf("source %q, want %q", res.Source, tc.source)
				}
				ops := opCounts(t, res.ONNX)
				if form == FormQDQ && ops["DequantizeLinear"] != tc.dq {
					t.Errorf("ops %v: want %d DequantizeLinear", ops, tc.dq)
				}
				loaded, err := model.Load(tc.raw, safetensors.Limits{})
				if err != nil {
					t.Fatal(err)
				}
				checkONNX(t, res.ONNX)
				const n = 5
				x := randomInputs(n, loaded.InputShape())
				worst := checkORT(t, loaded, res.ONNX, x, n)
				t.Logf("%d bytes (artifact %d), ops %v, warnings %q; ONNX Runtime worst relative logit difference %.2g",
					len(res.ONNX), len(tc.raw), ops, res.Warnings, worst)
			})
		}
	}
}

// TestExportRequestErrors checks that requests Export cannot serve fail
// with an input error naming the field.
func TestExportRequestErrors(t *testing.T) {
	a, _ := nn.ArchByName("lenet-300-100")
	net, err := nn.Build(a, 1)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := model.Save(&buf, net); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		raw  []byte
		req  Request
		want string
	}{
		{"bad form", buf.Bytes(), Request{Form: "int3"}, "form"},
		{"qdq of a float model without data", buf.Bytes(), Request{Form: FormQDQ}, "needs calibration data"},
		{"qoperator without data", buf.Bytes(), Request{Form: FormQOperator}, "qoperator needs calibration data"},
		{"garbage", []byte("not a model at all"), Request{}, "ONNX"},
		{"truncated safetensors", buf.Bytes()[:100], Request{}, "safetensors"},
		{"ONNX model over the size limit", readTestdata(t, "mnist-8/model.onnx"), Request{Limits: safetensors.Limits{MaxFileBytes: 1000}}, "limit"},
		{"bad calibration", buf.Bytes(), Request{Form: FormQDQ, Calib: syntheticSet(10, []int{1, 28, 28}), Calibration: "vibes"}, "calibration"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Export(context.Background(), tc.raw, tc.req)
			if err == nil {
				t.Fatal("no error")
			}
			if !IsInputError(err) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q (input error %v), want an input error mentioning %q", err, IsInputError(err), tc.want)
			}
		})
	}
}

// TestExportRecipeIntegerMNIST runs the recipe end to end on a model file:
// a briefly trained LeNet-5 saved as a model file, exported in both
// integer forms with calibration data, and run in ONNX Runtime.
func TestExportRecipeIntegerMNIST(t *testing.T) {
	if testing.Short() {
		t.Skip("trains on MNIST")
	}
	train, test := mnistUnitRange(t)
	net := trained(t, "lenet-5")
	var buf bytes.Buffer
	if err := model.Save(&buf, net); err != nil {
		t.Fatal(err)
	}
	norm := data.UnitRange()
	m := quantizeNet(t, net, train, 1000, &norm)
	sub := test.Subset(2000)
	for _, form := range []Form{FormQDQ, FormQOperator} {
		t.Run(string(form), func(t *testing.T) {
			res, err := Export(context.Background(), buf.Bytes(), Request{Form: form, Calib: train, InputNorm: &norm})
			if err != nil {
				t.Fatal(err)
			}
			if res.Source != "integer-only int8" || len(res.Warnings) != 0 {
				t.Errorf("source %q, warnings %q", res.Source, res.Warnings)
			}
			agree, ortAcc, intAcc := agreement(t, m, res.ONNX, sub, form)
			t.Logf("%s: top-1 agreement %d/%d, accuracy ORT %.4f, compressq %.4f", form, agree, sub.Len(), ortAcc, intAcc)
			if agree < sub.Len()*995/1000 {
				t.Errorf("%s: top-1 agreement %d/%d < 99.5%%", form, agree, sub.Len())
			}
		})
	}
	var ie *InvalidRequestError
	if _, err := Export(context.Background(), buf.Bytes(), Request{Form: FormQOperator}); !errors.As(err, &ie) || ie.Field != "form" {
		t.Errorf("qoperator without data: %v", err)
	}
}

// TestExportStoredIntegerArtifact exports an artifact that stores an
// integer-only model (the fixture compress/qnn wrote: a depthwise conv, an
// Add and a Concat) as QDQ and QOperator with no calibration data: the
// ONNX files are exactly ExportQuantized of the stored model.
func TestExportStoredIntegerArtifact(t *testing.T) {
	raw, err := os.ReadFile("../packed/testdata/int8-v2.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	m, err := qnn.Load(raw, safetensors.Limits{}, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, form := range []Form{FormQDQ, FormQOperator} {
		res, err := Export(context.Background(), raw, Request{Form: form})
		if err != nil {
			t.Fatalf("%s: %v", form, err)
		}
		want, err := ExportQuantized(m, form, ExportOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(res.Source, "stored activation scales") || !bytes.Equal(res.ONNX, want) {
			t.Fatalf("%s: source %q; file equal to ExportQuantized of the stored model: %v", form, res.Source, bytes.Equal(res.ONNX, want))
		}
	}
}
