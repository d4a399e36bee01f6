// Package nn is compressq's pure-Go neural-network engine: the layers
// (Dense; Conv2D, grouped, depthwise and dilated, with symmetric or
// per-side padding; MaxPool2D and AvgPool2D with padding and ceil mode;
// GlobalAvgPool, GlobalMaxPool; BatchNorm; the activations ReLU, Clip
// (ReLU6), LeakyReLU, Sigmoid, Tanh, HardSwish, HardSigmoid and
// SoftmaxLayer; Flatten, Reshape, Identity, Dropout), a fused softmax
// cross-entropy loss, the Arch spec that describes a network
// as JSON, SGD and Adam optimizers, and the training and evaluation loops that
// every compression method uses to build, fine-tune and score models.
//
// Layouts: activations are NCHW row-major; a Dense weight is [out, in], a
// Conv2D weight [out, in/groups, kh, kw] (OIHW), biases [out] — the PyTorch
// and ONNX convention. Explicit padding is [top, left, bottom, right], ONNX's
// pads order. Parameters are float32 *tensor.Dense values from
// gorgonia.org/tensor; the layers compute on their backing slices with the
// kernels of package compress/kernels. Parameters are named
// "layers.<i>.weight", "layers.<i>.bias" and, for BatchNorm,
// "layers.<i>.gamma", ".beta", ".running_mean", ".running_var", where <i> is
// the layer's index in the Arch.
//
// Inference (Forward with train=false) follows a plan made once per
// network: a BatchNorm that only reads a Conv2D is folded into that conv's
// weights for the pass, and a ReLU or Clip that only reads a conv, its
// batch norm, an Add or an unfolded BatchNorm is applied to that layer's
// output while it is in cache; conv and Add outputs come from a pool and go
// back to it once nothing in the pass reads them. Stride-1 convolutions
// with enough output pixels run without im2col: the GEMM reads shifted
// windows of the zero-padded image. Results equal the layer-by-layer
// evaluation within float rounding.
//
// Concurrency: Forward with train=false only reads the network, so any number
// of goroutines may run inference on one Network at once. Training
// (Forward with train=true, Backward, optimizer steps) mutates gradients,
// BatchNorm running statistics and the recorded tape, and must be done by one
// goroutine at a time.
//
// The package prints nothing; long work takes a context and reports progress
// through a callback.
package nn
