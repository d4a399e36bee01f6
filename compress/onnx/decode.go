package onnx

import (
	"encoding/binary"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/compressq/compressq/compress/safetensors"
	"google.golang.org/protobuf/encoding/protowire"
)

// Graph is a neutral, decoded form of an ONNX model: ops in the order the
// model lists them (ONNX requires topological order), their attributes, and
// the constant tensors (initializers and Constant op outputs).
type Graph struct {
	// Opset is the default-domain operator set version.
	Opset int64
	// Inputs are the graph inputs that are not constants.
	Inputs []ValueInfo
	// Outputs are the graph outputs.
	Outputs []ValueInfo
	// Nodes are the ops, in model order, without Constant ops (whose values
	// are in Constants).
	Nodes []Node
	// Constants holds initializers and Constant op values by name.
	Constants map[string]*Constant
}

// ValueInfo names a graph input or output and its shape; unknown (symbolic)
// dimensions are −1, and Shape is nil when the model gives none.
type ValueInfo struct {
	Name  string
	Shape []int
}

// Node is one ONNX op.
type Node struct {
	Name    string
	OpType  string
	Domain  string
	Inputs  []string
	Outputs []string
	Attrs   map[string]Attr
}

// AttrType is the kind of value an [Attr] holds, numbered as ONNX's
// AttributeProto.AttributeType.
type AttrType int

// Attribute kinds understood by the decoder; others are kept with their type
// only.
const (
	AttrFloat   AttrType = 1
	AttrInt     AttrType = 2
	AttrString  AttrType = 3
	AttrTensor  AttrType = 4
	AttrFloats  AttrType = 6
	AttrInts    AttrType = 7
	AttrStrings AttrType = 8
)

// Attr is one decoded node attribute; the field matching Type is set.
type Attr struct {
	Name    string
	Type    AttrType
	F       float32
	I       int64
	S       string
	Floats  []float32
	Ints    []int64
	Strings []string
	T       *Constant
}

// Constant is a constant tensor: float data in Float (FLOAT, DOUBLE and
// FLOAT16 inputs are converted) or integer data in Int (INT64, INT32, INT8,
// UINT8, ...), in row-major order of Shape.
type Constant struct {
	Name  string
	Shape []int
	Float []float32
	Int   []int64
	// DataType is the ONNX TensorProto.DataType it was stored as (1 for
	// FLOAT); 0 when unknown.
	DataType int
}

// Numel returns the element count of c's shape.
func (c *Constant) Numel() int { return safetensors.Numel(c.Shape) }

// ONNX TensorProto.DataType values.
const (
	onnxFloat   = 1
	onnxUint8   = 2
	onnxInt8    = 3
	onnxUint16  = 4
	onnxInt16   = 5
	onnxInt32   = 6
	onnxInt64   = 7
	onnxBool    = 9
	onnxFloat16 = 10
	onnxDouble  = 11
	onnxUint32  = 12
	onnxUint64  = 13
)

// supportedOps lists the op types GraphToNetwork converts, sorted (Constant
// ops are folded by Decode).
var supportedOps = []string{"Add", "AveragePool", "BatchNormalization", "Clip", "Concat", "Constant", "Conv", "Dropout", "Flatten", "Gemm",
	"GlobalAveragePool", "GlobalMaxPool", "HardSigmoid", "HardSwish", "Identity", "LeakyRelu", "MatMul", "MaxPool", "Relu", "Reshape",
	"Sigmoid", "Softmax", "Tanh"}

// SupportedOps returns the op types [GraphToNetwork] converts, sorted.
func SupportedOps() []string { return append([]string(nil), supportedOps...) }

// UnsupportedOpsError lists every node of a model whose op is not supported.
type UnsupportedOpsError struct {
	// Ops maps an op type ("Softmax", "ai.custom:Foo") to the names of the
	// nodes using it.
	Ops map[string][]string
}

