// Package kernels holds the fp32 compute kernels of compressq's model engine:
// matrix multiplication (Sgemm, SgemmSerial), im2col/col2im for convolution
// (with dilation and per-side padding through ConvGeom), direct depthwise
// convolution, max and average pooling (padded and ceil-mode through
// ConvGeom), and the element-wise work around them: ScaleBiasClamp (a conv's
// bias and activation, an inference batch norm, ReLU), the batch-norm
// reductions Sum, SumSqDiff and DotDiff, AffineDiff (batch norm's input
// gradient) and MaskPositive (the ReLU gradient).
//
// All functions work on raw row-major float32 slices; shapes are passed
// explicitly and checked at the boundary (a bad shape panics, as in BLAS).
// The package is pure computation: it imports no queue, Redis or metrics code
// and keeps no global state beyond the implementation chosen once at start-up
// (and a pool of reusable packing buffers).
//
// # Fast paths
//
// On amd64 with AVX2 and FMA, Sgemm packs panels of A and B (all four
// transpose combinations are handled by the packing) and runs a 6×16
// register-blocked assembly micro-kernel under BLIS-style cache blocking;
// edge tiles are stored through masks, so nothing outside C is touched.
// Large products are split along the longer of M and N across up to
// GOMAXPROCS goroutines, all finished before Sgemm returns. Im2col/Col2im
// with stride 1 (and Im2col's stride-2 column gather), 3×3 depthwise
// convolution, 2×2/stride-2 max pooling and the element-wise kernels also
// have AVX/AVX2 inner loops. The reductions add in one fixed order (see
// reduce.go) on both paths, so the assembly and the Go loops agree bit for
// bit.
//
// Elsewhere, with the purego build tag, with COMPRESSQ_NOASM=1 in the
// environment at start-up, or if the assembly fails its start-up self-test
// (Sgemm against gonum's, the element-wise kernels against their Go loops),
// every kernel takes its pure-Go path (gonum's Sgemm for matrix
// multiplication). The reference loops that every path is tested against
// live in ref_test.go and beside each kernel. Impl and ImplReason report
// the choice. The padded-pooling kernels are pure Go on every platform.
//
// Where the CPU has AVX-512F, Sgemm runs tiles wider than 16 columns on a
// 6×32 AVX-512 micro-kernel over the same packed panels. It accumulates each
// element in the same order as the AVX2 kernel, so results are identical.
// It pays on cores with full-width 512-bit FMA units (Zen 5, server Intel);
// Zen 4 splits a 512-bit FMA in two. BenchmarkSgemmAVX512 measures both
// kernels in one run (docs/BENCHMARKS.md).
package kernels
