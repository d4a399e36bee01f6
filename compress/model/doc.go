// Package model converts between nn networks and model files: safetensors
// files holding a network's parameters as F32 tensors under their nn names,
// with the architecture JSON and the input transform in the metadata, so a
// file alone rebuilds the network ([Save], [SaveWithTransform], [Load],
// [InputTransform]). Load also accepts compressed artifacts (package
// compress/packed) that carry an architecture, dequantizing them.
//
// The containers live in compress/safetensors and compress/packed, ONNX in
// compress/onnx; this package is the glue between them and compress/nn.
// It is pure computation on byte slices and readers: it imports no queue,
// Redis, metrics or network code and keeps no global mutable state.
package model
