// Package fixed holds compressq's fixed-point (integer) compute kernels: an
// int8 matrix multiplication with 32-bit accumulation and the gemmlowp/TFLite
// requantization that turns its int32 accumulators back into 8-bit values.
// Quantizers and integer-only layers are built on top of it elsewhere; this
// package knows nothing about models, files or tensors.
//
// # Number formats
//
// GEMM multiplies unsigned 8-bit activations A (with a zero point aZero, so
// the real activation is scaleA·(A−aZero)) by signed 8-bit symmetric weights
// B (zero point 0, the full range −128…127 is allowed) and accumulates in
// int32:
//
//	C[i][j] = Σ_k (A[i][k] − aZero) · B[k][j]
//
// The zero-point term aZero·Σ_k B[k][j] is folded in from column sums that
// PackB computes once per weight matrix. Signed int8 activations x with zero
// point z are handled by flipping their sign bit (x XOR 0x80 = x+128 as uint8)
// and passing z+128 as aZero; Int8ToUint8 does this.
//
// Results are exact: every path computes the same integers bit for bit. Each
// product lies in [−32640, 32640], so C cannot overflow for K ≤ 65793; beyond
// that the sums wrap modulo 2³² identically on every path.
//
// # Layouts
//
// All matrices are row-major raw slices with explicit shapes and row strides
// (lda, ldb, ldc ≥ the column count), checked at the boundary; a call with a
// slice too short for its shape panics, as in BLAS wrappers. Weights are
// packed once with PackB (from B stored [K, N]) or PackBT (from Bᵀ stored
// [N, K], the [out, in] layout of a fully connected layer); see PackedB for
// the packed layout.
//
// GEMMWindows takes A as Windows instead: each row is a few segments read
// in place from one activation slice (NewWindows), so a convolution over
// [H, W, C] images reads its im2col rows without materialising them. On
// the VNNI kernels whole micro-panels of 8 rows are multiplied straight from
// the segments (vnniWin8) when their length is a multiple of 4, and on the
// AVX2 kernels micro-panels are packed straight from them (packAI16x6);
// the rest is packed or gathered first.
//
// # Implementations
//
// Three implementations compute GEMM: an AVX-512 VNNI kernel (VPDPBUSD on
// ZMM registers), an AVX2 kernel (VPMADDWD on sign-extended weights, exact, see
// gemm_amd64.s), and portable Go loops. The fastest one the CPU supports is
// chosen once at start-up from the CPU features, after a self-test against
// GEMMRef; the purego build tag or COMPRESSQ_NOASM=1 in the environment at
// start-up forces the Go loops, for every kernel of the package. Impl
// reports the choice and ImplReason why it is not the fastest kernel the
// CPU supports. GEMMRef is the plain triple loop every implementation is
// tested against.
//
// # Requantization
//
// A Requantizer maps int32 accumulators plus an int32 bias to uint8 codes
// (or rescaled int32 logits) with a Q31 fixed-point multiplier and a
// power-of-two shift per output channel (QuantizeMultiplier), an output
// zero point and a clamp (for a fused ReLU/ReLU6), with gemmlowp's
// rounding. It is the one requantization path of compressq's integer
// inference; MultiplyByQuantizedMultiplier is its scalar reference, which
// it matches bit for bit. Its row kernels run sixteen (AVX-512,
// requantU8Rows16) or eight (AVX2, requantU8Rows8) int32 lanes at a time
// where the output zero point allows; QuantizeFloat32, the input
// quantization, has AVX-512 and AVX2 kernels too, each chosen at start-up
// after its own self-test.
//
// SumRows adds uint8 rows per channel (a global average pool's sums),
// DepthwiseRows sums a depthwise convolution's taps per channel and
// Lookup2 looks pairs of uint8 codes up in a 64 KiB table (a two-input
// Add's output codes), each in AVX-512 or AVX2 chosen at start-up after its
// own self-test.
//
// The package is pure computation: no I/O, no logging, no global state other
// than the CPU features read once at start-up.
package fixed
