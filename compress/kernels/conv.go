package kernels

// ConvOutSize returns the output length of a convolution or pooling window of
// size k with the given stride and symmetric zero padding over an input of
// length in.
func ConvOutSize(in, k, stride, pad int) int {
	return (in+2*pad-k)/stride + 1
}

// Im2col unfolds one image src of shape [c, h, w] (CHW) into dst of shape
// [c*kh*kw, oh*ow], row-major, where oh and ow come from ConvOutSize. Padded
// positions are zero.
func Im2col(src []float32, c, h, w, kh, kw, stride, pad int, dst []float32) {
	oh, ow := ConvOutSize(h, kh, stride, pad), ConvOutSize(w, kw, stride, pad)
	row := 0
	for ci := 0; ci < c; ci++ {
		for ki := 0; ki < kh; ki++ {
			for kj := 0; kj < kw; kj++ {
				out := dst[row*oh*ow : (row+1)*oh*ow]
				for y := 0; y < oh; y++ {
					iy := y*stride - pad + ki
					for x := 0; x < ow; x++ {
						ix := x*stride - pad + kj
						if iy < 0 || iy >= h || ix < 0 || ix >= w {
							out[y*ow+x] = 0
						} else {
							out[y*ow+x] = src[(ci*h+iy)*w+ix]
						}
					}
				}
				row++
			}
		}
	}
}

// Col2im is the adjoint of Im2col: it adds each entry of cols, shape
// [c*kh*kw, oh*ow], into its source position of dst, shape [c, h, w].
// dst is accumulated into, not overwritten.
func Col2im(cols []float32, c, h, w, kh, kw, stride, pad int, dst []float32) {
	oh, ow := ConvOutSize(h, kh, stride, pad), ConvOutSize(w, kw, stride, pad)
	row := 0
	for ci := 0; ci < c; ci++ {
		for ki := 0; ki < kh; ki++ {
			for kj := 0; kj < kw; kj++ {
				in := cols[row*oh*ow : (row+1)*oh*ow]
				for y := 0; y < oh; y++ {
					iy := y*stride - pad + ki
					if iy < 0 || iy >= h {
						continue
					}
					for x := 0; x < ow; x++ {
						ix := x*stride - pad + kj
						if ix >= 0 && ix < w {
							dst[(ci*h+iy)*w+ix] += in[y*ow+x]
						}
					}
				}
				row++
			}
		}
	}
}
