// Package ptq is post-training quantization of whole models: it reads a model
// file, quantizes its tensors with package quant, and writes a compressed
// artifact (see compress/packed's FORMAT.md) with a per-tensor error report.
//
// Pruned weights (exact zeros) are kept zero by the quantizers and
// stored with the format's sparse schemes whenever that is smaller than
// dense storage, chosen per parameter by the bytes it takes: Deep
// Compression's pipeline is prune (package prune), Share, and an artifact
// with Huffman-coded indices and position gaps.
//
// Weight-only quantization is here now; calibrated activation quantization
// for integer-only inference builds on the same entry points. The package is
// pure computation: no queue, Redis or metrics code.
package ptq
