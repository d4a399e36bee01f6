//go:build !purego

package kernels

// copyBlockAVX copies rows×cols floats, dst[r*dstStride+c] = src[r*srcStride+c].
// It needs AVX.
//
//go:noescape
func copyBlockAVX(dst, src *float32, rows, cols, dstStride, srcStride int)

// addBlockAVX adds rows×cols floats, dst[r*dstStride+c] += src[r*srcStride+c].
// It needs AVX.
//
//go:noescape
func addBlockAVX(dst, src *float32, rows, cols, dstStride, srcStride int)

// copyBlock copies the rows×cols block src[r*srcStride+c] to
// dst[r*dstStride+c]; it panics if either slice is too short.
func copyBlock(dst, src []float32, rows, cols, dstStride, srcStride int) {
	if !useAsm || rows <= 0 || cols <= 0 {
		copyBlockGo(dst, src, rows, cols, dstStride, srcStride)
		return
	}
	_, _ = dst[(rows-1)*dstStride+cols-1], src[(rows-1)*srcStride+cols-1]
	copyBlockAVX(&dst[0], &src[0], rows, cols, dstStride, srcStride)
}

// addBlock adds the rows×cols block src[r*srcStride+c] into
// dst[r*dstStride+c]; it panics if either slice is too short.
func addBlock(dst, src []float32, rows, cols, dstStride, srcStride int) {
	if !useAsm || rows <= 0 || cols <= 0 {
		addBlockGo(dst, src, rows, cols, dstStride, srcStride)
		return
	}
	_, _ = dst[(rows-1)*dstStride+cols-1], src[(rows-1)*srcStride+cols-1]
	addBlockAVX(&dst[0], &src[0], rows, cols, dstStride, srcStride)
}
