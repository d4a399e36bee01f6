package onnx

import (
	"encoding/binary"
	"math"
	"slices"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"gorgonia.org/tensor"
)

// pb is a tiny protobuf message builder for hand-made ONNX models.
type pb []byte

func (m pb) str(num protowire.Number, s string) pb {
	m = protowire.AppendTag(m, num, protowire.BytesType)
	return protowire.AppendString(m, s)
}

func (m pb) msg(num protowire.Number, sub pb) pb {
	m = protowire.AppendTag(m, num, protowire.BytesType)
	return protowire.AppendBytes(m, sub)
}

func (m pb) varint(num protowire.Number, v uint64) pb {
	m = protowire.AppendTag(m, num, protowire.VarintType)
	return protowire.AppendVarint(m, v)
}

func (m pb) fixed32(num protowire.Number, v uint32) pb {
	m = protowire.AppendTag(m, num, protowire.Fixed32Type)
	return protowire.AppendFixed32(m, v)
}

// floatTensor encodes a FLOAT TensorProto; raw selects raw_data over
// unpacked float_data.
func floatTensor(name string, dims []int64, v []float32, raw bool) pb {
	var t pb
	for _, d := range dims {
		t = t.varint(1, uint64(d)) // unpacked dims
	}
	t = t.varint(2, onnxFloat).str(8, name)
	if raw {
		b := make([]byte, 4*len(v))
		for i, x := range v {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
		}
		return t.msg(9, b)
	}
	for _, x := range v {
		t = t.fixed32(4, math.Float32bits(x))
	}
	return t
}

// int64Tensor encodes an INT64 TensorProto with packed int64_data.
func int64Tensor(name string, v []int64) pb {
	var packed []byte
	for _, x := range v {
		packed = protowire.AppendVarint(packed, uint64(x))
	}
	return pb(nil).msg(1, protowire.AppendVarint(nil, uint64(len(v)))).varint(2, onnxInt64).str(8, name).msg(7, packed)
}

func valueInfoPB(name string, dims ...int64) pb {
	var shape pb
	for _, d := range dims {
		shape = shape.msg(1, pb(nil).varint(1, uint64(d)))
	}
	tt := pb(nil).varint(1, onnxFloat).msg(2, shape)
	return pb(nil).str(1, name).msg(2, pb(nil).msg(1, tt))
}

func nodePB(op, name string, in []string, out string, attrs ...pb) pb {
	n := pb(nil)
	for _, x := range in {
		n = n.str(1, x)
	}
	n = n.str(2, out).str(3, name).str(4, op)
	for _, a := range attrs {
		n = n.msg(5, a)
	}
	return n
}

// TestDecodeHandMadeONNX covers encodings the zoo model does not use:
// Constant nodes, unpacked float_data, packed int64_data, unpacked dims,
// a tensor attribute without a type field, Flatten and Gemm with transB.
func TestDecodeHandMadeONNX(t *testing.T) {
	// x [1,2,2,2] → Flatten → Gemm(W [3,8] transB, C [3]) → Relu → y.
	w := make([]float32, 24)
	for i := range w {
		w[i] = float32(i%5) - 2
	}
	bias := []float32{1, -2, 0.5}
	transB := pb(nil).str(1, "transB").varint(3, 1).varint(20, uint64(AttrInt))
	axis := pb(nil).str(1, "axis").varint(3, 1).varint(20, uint64(AttrInt))
	constAttr := pb(nil).str(1, "value").msg(5, floatTensor("", []int64{3, 8}, w, false)).varint(20, uint64(AttrTensor))
	// No type field: the decoder infers TENSOR from the field present.
	unusedShape := pb(nil).str(1, "value").msg(5, int64Tensor("", []int64{1, 8}))
	graph := pb(nil).
		msg(1, nodePB("Constant", "wconst", nil, "W", constAttr)).
		msg(1, nodePB("Constant", "shapeconst", nil, "unused_shape", unusedShape)).
		msg(1, nodePB("Flatten", "flat", []string{"x"}, "f", axis)).
		msg(1, nodePB("Gemm", "fc", []string{"f", "W", "C"}, "g", transB)).
		msg(1, nodePB("Relu", "act", []string{"g"}, "y")).
		str(2, "hand").
		msg(5, floatTensor("C", []int64{3}, bias, true)).
		msg(11, valueInfoPB("x", 1, 2, 2, 2)).
		msg(12, valueInfoPB("y", 1, 3))
	model := pb(nil).varint(1, 8).msg(8, pb(nil).str(1, "").varint(2, 13)).msg(7, graph)

	g, err := Decode(model, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if g.Opset != 13 || len(g.Nodes) != 3 || len(g.Constants) != 3 {
		t.Fatalf("opset %d, %d nodes, %d constants", g.Opset, len(g.Nodes), len(g.Constants))
	}
	if s := g.Constants["unused_shape"]; s == nil || !slices.Equal(s.Shape, []int{2}) || len(s.Int) != 2 || s.Int[0] != 1 || s.Int[1] != 8 {
		t.Errorf("unused_shape = %+v", s)
	}
	if a := g.Constants["W"]; a == nil || !slices.Equal(a.Shape, []int{3, 8}) || len(a.Float) != 24 {
		t.Fatalf("W = %+v", a)
	}
	net, err := GraphToNetwork(g)
	if err != nil {
		t.Fatal(err)
	}
	x := []float32{1, 0, -1, 2, 0.5, 0, 3, -2}
	y, err := net.Forward(tensor.New(tensor.WithShape(1, 2, 2, 2), tensor.WithBacking(append([]float32(nil), x...))), false)
	if err != nil {
		t.Fatal(err)
	}
	for o := 0; o < 3; o++ {
		want := bias[o]
		for k := 0; k < 8; k++ {
			want += w[o*8+k] * x[k]
		}
		want = max(want, 0)
		if got := y.Float32s()[o]; math.Abs(float64(got-want)) > 1e-5 {
			t.Errorf("y[%d] = %v, want %v", o, got, want)
		}
	}
}
