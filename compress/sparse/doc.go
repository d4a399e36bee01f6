// Package sparse holds compressq's sparse weight formats and the kernels that
// multiply them: CSR (compressed sparse row), BSR (block sparse row, blocks
// sized for the SIMD width) and the 2:4 semi-structured packed format
// (NM24), each for float32 and int8 values, with
//
//   - constructors from dense row-major matrices (FromDense…) and back
//     (ToDense), and New… decoders that check raw arrays read from a file —
//     row pointers, index ranges, ordering — and reject malformed data with
//     errors that name the array and position;
//   - SpMM kernels C = A·B for a sparse A [M, K] and a dense row-major B
//     [K, N] (for a layer y = W·x, A is the weight [out, in] and B holds the
//     batch feature-major, [in, batch]), and SpMV for one vector;
//   - a pure-Go reference of every kernel (the Ref… functions) that the
//     optimized paths are tested against;
//   - a measured dense-versus-sparse break-even table (MeasureBreakEven,
//     LoadOrMeasureBreakEven) from which Choose picks a per-layer format;
//   - …Rows variants of the float32 kernels that compute a range of output
//     rows on the calling goroutine, for callers that run their own
//     threads (compress/runtime, whose plans time the formats on each
//     layer's own weights).
//
// On amd64 with AVX2 and FMA the float32 SpMM of every format, the CSR
// SpMV (VGATHERDPS) and the SpMV of BSR with 8-wide blocks run assembly
// kernels, and so do the int8 SpMM of 2:4, CSR and BSR with an even block
// width in strips of 64 columns: B − zero is packed per call into int16
// pairs (the six position pairs of each 2:4 group, or consecutive rows for
// CSR/BSR) so that one VPMADDWD multiplies two int8 weights exactly. The 2:4
// SpMM of both dtypes is blocked over K so that the rows of B a block
// selects from stay in L1 while every row of A visits them. The assembly
// (kernels_amd64.s) is generated with avo by the separate module in asm/
// (go generate; make asm-check verifies the committed output). The purego
// build tag or COMPRESSQ_NOASM=1 at start-up force the pure-Go paths (so
// does a failed start-up self-test; ImplReason says which). The int8
// matrix–vector product (batch 1, and batches of sample-major vectors)
// has its own layout, SlicedInt8, whose kernels look activations up with
// byte permutes instead of gathering them: VPERMI2B and VPDPBUSD with
// AVX-512 (BW, VBMI, VNNI), VPSHUFB and VPMADDWD with AVX2
// (SpMVInt8Impl says which runs); the AVX-512 ones are written by hand
// in spmv_int8_amd64.s, as avo has no VPDPBUSD. The package is pure
// computation: it prints nothing, keeps no mutable global state (CPU
// features are read once at init), and only LoadOrMeasureBreakEven touches
// the file system, in the user cache directory.
package sparse
