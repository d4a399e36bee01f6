package onnx

import (
	"encoding/binary"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// This file serializes ONNX protobuf messages with protowire, field numbers
// as in onnx.proto (IR version 7). It writes only what the exporter uses;
// Decode reads it back.

// dataType is an ONNX TensorProto.DataType.
type dataType int32

// The tensor element types the exporter writes.
const (
	tFloat32 dataType = onnxFloat
	tUint8   dataType = onnxUint8
	tInt8    dataType = onnxInt8
	tInt32   dataType = onnxInt32
	tInt64   dataType = onnxInt64
)

// tensorProto is an initializer: name, dims and little-endian raw data.
type tensorProto struct {
	name string
	typ  dataType
	dims []int
	raw  []byte
}

// floatInit returns a FLOAT tensor of v with dims (nil dims: a scalar).
func floatInit(name string, dims []int, v []float32) tensorProto {
	raw := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(x))
	}
	return tensorProto{name: name, typ: tFloat32, dims: dims, raw: raw}
}

// int8Init returns an INT8 tensor of v.
func int8Init(name string, dims []int, v []int8) tensorProto {
	raw := make([]byte, len(v))
	for i, x := range v {
		raw[i] = byte(x)
	}
	return tensorProto{name: name, typ: tInt8, dims: dims, raw: raw}
}

// uint8Init returns a UINT8 tensor of v.
func uint8Init(name string, dims []int, v []uint8) tensorProto {
	return tensorProto{name: name, typ: tUint8, dims: dims, raw: append([]byte(nil), v...)}
}

// int32Init returns an INT32 tensor of v.
func int32Init(name string, dims []int, v []int32) tensorProto {
	raw := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(raw[4*i:], uint32(x))
	}
	return tensorProto{name: name, typ: tInt32, dims: dims, raw: raw}
}

// int64Init returns an INT64 tensor of v.
func int64Init(name string, dims []int, v []int64) tensorProto {
	raw := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(raw[8*i:], uint64(x))
	}
	return tensorProto{name: name, typ: tInt64, dims: dims, raw: raw}
}

// attribute is one node attribute; the field matching typ is used.
type attribute struct {
	name string
	typ  AttrType
	f    float32
	i    int64
	ints []int64
}

func intAttribute(name string, v int64) attribute {
	return attribute{name: name, typ: AttrInt, i: v}
}

func intsAttribute(name string, v ...int64) attribute {
	return attribute{name: name, typ: AttrInts, ints: v}
}

func floatAttribute(name string, v float32) attribute {
	return attribute{name: name, typ: AttrFloat, f: v}
}

// nodeProto is one op.
type nodeProto struct {
	name    string
	op      string
	inputs  []string
	outputs []string
	attrs   []attribute
}

// valueInfoProto is a typed graph input or output; a dimension given as a
// string in params (by index) is symbolic.
type valueInfoProto struct {
	name   string
	typ    dataType
	dims   []int
	params map[int]string
}

// modelProto is the exported model.
type modelProto struct {
	irVersion       int64
	opset           int64
	producerName    string
	producerVersion string
	docString       string
	graphName       string
	nodes           []nodeProto
	initializers    []tensorProto
	inputs          []valueInfoProto
	outputs         []valueInfoProto
	metadata        [][2]string
}

// message is a protobuf message under construction.
type message []byte

func (m message) str(num protowire.Number, s string) message {
	m = protowire.AppendTag(m, num, protowire.BytesType)
	return protowire.AppendString(m, s)
}

func (m message) bytes(num protowire.Number, b []byte) message {
	m = protowire.AppendTag(m, num, protowire.BytesType)
	return protowire.AppendBytes(m, b)
}

func (m message) varint(num protowire.Number, v int64) message {
	m = protowire.AppendTag(m, num, protowire.VarintType)
	return protowire.AppendVarint(m, uint64(v))
}

// packed appends a packed repeated int64 field.
func (m message) packed(num protowire.Number, v []int64) message {
	var b []byte
	for _, x := range v {
		b = protowire.AppendVarint(b, uint64(x))
	}
	return m.bytes(num, b)
}

func (t tensorProto) encode() message {
	dims := make([]int64, len(t.dims))
	for i, d := range t.dims {
		dims[i] = int64(d)
	}
	var m message
	if len(dims) > 0 {
		m = m.packed(1, dims)
	}
	return m.varint(2, int64(t.typ)).str(8, t.name).bytes(9, t.raw)
}

func (a attribute) encode() message {
	m := message(nil).str(1, a.name)
	switch a.typ {
	case AttrFloat:
		m = protowire.AppendTag(m, 2, protowire.Fixed32Type)
		m = protowire.AppendFixed32(m, math.Float32bits(a.f))
	case AttrInt:
		m = m.varint(3, a.i)
	case AttrInts:
		m = m.packed(8, a.ints)
	}
	return m.varint(20, int64(a.typ))
}

func (n nodeProto) encode() message {
	var m message
	for _, x := range n.inputs {
		m = m.str(1, x)
	}
	for _, x := range n.outputs {
		m = m.str(2, x)
	}
	m = m.str(3, n.name).str(4, n.op)
	for _, a := range n.attrs {
		m = m.bytes(5, a.encode())
	}
	return m
}

func (v valueInfoProto) encode() message {
	var shape message
	for i, d := range v.dims {
		var dim message
		if p, ok := v.params[i]; ok {
			dim = dim.str(2, p)
		} else {
			dim = dim.varint(1, int64(d))
		}
		shape = shape.bytes(1, dim)
	}
	tensorType := message(nil).varint(1, int64(v.typ)).bytes(2, shape)
	typ := message(nil).bytes(1, tensorType)
	return message(nil).str(1, v.name).bytes(2, typ)
}

// encode serializes the model as an ONNX ModelProto.
func (mp *modelProto) encode() []byte {
	var g message
	for _, n := range mp.nodes {
		g = g.bytes(1, n.encode())
	}
	g = g.str(2, mp.graphName)
	for _, t := range mp.initializers {
		g = g.bytes(5, t.encode())
	}
	for _, v := range mp.inputs {
		g = g.bytes(11, v.encode())
	}
	for _, v := range mp.outputs {
		g = g.bytes(12, v.encode())
	}
	m := message(nil).varint(1, mp.irVersion).
		str(2, mp.producerName).str(3, mp.producerVersion)
	if mp.docString != "" {
		m = m.str(6, mp.docString)
	}
	m = m.bytes(7, g)
	m = m.bytes(8, message(nil).str(1, "").varint(2, mp.opset))
	for _, kv := range mp.metadata {
		m = m.bytes(14, message(nil).str(1, kv[0]).str(2, kv[1]))
	}
	return m
}
