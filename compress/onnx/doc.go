// Package onnx reads ONNX models into compressq's nn engine and writes
// compressq's models as ONNX.
//
// [Decode] is a minimal protobuf decoder, safe on hostile input, that turns an
// ONNX model into a neutral [Graph] of ops and constant tensors; every length
// and tensor size is checked against [Limits] before memory is allocated.
// [GraphToNetwork] converts a decoded graph into an nn network, and [Import]
// does both.
//
// [ExportNetwork] writes an nn network as float ONNX (opset 13),
// [ExportQuantized] an integer-only qnn model in QDQ or QOperator form, and
// [ExportArtifact] a compressed artifact (int8/int4 weights behind
// DequantizeLinear, k-means and sparse weights as dense values, with
// warnings). [Export] is the export recipe the CLI and the worker call: a
// model file's bytes and a [Request] in, the ONNX bytes out. The encoder is
// written with protowire, like the decoder; docs/onnx.md describes the
// forms, the ops and how rounding differs from compressq's integer path.
//
// The package is pure computation on byte slices: it imports no queue, Redis,
// metrics or network code, runs no program and keeps no global mutable state.
package onnx