// Error lists the unsupported op types with their node names, sorted.
func (e *UnsupportedOpsError) Error() string {
	types := make([]string, 0, len(e.Ops))
	for t := range e.Ops {
		types = append(types, t)
	}
	sort.Strings(types)
	parts := make([]string, len(types))
	for i, t := range types {
		parts[i] = fmt.Sprintf("%s (nodes %s)", t, strings.Join(e.Ops[t], ", "))
	}
	return "onnx: unsupported ops: " + strings.Join(parts, "; ")
}

// Unwrap makes the error match [ErrNotImportable].
func (e *UnsupportedOpsError) Unwrap() error { return ErrNotImportable }

// Limits bounds what Decode accepts. The zero value uses defaults.
type Limits struct {
	// MaxBytes bounds the model size (default 256 MiB).
	MaxBytes int
	// MaxElements bounds the element count of any one tensor (default 64 Mi).
	MaxElements int64
	// MaxNodes bounds the number of nodes (default 100 000).
	MaxNodes int
}

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = 256 << 20
	}
	if l.MaxElements <= 0 {
		l.MaxElements = 64 << 20
	}
	if l.MaxNodes <= 0 {
		l.MaxNodes = 100_000
	}
	return l
}

// Decode decodes a serialized ONNX ModelProto into a [Graph]. It reads
// only the fields it needs (opset, graph nodes, attributes, initializers,
// inputs, outputs) and checks every length and tensor size against limits.
// It accepts any op; [GraphToNetwork] says which it can convert. Constant
// ops are folded into Graph.Constants. Errors on malformed input
// wrap [safetensors.ErrFormat]; the decoder never panics.
func Decode(data []byte, limits Limits) (*Graph, error) {
	limits = limits.withDefaults()
	if len(data) > limits.MaxBytes {
		return nil, fmt.Errorf("onnx: model is %d bytes, limit %d: %w", len(data), limits.MaxBytes, safetensors.ErrLimit)
	}
	d := &onnxDecoder{limits: limits}
	var graphBytes []byte
	opsetSeen := false
	g := &Graph{Constants: map[string]*Constant{}}
	err := walk(data, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		switch {
		case num == 7 && typ == protowire.BytesType:
			graphBytes = v
		case num == 8 && typ == protowire.BytesType:
			var domain string
			var version int64
			if err := walk(v, func(n protowire.Number, t protowire.Type, b []byte, x uint64) error {
				switch {
				case n == 1 && t == protowire.BytesType:
					domain = string(b)
				case n == 2 && t == protowire.VarintType:
					version = int64(x)
				}
				return nil
			}); err != nil {
				return fmt.Errorf("opset_import: %w", err)
			}
			if domain == "" || domain == "ai.onnx" {
				g.Opset, opsetSeen = version, true
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("onnx: model: %w", err)
	}
	if graphBytes == nil {
		return nil, fmt.Errorf("onnx: model has no graph: %w", safetensors.ErrFormat)
	}
	if !opsetSeen {
		return nil, fmt.Errorf("onnx: model imports no default-domain opset: %w", safetensors.ErrFormat)
	}
	if err := d.graph(graphBytes, g); err != nil {
		return nil, fmt.Errorf("onnx: graph: %w", err)
	}
	return g, nil
}

// onnxDecoder carries the limits through the nested decoders.
type onnxDecoder struct {
	limits Limits
}

// walk calls fn for every field of the message in b. For varint fields x
// holds the value; for fixed32/64 fields x holds the bits; for bytes fields
// v holds the payload. Groups are rejected.
func walk(b []byte, fn func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("bad field tag: %v: %w", protowire.ParseError(n), safetensors.ErrFormat)
		}
		b = b[n:]
		var v []byte
		var x uint64
		switch typ {
		case protowire.VarintType:
			x, n = protowire.ConsumeVarint(b)
		case protowire.Fixed32Type:
			var u uint32
			u, n = protowire.ConsumeFixed32(b)
			x = uint64(u)
		case protowire.Fixed64Type:
			x, n = protowire.ConsumeFixed64(b)
		case protowire.BytesType:
			v, n = protowire.ConsumeBytes(b)
		default:
			return fmt.Errorf("field %d: wire type %d not supported: %w", num, typ, safetensors.ErrFormat)
		}
		if n < 0 {
			return fmt.Errorf("field %d: %v: %w", num, protowire.ParseError(n), safetensors.ErrFormat)
		}
		b = b[n:]
		if err := fn(num, typ, v, x); err != nil {
			return err
		}
	}
	return nil
}

