package qnn

import (
	"fmt"

	"github.com/compressq/compressq/compress/fixed"
)

// Matmul computes the int32 accumulators of one Dense or Conv2D layer in
// place of its int8 GEMM (see Model.ForwardWith), so that a caller — the
// runtime's int8 plans — can run a layer on another kernel, a sparse one
// for instance. Mul writes acc [n, out] (row stride out) = (x − zero)·Wᵀ
// for the n rows of x [n, K] (row stride K), W being the layer's
// FastWeights [out, K]: for a Dense layer the rows are samples, for a
// Conv2D the im2row rows of its output pixels. It must equal the GEMM bit
// for bit (integer arithmetic modulo 2³², as fixed.GEMM), must not keep x
// or acc, and must be safe for concurrent use (chunks of a Forward run on
// several goroutines).
type Matmul interface {
	Mul(x []uint8, n int, zero uint8, acc []int32)
}

// matmulAt returns mm[i], or nil when mm is nil.
func matmulAt(mm []Matmul, i int) Matmul {
	if mm == nil {
		return nil
	}
	return mm[i]
}

// checkMatmuls checks that mm is nil or has one entry per layer, set only
// for layers with a GEMM.
func (m *Model) checkMatmuls(mm []Matmul) error {
	if mm == nil {
		return nil
	}
	if len(mm) != len(m.Layers) {
		return fmt.Errorf("qnn: %d matmuls for %d layers", len(mm), len(m.Layers))
	}
	for i, f := range mm {
		if f != nil && m.Layers[i].packed == nil {
			return fmt.Errorf("qnn: matmul for layers[%d], a %s layer without a GEMM", i, m.Layers[i].Kind)
		}
	}
	return nil
}

// HasGEMM reports whether the layer runs an int8 GEMM that a Matmul can
// replace: Dense and (not depthwise) Conv2D layers.
func (l *Layer) HasGEMM() bool { return l.packed != nil }

// FastWeights returns a copy of the weight codes [out, K] the layer's GEMM
// multiplies, row-major: W with its columns in the order of the fast
// path's activations ([H, W, C] for Conv2D taps and for a Dense layer that
// reads a flattened spatial activation), the matrix a Matmul multiplies.
// It returns nil for a layer without a GEMM.
func (l *Layer) FastWeights() []int8 {
	if l.packed == nil {
		return nil
	}
	return l.packed.UnpackT()
}

// GEMM returns the layer's own int8 GEMM (fixed.GEMM on its packed
// weights, on up to threads goroutines) as a Matmul, or nil for a layer
// without one; ForwardWith with it equals Forward.
func (l *Layer) GEMM(threads int) Matmul {
	if l.packed == nil {
		return nil
	}
	return &gemm{l: l, opt: fixed.Options{Threads: threads}}
}

// gemm is a layer's own GEMM as a Matmul.
type gemm struct {
	l   *Layer
	opt fixed.Options
}

func (g *gemm) Mul(x []uint8, n int, zero uint8, acc []int32) {
	fixed.GEMM(n, x, g.l.packed.K(), zero, g.l.packed, acc, g.l.packed.N(), g.opt)
}

// GEMMCall returns the shape of the GEMM calls of layer i (one with a
// GEMM) when Forward runs batch samples on up to threads goroutines: rows
// is the most rows x has in one call (samples for Dense, im2row rows for
// Conv2D) and gemmThreads the goroutines fixed.GEMM may split that call
// across (1 when the chunks of the batch run in parallel instead).
func (m *Model) GEMMCall(i, batch, threads int) (rows, gemmThreads int) {
	l := m.Layers[i]
	chunks := (batch + chunkImages - 1) / chunkImages
	gemmThreads = 1
	if min(threads, chunks) <= 1 {
		gemmThreads = threads
	}
	images := min(batch, chunkImages)
	if l.Kind == KindConv {
		return min(images, l.group) * l.Out[1] * l.Out[2], gemmThreads
	}
	return images, gemmThreads
}
