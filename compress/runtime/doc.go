// Package runtime runs the float32 models compressq writes through a plan
// built once per batch size and thread count.
//
// Load reads any model file compressq writes — a safetensors network (dense
// or pruned), a compressed artifact (sparse, codebook or quantized tensors,
// decoded to float32 by its reader) or an ONNX model — through the
// loaders of compress/model and compress/onnx, recognising the format by
// content as recipe.LoadModel does (the recipes sit above this package). NewPlan (or Model.Plan, which keeps one plan per
// setting in memory) folds batch norms into the layers before them, fuses a
// ReLU or Clip that is the only reader of a Dense, Conv2D or Add into that
// layer's epilogue, and for every Dense and ungrouped Conv2D (as im2col and
// a matrix product) times each kernel that fits the layer's own weights —
// dense fp32 (kernels.SgemmSerial), CSR, 1×8 BSR and 2:4 (compress/sparse)
// — on this CPU at the plan's batch size and thread count, and keeps the
// fastest. Layers without weights run natively where the package knows
// them (activations, pooling, global average pooling, Add, reshapes) and
// through the nn layer's own Forward otherwise.
//
// A plan preallocates every activation buffer and owns threads−1 worker
// goroutines, released by Close; Run does not allocate for the layers it
// runs natively (see Plan.Run).
//
// NewInt8Plan runs the integer-only model compress/qnn builds from a float
// network and calibration data the caller provides; it chooses no kernels
// per layer. Compressed artifacts with int8 weights run through Plan as
// their dequantized float32 network: stored activation scales are not
// read.
//
// The package is pure computation: it prints nothing and writes no files.
package runtime