// graph decodes a GraphProto into g.
func (d *onnxDecoder) graph(b []byte, g *Graph) error {
	var inputs, outputs []ValueInfo
	var constNodes []Node
	err := walk(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if typ != protowire.BytesType {
			return nil
		}
		switch num {
		case 1: // node
			if len(g.Nodes)+len(constNodes) >= d.limits.MaxNodes {
				return fmt.Errorf("more than %d nodes: %w", d.limits.MaxNodes, safetensors.ErrLimit)
			}
			n, err := d.node(v)
			if err != nil {
				return fmt.Errorf("node %d: %w", len(g.Nodes)+len(constNodes), err)
			}
			if n.OpType == "Constant" {
				constNodes = append(constNodes, n)
			} else {
				g.Nodes = append(g.Nodes, n)
			}
		case 5: // initializer
			c, err := d.tensor(v)
			if err != nil {
				return fmt.Errorf("initializer %d: %w", len(g.Constants), err)
			}
			if c.Name == "" {
				return fmt.Errorf("initializer %d has no name: %w", len(g.Constants), safetensors.ErrFormat)
			}
			if _, dup := g.Constants[c.Name]; dup {
				return fmt.Errorf("initializer %q is defined twice: %w", c.Name, safetensors.ErrFormat)
			}
			g.Constants[c.Name] = c
		case 11, 12: // input, output
			vi, err := valueInfo(v)
			if err != nil {
				return fmt.Errorf("input/output: %w", err)
			}
			if num == 11 {
				inputs = append(inputs, vi)
			} else {
				outputs = append(outputs, vi)
			}
		case 15: // sparse_initializer
			return fmt.Errorf("sparse initializers are not supported: %w", ErrNotImportable)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, n := range constNodes {
		c, err := constantValue(n)
		if err != nil {
			return err
		}
		if _, dup := g.Constants[n.Outputs[0]]; dup {
			return fmt.Errorf("Constant node %q: output %q is already defined: %w", n.Name, n.Outputs[0], safetensors.ErrFormat)
		}
		c.Name = n.Outputs[0]
		g.Constants[c.Name] = c
	}
	for _, in := range inputs {
		if _, isConst := g.Constants[in.Name]; !isConst {
			g.Inputs = append(g.Inputs, in)
		}
	}
	g.Outputs = outputs
	return nil
}

// constantValue returns the value of a Constant node, given as a tensor
// ("value") or, since opset 12, as a scalar or list ("value_float",
// "value_floats", "value_int", "value_ints").
func constantValue(n Node) (*Constant, error) {
	if len(n.Outputs) != 1 || len(n.Attrs) != 1 {
		return nil, fmt.Errorf("Constant node %q: needs one output and one value attribute: %w", n.Name, safetensors.ErrFormat)
	}
	for name, a := range n.Attrs {
		switch {
		case name == "value" && a.Type == AttrTensor:
			c := *a.T
			return &c, nil
		case name == "value_float" && a.Type == AttrFloat:
			return &Constant{Shape: []int{}, Float: []float32{a.F}, DataType: onnxFloat}, nil
		case name == "value_floats" && a.Type == AttrFloats:
			return &Constant{Shape: []int{len(a.Floats)}, Float: a.Floats, DataType: onnxFloat}, nil
		case name == "value_int" && a.Type == AttrInt:
			return &Constant{Shape: []int{}, Int: []int64{a.I}, DataType: onnxInt64}, nil
		case name == "value_ints" && a.Type == AttrInts:
			return &Constant{Shape: []int{len(a.Ints)}, Int: a.Ints, DataType: onnxInt64}, nil
		}
		return nil, fmt.Errorf("Constant node %q: attribute %q is not supported: %w", n.Name, name, ErrNotImportable)
	}
	return nil, fmt.Errorf("Constant node %q: no value attribute: %w", n.Name, safetensors.ErrFormat)
}

// node decodes a NodeProto.
func (d *onnxDecoder) node(b []byte) (Node, error) {
	n := Node{Attrs: map[string]Attr{}}
	err := walk(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if typ != protowire.BytesType {
			return nil
		}
		switch num {
		case 1:
			n.Inputs = append(n.Inputs, string(v))
		case 2:
			n.Outputs = append(n.Outputs, string(v))
		case 3:
			n.Name = string(v)
		case 4:
			n.OpType = string(v)
		case 7:
			n.Domain = string(v)
		case 5:
			a, err := d.attr(v)
			if err != nil {
				return fmt.Errorf("attribute: %w", err)
			}
			if _, dup := n.Attrs[a.Name]; dup {
				return fmt.Errorf("attribute %q given twice: %w", a.Name, safetensors.ErrFormat)
			}
			n.Attrs[a.Name] = a
		}
		return nil
	})
	if err != nil {
		return Node{}, fmt.Errorf("%q: %w", n.Name, err)
	}
	if n.OpType == "" {
		return Node{}, fmt.Errorf("%q: no op_type: %w", n.Name, safetensors.ErrFormat)
	}
	return n, nil
}

// attr decodes an AttributeProto.
func (d *onnxDecoder) attr(b []byte) (Attr, error) {
	var a Attr
	var typeSeen bool
	err := walk(b, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
		switch {
		case num == 1 && typ == protowire.BytesType:
			a.Name = string(v)
		case num == 20 && typ == protowire.VarintType:
			a.Type, typeSeen = AttrType(int32(x)), true
		case num == 2 && typ == protowire.Fixed32Type:
			a.F = math.Float32frombits(uint32(x))
		case num == 3 && typ == protowire.VarintType:
			a.I = int64(x)
		case num == 4 && typ == protowire.BytesType:
			a.S = string(v)
		case num == 5 && typ == protowire.BytesType:
			t, err := d.tensor(v)
			if err != nil {
				return err
			}
			a.T = t
		case num == 7:
			fs, err := appendFloats(a.Floats, typ, v, x, d.limits.MaxElements)
			if err != nil {
				return err
			}
			a.Floats = fs
		case num == 8:
			is, err := appendVarints(a.Ints, typ, v, x, d.limits.MaxElements)
			if err != nil {
				return err
			}
			a.Ints = is
		case num == 9 && typ == protowire.BytesType:
			a.Strings = append(a.Strings, string(v))
		}
		return nil
	})
	if err != nil {
		return Attr{}, fmt.Errorf("%q: %w", a.Name, err)
	}
	if a.Name == "" {
		return Attr{}, fmt.Errorf("attribute without a name: %w", safetensors.ErrFormat)
	}
	if !typeSeen {
		// IR version < 3 files may omit the type; infer it from the field set.
		switch {
		case a.T != nil:
			a.Type = AttrTensor
		case a.Ints != nil:
			a.Type = AttrInts
		case a.Floats != nil:
			a.Type = AttrFloats
		case a.Strings != nil:
			a.Type = AttrStrings
		case a.S != "":
			a.Type = AttrString
		}
	}
	if a.Type == AttrTensor && a.T == nil {
		return Attr{}, fmt.Errorf("%q: tensor attribute without a tensor: %w", a.Name, safetensors.ErrFormat)
	}
	return a, nil
}

