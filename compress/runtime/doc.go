// Package runtime runs the models compressq writes through a plan built
// once per batch size and thread count: float32 networks through Plan,
// integer-only models through Int8Plan.
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
// fastest; then it times the batch run whole against chunks of a few
// images carried through all the layers (in turn, or in lanes of one
// thread each) and keeps the fastest Schedule. Layers without weights run natively where the package knows
// them (activations, pooling, global average pooling, Add, reshapes) and
// through the nn layer's own Forward otherwise.
//
// A plan preallocates every activation buffer and owns threads−1 worker
// goroutines, released by Close; Run does not allocate for the layers it
// runs natively (see Plan.Run).
//
// A compressed artifact that stores an integer-only model (format version
// 2: int8 weights, int32 biases and the activation table, as the quantize
// recipe writes it) loads with Model.Int8 set, rebuilt by qnn.FromArtifact
// from the stored scales; Model.Int8Plan runs it with no calibration data,
// bit for bit as qnn's integer path. NewInt8Plan builds the integer model
// of any float network from calibration data the caller provides. Int8
// plans time, per Dense and Conv2D layer, the dense int8 GEMM against the
// sparse int8 matrix–vector kernel (Int8Kernels) and keep the faster;
// both are exact. Weight-only int8 artifacts run
// through Plan as their dequantized float32 network.
//
// The package is pure computation: it prints nothing and writes no files.
package runtime
