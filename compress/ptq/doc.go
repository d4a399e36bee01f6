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
// WeightOnly quantizes weights alone. Run is the full recipe: activations
// calibrated, an integer-only model built with compress/qnn (optionally
// after QAT) and written whole — int8 weights, int32 biases and activation
// scales — so the artifact runs in integers without calibration; or, with
// k-means weight sharing, the shared float network. The package is pure
// computation: no queue, Redis or metrics code.
package ptq