// appendFloats appends a repeated float field, packed or not.
func appendFloats(dst []float32, typ protowire.Type, v []byte, x uint64, max int64) ([]float32, error) {
	switch typ {
	case protowire.Fixed32Type:
		if int64(len(dst)) >= max {
			return nil, fmt.Errorf("more than %d floats: %w", max, safetensors.ErrLimit)
		}
		return append(dst, math.Float32frombits(uint32(x))), nil
	case protowire.BytesType:
		if len(v)%4 != 0 {
			return nil, fmt.Errorf("packed floats of %d bytes: %w", len(v), safetensors.ErrFormat)
		}
		if int64(len(dst)+len(v)/4) > max {
			return nil, fmt.Errorf("more than %d floats: %w", max, safetensors.ErrLimit)
		}
		for i := 0; i < len(v); i += 4 {
			dst = append(dst, math.Float32frombits(binary.LittleEndian.Uint32(v[i:])))
		}
		return dst, nil
	}
	return nil, fmt.Errorf("repeated float with wire type %d: %w", typ, safetensors.ErrFormat)
}

// appendVarints appends a repeated varint field (int32/int64), packed or
// not.
func appendVarints(dst []int64, typ protowire.Type, v []byte, x uint64, max int64) ([]int64, error) {
	switch typ {
	case protowire.VarintType:
		if int64(len(dst)) >= max {
			return nil, fmt.Errorf("more than %d integers: %w", max, safetensors.ErrLimit)
		}
		return append(dst, int64(x)), nil
	case protowire.BytesType:
		for len(v) > 0 {
			u, n := protowire.ConsumeVarint(v)
			if n < 0 {
				return nil, fmt.Errorf("packed varint: %v: %w", protowire.ParseError(n), safetensors.ErrFormat)
			}
			if int64(len(dst)) >= max {
				return nil, fmt.Errorf("more than %d integers: %w", max, safetensors.ErrLimit)
			}
			dst = append(dst, int64(u))
			v = v[n:]
		}
		return dst, nil
	}
	return nil, fmt.Errorf("repeated integer with wire type %d: %w", typ, safetensors.ErrFormat)
}

