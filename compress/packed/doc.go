// Package packed reads and writes compressq's compressed artifacts: a
// model's parameters after compression, stored as a safetensors file whose
// metadata says how each parameter is encoded. FORMAT.md in this directory
// is the specification.
//
// A parameter is float32 values, int8/int4 codes with per-tensor or
// per-channel scales ([QuantizeWeights] builds those from float tensors), or
// a k-means codebook with packed or Huffman-coded indices; any of them but
// int4 may be stored sparsely, as relative index gaps. Format version 2
// adds int32 codes ([Int32Codes], an integer model's biases) and the
// activation table of an integer-only model ([Activations]); compress/qnn
// writes and reads those. [WriteCompressed]
// validates every parameter before writing; [ReadCompressed] validates every
// cross-reference of a file, bounded by safetensors.Limits, and reports
// malformed input as errors naming the parameter that wrap
// safetensors.ErrFormat or safetensors.ErrLimit, never a panic.
// [ReportSize] accounts for every byte of an artifact.
//
// The package knows nothing of networks: turning an artifact into an nn
// network is compress/model's job. It is pure computation on byte slices
// and readers: it imports no queue, Redis, metrics or network code and
// keeps no global mutable state.
package packed
