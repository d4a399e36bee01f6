package onnx

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compressq/compressq/compress/safetensors"
	"gorgonia.org/tensor"
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeMNIST(t *testing.T) {
	g, err := Decode(readTestdata(t, "mnist-8/model.onnx"), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if g.Opset != 7 {
		t.Errorf("opset = %d, want 7", g.Opset)
	}
	if len(g.Inputs) != 1 || g.Inputs[0].Name != "Input3" || !slices.Equal(g.Inputs[0].Shape, []int{1, 1, 28, 28}) {
		t.Errorf("inputs = %v", g.Inputs)
	}
	if len(g.Outputs) != 1 || !slices.Equal(g.Outputs[0].Shape, []int{1, 10}) {
		t.Errorf("outputs = %v", g.Outputs)
	}
	var ops []string
	for _, n := range g.Nodes {
		ops = append(ops, n.OpType)
	}
	want := "Reshape Conv Add Relu MaxPool Conv Add Relu MaxPool Reshape MatMul Add"
	if got := strings.Join(ops, " "); got != want {
		t.Errorf("ops = %s, want %s", got, want)
	}
	conv := g.Nodes[1]
	if a := conv.Attrs["auto_pad"]; a.Type != AttrString || a.S != "SAME_UPPER" {
		t.Errorf("Conv auto_pad = %+v", a)
	}
	if a := conv.Attrs["kernel_shape"]; a.Type != AttrInts || fmt.Sprint(a.Ints) != "[5 5]" {
		t.Errorf("Conv kernel_shape = %+v", a)
	}
	floats := 0
	for _, c := range g.Constants {
		floats += len(c.Float)
	}
	// 8·1·5·5 + 8 + 16·8·5·5 + 16 + 16·4·4·10 + 10
	if floats != 5994 {
		t.Errorf("float constants hold %d values, want 5994", floats)
	}
	if c := g.Constants["Parameter193_reshape1_shape"]; c == nil || fmt.Sprint(c.Int) != "[256 10]" {
		t.Errorf("shape constant = %+v", c)
	}
}

// referencePairs loads the zoo's three input/output TensorProto pairs.
func referencePairs(t testing.TB) (inputs, outputs []*Constant) {
	for i := 0; i < 3; i++ {
		dir := fmt.Sprintf("mnist-8/test_data_set_%d/", i)
		in, err := DecodeTensorProto(readTestdata(t, dir+"input_0.pb"), Limits{})
		if err != nil {
			t.Fatal(err)
		}
		out, err := DecodeTensorProto(readTestdata(t, dir+"output_0.pb"), Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(in.Shape, []int{1, 1, 28, 28}) || !slices.Equal(out.Shape, []int{1, 10}) {
			t.Fatalf("set %d: shapes %v → %v", i, in.Shape, out.Shape)
		}
		peak := float32(0)
		for _, v := range in.Float {
			peak = max(peak, v)
		}
		if peak != 255 {
			t.Fatalf("set %d: input peaks at %v; the zoo model takes raw pixels 0..255", i, peak)
		}
		inputs, outputs = append(inputs, in), append(outputs, out)
	}
	return inputs, outputs
}

// maxRelErr returns max |a−b| / max(1, |b|).
func maxRelErr(a, b []float32) float64 {
	m := 0.0
	for i := range a {
		m = math.Max(m, math.Abs(float64(a[i])-float64(b[i]))/math.Max(1, math.Abs(float64(b[i]))))
	}
	return m
}

// TestImportReference runs the imported zoo model on the zoo's three
// reference inputs. The logits reach magnitudes of ~10⁴, where one float32
// ulp is ~10⁻³, so the 1e-4 tolerance is relative: |got − want| ≤
// 1e-4 · max(1, |want|).
func TestImportReference(t *testing.T) {
	net, err := Import(readTestdata(t, "mnist-8/model.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	arch := net.Arch()
	var types []string
	for _, l := range arch.Layers {
		types = append(types, l.Type)
	}
	if got := strings.Join(types, " "); got != "conv2d relu maxpool2d conv2d relu maxpool2d flatten dense" {
		t.Errorf("layers = %s", got)
	}
	if arch.Layers[0].Pad != 2 || arch.Layers[3].Pad != 2 || arch.Layers[5].Kernel != 3 || arch.Layers[5].Stride != 3 {
		t.Errorf("conv pads %d/%d, pool2 %d/%d; want 2/2, 3/3", arch.Layers[0].Pad, arch.Layers[3].Pad, arch.Layers[5].Kernel, arch.Layers[5].Stride)
	}
	if n := net.NumParams(); n != 5994 {
		t.Errorf("NumParams = %d, want 5994", n)
	}
	inputs, outputs := referencePairs(t)
	for i := range inputs {
		x := tensor.New(tensor.WithShape(1, 1, 28, 28), tensor.WithBacking(append([]float32(nil), inputs[i].Float...)))
		y, err := net.Forward(x, false)
		if err != nil {
			t.Fatal(err)
		}
		got := y.Float32s()
		if e := maxRelErr(got, outputs[i].Float); e > 1e-4 {
			t.Errorf("set %d: relative error %.3g > 1e-4\n got  %v\n want %v", i, e, got, outputs[i].Float)
		} else {
			t.Logf("set %d: max relative error %.3g", i, e)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	mb := readTestdata(t, "mnist-8/model.onnx")
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"truncated", mb[:len(mb)/2], "onnx"},
		{"empty", nil, "no graph"},
		{"garbage", []byte{0xff, 0xff, 0xff}, "onnx"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(tc.data, Limits{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
	if _, err := Decode(mb, Limits{MaxBytes: 100}); !errors.Is(err, safetensors.ErrLimit) {
		t.Errorf("size limit: err = %v", err)
	}
	if _, err := Decode(mb, Limits{MaxElements: 1000}); !errors.Is(err, safetensors.ErrLimit) {
		t.Errorf("element limit: err = %v", err)
	}
}

// renameOps rewrites op_type strings in a serialized model. The
// replacement must have the same length so protobuf lengths stay valid.
func renameOps(model []byte, from, to string) []byte {
	return []byte(strings.ReplaceAll(string(model), "\x22"+string(rune(len(from)))+from, "\x22"+string(rune(len(to)))+to))
}

func TestImportUnsupportedOps(t *testing.T) {
	mb := readTestdata(t, "mnist-8/model.onnx")
	m := renameOps(mb, "Relu", "Celu")
	m = renameOps(m, "MaxPool", "LpPool7")
	g, err := Decode(m, Limits{})
	if err != nil {
		t.Fatalf("Decode: %v (it accepts any op)", err)
	}
	_, err = GraphToNetwork(g)
	var u *UnsupportedOpsError
	if !errors.As(err, &u) {
		t.Fatalf("err = %v, want *UnsupportedOpsError", err)
	}
	if len(u.Ops) != 2 || len(u.Ops["Celu"]) != 2 || len(u.Ops["LpPool7"]) != 2 {
		t.Errorf("unsupported = %v", u.Ops)
	}
	for _, s := range []string{`Celu (nodes "ReLU114", "ReLU32")`, `LpPool7 (nodes "Pooling160", "Pooling66")`} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q lacks %q", err, s)
		}
	}
}

func FuzzImport(f *testing.F) {
	mb, err := os.ReadFile("testdata/mnist-8/model.onnx")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(mb)
	f.Add(mb[:100])
	// Seed with ONNX's own backend test models where they are installed.
	if root, err := dpkgTestdata(); err == nil {
		for _, suite := range conformanceSuites[1:] {
			models, _ := filepath.Glob(filepath.Join(root, suite, "test_*", "model.onnx"))
			for _, m := range models {
				if b, err := os.ReadFile(m); err == nil && len(b) <= 1<<20 {
					f.Add(b)
				}
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := Decode(data, Limits{MaxElements: 1 << 16, MaxBytes: 1 << 20})
		if err != nil {
			return
		}
		net, err := GraphToNetwork(g)
		if err != nil {
			return
		}
		if net.NumParams() > 1<<20 {
			t.Fatalf("imported %d parameters from %d bytes", net.NumParams(), len(data))
		}
	})
}
