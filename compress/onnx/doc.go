// Package onnx reads ONNX models into compressq's nn engine.
//
// [Decode] is a minimal protobuf decoder, safe on hostile input, that turns an
// ONNX model into a neutral [Graph] of ops and constant tensors; every length
// and tensor size is checked against [Limits] before memory is allocated.
// [GraphToNetwork] converts a decoded graph into an nn network, and [Import]
// does both.
//
// The package is pure computation on byte slices: it imports no queue, Redis,
// metrics or network code and keeps no global mutable state.
package onnx