// tensor decodes a TensorProto into a Constant, checking that the data
// matches the dims.
func (d *onnxDecoder) tensor(b []byte) (*Constant, error) {
	var (
		c        Constant
		dims     []int64
		dataType int64
		raw      []byte
		rawSeen  bool
		floats   []float32
		ints     []int64
		doubles  []float64
		external bool
	)
	max := d.limits.MaxElements
	err := walk(b, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
		var err error
		switch num {
		case 1:
			dims, err = appendVarints(dims, typ, v, x, 64)
		case 2:
			if typ == protowire.VarintType {
				dataType = int64(x)
			}
		case 4:
			floats, err = appendFloats(floats, typ, v, x, max)
		case 5, 7, 11: // int32_data, int64_data, uint64_data
			ints, err = appendVarints(ints, typ, v, x, max)
		case 8:
			if typ == protowire.BytesType {
				c.Name = string(v)
			}
		case 9:
			if typ == protowire.BytesType {
				raw, rawSeen = v, true
			}
		case 10:
			switch typ {
			case protowire.Fixed64Type:
				if int64(len(doubles)) >= max {
					return fmt.Errorf("more than %d doubles: %w", max, safetensors.ErrLimit)
				}
				doubles = append(doubles, math.Float64frombits(x))
			case protowire.BytesType:
				if len(v)%8 != 0 {
					return fmt.Errorf("packed doubles of %d bytes: %w", len(v), safetensors.ErrFormat)
				}
				if int64(len(doubles)+len(v)/8) > max {
					return fmt.Errorf("more than %d doubles: %w", max, safetensors.ErrLimit)
				}
				for i := 0; i < len(v); i += 8 {
					doubles = append(doubles, math.Float64frombits(binary.LittleEndian.Uint64(v[i:])))
				}
			}
		case 14:
			external = typ == protowire.VarintType && x == 1
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("tensor %q: %w", c.Name, err)
	}
	fail := func(format string, args ...any) (*Constant, error) {
		return nil, fmt.Errorf("tensor %q: "+format+": %w", append([]any{c.Name}, append(args, safetensors.ErrFormat)...)...)
	}
	if external {
		return fail("external data is not supported")
	}
	c.DataType = int(dataType)
	c.Shape = make([]int, len(dims))
	for i, x := range dims {
		if x < 0 || x > max {
			return fail("dims[%d] = %d is out of range", i, x)
		}
		c.Shape[i] = int(x)
	}
	n64, err := safetensors.CheckedNumel(c.Shape, max)
	if err != nil {
		return nil, fmt.Errorf("tensor %q: %v: %w", c.Name, err, safetensors.ErrLimit)
	}
	n := int(n64)
	elemSize := map[int64]int{onnxFloat: 4, onnxUint8: 1, onnxInt8: 1, onnxUint16: 2, onnxInt16: 2, onnxInt32: 4,
		onnxInt64: 8, onnxBool: 1, onnxFloat16: 2, onnxDouble: 8, onnxUint32: 4, onnxUint64: 8}[dataType]
	if elemSize == 0 {
		return fail("data_type %d is not supported", dataType)
	}
	if rawSeen {
		if len(raw) != n*elemSize {
			return fail("raw_data is %d bytes, shape %v of data_type %d needs %d", len(raw), c.Shape, dataType, n*elemSize)
		}
		switch dataType {
		case onnxFloat:
			c.Float = make([]float32, n)
			for i := range c.Float {
				c.Float[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
			}
		case onnxDouble:
			c.Float = make([]float32, n)
			for i := range c.Float {
				c.Float[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:])))
			}
		case onnxFloat16:
			c.Float = make([]float32, n)
			for i := range c.Float {
				c.Float[i] = safetensors.Float16To32(binary.LittleEndian.Uint16(raw[2*i:]))
			}
		default:
			c.Int = make([]int64, n)
			for i := range c.Int {
				p := raw[elemSize*i:]
				switch dataType {
				case onnxUint8, onnxBool:
					c.Int[i] = int64(p[0])
				case onnxInt8:
					c.Int[i] = int64(int8(p[0]))
				case onnxUint16:
					c.Int[i] = int64(binary.LittleEndian.Uint16(p))
				case onnxInt16:
					c.Int[i] = int64(int16(binary.LittleEndian.Uint16(p)))
				case onnxInt32:
					c.Int[i] = int64(int32(binary.LittleEndian.Uint32(p)))
				case onnxUint32:
					c.Int[i] = int64(binary.LittleEndian.Uint32(p))
				default:
					c.Int[i] = int64(binary.LittleEndian.Uint64(p))
				}
			}
		}
		return &c, nil
	}
	switch dataType {
	case onnxFloat:
		c.Float = floats
	case onnxDouble:
		c.Float = make([]float32, len(doubles))
		for i, x := range doubles {
			c.Float[i] = float32(x)
		}
	case onnxFloat16:
		// FLOAT16 without raw_data is stored in int32_data, one per value.
		c.Float = make([]float32, len(ints))
		for i, x := range ints {
			c.Float[i] = safetensors.Float16To32(uint16(x))
		}
	default:
		c.Int = ints
		for i, x := range ints {
			if dataType == onnxInt32 || dataType == onnxInt16 || dataType == onnxInt8 {
				c.Int[i] = int64(int32(x)) // int32_data holds sign-extended varints
			}
		}
	}
	got := len(c.Float) + len(c.Int)
	if got != n {
		return fail("holds %d values, shape %v needs %d", got, c.Shape, n)
	}
	if c.Float == nil && c.Int == nil {
		if dataType == onnxFloat || dataType == onnxDouble || dataType == onnxFloat16 {
			c.Float = []float32{}
		} else {
			c.Int = []int64{}
		}
	}
	return &c, nil
}

