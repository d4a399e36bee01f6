package onnx

import (
	"errors"
	"fmt"
	"slices"

	"github.com/compressq/compressq/compress/model"
	"github.com/compressq/compressq/compress/nn"
)

// Import decodes an ONNX model and converts it into an nn network
// whose forward pass computes the same function (see [GraphToNetwork]).
func Import(data []byte) (*nn.Network, error) {
	g, err := Decode(data, Limits{})
	if err != nil {
		return nil, err
	}
	return GraphToNetwork(g)
}

// ErrNotImportable is wrapped by the errors [GraphToNetwork] returns for a
// well-formed graph that the nn engine cannot represent.
var ErrNotImportable = errors.New("graph not importable")

// layerWeights are the parameters gathered for one conv2d or dense layer:
// W in nn layout (OIHW or [out, in]) and B of length out.
type layerWeights struct {
	w, b []float32
}

// GraphToNetwork converts a decoded ONNX graph into an nn network. The graph
// must be a chain from its single input to its single output:
//
//   - Conv (group 1, dilation 1, square kernel, equal strides; explicit
//     symmetric pads, VALID, or SAME_UPPER/SAME_LOWER when the total padding
//     is even) → conv2d, OIHW weight as is, optional bias input;
//   - Add of a constant right after Conv, MatMul or Gemm, broadcasting one
//     value per output channel ([C,1,1], [1,C,1,1]) or feature ([N], [1,N])
//     → added to that layer's bias;
//   - MatMul with a constant [K,N] → dense with weight [N,K] (transposed);
//     Gemm (alpha = beta = 1, transA = 0, transB 0 or 1) → dense;
//   - Relu → relu; MaxPool/AveragePool without padding, dilation or ceil
//     mode → maxpool2d/avgpool2d;
//   - Reshape to [batch, features] and Flatten(axis=1) → flatten (nothing
//     when the input is already flat); Identity → nothing.
//
// Reshapes whose inputs are all constants are folded. The batch dimension
// of the input (fixed or symbolic) is dropped: the network accepts any batch
// size. Errors name the node and wrap [ErrNotImportable].
func GraphToNetwork(g *Graph) (*nn.Network, error) {
	consts := make(map[string]*Constant, len(g.Constants))
	for k, v := range g.Constants {
		consts[k] = v
	}
	if len(g.Inputs) != 1 || len(g.Outputs) != 1 {
		return nil, fmt.Errorf("onnx import: graph has %d inputs and %d outputs, want 1 and 1: %w", len(g.Inputs), len(g.Outputs), ErrNotImportable)
	}
	in := g.Inputs[0]
	if len(in.Shape) != 2 && len(in.Shape) != 4 {
		return nil, fmt.Errorf("onnx import: input %q shape %v, want [N F] or [N C H W]: %w", in.Name, in.Shape, ErrNotImportable)
	}
	shape := slices.Clone(in.Shape[1:])
	for i, d := range shape {
		if d <= 0 {
			return nil, fmt.Errorf("onnx import: input %q dimension %d is %d, want a fixed size: %w", in.Name, i+1, d, ErrNotImportable)
		}
	}
	c := &converter{consts: consts, cur: in.Name, shape: shape, arch: nn.Arch{Input: slices.Clone(shape)}, weights: map[int]*layerWeights{}}
	for _, n := range g.Nodes {
		if err := c.node(n); err != nil {
			return nil, fmt.Errorf("onnx import: node %q (%s): %w", n.Name, n.OpType, err)
		}
	}
	if c.cur != g.Outputs[0].Name {
		return nil, fmt.Errorf("onnx import: the chain ends at %q, not at the graph output %q: %w", c.cur, g.Outputs[0].Name, ErrNotImportable)
	}
	if err := c.arch.Validate(); err != nil {
		return nil, fmt.Errorf("onnx import: %w", err)
	}
	net, err := nn.Build(c.arch, 0)
	if err != nil {
		return nil, fmt.Errorf("onnx import: %w", err)
	}
	for i, lw := range c.weights {
		for _, part := range []struct {
			name string
			v    []float32
		}{{"weight", lw.w}, {"bias", lw.b}} {
			name := fmt.Sprintf("layers.%d.%s", i, part.name)
			p, ok := net.Param(name)
			if !ok {
				return nil, fmt.Errorf("onnx import: network has no parameter %q", name)
			}
			dst := p.Value.Float32s()
			if len(dst) != len(part.v) {
				return nil, fmt.Errorf("onnx import: parameter %q has %d values, imported %d", name, len(dst), len(part.v))
			}
			copy(dst, part.v)
		}
	}
	return net, nil
}

