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

// DepthwiseConv2D writes the depthwise convolution of one image src, shape
// [g.C, g.H, g.W], plus bias into dst, shape [g.C·mult, oh, ow] with oh, ow
// from g.Out: output channel o reads only input channel o/mult, with its
// own kernel w[o], w of shape [g.C·mult, 1, g.KH, g.KW] (OIHW with groups =
// g.C):
//
//	dst[o][y][x] = bias[o] + Σ_{ki,kj} w[o][ki][kj]·src[o/mult][y·S−PadTop+ki·D][x·S−PadLeft+kj·D]
//
// over the taps inside the image (zero padding); a nil bias is zero. It is
// a direct loop over the window with no column matrix: for 3×3 kernels,
// each output element sums its nine taps at once from a zero-padded copy of
// the input plane (at stride 1 on amd64 with AVX2 and FMA, eight outputs at
// a time in assembly); for other kernels, one tap at a time is added over
// each output row. It panics if the geometry is invalid (CeilMode set) or a
// slice is too short.
func DepthwiseConv2D(src []float32, g ConvGeom, mult int, w, bias, dst []float32) {
	oh, ow := g.checkDepthwise("DepthwiseConv2D", src, mult, w, dst)
	if bias != nil && len(bias) < g.C*mult {
		panic(fmt.Sprintf("kernels: DepthwiseConv2D: bias has %d elements, need c·mult = %d", len(bias), g.C*mult))
	}
	if g.KH == 3 && g.KW == 3 {
		depthwise3x3(src, g, mult, w, bias, dst, oh, ow)
		return
	}
	for o := range g.C * mult {
		out := dst[o*oh*ow : (o+1)*oh*ow]
		var b float32
		if bias != nil {
			b = bias[o]
		}
		for i := range out {
			out[i] = b
		}
	}
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

// depthwise3x3 is DepthwiseConv2D for 3×3 kernels. Each input plane is
// copied once into a zero-padded buffer with room for every tap of every
// output, so the nine taps of an output row are nine equally long slices
// of three padded rows and the loop needs no bounds tests. Only the image
// area of the buffer is rewritten per channel; the padding stays zero.
func depthwise3x3(src []float32, g ConvGeom, mult int, w, bias, dst []float32, oh, ow int) {
	d, s := g.Dilation, g.Stride
	ph := max(g.PadTop+g.H, (oh-1)*s+2*d+1)
	pw := max(g.PadLeft+g.W, (ow-1)*s+2*d+1)
	pad := make([]float32, ph*pw)
	hw := g.H * g.W
	for ci := range g.C {
		in := src[ci*hw : (ci+1)*hw]
		for y := range g.H {
			copy(pad[(y+g.PadTop)*pw+g.PadLeft:], in[y*g.W:(y+1)*g.W])
		}
		for m := range mult {
			o := ci*mult + m
			k := w[o*9 : o*9+9]
			w0, w1, w2, w3, w4, w5, w6, w7, w8 := k[0], k[1], k[2], k[3], k[4], k[5], k[6], k[7], k[8]
			out := dst[o*oh*ow : (o+1)*oh*ow]
			var bo float32
			if bias != nil {
				bo = bias[o]
			}
			x0 := 0
			if s == 1 {
				x0 = dw3x3Rows(out, pad, oh, ow, ow, pw, d, k, bo, false)
			}
			if x0 == ow {
				continue
			}
			for y := range oh {
				r0 := pad[y*s*pw:]
				r1 := pad[(y*s+d)*pw:]
				r2 := pad[(y*s+2*d)*pw:]
				row := out[y*ow : (y+1)*ow]
				if s == 1 {
					// Columns from x0: the assembly did the others.
					row, r0, r1, r2 = row[x0:], r0[x0:], r1[x0:], r2[x0:]
					n := len(row)
					a0, a1, a2 := r0[:n], r0[d:d+n], r0[2*d:2*d+n]
					b0, b1, b2 := r1[:n], r1[d:d+n], r1[2*d:2*d+n]
					c0, c1, c2 := r2[:n], r2[d:d+n], r2[2*d:2*d+n]
					for i := range row {
						row[i] = bo + w0*a0[i] + w1*a1[i] + w2*a2[i] +
							w3*b0[i] + w4*b1[i] + w5*b2[i] +
							w6*c0[i] + w7*c1[i] + w8*c2[i]
					}
					continue
				}
				for i := range row {
					j := i * s
					row[i] = bo + w0*r0[j] + w1*r0[j+d] + w2*r0[j+2*d] +
						w3*r1[j] + w4*r1[j+d] + w5*r1[j+2*d] +
						w6*r2[j] + w7*r2[j+d] + w8*r2[j+2*d]
				}
			}
		}
	}
}

// DepthwiseConv2DBackward is the adjoint of DepthwiseConv2D for one image:
// given the output gradient dy, shape [g.C·mult, oh, ow], it adds the
// weight gradient into dw (shape of w) and, if dx is not nil, the input
// gradient into dx (shape of src). It panics if the geometry is invalid or
// a slice is too short. For 3×3 kernels at stride 1 it sums the nine taps
// of each weight and input gradient at once from zero-padded planes, as
// DepthwiseConv2D does.
func DepthwiseConv2DBackward(src, dy []float32, g ConvGeom, mult int, w, dw, dx []float32) {
	oh, ow := g.checkDepthwise("DepthwiseConv2DBackward", src, mult, w, dy)
	if len(dw) < len(w[:g.C*mult*g.KH*g.KW]) || (dx != nil && len(dx) < g.C*g.H*g.W) {
		panic(fmt.Sprintf("kernels: DepthwiseConv2DBackward: gradients have %d and %d elements, too short", len(dw), len(dx)))
	}
	if g.KH == 3 && g.KW == 3 && g.Stride == 1 {
		depthwise3x3Backward(src, dy, g, mult, w, dw, dx, oh, ow)
		return
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

// depthwise3x3Backward is DepthwiseConv2DBackward for 3×3 kernels at stride
// 1. The weight gradient of each tap is a dot product of the output
// gradient with a shifted window of the zero-padded input plane, nine
// accumulated in one pass. The input gradient is the correlation of the
// zero-padded output gradient with the flipped kernel:
// dx[y][x] = Σ w[2−a][2−b]·q[y+PadTop+a·D][x+PadLeft+b·D], q holding dy at
// offset (2D, 2D).
func depthwise3x3Backward(src, dy []float32, g ConvGeom, mult int, w, dw, dx []float32, oh, ow int) {
	d := g.Dilation
	ph := max(g.PadTop+g.H, oh+2*d)
	pw := max(g.PadLeft+g.W, ow+2*d)
	pad := make([]float32, ph*pw)
	var q []float32
	qh, qw := max(g.PadTop+g.H, oh)+2*d, max(g.PadLeft+g.W, ow)+2*d
	if dx != nil {
		q = make([]float32, qh*qw)
	}
	hw := g.H * g.W
	for ci := range g.C {
		in := src[ci*hw : (ci+1)*hw]
		for y := range g.H {
			copy(pad[(y+g.PadTop)*pw+g.PadLeft:], in[y*g.W:(y+1)*g.W])
		}
		for m := range mult {
			o := ci*mult + m
			gy := dy[o*oh*ow : (o+1)*oh*ow]
			var a0, a1, a2, a3, a4, a5, a6, a7, a8 float32
			for y := range oh {
				r0, r1, r2 := pad[y*pw:], pad[(y+d)*pw:], pad[(y+2*d)*pw:]
				e0, e1, e2 := r0[:ow], r0[d:d+ow], r0[2*d:2*d+ow]
				f0, f1, f2 := r1[:ow], r1[d:d+ow], r1[2*d:2*d+ow]
				h0, h1, h2 := r2[:ow], r2[d:d+ow], r2[2*d:2*d+ow]
				for i, v := range gy[y*ow : (y+1)*ow] {
					a0 += v * e0[i]
					a1 += v * e1[i]
					a2 += v * e2[i]
					a3 += v * f0[i]
					a4 += v * f1[i]
					a5 += v * f2[i]
					a6 += v * h0[i]
					a7 += v * h1[i]
					a8 += v * h2[i]
				}
			}
			t := dw[o*9 : o*9+9]
			t[0] += a0
			t[1] += a1
			t[2] += a2
			t[3] += a3
			t[4] += a4
			t[5] += a5
			t[6] += a6
			t[7] += a7
			t[8] += a8
			if dx == nil {
				continue
			}
			for y := range oh {
				copy(q[(y+2*d)*qw+2*d:], gy[y*ow:(y+1)*ow])
			}
			k := w[o*9 : o*9+9]
			// Flipped kernel: tap (a, b) of the correlation is w[2−a][2−b].
			flip := [9]float32{k[8], k[7], k[6], k[5], k[4], k[3], k[2], k[1], k[0]}
			w0, w1, w2, w3, w4, w5, w6, w7, w8 := flip[0], flip[1], flip[2], flip[3], flip[4], flip[5], flip[6], flip[7], flip[8]
			back := dx[ci*hw : (ci+1)*hw]
			qs := q[g.PadTop*qw+g.PadLeft:]
			x0 := dw3x3Rows(back, qs, g.H, g.W, g.W, qw, d, flip[:], 0, true)
			if x0 == g.W {
				continue
			}
			for y := range g.H {
				r0, r1, r2 := qs[y*qw+x0:], qs[(y+d)*qw+x0:], qs[(y+2*d)*qw+x0:]
				n := g.W - x0
				e0, e1, e2 := r0[:n], r0[d:d+n], r0[2*d:2*d+n]
				f0, f1, f2 := r1[:n], r1[d:d+n], r1[2*d:2*d+n]
				h0, h1, h2 := r2[:n], r2[d:d+n], r2[2*d:2*d+n]
				row := back[y*g.W+x0 : (y+1)*g.W]
				for i := range row {
					row[i] += w0*e0[i] + w1*e1[i] + w2*e2[i] +
						w3*f0[i] + w4*f1[i] + w5*f2[i] +
						w6*h0[i] + w7*h1[i] + w8*h2[i]
				}
			}
		}
	}
}
