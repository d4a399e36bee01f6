// Package model reads and writes compressq's model files and compressed
// artifacts (ONNX lives in package compress/onnx).
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
//   - model files ([Save], [Load]): safetensors holding an nn network's
//     parameters with its architecture JSON in the metadata, so a file alone
//     rebuilds the network; Load also accepts compressed artifacts that carry
//     an architecture, dequantizing them.
//
// The package is pure computation on byte slices and readers: it imports no
// queue, Redis, metrics or network code and keeps no global mutable state.
package model
