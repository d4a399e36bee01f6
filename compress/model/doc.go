// Package model reads and writes compressq's model files and compressed
// artifacts, and imports ONNX models.
//
// Three formats live here:
//
//   - safetensors: a raw codec for named tensors ([ReadSafetensors],
//     [WriteSafetensors]) that is safe on hostile input: every length, offset
//     and shape in the header is checked against [Limits] before any tensor
//     memory is touched, and malformed input yields an error naming the tensor
//     and field, never a panic.
//   - the compressed artifact ([WriteCompressed], [ReadCompressed]): also a
//     safetensors file, with per-parameter encodings described in its
//     metadata; see FORMAT.md in this directory for the specification.
//   - ONNX import ([DecodeONNX]): a minimal protobuf decoder that turns an
//     ONNX model into a neutral [Graph] of ops and float32 weights.
//
// The package is pure computation on byte slices and readers: it imports no
// queue, Redis, metrics or network code and keeps no global mutable state.
package model
