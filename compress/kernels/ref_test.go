package kernels

import "math"

// This file holds the reference kernels: the plainest loops, against which
// the exported kernels are tested and benchmarked.

// sgemmRef is the reference Sgemm: the plain triple loop, one float32 dot
// product per element of C. Every faster path is tested against it.
func sgemmRef(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float32
			for p := 0; p < k; p++ {
				var av, bv float32
				if transA {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				if transB {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
				}
				s += av * bv
			}
			if beta == 0 {
				c[i*ldc+j] = alpha * s
			} else {
				c[i*ldc+j] = alpha*s + beta*c[i*ldc+j]
			}
		}
	}
}

// im2colRef is the reference Im2col: one bounds test per element.
func im2colRef(src []float32, c, h, w, kh, kw, stride, pad int, dst []float32) {
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

// col2imRef is the reference Col2im.
func col2imRef(cols []float32, c, h, w, kh, kw, stride, pad int, dst []float32) {
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

// maxPool2DRef is the reference MaxPool2D: any k and stride, first maximum wins.
func maxPool2DRef(src []float32, n, c, h, w, k, stride int, dst []float32, argmax []int32) {
	oh, ow := ConvOutSize(h, k, stride, 0), ConvOutSize(w, k, stride, 0)
	o := 0
	for p := 0; p < n*c; p++ {
		base := p * h * w
		for y := 0; y < oh; y++ {
			for x := 0; x < ow; x++ {
				best, bi := float32(math.Inf(-1)), -1
				for i := 0; i < k; i++ {
					r := base + (y*stride+i)*w + x*stride
					for j := 0; j < k; j++ {
						if v := src[r+j]; v > best || bi < 0 {
							best, bi = v, r+j
						}
					}
				}
				dst[o] = best
				if argmax != nil {
					argmax[o] = int32(bi)
				}
				o++
			}
		}
	}
}

// avgPool2DRef is the reference AvgPool2D; it sums each window row by row.
func avgPool2DRef(src []float32, n, c, h, w, k, stride int, dst []float32) {
	oh, ow := ConvOutSize(h, k, stride, 0), ConvOutSize(w, k, stride, 0)
	inv := 1 / float32(k*k)
	o := 0
	for p := 0; p < n*c; p++ {
		base := p * h * w
		for y := 0; y < oh; y++ {
			for x := 0; x < ow; x++ {
				var s float32
				for i := 0; i < k; i++ {
					r := base + (y*stride+i)*w + x*stride
					for j := 0; j < k; j++ {
						s += src[r+j]
					}
				}
				dst[o] = s * inv
				o++
			}
		}
	}
}

// avgPool2DBackwardRef is the reference AvgPool2DBackward.
func avgPool2DBackwardRef(dy []float32, n, c, h, w, k, stride int, dx []float32) {
	oh, ow := ConvOutSize(h, k, stride, 0), ConvOutSize(w, k, stride, 0)
	inv := 1 / float32(k*k)
	o := 0
	for p := 0; p < n*c; p++ {
		base := p * h * w
		for y := 0; y < oh; y++ {
			for x := 0; x < ow; x++ {
				g := dy[o] * inv
				for i := 0; i < k; i++ {
					r := base + (y*stride+i)*w + x*stride
					for j := 0; j < k; j++ {
						dx[r+j] += g
					}
				}
				o++
			}
		}
	}
}

// im2colGeomRef is the reference Im2colGeom: one bounds test per element.
func im2colGeomRef(src []float32, g ConvGeom, dst []float32) {
	oh, ow := g.Out()
	row := 0
	for ci := 0; ci < g.C; ci++ {
		for ki := 0; ki < g.KH; ki++ {
			for kj := 0; kj < g.KW; kj++ {
				out := dst[row*oh*ow : (row+1)*oh*ow]
				for y := 0; y < oh; y++ {
					iy := y*g.Stride - g.PadTop + ki*g.Dilation
					for x := 0; x < ow; x++ {
						ix := x*g.Stride - g.PadLeft + kj*g.Dilation
						if iy < 0 || iy >= g.H || ix < 0 || ix >= g.W {
							out[y*ow+x] = 0
						} else {
							out[y*ow+x] = src[(ci*g.H+iy)*g.W+ix]
						}
					}
				}
				row++
			}
		}
	}
}

// depthwiseRef is the reference DepthwiseConv2D, computed in float64 from
// the definition, overwriting dst (no bias).
func depthwiseRef(src []float32, g ConvGeom, mult int, w, dst []float32) {
	oh, ow := g.Out()
	for o := 0; o < g.C*mult; o++ {
		ci := o / mult
		for y := 0; y < oh; y++ {
			for x := 0; x < ow; x++ {
				var s float64
				for ki := 0; ki < g.KH; ki++ {
					for kj := 0; kj < g.KW; kj++ {
						iy := y*g.Stride - g.PadTop + ki*g.Dilation
						ix := x*g.Stride - g.PadLeft + kj*g.Dilation
						if iy >= 0 && iy < g.H && ix >= 0 && ix < g.W {
							s += float64(w[(o*g.KH+ki)*g.KW+kj]) * float64(src[(ci*g.H+iy)*g.W+ix])
						}
					}
				}
				dst[(o*oh+y)*ow+x] = float32(s)
			}
		}
	}
}

// padPlanes returns the planes of src, shape [planes, h, w], surrounded by
// top, left, bottom and right rows and columns of fill.
func padPlanes(src []float32, planes, h, w, top, left, bottom, right int, fill float32) (dst []float32, ph, pw int) {
	ph, pw = h+top+bottom, w+left+right
	dst = make([]float32, planes*ph*pw)
	for i := range dst {
		dst[i] = fill
	}
	for p := 0; p < planes; p++ {
		for y := 0; y < h; y++ {
			copy(dst[(p*ph+y+top)*pw+left:], src[(p*h+y)*w:(p*h+y+1)*w])
		}
	}
	return dst, ph, pw
}
