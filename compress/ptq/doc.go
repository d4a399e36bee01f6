// Package ptq is post-training quantization of whole models: it reads a model
// file, quantizes its tensors with package quant, and writes a compressed
// artifact (see compress/model's FORMAT.md) with a per-tensor error report.
//
// Weight-only quantization is here now; calibrated activation quantization
// for integer-only inference builds on the same entry points. The package is
// pure computation: no queue, Redis or metrics code.
package ptq
