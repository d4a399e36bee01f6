package kernels

import "fmt"

// checkDepthwise panics unless the geometry is valid and the slices hold
// one image, the weights and the output of a depthwise convolution with
// mult output channels per input channel; it returns the output size.
func (g ConvGeom) checkDepthwise(fn string, src []float32, mult int, w, dst []float32) (oh, ow int) {
	if g.CeilMode || mult <= 0 {
		panic(fmt.Sprintf("kernels: %s: bad geometry %+v, channel multiplier %d", fn, g, mult))
	}
	oh, ow = g.check(fn)
	if len(src) < g.C*g.H*g.W {
		panic(fmt.Sprintf("kernels: %s: image has %d elements, need c·h·w = %d", fn, len(src), g.C*g.H*g.W))
	}
	if need := g.C * mult * g.KH * g.KW; len(w) < need {
		panic(fmt.Sprintf("kernels: %s: weights have %d elements, need c·mult·kh·kw = %d", fn, len(w), need))
	}
	if need := g.C * mult * oh * ow; len(dst) < need {
		panic(fmt.Sprintf("kernels: %s: output has %d elements, need c·mult·oh·ow = %d", fn, len(dst), need))
	}
	return oh, ow
}

// tapRanges returns, for each kernel row ki and column kj, the output rows
// [y0[ki], y1[ki]) and columns [x0[kj], x1[kj]) whose tap falls inside the
// image, and the tap's input offsets offY[ki] = ki·Dilation−PadTop and
// offX[kj] = kj·Dilation−PadLeft.
func (g ConvGeom) tapRanges(oh, ow int) (y0, y1, offY, x0, x1, offX []int) {
	y0, y1, offY = make([]int, g.KH), make([]int, g.KH), make([]int, g.KH)
	for ki := range g.KH {
		offY[ki] = ki*g.Dilation - g.PadTop
		y0[ki], y1[ki] = validRange(oh, g.H, offY[ki], g.Stride)
	}
	x0, x1, offX = make([]int, g.KW), make([]int, g.KW), make([]int, g.KW)
	for kj := range g.KW {
		offX[kj] = kj*g.Dilation - g.PadLeft
		x0[kj], x1[kj] = validRange(ow, g.W, offX[kj], g.Stride)
	}
	return
}

// DepthwiseConv2D adds the depthwise convolution of one image src, shape
// [g.C, g.H, g.W], into dst, shape [g.C·mult, oh, ow] with oh, ow from
// g.Out: output channel o reads only input channel o/mult, with its own
// kernel w[o], w of shape [g.C·mult, 1, g.KH, g.KW] (OIHW with groups =
// g.C):
//
//	dst[o][y][x] += Σ_{ki,kj} w[o][ki][kj]·src[o/mult][y·S−PadTop+ki·D][x·S−PadLeft+kj·D]
//
// over the taps inside the image (zero padding). Callers fill dst with the
// bias first. It is a direct loop over the window, one tap at a time over
// each output row, with no column matrix. It panics if the geometry is
// invalid (CeilMode set) or a slice is too short.
func DepthwiseConv2D(src []float32, g ConvGeom, mult int, w, dst []float32) {
	oh, ow := g.checkDepthwise("DepthwiseConv2D", src, mult, w, dst)
	y0, y1, offY, x0, x1, offX := g.tapRanges(oh, ow)
	hw, kk, s := g.H*g.W, g.KH*g.KW, g.Stride
	for o := range g.C * mult {
		in := src[(o/mult)*hw : (o/mult+1)*hw]
		out := dst[o*oh*ow : (o+1)*oh*ow]
		wk := w[o*kk : (o+1)*kk]
		for ki := range g.KH {
			for kj := range g.KW {
				if x0[kj] == x1[kj] {
					continue
				}
				wv := wk[ki*g.KW+kj]
				for y := y0[ki]; y < y1[ki]; y++ {
					d := out[y*ow+x0[kj] : y*ow+x1[kj]]
					r := in[(y*s+offY[ki])*g.W+x0[kj]*s+offX[kj]:]
					if s == 1 {
						r = r[:len(d)]
						for i, v := range r {
							d[i] += wv * v
						}
						continue
					}
					for i := range d {
						d[i] += wv * r[i*s]
					}
				}
			}
		}
	}
}

// DepthwiseConv2DBackward is the adjoint of DepthwiseConv2D for one image:
// given the output gradient dy, shape [g.C·mult, oh, ow], it adds the
// weight gradient into dw (shape of w) and, if dx is not nil, the input
// gradient into dx (shape of src). It panics if the geometry is invalid or
// a slice is too short.
func DepthwiseConv2DBackward(src, dy []float32, g ConvGeom, mult int, w, dw, dx []float32) {
	oh, ow := g.checkDepthwise("DepthwiseConv2DBackward", src, mult, w, dy)
	if len(dw) < len(w[:g.C*mult*g.KH*g.KW]) || (dx != nil && len(dx) < g.C*g.H*g.W) {
		panic(fmt.Sprintf("kernels: DepthwiseConv2DBackward: gradients have %d and %d elements, too short", len(dw), len(dx)))
	}
	y0, y1, offY, x0, x1, offX := g.tapRanges(oh, ow)
	hw, kk, s := g.H*g.W, g.KH*g.KW, g.Stride
	for o := range g.C * mult {
		in := src[(o/mult)*hw : (o/mult+1)*hw]
		gy := dy[o*oh*ow : (o+1)*oh*ow]
		for ki := range g.KH {
			for kj := range g.KW {
				if x0[kj] == x1[kj] {
					continue
				}
				t := ki*g.KW + kj
				wv := w[o*kk+t]
				var acc float32
				for y := y0[ki]; y < y1[ki]; y++ {
					d := gy[y*ow+x0[kj] : y*ow+x1[kj]]
					off := (y*s+offY[ki])*g.W + x0[kj]*s + offX[kj]
					r := in[off:]
					if s == 1 {
						r = r[:len(d)]
						for i, v := range r {
							acc += d[i] * v
						}
					} else {
						for i, v := range d {
							acc += v * r[i*s]
						}
					}
					if dx == nil {
						continue
					}
					back := dx[(o/mult)*hw+off:]
					if s == 1 {
						back = back[:len(d)]
						for i, v := range d {
							back[i] += wv * v
						}
						continue
					}
					for i, v := range d {
						back[i*s] += wv * v
					}
				}
				dw[o*kk+t] += acc
			}
		}
	}
}