// converter walks the node chain, tracking the current activation's name
// and per-sample shape.
type converter struct {
	consts  map[string]*Constant
	cur     string
	shape   []int
	arch    nn.Arch
	weights map[int]*layerWeights
	// lastParam is the index of the last layer if it is conv2d or dense and
	// nothing followed it yet (so an Add can become its bias), else -1.
	lastParam int
}

func (c *converter) fail(format string, args ...any) error {
	return fmt.Errorf(format+": %w", append(args, ErrNotImportable)...)
}

// add appends a layer with the given output shape.
func (c *converter) add(spec nn.LayerSpec, out []int, w *layerWeights) {
	i := len(c.arch.Layers)
	c.arch.Layers = append(c.arch.Layers, spec)
	c.shape = out
	c.lastParam = -1
	if w != nil {
		c.weights[i] = w
		c.lastParam = i
	}
}

// node converts one node.
func (c *converter) node(n Node) error {
	// Fold ops whose inputs are all constants.
	allConst := len(n.Inputs) > 0
	for _, x := range n.Inputs {
		if _, ok := c.consts[x]; !ok {
			allConst = false
		}
	}
	if allConst {
		return c.fold(n)
	}
	if len(n.Outputs) != 1 {
		return c.fail("%d outputs, want 1", len(n.Outputs))
	}
	if len(n.Inputs) == 0 || n.Inputs[0] != c.cur {
		return c.fail("first input %q is not the current activation %q (only chains are supported)", first(n.Inputs), c.cur)
	}
	for i, x := range n.Inputs[1:] {
		if x == "" {
			// Only the bias of Conv and Gemm (input 2) is optional.
			if i+1 == 2 && (n.OpType == "Conv" || n.OpType == "Gemm") {
				continue
			}
			return c.fail("input %d is empty", i+1)
		}
		if _, ok := c.consts[x]; !ok {
			return c.fail("input %q is neither the current activation nor a constant", x)
		}
	}
	var err error
	switch n.OpType {
	case "Conv":
		err = c.conv(n)
	case "Add":
		err = c.addBias(n)
	case "MatMul":
		err = c.matmul(n)
	case "Gemm":
		err = c.gemm(n)
	case "Relu":
		c.add(nn.LayerSpec{Type: nn.TypeReLU}, c.shape, nil)
	case "MaxPool", "AveragePool":
		err = c.pool(n)
	case "Reshape", "Flatten":
		err = c.flatten(n)
	case "Identity":
		// The current activation passes through.
	default:
		err = c.fail("op %s is not supported", n.OpType)
	}
	if err != nil {
		return err
	}
	if n.OpType != "Add" && n.OpType != "Identity" && n.OpType != "Relu" && n.OpType != "Conv" && n.OpType != "MatMul" && n.OpType != "Gemm" {
		c.lastParam = -1
	}
	c.cur = n.Outputs[0]
	return nil
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// fold evaluates a node whose inputs are all constants (Reshape, Identity).
func (c *converter) fold(n Node) error {
	if len(n.Outputs) != 1 {
		return c.fail("constant %s with %d outputs", n.OpType, len(n.Outputs))
	}
	src := c.consts[n.Inputs[0]]
	var out Constant
	switch n.OpType {
	case "Identity":
		out = *src
	case "Reshape":
		if len(n.Inputs) != 2 {
			return c.fail("Reshape needs 2 inputs, got %d", len(n.Inputs))
		}
		shape, err := reshapeTarget(src.Shape, c.consts[n.Inputs[1]])
		if err != nil {
			return err
		}
		out = Constant{Shape: shape, Float: src.Float, Int: src.Int}
	default:
		return c.fail("constant folding of %s is not supported", n.OpType)
	}
	out.Name = n.Outputs[0]
	c.consts[out.Name] = &out
	return nil
}

// reshapeTarget resolves an ONNX Reshape shape (0 copies a dimension, −1
// is inferred) for an input of shape in.
func reshapeTarget(in []int, target *Constant) ([]int, error) {
	if target.Int == nil || len(target.Shape) != 1 {
		return nil, fmt.Errorf("reshape: shape must be a 1-D integer constant: %w", ErrNotImportable)
	}
	total := model.Numel(in)
	out := make([]int, len(target.Int))
	infer := -1
	known := 1
	for i, d := range target.Int {
		switch {
		case d == 0 && i < len(in):
			out[i] = in[i]
		case d == -1 && infer < 0:
			infer = i
			continue
		case d > 0 && d <= int64(total)+1:
			out[i] = int(d)
		default:
			return nil, fmt.Errorf("reshape: shape %v is invalid for input %v: %w", target.Int, in, ErrNotImportable)
		}
		if out[i] != 0 && known > total/out[i]+1 {
			return nil, fmt.Errorf("reshape: shape %v is too large for input %v: %w", target.Int, in, ErrNotImportable)
		}
		known *= out[i]
	}
	if infer >= 0 {
		if known == 0 || total%known != 0 {
			return nil, fmt.Errorf("reshape: shape %v cannot hold input %v: %w", target.Int, in, ErrNotImportable)
		}
		out[infer] = total / known
	}
	if n, err := model.CheckedNumel(out, int64(total)); err != nil || n != int64(total) {
		return nil, fmt.Errorf("reshape: shape %v does not hold the %d elements of input %v: %w", target.Int, total, in, ErrNotImportable)
	}
	return out, nil
}

// ints returns an INTS attribute or def when absent.
func ints(n Node, name string, def []int64) []int64 {
	if a, ok := n.Attrs[name]; ok && a.Type == AttrInts {
		return a.Ints
	}
	return def
}

// intAttr returns an INT attribute or def when absent.
func intAttr(n Node, name string, def int64) int64 {
	if a, ok := n.Attrs[name]; ok && a.Type == AttrInt {
		return a.I
	}
	return def
}

// floatAttr returns a FLOAT attribute or def when absent.
func floatAttr(n Node, name string, def float32) float32 {
	if a, ok := n.Attrs[name]; ok && a.Type == AttrFloat {
		return a.F
	}
	return def
}

func allEqual(v []int64, x int64) bool {
	for _, y := range v {
		if y != x {
			return false
		}
	}
	return true
}

// window checks the 2-D window attributes shared by Conv and pooling and
// returns the square kernel, stride and symmetric padding.
func (c *converter) window(n Node, kernel []int64, allowPad bool) (k, stride, pad int, err error) {
	if len(c.shape) != 3 {
		return 0, 0, 0, c.fail("input %v is not [C H W]", c.shape)
	}
	if len(kernel) != 2 || kernel[0] != kernel[1] || kernel[0] <= 0 || kernel[0] > int64(c.shape[1]+c.shape[2]) {
		return 0, 0, 0, c.fail("kernel_shape %v: want a square 2-D kernel", kernel)
	}
	k = int(kernel[0])
	strides := ints(n, "strides", []int64{1, 1})
	if len(strides) != 2 || strides[0] != strides[1] || strides[0] <= 0 || strides[0] > 1<<16 {
		return 0, 0, 0, c.fail("strides %v: want two equal positive strides", strides)
	}
	stride = int(strides[0])
	if d := ints(n, "dilations", []int64{1, 1}); !allEqual(d, 1) {
		return 0, 0, 0, c.fail("dilations %v are not supported", d)
	}
	pads := ints(n, "pads", []int64{0, 0, 0, 0})
	autoPad := "NOTSET"
	if a, ok := n.Attrs["auto_pad"]; ok {
		autoPad = a.S
	}
	switch autoPad {
	case "NOTSET", "":
		if len(pads) != 4 || !allEqual(pads, pads[0]) || pads[0] < 0 || pads[0] > int64(k) {
			return 0, 0, 0, c.fail("pads %v: want four equal values", pads)
		}
		pad = int(pads[0])
	case "VALID":
	case "SAME_UPPER", "SAME_LOWER":
		// Output ceil(in/stride); total padding split evenly when even.
		for _, in := range c.shape[1:] {
			out := (in + stride - 1) / stride
			total := max((out-1)*stride+k-in, 0)
			if total%2 != 0 || (pad != 0 && total/2 != pad) {
				return 0, 0, 0, c.fail("auto_pad %s needs asymmetric padding (%d) for input %v", autoPad, total, c.shape)
			}
			pad = total / 2
		}
	default:
		return 0, 0, 0, c.fail("auto_pad %q is not supported", autoPad)
	}
	if pad != 0 && !allowPad {
		return 0, 0, 0, c.fail("padding %d is not supported by nn pooling", pad)
	}
	return k, stride, pad, nil
}

func (c *converter) conv(n Node) error {
	if len(n.Inputs) < 2 || len(n.Inputs) > 3 {
		return c.fail("Conv has %d inputs, want 2 or 3", len(n.Inputs))
	}
	if g := intAttr(n, "group", 1); g != 1 {
		return c.fail("group %d is not supported", g)
	}
	w := c.consts[n.Inputs[1]]
	if w.Float == nil || len(w.Shape) != 4 || len(c.shape) != 3 || w.Shape[1] != c.shape[0] {
		return c.fail("weight %q shape %v does not fit input %v (want OIHW float)", n.Inputs[1], w.Shape, c.shape)
	}
	k, stride, pad, err := c.window(n, ints(n, "kernel_shape", []int64{int64(w.Shape[2]), int64(w.Shape[3])}), true)
	if err != nil {
		return err
	}
	if w.Shape[2] != k || w.Shape[3] != k {
		return c.fail("weight %q shape %v does not match kernel %d", n.Inputs[1], w.Shape, k)
	}
	outC := w.Shape[0]
	lw := &layerWeights{w: slices.Clone(w.Float), b: make([]float32, outC)}
	if len(n.Inputs) == 3 && n.Inputs[2] != "" {
		b := c.consts[n.Inputs[2]]
		if b.Float == nil || len(b.Float) != outC {
			return c.fail("bias %q has shape %v, want [%d]", n.Inputs[2], b.Shape, outC)
		}
		copy(lw.b, b.Float)
	}
	oh := (c.shape[1]+2*pad-k)/stride + 1
	ow := (c.shape[2]+2*pad-k)/stride + 1
	if oh <= 0 || ow <= 0 {
		return c.fail("kernel %d does not fit input %v", k, c.shape)
	}
	c.add(nn.LayerSpec{Type: nn.TypeConv2D, Filters: outC, Kernel: k, Stride: stride, Pad: pad}, []int{outC, oh, ow}, lw)
	return nil
}

// addBias folds Add(x, const) into the bias of the preceding conv/dense.
func (c *converter) addBias(n Node) error {
	if len(n.Inputs) != 2 {
		return c.fail("Add has %d inputs, want 2", len(n.Inputs))
	}
	if c.lastParam < 0 {
		return c.fail("Add of a constant is only supported directly after Conv, MatMul or Gemm")
	}
	b := c.consts[n.Inputs[1]]
	lw := c.weights[c.lastParam]
	out := len(lw.b)
	var ok bool
	switch len(c.shape) {
	case 3: // per channel: [C,1,1] or [1,C,1,1]
		s := b.Shape
		ok = (len(s) == 3 && s[0] == out && s[1] == 1 && s[2] == 1) ||
			(len(s) == 4 && s[0] == 1 && s[1] == out && s[2] == 1 && s[3] == 1)
	case 1: // per feature: [N] or [1,N]
		s := b.Shape
		ok = (len(s) == 1 && s[0] == out) || (len(s) == 2 && s[0] == 1 && s[1] == out)
	}
	if !ok || b.Float == nil {
		return c.fail("constant %q of shape %v does not broadcast as a bias over output %v", n.Inputs[1], b.Shape, c.shape)
	}
	for i, v := range b.Float {
		lw.b[i] += v
	}
	return nil
}

// matmul converts MatMul(x [batch,K], W [K,N]) to dense with weight Wᵀ.
func (c *converter) matmul(n Node) error {
	if len(n.Inputs) != 2 {
		return c.fail("MatMul has %d inputs, want 2", len(n.Inputs))
	}
	w := c.consts[n.Inputs[1]]
	if len(c.shape) != 1 || w.Float == nil || len(w.Shape) != 2 || w.Shape[0] != c.shape[0] {
		return c.fail("weight %q shape %v does not fit input %v (want [K N] float)", n.Inputs[1], w.Shape, c.shape)
	}
	k, units := w.Shape[0], w.Shape[1]
	lw := &layerWeights{w: transpose(w.Float, k, units), b: make([]float32, units)}
	c.add(nn.LayerSpec{Type: nn.TypeDense, Units: units}, []int{units}, lw)
	return nil
}

// gemm converts Gemm(x, B, C) = x·op(B) + C to dense.
func (c *converter) gemm(n Node) error {
	if len(n.Inputs) < 2 || len(n.Inputs) > 3 {
		return c.fail("Gemm has %d inputs, want 2 or 3", len(n.Inputs))
	}
	if a, b := floatAttr(n, "alpha", 1), floatAttr(n, "beta", 1); a != 1 || b != 1 {
		return c.fail("alpha %g, beta %g: only 1, 1 is supported", a, b)
	}
	if intAttr(n, "transA", 0) != 0 {
		return c.fail("transA is not supported")
	}
	w := c.consts[n.Inputs[1]]
	if len(c.shape) != 1 || w.Float == nil || len(w.Shape) != 2 {
		return c.fail("weight %q shape %v does not fit input %v", n.Inputs[1], w.Shape, c.shape)
	}
	var lw *layerWeights
	var units int
	if intAttr(n, "transB", 0) != 0 { // B is [N, K], already nn's layout
		if w.Shape[1] != c.shape[0] {
			return c.fail("weight %q shape %v does not fit input %v", n.Inputs[1], w.Shape, c.shape)
		}
		units = w.Shape[0]
		lw = &layerWeights{w: slices.Clone(w.Float)}
	} else {
		if w.Shape[0] != c.shape[0] {
			return c.fail("weight %q shape %v does not fit input %v", n.Inputs[1], w.Shape, c.shape)
		}
		units = w.Shape[1]
		lw = &layerWeights{w: transpose(w.Float, w.Shape[0], units)}
	}
	lw.b = make([]float32, units)
	c.add(nn.LayerSpec{Type: nn.TypeDense, Units: units}, []int{units}, lw)
	if len(n.Inputs) == 3 && n.Inputs[2] != "" {
		return c.addBias(Node{Name: n.Name, Inputs: []string{c.cur, n.Inputs[2]}})
	}
	return nil
}

func (c *converter) pool(n Node) error {
	if intAttr(n, "ceil_mode", 0) != 0 {
		return c.fail("ceil_mode is not supported")
	}
	if intAttr(n, "storage_order", 0) != 0 {
		return c.fail("storage_order is not supported")
	}
	k, stride, _, err := c.window(n, ints(n, "kernel_shape", nil), false)
	if err != nil {
		return err
	}
	if c.shape[1] < k || c.shape[2] < k {
		return c.fail("kernel %d larger than input %v", k, c.shape)
	}
	typ := nn.TypeMaxPool2D
	if n.OpType == "AveragePool" {
		typ = nn.TypeAvgPool2D
	}
	out := []int{c.shape[0], (c.shape[1]-k)/stride + 1, (c.shape[2]-k)/stride + 1}
	c.add(nn.LayerSpec{Type: typ, Kernel: k, Stride: stride}, out, nil)
	return nil
}

// flatten handles Reshape to [batch, features] and Flatten(axis=1).
func (c *converter) flatten(n Node) error {
	if n.OpType == "Flatten" {
		if axis := intAttr(n, "axis", 1); axis != 1 {
			return c.fail("Flatten axis %d is not supported (want 1)", axis)
		}
	} else {
		if len(n.Inputs) != 2 {
			return c.fail("Reshape needs 2 inputs, got %d", len(n.Inputs))
		}
		t := c.consts[n.Inputs[1]]
		if t.Int == nil || len(t.Int) != 2 {
			return c.fail("Reshape to %v is not a flatten to [batch, features]", t.Int)
		}
		b, f := t.Int[0], t.Int[1]
		feat := int64(model.Numel(c.shape))
		if !((b == 1 || b == 0 || b == -1) && (f == feat || (f == -1 && b != -1))) {
			return c.fail("Reshape to %v is not a flatten of per-sample shape %v", t.Int, c.shape)
		}
	}
	if len(c.shape) == 1 {
		return nil
	}
	c.add(nn.LayerSpec{Type: nn.TypeFlatten}, []int{model.Numel(c.shape)}, nil)
	return nil
}

// transpose returns the [cols, rows] transpose of a row-major [rows, cols]
// matrix.
func transpose(m []float32, rows, cols int) []float32 {
	t := make([]float32, len(m))
	for r := 0; r < rows; r++ {
		for c := 0; c < cols; c++ {
			t[c*rows+r] = m[r*cols+c]
		}
	}
	return t
}