// valueInfo decodes a ValueInfoProto's name and tensor shape.
func valueInfo(b []byte) (ValueInfo, error) {
	var vi ValueInfo
	var typeBytes []byte
	err := walk(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if typ == protowire.BytesType {
			switch num {
			case 1:
				vi.Name = string(v)
			case 2:
				typeBytes = v
			}
		}
		return nil
	})
	if err != nil {
		return vi, err
	}
	// TypeProto.tensor_type (1) → Tensor.shape (2) → TensorShapeProto.dim (1)
	// → Dimension.dim_value (1) / dim_param (2).
	var tensorBytes, shapeBytes []byte
	if err := walk(typeBytes, fieldBytes(1, &tensorBytes)); err != nil {
		return vi, fmt.Errorf("value %q type: %w", vi.Name, err)
	}
	if err := walk(tensorBytes, fieldBytes(2, &shapeBytes)); err != nil {
		return vi, fmt.Errorf("value %q type: %w", vi.Name, err)
	}
	if shapeBytes == nil {
		return vi, nil
	}
	vi.Shape = []int{}
	err = walk(shapeBytes, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if num != 1 || typ != protowire.BytesType {
			return nil
		}
		if len(vi.Shape) >= 64 {
			return fmt.Errorf("rank above 64: %w", safetensors.ErrLimit)
		}
		dim := -1
		err := walk(v, func(n protowire.Number, t protowire.Type, _ []byte, x uint64) error {
			if n == 1 && t == protowire.VarintType && x <= math.MaxInt32 {
				dim = int(x)
			}
			return nil
		})
		vi.Shape = append(vi.Shape, dim)
		return err
	})
	if err != nil {
		return vi, fmt.Errorf("value %q shape: %w", vi.Name, err)
	}
	return vi, nil
}

