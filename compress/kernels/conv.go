package kernels

import "fmt"

// ConvOutSize returns the output length of a convolution or pooling window of
// size k with the given stride and symmetric zero padding over an input of
// length in.
func ConvOutSize(in, k, stride, pad int) int {
	return (in+2*pad-k)/stride + 1
}

// convGeometry panics unless the convolution geometry is valid; it returns
// the output size.
func convGeometry(fn string, c, h, w, kh, kw, stride, pad int) (oh, ow int) {
	if c <= 0 || h <= 0 || w <= 0 || kh <= 0 || kw <= 0 || stride <= 0 || pad < 0 {
		panic(fmt.Sprintf("kernels: %s: bad geometry c=%d h=%d w=%d kh=%d kw=%d stride=%d pad=%d", fn, c, h, w, kh, kw, stride, pad))
	}
	if h+2*pad < kh || w+2*pad < kw {
		panic(fmt.Sprintf("kernels: %s: %d×%d kernel larger than padded %d×%d image", fn, kh, kw, h+2*pad, w+2*pad))
	}
	return ConvOutSize(h, kh, stride, pad), ConvOutSize(w, kw, stride, pad)
}

// checkConv panics unless the geometry is valid and the image and column
// slices are long enough; it returns the output size.
func checkConv(fn string, img, cols []float32, c, h, w, kh, kw, stride, pad int) (oh, ow int) {
	oh, ow = convGeometry(fn, c, h, w, kh, kw, stride, pad)
	if len(img) < c*h*w {
		panic(fmt.Sprintf("kernels: %s: image has %d elements, need c·h·w = %d", fn, len(img), c*h*w))
	}
	if need := c * kh * kw * oh * ow; len(cols) < need {
		panic(fmt.Sprintf("kernels: %s: columns have %d elements, need c·kh·kw·oh·ow = %d", fn, len(cols), need))
	}
	return oh, ow
}

// validCols returns the range [x0, x1) of output columns whose input column
// x·stride-pad+kj lies inside [0, w).
func validCols(ow, w, kj, stride, pad int) (x0, x1 int) {
	for x0 < ow && x0*stride-pad+kj < 0 {
		x0++
	}
	x1 = ow
	for x1 > x0 && (x1-1)*stride-pad+kj >= w {
		x1--
	}
	return x0, x1
}

// validRows is validCols for the rows: output rows [y0, y1) read image rows
// inside [0, h).
func validRows(oh, h, ki, stride, pad int) (y0, y1 int) {
	return validCols(oh, h, ki, stride, pad)
}

// copyBlockGo is the pure-Go copyBlock.
func copyBlockGo(dst, src []float32, rows, cols, dstStride, srcStride int) {
	for r := 0; r < rows; r++ {
		copy(dst[r*dstStride:r*dstStride+cols], src[r*srcStride:r*srcStride+cols])
	}
}

// addBlockGo is the pure-Go addBlock.
func addBlockGo(dst, src []float32, rows, cols, dstStride, srcStride int) {
	for r := 0; r < rows; r++ {
		d := dst[r*dstStride : r*dstStride+cols]
		for i, v := range src[r*srcStride : r*srcStride+cols] {
			d[i] += v
		}
	}
}

// Im2col unfolds one image src of shape [c, h, w] (CHW) into dst of shape
// [c*kh*kw, oh*ow], row-major, where oh and ow come from ConvOutSize: row
// (ci*kh+ki)*kw+kj, column y*ow+x holds src[ci][y*stride-pad+ki][x*stride-pad+kj],
// zero where that falls in the padding. Every element of dst is written.
// It panics if the geometry is invalid or a slice is too short.
func Im2col(src []float32, c, h, w, kh, kw, stride, pad int, dst []float32) {
	oh, ow := checkConv("Im2col", src, dst, c, h, w, kh, kw, stride, pad)
	plane := oh * ow
	row := 0
	for ci := 0; ci < c; ci++ {
		for ki := 0; ki < kh; ki++ {
			y0, y1 := validRows(oh, h, ki, stride, pad)
			for kj := 0; kj < kw; kj++ {
				out := dst[row*plane : (row+1)*plane]
				row++
				x0, x1 := validCols(ow, w, kj, stride, pad)
				if y0 == y1 || x0 == x1 {
					clear(out)
					continue
				}
				if pad > 0 {
					clear(out[:y0*ow])
					clear(out[y1*ow:])
					for y := y0; y < y1; y++ {
						clear(out[y*ow : y*ow+x0])
						clear(out[y*ow+x1 : y*ow+ow])
					}
				}
				iy, ix := y0*stride-pad+ki, x0*stride-pad+kj
				in := src[(ci*h+iy)*w+ix:]
				if stride == 1 {
					copyBlock(out[y0*ow+x0:], in, y1-y0, x1-x0, ow, w)
					continue
				}
				for y := y0; y < y1; y++ {
					o := out[y*ow+x0 : y*ow+x1]
					s := in[(y-y0)*stride*w:]
					for x := range o {
						o[x] = s[x*stride]
					}
				}
			}
		}
	}
}

// Col2im is the adjoint of Im2col: it adds each entry of cols, shape
// [c*kh*kw, oh*ow], into its source position of dst, shape [c, h, w];
// entries that Im2col took from the padding are dropped. dst is accumulated
// into, not overwritten. It panics if the geometry is invalid or a slice is
// too short.
func Col2im(cols []float32, c, h, w, kh, kw, stride, pad int, dst []float32) {
	oh, ow := checkConv("Col2im", dst, cols, c, h, w, kh, kw, stride, pad)
	plane := oh * ow
	row := 0
	for ci := 0; ci < c; ci++ {
		for ki := 0; ki < kh; ki++ {
			y0, y1 := validRows(oh, h, ki, stride, pad)
			for kj := 0; kj < kw; kj++ {
				in := cols[row*plane : (row+1)*plane]
				row++
				x0, x1 := validCols(ow, w, kj, stride, pad)
				if y0 == y1 || x0 == x1 {
					continue
				}
				iy, ix := y0*stride-pad+ki, x0*stride-pad+kj
				out := dst[(ci*h+iy)*w+ix:]
				if stride == 1 {
					addBlock(out, in[y0*ow+x0:], y1-y0, x1-x0, w, ow)
					continue
				}
				for y := y0; y < y1; y++ {
					s := in[y*ow+x0 : y*ow+x1]
					d := out[(y-y0)*stride*w:]
					for x, v := range s {
						d[x*stride] += v
					}
				}
			}
		}
	}
}
