// Package qnn runs quantized networks with integer arithmetic only, and
// holds the float simulations (fake quantization, quantization-aware
// training) that predict and improve their accuracy.
//
// A float network from compress/nn (BatchNorm folded first, see Prepare)
// becomes a [Model] in three steps:
//
//  1. Calibrate runs the float network over calibration images and feeds a
//     quant.Observer at every quantization point: the network input and the
//     output of every Dense/Conv2D layer (after the ReLU that follows it, if
//     any, which is fused).
//  2. A calibration method (quant.CalibMinMax, …) turns each observer into a
//     clipping range, and quant.ActivationParams into a uint8 scale and zero
//     point (asymmetric).
//  3. Quantize stores each weight matrix as symmetric per-channel int8
//     codes (or 4-bit codes in [−7, 7], Options.WeightBits), each bias as int32 in the accumulator's scale
//     (inputScale·weightScale[o]), and each output channel's rescaling
//     inputScale·weightScale[o]/outputScale as a Q31 fixed-point multiplier
//     and shift (fixed.QuantizeMultiplier).
//
// Integer inference ([Model.Forward]) takes uint8 images and returns int32
// logits. It carries chunks of images through the whole network on
// parallel workers with activations stored [H, W, C] per image, so a GEMM's
// [pixels, channels] output is the next layer's input as it is: Conv2D is
// a fixed.GEMMWindows per few images that reads each output pixel's window
// in place from the input images (copied with their padding, filled with
// the input zero point, where the conv pads), its kernel rows rounded up
// to a multiple of 4 bytes whose extra bytes meet zero weights, with
// weights packed once in the matching order; a MaxPool2D right after a Conv2D pools its int32
// accumulators before they are requantized (exact, as requantization is
// monotone and Quantize checks that adding the bias cannot wrap; a 2×2 pool
// leaves a quarter of the values to requantize); other MaxPool2D
// layers compare uint8 codes; Dense is one GEMM per chunk, its weights
// reordered once when it reads a flattened [H, W, C] activation. The last
// affine layer is not requantized to 8 bits: its int32 accumulators plus
// bias are rescaled per channel to the common logit scale
// [Model.LogitScale], so argmax over them is meaningful.
// [Model.ForwardRef] computes the same function with the simplest loops on
// [C, H, W] activations, fixed.GEMMRef and the scalar
// fixed.MultiplyByQuantizedMultiplier; the two agree bit for bit.
//
// [Model.FakeQuant] evaluates the same quantized model in float32: weights
// and biases dequantized, every activation rounded to its uint8 grid and
// back. It differs from the integer path only by the rounding of the
// fixed-point rescaling. TrainQAT fine-tunes a float network with those
// rounding steps in its forward pass (straight-through estimator).
//
// # Graph networks
//
// Networks that are not plain chains of Dense, Conv2D, MaxPool2D, ReLU,
// Flatten and Dropout — residual and branching graphs (nn.Add,
// nn.Concat), grouped, depthwise, dilated or asymmetrically padded Conv2D,
// padded or ceil-mode MaxPool2D, GlobalAvgPool, GlobalMaxPool, Clip,
// Reshape, Identity — take the graph path; the chain path above is
// unchanged. A graph [Model] ([Model.Graph]) has one [Layer] per node,
// each reading [Layer.Inputs]. Quantization points are the network input
// and the outputs of every Dense, Conv2D, Add and Concat; a ReLU or Clip
// (ReLU6: PyTorch exports ReLU then Clip, both fuse) that is the only
// reader of a Dense, Conv2D or Add is fused into it as a clamp of the
// output codes [Layer.ClampLo, Layer.ClampHi], calibrated after the
// activation. The other nodes keep their input's quantization:
//
//   - Conv2D with groups: int8 weights per output channel, int32
//     accumulators. The fast path runs a grouped conv as one ungrouped
//     GEMM whose weights are zero outside each group (exact), a depthwise
//     conv (groups = input = output channels) as per-row sums over the taps
//     of a copy of the image padded with the input zero point
//     (fixed.DepthwiseRows); any padding and dilation are windows too (a
//     dilated conv reads one segment per tap), except a grouped conv whose
//     segments would need rounding up: it goes through a general im2row
//     (the input zero point in the padding).
//   - Add: each input's codes minus its zero point, shifted left 20 bits,
//     are rescaled by a fixed-point multiplier s_k/(2·max s) to a common
//     scale and summed in int32; the sum is rescaled by
//     2·max s/(2²⁰·s_out) to the output grid (TensorFlow Lite's scheme).
//     Every multiplication is fixed.MultiplyByQuantizedMultiplier, which
//     rounds half away from zero; the 20 guard bits make the sum's single
//     final rounding the one that matters.
//   - Concat requantizes each input to its own calibrated output grid
//     (copying when the grids agree): q = z_out + round(s_k/s_out·(q_k −
//     z_k)), by fixed-point multiplier, clamped to [0, 255]. A shared scale
//     chosen at calibration would instead tie the ranges of every producer
//     (and their other readers) to the widest branch, costing resolution
//     everywhere to save one multiply per element here.
//   - GlobalAvgPool: the mean of the codes rounded half up, ⌊(2Σq + n)/2n⌋
//     (the grid is affine, so the code of the mean is the mean of the
//     codes); GlobalMaxPool and MaxPool2D (padding never wins) compare
//     codes.
//   - A ReLU or Clip that is not fused clamps codes; Flatten, Reshape,
//     Identity and Dropout move no data (the fast path reorders [H, W, C]
//     to [C, H, W] where a Flatten/Reshape needs it).
//
// Sigmoid, Tanh, Softmax, HardSwish, HardSigmoid, LeakyReLU and AvgPool2D
// have no integer form here and Prepare refuses them naming the layer;
// so does a BatchNorm that cannot be folded. The network must end with a
// Dense or Conv2D read by nothing else (its int32 accumulators are the
// logits). [Model.Forward] and [Model.ForwardRef] ([C, H, W] activations,
// scalar loops, no GEMM) agree bit for bit on graphs too; FakeQuant and
// TrainQAT simulate the same quantization points. Exporters that walk
// [Model.Layers] as a chain must check [Model.Graph] first.
//
// # Saving and loading
//
// [Model.Compressed] returns a compressed artifact (compress/packed,
// format version 2) that holds the model completely: the prepared
// network's architecture, int8 (or int4) per-channel weights, int32
// biases and the activation table — the scale and zero point of the input
// and of every Dense, Conv2D, Add and Concat output but the logits. [Load]
// and [FromArtifact] rebuild the model from it, recomputing multipliers,
// clamps and the logit scale with the code Quantize uses, so the loaded
// model's outputs (fast, reference and fake-quant paths) equal the saved
// one's bit for bit and it saves to the same bytes; every stored table is
// checked against the network first (see FORMAT.md).
//
// The package is pure computation: no I/O, logging or global state; long
// work takes a context.
package qnn
