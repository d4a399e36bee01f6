package onnx

import (
	"errors"
	"math"
	"strings"
	"testing"

	"gorgonia.org/tensor"
)

// chainGraph builds a graph with input "x" of shape in, the given nodes and
// constants, and output out.
func chainGraph(in []int, out string, consts map[string]*Constant, nodes ...Node) *Graph {
	return &Graph{Opset: 13, Inputs: []ValueInfo{{Name: "x", Shape: in}}, Outputs: []ValueInfo{{Name: out}},
		Nodes: nodes, Constants: consts}
}

func node(op string, in []string, out string, attrs ...Attr) Node {
	n := Node{Name: op + "_" + out, OpType: op, Inputs: in, Outputs: []string{out}, Attrs: map[string]Attr{}}
	for _, a := range attrs {
		n.Attrs[a.Name] = a
	}
	return n
}

func intsAttr(name string, v ...int64) Attr { return Attr{Name: name, Type: AttrInts, Ints: v} }

func seq(n int, scale float32) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = scale * float32(i%7-3)
	}
	return v
}

// TestGemmVsMatMul checks both dense spellings, with the weight transposed
// or not, give y = x·W + b computed by hand.
func TestGemmVsMatMul(t *testing.T) {
	// W is [K=3, N=2]; Wt is its transpose [2, 3].
	w := []float32{1, 2, 3, 4, 5, 6}
	wt := []float32{1, 3, 5, 2, 4, 6}
	b := []float32{0.5, -1}
	x := []float32{1, -1, 2}
	want := []float32{1*1 - 3 + 2*5 + 0.5, 2 - 4 + 12 - 1}
	graphs := map[string]*Graph{
		"matmul+add": chainGraph([]int{1, 3}, "y", map[string]*Constant{
			"W": {Shape: []int{3, 2}, Float: w}, "b": {Shape: []int{1, 2}, Float: b}},
			node("MatMul", []string{"x", "W"}, "h"), node("Add", []string{"h", "b"}, "y")),
		"gemm": chainGraph([]int{1, 3}, "y", map[string]*Constant{
			"W": {Shape: []int{3, 2}, Float: w}, "b": {Shape: []int{2}, Float: b}},
			node("Gemm", []string{"x", "W", "b"}, "y")),
		"gemm transB": chainGraph([]int{1, 3}, "y", map[string]*Constant{
			"W": {Shape: []int{2, 3}, Float: wt}, "b": {Shape: []int{2}, Float: b}},
			node("Gemm", []string{"x", "W", "b"}, "y", Attr{Name: "transB", Type: AttrInt, I: 1})),
	}
	for name, g := range graphs {
		t.Run(name, func(t *testing.T) {
			net, err := GraphToNetwork(g)
			if err != nil {
				t.Fatal(err)
			}
			y, err := net.Forward(tensor.New(tensor.WithShape(1, 3), tensor.WithBacking(append([]float32(nil), x...))), false)
			if err != nil {
				t.Fatal(err)
			}
			for i, v := range y.Float32s() {
				if math.Abs(float64(v-want[i])) > 1e-6 {
					t.Fatalf("y = %v, want %v", y.Float32s(), want)
				}
			}
		})
	}
}

