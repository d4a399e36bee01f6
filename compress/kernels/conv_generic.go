//go:build !amd64 || purego

package kernels

// copyBlock copies the rows×cols block src[r*srcStride+c] to
// dst[r*dstStride+c]; it panics if either slice is too short.
func copyBlock(dst, src []float32, rows, cols, dstStride, srcStride int) {
	copyBlockGo(dst, src, rows, cols, dstStride, srcStride)
}

// addBlock adds the rows×cols block src[r*srcStride+c] into
// dst[r*dstStride+c]; it panics if either slice is too short.
func addBlock(dst, src []float32, rows, cols, dstStride, srcStride int) {
	addBlockGo(dst, src, rows, cols, dstStride, srcStride)
}
