package onnx

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/compressq/compressq/compress/nn"
	"github.com/compressq/compressq/compress/safetensors"
)

// Import decodes an ONNX model and converts it into an nn network whose
// forward pass computes the same function (see [GraphToNetwork]).
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

// value is an activation of the graph being converted: the nn source that
// produces it (nn.InputNet or a layer index) and its per-sample shape.
type value struct {
	src   int
	shape []int
}

// converter turns the nodes of a graph into nn layers.
type converter struct {
	consts map[string]*Constant
	vals   map[string]value
	// uses counts how many node inputs (and graph outputs) read each name.
	uses    map[string]int
	arch    nn.Arch
	weights map[int]map[string][]float32
	// batch is the graph input's fixed batch size, or −1 when symbolic.
	batch int
	// affine maps a conv2d/dense layer index to the ONNX value it produces,
	// so an Add of a constant read only from it can become its bias.
	affine map[int]string
}

// GraphToNetwork converts a decoded ONNX graph into an nn network. The graph
// must have one data input ([N, F] or [N, C, H, W], the batch dimension
// fixed or symbolic, the others fixed) and one output; its nodes may branch
// and join (a directed acyclic graph in ONNX's topological order). Op by op
// (docs/onnx.md has the full table):
//
//   - Conv (group 1, dilation 1, square kernel, equal strides; explicit
//     symmetric pads, VALID, or SAME_UPPER/SAME_LOWER when the total padding
//     is even) → conv2d, OIHW weight as is, optional bias input;
//   - BatchNormalization (inference form) → batchnorm with its statistics;
//   - Add of two activations of one shape → add; Add of a constant right
//     after Conv, MatMul or Gemm (read by nothing else), broadcasting one
//     value per output channel or feature → added to that layer's bias;
//   - Concat on the channel axis → concat;
//   - MatMul with a constant [K,N] → dense with weight [N,K]; Gemm
//     (transA = 0; alpha and beta scale the weight and bias) → dense;
//   - Relu → relu; MaxPool/AveragePool without padding, dilation or ceil
//     mode → maxpool2d/avgpool2d;
//   - Reshape to [batch, features] and Flatten(axis=1) → flatten (nothing
//     when the input is already flat); Identity and Dropout → nothing.
//
// Nodes whose inputs are all constants (Identity, Reshape) are folded. The
// network accepts any batch size. An op outside [SupportedOps] fails the
// whole graph with an *[UnsupportedOpsError] listing every such node; other
// problems are reported for every node that has one, each naming the node,
// and wrap [ErrNotImportable].
func GraphToNetwork(g *Graph) (*nn.Network, error) {
	if err := checkOps(g); err != nil {
		return nil, err
	}
	if len(g.Inputs) != 1 || len(g.Outputs) != 1 {
		names := make([]string, len(g.Inputs))
		for i, in := range g.Inputs {
			names[i] = in.Name
		}
		return nil, fmt.Errorf("onnx import: graph has %d data inputs %q and %d outputs, want 1 and 1: %w", len(g.Inputs), names, len(g.Outputs), ErrNotImportable)
	}
	in := g.Inputs[0]
	if len(in.Shape) < 2 || len(in.Shape) > nn.MaxDims+1 {
		return nil, fmt.Errorf("onnx import: input %q shape %v, want a batch dimension and 1 to %d more ([N F] or [N C H W] for dense and conv layers): %w", in.Name, in.Shape, nn.MaxDims, ErrNotImportable)
	}
	shape := slices.Clone(in.Shape[1:])
	for i, d := range shape {
		if d <= 0 {
			return nil, fmt.Errorf("onnx import: input %q dimension %d is %d, want a fixed size: %w", in.Name, i+1, d, ErrNotImportable)
		}
	}
	c := &converter{
		consts:  make(map[string]*Constant, len(g.Constants)),
		vals:    map[string]value{in.Name: {src: nn.InputNet, shape: shape}},
		uses:    map[string]int{},
		arch:    nn.Arch{Input: slices.Clone(shape)},
		weights: map[int]map[string][]float32{},
		affine:  map[int]string{},
		batch:   in.Shape[0],
	}
	for k, v := range g.Constants {
		c.consts[k] = v
	}
	for _, n := range g.Nodes {
		for _, x := range n.Inputs {
			c.uses[x]++
		}
	}
	c.uses[g.Outputs[0].Name]++

	var errs []error
	failed := map[string]bool{} // outputs of nodes that failed, so their readers stay quiet
	for i, n := range g.Nodes {
		if slices.ContainsFunc(n.Inputs, func(x string) bool { return failed[x] }) {
			for _, o := range n.Outputs {
				failed[o] = true
			}
			continue
		}
		if err := c.node(n); err != nil {
			errs = append(errs, fmt.Errorf("onnx import: node %s (%s): %w", nodeLabel(n, i), n.OpType, err))
			for _, o := range n.Outputs {
				failed[o] = true
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	out, ok := c.vals[g.Outputs[0].Name]
	if !ok {
		return nil, fmt.Errorf("onnx import: graph output %q is not computed from the input by any node: %w", g.Outputs[0].Name, ErrNotImportable)
	}
	if len(c.arch.Layers) == 0 || out.src != len(c.arch.Layers)-1 {
		// The output is the input or an earlier layer's (through Identity
		// or Dropout): an identity layer makes it the last.
		c.emit(g.Outputs[0].Name, nn.LayerSpec{Type: nn.TypeIdentity}, []int{out.src}, out.shape, nil)
	}
	if err := c.arch.Validate(); err != nil {
		return nil, fmt.Errorf("onnx import: %w", err)
	}
	net, err := nn.Build(c.arch, 0)
	if err != nil {
		return nil, fmt.Errorf("onnx import: %w", err)
	}
	for i, ws := range c.weights {
		for kind, v := range ws {
			name := fmt.Sprintf("layers.%d.%s", i, kind)
			p, ok := net.Param(name)
			if !ok {
				return nil, fmt.Errorf("onnx import: network has no parameter %q", name)
			}
			dst := p.Value.Float32s()
			if len(dst) != len(v) {
				return nil, fmt.Errorf("onnx import: parameter %q has %d values, imported %d", name, len(dst), len(v))
			}
			copy(dst, v)
		}
	}
	return net, nil
}

// checkOps returns an *UnsupportedOpsError naming every node whose op the
// converter does not handle, or nil.
func checkOps(g *Graph) error {
	unsupported := map[string][]string{}
	for i, n := range g.Nodes {
		op := n.OpType
		if n.Domain != "" && n.Domain != "ai.onnx" {
			op = n.Domain + ":" + n.OpType
		}
		if op == n.OpType && slices.Contains(supportedOps, op) {
			continue
		}
		unsupported[op] = append(unsupported[op], nodeLabel(n, i))
	}
	if len(unsupported) == 0 {
		return nil
	}
	for _, names := range unsupported {
		sort.Strings(names)
	}
	return &UnsupportedOpsError{Ops: unsupported}
}

// constIn returns node input i, which must be a constant.
func (c *converter) constIn(n Node, i int) (*Constant, error) {
	if i >= len(n.Inputs) || n.Inputs[i] == "" {
		return nil, fail("input %d is empty", i)
	}
	k, ok := c.consts[n.Inputs[i]]
	if !ok {
		return nil, fail("input %d %q is an activation, want a constant", i, n.Inputs[i])
	}
	return k, nil
}

// nodeLabel names node i of a graph in messages: its name, quoted, or its
// position when it has none.
func nodeLabel(n Node, i int) string {
	if n.Name == "" {
		return fmt.Sprintf("#%d", i)
	}
	return strconv.Quote(n.Name)
}

func fail(format string, args ...any) error {
	return fmt.Errorf(format+": %w", append(args, ErrNotImportable)...)
}

// emit appends a layer reading srcs with the given output shape and
// parameters (by kind: weight, bias, gamma, …) and records out as its
// output; it returns the layer's index.
func (c *converter) emit(out string, spec nn.LayerSpec, srcs []int, shape []int, params map[string][]float32) int {
	i := len(c.arch.Layers)
	if len(srcs) != 1 || srcs[0] != i-1 {
		spec.Inputs = slices.Clone(srcs)
	}
	c.arch.Layers = append(c.arch.Layers, spec)
	if params != nil {
		c.weights[i] = params
	}
	c.vals[out] = value{src: i, shape: shape}
	return i
}

// node converts one node.
func (c *converter) node(n Node) error {
	for _, x := range n.Inputs {
		if x == "" {
			continue
		}
		if _, ok := c.consts[x]; ok {
			continue
		}
		if _, ok := c.vals[x]; !ok {
			return fail("input %q is produced by no earlier node (the graph is out of topological order or has a cycle)", x)
		}
	}
	// Fold ops whose inputs are all constants.
	allConst := len(n.Inputs) > 0
	for _, x := range n.Inputs {
		if _, ok := c.consts[x]; !ok && x != "" {
			allConst = false
		}
	}
	if allConst {
		return c.fold(n)
	}
	if len(n.Inputs) == 0 || n.Inputs[0] == "" {
		return fail("first input is empty")
	}
	if len(n.Outputs) == 0 || n.Outputs[0] == "" {
		return fail("no output")
	}
	for _, o := range n.Outputs[1:] {
		if o != "" && c.uses[o] > 0 {
			return fail("output %q is read, but only the first output of %s is supported", o, n.OpType)
		}
	}
	switch n.OpType {
	case "Add":
		return c.add(n)
	case "Concat":
		return c.concat(n)
	case "Identity", "Dropout":
		// The activation passes through (Dropout is the identity at
		// inference; its mask output was checked unused above).
		if _, ok := c.consts[n.Inputs[0]]; ok {
			return fail("input %q is a constant", n.Inputs[0])
		}
		if n.OpType == "Dropout" && len(n.Inputs) > 2 && n.Inputs[2] != "" {
			mode, err := c.constIn(n, 2)
			if err != nil {
				return err
			}
			if len(mode.Int) != 1 || mode.Int[0] != 0 {
				return fail("training_mode %q is not a constant false: random dropout is not supported", n.Inputs[2])
			}
		}
		c.vals[n.Outputs[0]] = c.vals[n.Inputs[0]]
		return nil
	}
	// The rest read one activation, then constants.
	x, ok := c.vals[n.Inputs[0]]
	if !ok {
		return fail("first input %q is a constant, want an activation", n.Inputs[0])
	}
	for i, in := range n.Inputs[1:] {
		if in == "" {
			continue
		}
		if _, ok := c.consts[in]; !ok {
			return fail("input %d %q is an activation, want a constant", i+1, in)
		}
	}
	switch n.OpType {
	case "Conv":
		return c.conv(n, x)
	case "BatchNormalization":
		return c.batchNorm(n, x)
	case "MatMul":
		return c.matmul(n, x)
	case "Gemm":
		return c.gemm(n, x)
	case "MaxPool", "AveragePool":
		return c.pool(n, x)
	case "GlobalAveragePool", "GlobalMaxPool":
		typ := nn.TypeGlobalAvgPool
		if n.OpType == "GlobalMaxPool" {
			typ = nn.TypeGlobalMaxPool
		}
		return c.single(n, x, nn.LayerSpec{Type: typ})
	case "Flatten":
		return c.flatten(n, x)
	case "Reshape":
		return c.reshape(n, x)
	case "Clip":
		return c.clip(n, x)
	case "Softmax":
		if len(x.shape) != 1 {
			return fail("input %v: only the features of an [F] sample can be normalized", x.shape)
		}
		if axis := intAttr(n, "axis", -1); axis != 1 && axis != -1 {
			return fail("axis %d: only the feature axis (1 or -1) is supported", axis)
		}
		return c.single(n, x, nn.LayerSpec{Type: nn.TypeSoftmax})
	case "LeakyRelu":
		alpha := floatAttr(n, "alpha", 0.01)
		if alpha == 0 {
			return c.single(n, x, nn.LayerSpec{Type: nn.TypeReLU})
		}
		return c.single(n, x, nn.LayerSpec{Type: nn.TypeLeakyReLU, Alpha: float64(alpha)})
	case "HardSigmoid":
		alpha, beta := floatAttr(n, "alpha", 0.2), floatAttr(n, "beta", 0.5)
		if alpha == 0 || beta == 0 {
			return fail("alpha %g, beta %g: zero values are not supported", alpha, beta)
		}
		return c.single(n, x, nn.LayerSpec{Type: nn.TypeHardSigmoid, Alpha: float64(alpha), Beta: float64(beta)})
	}
	if typ, ok := elementwise[n.OpType]; ok {
		return c.single(n, x, nn.LayerSpec{Type: typ})
	}
	return fail("op %s is not supported", n.OpType)
}

// elementwise maps the ONNX activations without attributes to nn types.
var elementwise = map[string]string{
	"Relu": nn.TypeReLU, "Sigmoid": nn.TypeSigmoid, "Tanh": nn.TypeTanh, "HardSwish": nn.TypeHardSwish,
}

// single emits a one-input layer, its output shape inferred (and the spec
// validated) by nn.
func (c *converter) single(n Node, x value, spec nn.LayerSpec) error {
	out, err := outShape(spec, x.shape)
	if err != nil {
		return err
	}
	c.emit(n.Outputs[0], spec, []int{x.src}, out, nil)
	return nil
}

// outShape returns the per-sample output shape nn infers for spec on an
// input of per-sample shape in, or nn's validation error.
func outShape(spec nn.LayerSpec, in []int) ([]int, error) {
	out, err := (nn.Arch{Input: in, Layers: []nn.LayerSpec{spec}}).OutputShape()
	if err != nil {
		return nil, fail("%v", strings.ReplaceAll(err.Error(), "layers[0]", spec.Type))
	}
	return out, nil
}

// clip converts Clip, its bounds given as inputs (opset 11 and later) or
// attributes (before), to nn's clip (relu when it is max(x, 0)).
func (c *converter) clip(n Node, x value) error {
	lo, hi := floatAttr(n, "min", -math.MaxFloat32), floatAttr(n, "max", math.MaxFloat32)
	for i, bound := range []*float32{&lo, &hi} {
		if len(n.Inputs) <= i+1 || n.Inputs[i+1] == "" {
			continue
		}
		k, err := c.constIn(n, i+1)
		if err != nil {
			return err
		}
		if len(k.Float) != 1 {
			return fail("bound %q has shape %v, want a float scalar", n.Inputs[i+1], k.Shape)
		}
		*bound = k.Float[0]
	}
	if lo == 0 && hi == math.MaxFloat32 {
		return c.single(n, x, nn.LayerSpec{Type: nn.TypeReLU})
	}
	return c.single(n, x, nn.LayerSpec{Type: nn.TypeClip, Min: float64(lo), Max: float64(hi)})
}

// fold evaluates a node whose inputs are all constants (Reshape, Identity).
func (c *converter) fold(n Node) error {
	if len(n.Outputs) != 1 {
		return fail("constant %s with %d outputs", n.OpType, len(n.Outputs))
	}
	src, err := c.constIn(n, 0)
	if err != nil {
		return err
	}
	var out Constant
	switch n.OpType {
	case "Identity":
		out = *src
	case "Reshape":
		if len(n.Inputs) != 2 {
			return fail("Reshape needs 2 inputs, got %d", len(n.Inputs))
		}
		if n.Inputs[1] == "" {
			return fail("Reshape's shape input is empty")
		}
		shape, err := reshapeTarget(src.Shape, c.consts[n.Inputs[1]])
		if err != nil {
			return err
		}
		out = Constant{Shape: shape, Float: src.Float, Int: src.Int}
	default:
		return fail("constant folding of %s is not supported", n.OpType)
	}
	out.Name = n.Outputs[0]
	c.consts[out.Name] = &out
	return nil
}

// reshapeTarget resolves an ONNX Reshape shape (0 copies a dimension, −1
// is inferred) for an input of shape in.
func reshapeTarget(in []int, target *Constant) ([]int, error) {
	if target == nil || target.Int == nil || len(target.Shape) != 1 {
		return nil, fmt.Errorf("reshape: shape must be a 1-D integer constant: %w", ErrNotImportable)
	}
	total := safetensors.Numel(in)
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
	if n, err := safetensors.CheckedNumel(out, int64(total)); err != nil || n != int64(total) {
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

// window reads the 2-D window attributes shared by Conv and pooling for an
// input of per-sample shape in into spec: the square kernel, equal strides,
// dilation (Conv only) and per-side padding, explicit or from auto_pad.
func window(n Node, in []int, kernel []int64, spec *nn.LayerSpec) error {
	if len(in) != 3 {
		return fail("input %v is not [C H W]", in)
	}
	if len(kernel) != 2 || kernel[0] != kernel[1] || kernel[0] <= 0 || kernel[0] > int64(in[1]+in[2]) {
		return fail("kernel_shape %v: want a square 2-D kernel", kernel)
	}
	k := int(kernel[0])
	strides := ints(n, "strides", []int64{1, 1})
	if len(strides) != 2 || strides[0] != strides[1] || strides[0] <= 0 || strides[0] > 1<<16 {
		return fail("strides %v: want two equal positive strides", strides)
	}
	stride := int(strides[0])
	d := ints(n, "dilations", []int64{1, 1})
	if len(d) != 2 || d[0] != d[1] || d[0] <= 0 || d[0] > 1<<16 {
		return fail("dilations %v: want two equal positive dilations", d)
	}
	dil := int(d[0])
	if dil != 1 && spec.Type != nn.TypeConv2D {
		return fail("dilations %v are not supported by nn pooling", d)
	}
	var pads nn.Pads
	autoPad := "NOTSET"
	if a, ok := n.Attrs["auto_pad"]; ok {
		autoPad = a.S
	}
	switch autoPad {
	case "NOTSET", "":
		p := ints(n, "pads", []int64{0, 0, 0, 0})
		if len(p) != 4 {
			return fail("pads %v: want four values (top, left, bottom, right)", p)
		}
		for i, v := range p {
			if v < 0 || v > int64(k)*int64(dil) {
				return fail("pads %v: each must be in [0, %d]", p, k*dil)
			}
			pads[i] = int(v)
		}
	case "VALID":
	case "SAME_UPPER", "SAME_LOWER":
		// Output ceil(in/stride); the odd pixel of an odd total goes at the
		// end (SAME_UPPER) or the beginning (SAME_LOWER).
		for axis, size := range in[1:] {
			out := (size + stride - 1) / stride
			total := max((out-1)*stride+(k-1)*dil+1-size, 0)
			begin := total / 2
			if autoPad == "SAME_LOWER" {
				begin = total - total/2
			}
			pads[axis], pads[axis+2] = begin, total-begin
		}
	default:
		return fail("auto_pad %q is not supported", autoPad)
	}
	spec.Kernel, spec.Stride = k, stride
	if pads[0] == pads[1] && pads[1] == pads[2] && pads[2] == pads[3] {
		spec.Pad = pads[0] // symmetric: the form every nn consumer understands
	} else {
		spec.Pads = pads
	}
	if spec.Type == nn.TypeConv2D && dil != 1 {
		spec.Dilation = dil
	}
	return nil
}

func (c *converter) conv(n Node, x value) error {
	if len(n.Inputs) < 2 || len(n.Inputs) > 3 {
		return fail("Conv has %d inputs, want 2 or 3", len(n.Inputs))
	}
	w, err := c.constIn(n, 1)
	if err != nil {
		return err
	}
	if w.Float == nil || len(w.Shape) != 4 || len(x.shape) != 3 {
		return fail("weight %q shape %v does not fit input %v (want OIHW float)", n.Inputs[1], w.Shape, x.shape)
	}
	g := intAttr(n, "group", 1)
	if g <= 0 || g > int64(x.shape[0]) || int64(x.shape[0])%g != 0 || int64(w.Shape[0])%g != 0 || int64(w.Shape[1])*g != int64(x.shape[0]) {
		return fail("group %d with weight %q of shape %v does not fit input %v", g, n.Inputs[1], w.Shape, x.shape)
	}
	spec := nn.LayerSpec{Type: nn.TypeConv2D, Filters: w.Shape[0]}
	if g != 1 {
		spec.Groups = int(g)
	}
	if err := window(n, x.shape, ints(n, "kernel_shape", []int64{int64(w.Shape[2]), int64(w.Shape[3])}), &spec); err != nil {
		return err
	}
	if w.Shape[2] != spec.Kernel || w.Shape[3] != spec.Kernel {
		return fail("weight %q shape %v does not match kernel %d", n.Inputs[1], w.Shape, spec.Kernel)
	}
	b := make([]float32, spec.Filters)
	if len(n.Inputs) == 3 && n.Inputs[2] != "" {
		bc, err := c.constIn(n, 2)
		if err != nil {
			return err
		}
		if bc.Float == nil || len(bc.Float) != spec.Filters {
			return fail("bias %q has shape %v, want [%d]", n.Inputs[2], bc.Shape, spec.Filters)
		}
		copy(b, bc.Float)
	}
	out, err := outShape(spec, x.shape)
	if err != nil {
		return err
	}
	i := c.emit(n.Outputs[0], spec, []int{x.src}, out, map[string][]float32{"weight": slices.Clone(w.Float), "bias": b})
	c.affine[i] = n.Outputs[0]
	return nil
}

// batchNorm converts an inference-mode BatchNormalization.
func (c *converter) batchNorm(n Node, x value) error {
	if len(n.Inputs) != 5 {
		return fail("BatchNormalization has %d inputs, want 5 (X, scale, B, mean, var)", len(n.Inputs))
	}
	if intAttr(n, "training_mode", 0) != 0 {
		return fail("training_mode 1 is not supported (export the model in eval mode)")
	}
	if len(x.shape) != 1 && len(x.shape) != 3 {
		return fail("input %v, want [C H W] or [F]", x.shape)
	}
	ch := x.shape[0]
	params := map[string][]float32{}
	for i, kind := range []string{"gamma", "beta", "running_mean", "running_var"} {
		t, err := c.constIn(n, i+1)
		if err != nil {
			return err
		}
		if t.Float == nil || len(t.Float) != ch || len(t.Shape) != 1 {
			return fail("%s %q has shape %v, want [%d]", []string{"scale", "B", "mean", "var"}[i], n.Inputs[i+1], t.Shape, ch)
		}
		params[kind] = slices.Clone(t.Float)
	}
	for i, v := range params["running_var"] {
		if !(v >= 0) {
			return fail("var[%d] = %g, want ≥ 0", i, v)
		}
	}
	eps := floatAttr(n, "epsilon", 1e-5)
	mom := floatAttr(n, "momentum", 0.9)
	if !(eps > 0 && eps < 1) || !(mom >= 0 && mom < 1) {
		return fail("epsilon %g, momentum %g: want both in (0, 1) and [0, 1)", eps, mom)
	}
	// ONNX's momentum weighs the old running value; nn's (PyTorch's) the
	// new batch statistic.
	spec := nn.LayerSpec{Type: nn.TypeBatchNorm, Eps: float64(eps), Momentum: 1 - float64(mom)}
	c.emit(n.Outputs[0], spec, []int{x.src}, x.shape, params)
	return nil
}

// add converts Add: of two activations of one shape to an add layer, of an
// activation and a constant to the bias of the conv or dense layer that
// produced the activation.
func (c *converter) add(n Node) error {
	if len(n.Inputs) != 2 {
		return fail("Add has %d inputs, want 2", len(n.Inputs))
	}
	a, aok := c.vals[n.Inputs[0]]
	b, bok := c.vals[n.Inputs[1]]
	switch {
	case aok && bok:
		if !slices.Equal(a.shape, b.shape) {
			return fail("inputs of shapes %v and %v: only equal shapes are supported (no broadcasting)", a.shape, b.shape)
		}
		c.emit(n.Outputs[0], nn.LayerSpec{Type: nn.TypeAdd}, []int{a.src, b.src}, a.shape, nil)
		return nil
	case aok:
		return c.addBias(n, n.Inputs[0], a, c.consts[n.Inputs[1]])
	case bok:
		return c.addBias(n, n.Inputs[1], b, c.consts[n.Inputs[0]])
	}
	return fail("both inputs are constants")
}

// addBias folds Add(x, const) into the bias of the conv or dense layer that
// produced x, when nothing else reads x.
func (c *converter) addBias(n Node, name string, x value, b *Constant) error {
	ws, ok := c.weights[x.src]
	if x.src < 0 || !ok || c.affine[x.src] != name || c.uses[name] != 1 {
		return fail("Add of a constant is only supported as the bias of a Conv, MatMul or Gemm whose output nothing else reads")
	}
	bias := ws["bias"]
	out := len(bias)
	s := b.Shape
	switch len(x.shape) {
	case 3: // per channel: [C,1,1] or [1,C,1,1]
		ok = (len(s) == 3 && s[0] == out && s[1] == 1 && s[2] == 1) ||
			(len(s) == 4 && s[0] == 1 && s[1] == out && s[2] == 1 && s[3] == 1)
	case 1: // per feature: [N] or [1,N]
		ok = (len(s) == 1 && s[0] == out) || (len(s) == 2 && s[0] == 1 && s[1] == out)
	default:
		ok = false
	}
	if !ok || b.Float == nil {
		return fail("constant %q of shape %v does not broadcast as a bias over output %v", b.Name, s, x.shape)
	}
	for i, v := range b.Float {
		bias[i] += v
	}
	c.vals[n.Outputs[0]] = x
	c.affine[x.src] = n.Outputs[0]
	return nil
}

// concat converts Concat of activations along the channel axis.
func (c *converter) concat(n Node) error {
	if len(n.Inputs) < 2 {
		return fail("Concat of %d inputs: want two or more", len(n.Inputs))
	}
	var srcs []int
	var shapes [][]int
	for _, in := range n.Inputs {
		v, ok := c.vals[in]
		if !ok {
			return fail("input %q is a constant; only activations can be concatenated", in)
		}
		srcs = append(srcs, v.src)
		shapes = append(shapes, v.shape)
	}
	rank := int64(len(shapes[0]) + 1)
	if axis := intAttr(n, "axis", 0); axis != 1 && axis != 1-rank {
		return fail("axis %d: only the channel axis (1) is supported", axis)
	}
	out := slices.Clone(shapes[0])
	for i, s := range shapes[1:] {
		if len(s) != len(out) || !slices.Equal(s[1:], out[1:]) {
			return fail("input %d shape %v does not match input 0 %v outside the channel axis", i+1, s, shapes[0])
		}
		out[0] += s[0]
	}
	c.emit(n.Outputs[0], nn.LayerSpec{Type: nn.TypeConcat}, srcs, out, nil)
	return nil
}

// matmul converts MatMul(x [batch,K], W [K,N]) to dense with weight Wᵀ.
func (c *converter) matmul(n Node, x value) error {
	if len(n.Inputs) != 2 {
		return fail("MatMul has %d inputs, want 2", len(n.Inputs))
	}
	w, err := c.constIn(n, 1)
	if err != nil {
		return err
	}
	if len(x.shape) != 1 || w.Float == nil || len(w.Shape) != 2 || w.Shape[0] != x.shape[0] {
		return fail("weight %q shape %v does not fit input %v (want [K N] float)", n.Inputs[1], w.Shape, x.shape)
	}
	k, units := w.Shape[0], w.Shape[1]
	i := c.emit(n.Outputs[0], nn.LayerSpec{Type: nn.TypeDense, Units: units}, []int{x.src}, []int{units},
		map[string][]float32{"weight": transpose(w.Float, k, units), "bias": make([]float32, units)})
	c.affine[i] = n.Outputs[0]
	return nil
}

// gemm converts Gemm(x, B, C) = alpha·x·op(B) + beta·C to dense.
func (c *converter) gemm(n Node, x value) error {
	if len(n.Inputs) < 2 || len(n.Inputs) > 3 {
		return fail("Gemm has %d inputs, want 2 or 3", len(n.Inputs))
	}
	if intAttr(n, "transA", 0) != 0 {
		return fail("transA is not supported (the activation must be [batch, K])")
	}
	alpha, beta := floatAttr(n, "alpha", 1), floatAttr(n, "beta", 1)
	w, err := c.constIn(n, 1)
	if err != nil {
		return err
	}
	if len(x.shape) != 1 || w.Float == nil || len(w.Shape) != 2 {
		return fail("weight %q shape %v does not fit input %v", n.Inputs[1], w.Shape, x.shape)
	}
	var wt []float32
	var units int
	if intAttr(n, "transB", 0) != 0 { // B is [N, K], already nn's layout
		if w.Shape[1] != x.shape[0] {
			return fail("weight %q shape %v does not fit input %v", n.Inputs[1], w.Shape, x.shape)
		}
		units, wt = w.Shape[0], slices.Clone(w.Float)
	} else {
		if w.Shape[0] != x.shape[0] {
			return fail("weight %q shape %v does not fit input %v", n.Inputs[1], w.Shape, x.shape)
		}
		units, wt = w.Shape[1], transpose(w.Float, w.Shape[0], w.Shape[1])
	}
	for i := range wt {
		wt[i] *= alpha
	}
	b := make([]float32, units)
	if len(n.Inputs) == 3 && n.Inputs[2] != "" {
		bc, err := c.constIn(n, 2)
		if err != nil {
			return err
		}
		s := bc.Shape
		scalar := len(bc.Float) == 1 && len(s) <= 2
		row := (len(s) == 1 && s[0] == units) || (len(s) == 2 && s[0] == 1 && s[1] == units)
		if bc.Float == nil || !(scalar || row) {
			return fail("C %q of shape %v does not broadcast over [batch %d]", n.Inputs[2], s, units)
		}
		for i := range b {
			b[i] = beta * bc.Float[min(i, len(bc.Float)-1)]
		}
	}
	i := c.emit(n.Outputs[0], nn.LayerSpec{Type: nn.TypeDense, Units: units}, []int{x.src}, []int{units},
		map[string][]float32{"weight": wt, "bias": b})
	c.affine[i] = n.Outputs[0]
	return nil
}

func (c *converter) pool(n Node, x value) error {
	spec := nn.LayerSpec{Type: nn.TypeMaxPool2D, CeilMode: intAttr(n, "ceil_mode", 0) != 0}
	if n.OpType == "AveragePool" {
		spec.Type = nn.TypeAvgPool2D
		spec.CountIncludePad = intAttr(n, "count_include_pad", 0) != 0
	}
	if err := window(n, x.shape, ints(n, "kernel_shape", nil), &spec); err != nil {
		return err
	}
	return c.single(n, x, spec)
}

// flatten converts Flatten(axis=1): nothing when the input is already
// flat.
func (c *converter) flatten(n Node, x value) error {
	if axis := intAttr(n, "axis", 1); axis != 1 && axis != 1-int64(len(x.shape)+1) {
		return fail("axis %d is not supported (want 1: the batch dimension stays)", axis)
	}
	if len(x.shape) == 1 {
		c.vals[n.Outputs[0]] = x
		return nil
	}
	return c.single(n, x, nn.LayerSpec{Type: nn.TypeFlatten})
}

// reshape converts a Reshape that keeps the batch dimension: the target's
// first entry is 0 (copy) or −1 with the rest fixed; a 1-D per-sample result
// is a flatten.
func (c *converter) reshape(n Node, x value) error {
	if len(n.Inputs) != 2 {
		return fail("Reshape needs 2 inputs, got %d", len(n.Inputs))
	}
	t, err := c.constIn(n, 1)
	if err != nil {
		return err
	}
	if t.Int == nil || len(t.Shape) != 1 || len(t.Int) < 2 || len(t.Int) > nn.MaxDims+1 {
		return fail("shape %v: want 2 to %d integers, the first for the batch", t.Int, nn.MaxDims+1)
	}
	rest := t.Int[1:]
	switch {
	case t.Int[0] == 0, c.batch > 0 && t.Int[0] == int64(c.batch):
	case t.Int[0] == -1 && !slices.Contains(rest, -1) && !slices.Contains(rest, 0):
		if safetensors.Numel(x.shape) != int(product(rest)) {
			return fail("shape %v does not keep the batch dimension of a per-sample %v", t.Int, x.shape)
		}
	default:
		return fail("shape %v: the first entry must be 0, -1 or the input's batch size (the batch dimension stays)", t.Int)
	}
	target := make([]int, len(rest))
	for i, d := range rest {
		switch {
		case d == 0 && i < len(x.shape):
			target[i] = x.shape[i]
		case d == -1 || d > 0 && d <= int64(safetensors.Numel(x.shape)):
			target[i] = int(d)
		default:
			return fail("shape %v is invalid for a per-sample %v", t.Int, x.shape)
		}
	}
	if len(target) == 1 {
		if target[0] != -1 && target[0] != safetensors.Numel(x.shape) {
			return fail("shape %v does not hold a per-sample %v", t.Int, x.shape)
		}
		return c.flatten(Node{Outputs: n.Outputs}, x)
	}
	shape, err := nn.DimsOf(target...)
	if err != nil {
		return fail("shape %v: %v", t.Int, err)
	}
	return c.single(n, x, nn.LayerSpec{Type: nn.TypeReshape, Shape: shape})
}

// product multiplies v, saturating at 1<<62.
func product(v []int64) int64 {
	p := int64(1)
	for _, d := range v {
		if d > 0 && p > (1<<62)/d {
			return 1 << 62
		}
		p *= d
	}
	return p
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