func TestGraphToNetworkRejects(t *testing.T) {
	conv := func(attrs ...Attr) *Graph {
		return chainGraph([]int{1, 1, 6, 6}, "y", map[string]*Constant{"W": {Shape: []int{2, 1, 3, 3}, Float: seq(18, 0.1)}},
			node("Conv", []string{"x", "W"}, "y", attrs...))
	}
	tests := []struct {
		name string
		g    *Graph
		want string
	}{
		{"two inputs", &Graph{Inputs: []ValueInfo{{Name: "a"}, {Name: "b"}}, Outputs: []ValueInfo{{Name: "y"}}}, "2 data inputs"},
		{"symbolic batch only", chainGraph([]int{-1, -1}, "y", nil), "fixed size"},
		{"unequal dilations", conv(intsAttr("dilations", 2, 1)), "dilations [2 1]"},
		{"three pads", conv(intsAttr("pads", 0, 1, 1)), "pads [0 1 1]: want four values"},
		{"non-square kernel", chainGraph([]int{1, 1, 6, 6}, "y", map[string]*Constant{"W": {Shape: []int{2, 1, 2, 3}, Float: seq(12, 1)}},
			node("Conv", []string{"x", "W"}, "y")), "kernel_shape [2 3]: want a square 2-D kernel"},
		{"group mismatch", conv(Attr{Name: "group", Type: AttrInt, I: 3}), "group 3 with weight"},
		{"empty weight input", chainGraph([]int{1, 1, 6, 6}, "y", nil, node("Conv", []string{"x", ""}, "y")), "input 1 is empty"},
		{"broadcast add", chainGraph([]int{1, 4}, "y", map[string]*Constant{"W": {Shape: []int{4, 2}, Float: seq(8, 1)}},
			node("MatMul", []string{"x", "W"}, "a"), node("Add", []string{"a", "x"}, "y")), "only equal shapes"},
		{"cycle", chainGraph([]int{1, 4}, "y", nil, node("Relu", []string{"b"}, "a"), node("Relu", []string{"a"}, "b"), node("Relu", []string{"b"}, "y")), `input "b" is produced by no earlier node`},
		{"add without layer", chainGraph([]int{1, 4}, "y", map[string]*Constant{"b": {Shape: []int{4}, Float: seq(4, 1)}},
			node("Relu", []string{"x"}, "a"), node("Add", []string{"a", "b"}, "y")), "only supported as the bias"},
		{"add constant to input", chainGraph([]int{1, 4}, "y", map[string]*Constant{"b": {Shape: []int{4}, Float: seq(4, 1)}},
			node("Add", []string{"x", "b"}, "y")), "only supported as the bias"},
		{"bias shape", chainGraph([]int{1, 1, 6, 6}, "y", map[string]*Constant{"W": {Shape: []int{2, 1, 3, 3}, Float: seq(18, 1)}, "b": {Shape: []int{2}, Float: seq(2, 1)}},
			node("Conv", []string{"x", "W"}, "h"), node("Add", []string{"h", "b"}, "y")), "does not broadcast"},
		{"unsupported op", chainGraph([]int{1, 4}, "y", nil, node("LpPool", []string{"x"}, "y")), "unsupported ops: LpPool (nodes \"LpPool_y\")"},
		{"pool pads too large", chainGraph([]int{1, 1, 6, 6}, "y", nil, node("MaxPool", []string{"x"}, "y", intsAttr("kernel_shape", 2, 2), intsAttr("pads", 2, 2, 2, 2))), "maxpool2d"},
		{"pool dilation", chainGraph([]int{1, 1, 6, 6}, "y", nil, node("MaxPool", []string{"x"}, "y", intsAttr("kernel_shape", 2, 2), intsAttr("dilations", 2, 2))), "not supported by nn pooling"},
		{"reshape across batch", chainGraph([]int{1, 2, 3, 4}, "y", map[string]*Constant{"s": {Shape: []int{3}, Int: []int64{2, 6, 2}}}, node("Reshape", []string{"x", "s"}, "y")), "the first entry must be 0, -1 or the input's batch size"},
		{"softmax of an image", chainGraph([]int{1, 2, 3, 4}, "y", nil, node("Softmax", []string{"x"}, "y")), "only the features of an [F] sample"},
		{"matmul on image", chainGraph([]int{1, 1, 2, 2}, "y", map[string]*Constant{"W": {Shape: []int{4, 2}, Float: seq(8, 1)}}, node("MatMul", []string{"x", "W"}, "y")), "does not fit input"},
		{"wrong output", chainGraph([]int{1, 4}, "z", nil, node("Relu", []string{"x"}, "y")), `graph output "z" is not computed`},
		{"huge folded reshape", chainGraph([]int{1, 4}, "y", map[string]*Constant{
			"c": {Shape: []int{4}, Float: seq(4, 1)},
			"s": {Shape: []int{4}, Int: []int64{5, 5, 5, -1}},
		}, node("Reshape", []string{"c", "s"}, "c2"), node("Relu", []string{"x"}, "y")), "reshape: shape"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := GraphToNetwork(tc.g)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
			if !errors.Is(err, ErrNotImportable) {
				t.Errorf("err %v does not wrap ErrNotImportable", err)
			}
		})
	}
}