// fieldBytes returns a walk callback storing the bytes of field num in dst.
func fieldBytes(num protowire.Number, dst *[]byte) func(protowire.Number, protowire.Type, []byte, uint64) error {
	return func(n protowire.Number, t protowire.Type, v []byte, _ uint64) error {
		if n == num && t == protowire.BytesType {
			*dst = v
		}
		return nil
	}
}

// DecodeTensorProto decodes a serialized ONNX TensorProto, such as the
// input_0.pb/output_0.pb files of the ONNX test data sets.
func DecodeTensorProto(data []byte, limits Limits) (*Constant, error) {
	limits = limits.withDefaults()
	if len(data) > limits.MaxBytes {
		return nil, fmt.Errorf("onnx: tensor is %d bytes, limit %d: %w", len(data), limits.MaxBytes, safetensors.ErrLimit)
	}
	d := &onnxDecoder{limits: limits}
	c, err := d.tensor(data)
	if err != nil {
		return nil, fmt.Errorf("onnx: %w", err)
	}
	return c, nil
}

// Metadata returns the metadata_props of a serialized ONNX model, with
// producer_name and producer_version under the keys "producer_name" and
// "producer_version" when set (the keys [ExportNetwork] writes are listed
// with [MetaProducer]). Errors on malformed input wrap
// [safetensors.ErrFormat].
func Metadata(data []byte) (map[string]string, error) {
	meta := map[string]string{}
	err := walk(data, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if typ != protowire.BytesType {
			return nil
		}
		switch num {
		case 2:
			meta["producer_name"] = string(v)
		case 3:
			meta["producer_version"] = string(v)
		case 14:
			var key, value string
			if err := walk(v, func(n protowire.Number, t protowire.Type, b []byte, _ uint64) error {
				if t == protowire.BytesType && n == 1 {
					key = string(b)
				} else if t == protowire.BytesType && n == 2 {
					value = string(b)
				}
				return nil
			}); err != nil {
				return fmt.Errorf("metadata_props: %w", err)
			}
			meta[key] = value
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("onnx: model: %w", err)
	}
	return meta, nil
}
