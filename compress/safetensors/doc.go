// Package safetensors reads and writes the safetensors container: named,
// typed, row-major tensors behind a JSON header, with an optional string
// map under "__metadata__".
//
// The codec ([ReadSafetensors], [ReadSafetensorsFrom], [WriteSafetensors])
// is safe on hostile input: every length, offset and shape in the header is
// checked against [Limits] before any tensor memory is touched, and
// malformed input yields an error naming the tensor and field, wrapping
// [ErrFormat] or [ErrLimit], never a panic. [Tensor] converts between the
// stored dtypes and float32, int8 and int32 slices or *tensor.Dense.
//
// The package knows nothing of networks or of what the tensors mean: the
// compressed artifact format (compress/packed) and model files
// (compress/model) are built on it. It is pure computation on byte slices
// and readers: it imports no queue, Redis, metrics or network code and
// keeps no global mutable state.
package safetensors
