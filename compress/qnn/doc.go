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
// [pixels, channels] output is the next layer's input as it is: Conv2D
// lowers to im2row (contiguous channel runs, padding with the input zero
// point) and a fixed.GEMM per few images with weights packed once in the
// matching order; a MaxPool2D right after a Conv2D pools its int32
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
// The package is pure computation: no I/O, logging or global state; long
// work takes a context.
package qnn
