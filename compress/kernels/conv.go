package kernels

import (
	"fmt"
	"math"
	"slices"
)

// ConvOutSize returns the output length of a convolution or pooling window of
// size k with the given stride and symmetric zero padding over an input of
// length in.
func ConvOutSize(in, k, stride, pad int) int {
	return (in+2*pad-k)/stride + 1
}

// ConvGeom is the geometry of a 2-D convolution or pooling window over one
// C×H×W image: a KH×KW window moved by Stride, its taps Dilation apart, over
// the image extended by PadTop rows above, PadLeft columns to the left,
// PadBottom rows below and PadRight columns to the right (zeros for a
// convolution; ignored or counted as the pooling kernel says). CeilMode, for
// pooling only, rounds the output size up (see Out).
type ConvGeom struct {
	C, H, W                              int
	KH, KW                               int
	Stride, Dilation                     int
	PadTop, PadLeft, PadBottom, PadRight int
	CeilMode                             bool
}

// Geom returns the ConvGeom of the square-padded, undilated convolution
// that Im2col and Col2im take as separate arguments.
func Geom(c, h, w, kh, kw, stride, pad int) ConvGeom {
	return ConvGeom{C: c, H: h, W: w, KH: kh, KW: kw, Stride: stride, Dilation: 1,
		PadTop: pad, PadLeft: pad, PadBottom: pad, PadRight: pad}
}

// outLen is the output length along one axis: the number of window
// positions, span = dilation·(k−1)+1 wide, that fit into in+lo+hi; with
// ceil, a last partial step counts too, unless that window would start past
// the input and the leading padding (PyTorch's and ONNX Runtime's rule).
// It is 0 when the window does not fit and for non-positive or overflowing
// sizes.
func outLen(in, k, stride, dil, lo, hi int, ceil bool) int {
	const big = math.MaxInt / 4 // sums of three such terms cannot overflow
	if k <= 0 || stride <= 0 || dil <= 0 || min(in, lo, hi) < 0 || max(in, lo, hi) > big {
		return 0
	}
	total := in + lo + hi
	if k > total || (k > 1 && dil > (total-1)/(k-1)) { // span = dil·(k−1)+1 > total
		return 0
	}
	span := dil*(k-1) + 1
	n := total - span
	if !ceil {
		return n/stride + 1
	}
	out := (n+stride-1)/stride + 1
	if (out-1)*stride >= in+lo {
		out--
	}
	return out
}

// Out returns the output size: ⌊(H + PadTop + PadBottom − Dilation·(KH−1) −
// 1)/Stride⌋ + 1 rows (⌈…⌉ with CeilMode, less one if the last window would
// start in the bottom padding), and likewise for the columns. It is 0 along
// an axis the window does not fit.
func (g ConvGeom) Out() (oh, ow int) {
	return outLen(g.H, g.KH, g.Stride, g.Dilation, g.PadTop, g.PadBottom, g.CeilMode),
		outLen(g.W, g.KW, g.Stride, g.Dilation, g.PadLeft, g.PadRight, g.CeilMode)
}

// check panics unless g describes at least one window over a non-empty
// image; it returns the output size.
func (g ConvGeom) check(fn string) (oh, ow int) {
	if g.C <= 0 || g.H <= 0 || g.W <= 0 || g.KH <= 0 || g.KW <= 0 || g.Stride <= 0 || g.Dilation <= 0 ||
		g.PadTop < 0 || g.PadLeft < 0 || g.PadBottom < 0 || g.PadRight < 0 {
		panic(fmt.Sprintf("kernels: %s: bad geometry %+v", fn, g))
	}
	oh, ow = g.Out()
	if oh <= 0 || ow <= 0 {
		panic(fmt.Sprintf("kernels: %s: %d×%d kernel (dilation %d) larger than padded %d×%d image", fn,
			g.KH, g.KW, g.Dilation, g.H+g.PadTop+g.PadBottom, g.W+g.PadLeft+g.PadRight))
	}
	return oh, ow
}

// checkCols panics unless the geometry is valid and the image and column
// slices are long enough; it returns the output size.
func (g ConvGeom) checkCols(fn string, img, cols []float32) (oh, ow int) {
	oh, ow = g.check(fn)
	if len(img) < g.C*g.H*g.W {
		panic(fmt.Sprintf("kernels: %s: image has %d elements, need c·h·w = %d", fn, len(img), g.C*g.H*g.W))
	}
	if need := g.C * g.KH * g.KW * oh * ow; len(cols) < need {
		panic(fmt.Sprintf("kernels: %s: columns have %d elements, need c·kh·kw·oh·ow = %d", fn, len(cols), need))
	}
	return oh, ow
}

// validRange returns the range [i0, i1) of output positions i in [0, n)
// whose input position i·stride+off lies inside [0, size).
func validRange(n, size, off, stride int) (i0, i1 int) {
	if stride == 1 { // no division on the common path
		i0, i1 = max(0, -off), min(n, size-off)
		if i1 < i0 {
			return 0, 0
		}
		return i0, i1
	}
	if off < 0 {
		i0 = (-off + stride - 1) / stride
	}
	last := size - 1 - off
	if last < 0 {
		return 0, 0
	}
	i1 = min(n, last/stride+1)
	if i1 < i0 {
		return 0, 0
	}
	return i0, i1
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
	Im2colGeom(src, Geom(c, h, w, kh, kw, stride, pad), dst)
}

// Im2colGeom is Im2col for any geometry: dst, shape [C·KH·KW, oh·ow] with oh
// and ow from g.Out, holds at row (ci·KH+ki)·KW+kj, column y·ow+x the value
// src[ci][y·Stride−PadTop+ki·Dilation][x·Stride−PadLeft+kj·Dilation], zero
// where that falls outside the image. g.CeilMode must be false. It panics if
// the geometry is invalid or a slice is too short.
func Im2colGeom(src []float32, g ConvGeom, dst []float32) {
	if g.CeilMode {
		panic("kernels: Im2colGeom: CeilMode is for pooling")
	}
	oh, ow := g.checkCols("Im2col", src, dst)
	h, w, stride := g.H, g.W, g.Stride
	plane := oh * ow
	// With stride 1 and the output as wide as the input ("same" padding
	// across), every row of dst is the channel shifted by a fixed offset as
	// one flat array: one contiguous copy, then zeros over the columns and
	// rows that fall in the padding.
	flat := stride == 1 && ow == w
	row := 0
	for ci := 0; ci < g.C; ci++ {
		for ki := 0; ki < g.KH; ki++ {
			offY := ki*g.Dilation - g.PadTop
			y0, y1 := validRange(oh, h, offY, stride)
			for kj := 0; kj < g.KW; kj++ {
				out := dst[row*plane : (row+1)*plane]
				row++
				offX := kj*g.Dilation - g.PadLeft
				x0, x1 := validRange(ow, w, offX, stride)
				if y0 == y1 || x0 == x1 {
					clear(out)
					continue
				}
				if flat {
					// out[i] = src[shift+i] for i = y·w+x inside the image;
					// the columns in the padding get neighbouring pixels,
					// zeroed below.
					shift := ci*h*w + offY*w + offX
					lo, hi := y0*ow+x0, (y1-1)*ow+x1
					copy(out[lo:hi], src[shift+lo:shift+hi])
				}
				if y0 > 0 || y1 < oh {
					clear(out[:y0*ow])
					clear(out[y1*ow:])
				}
				if x0 > 0 || x1 < ow {
					// A few columns at each end: stored one by one, as a
					// clear call per row costs more than it saves.
					for y := y0; y < y1; y++ {
						r := out[y*ow : y*ow+ow]
						for x := 0; x < x0; x++ {
							r[x] = 0
						}
						for x := x1; x < ow; x++ {
							r[x] = 0
						}
					}
				}
				if flat {
					continue
				}
				iy, ix := y0*stride+offY, x0*stride+offX
				in := src[(ci*h+iy)*w+ix:]
				if stride == 1 {
					copyBlock(out[y0*ow+x0:], in, y1-y0, x1-x0, ow, w)
					continue
				}
				for y := y0; y < y1; y++ {
					o := out[y*ow+x0 : y*ow+x1]
					s := in[(y-y0)*stride*w:]
					if stride == 2 {
						copyEven(o, s)
						continue
					}
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
	Col2imGeom(cols, Geom(c, h, w, kh, kw, stride, pad), dst)
}

// Col2imGeom is Col2im for any geometry, the adjoint of Im2colGeom: dst is
// accumulated into. It panics if the geometry is invalid or a slice is too
// short.
func Col2imGeom(cols []float32, g ConvGeom, dst []float32) {
	if g.CeilMode {
		panic("kernels: Col2imGeom: CeilMode is for pooling")
	}
	oh, ow := g.checkCols("Col2im", dst, cols)
	h, w, stride := g.H, g.W, g.Stride
	plane := oh * ow
	// As in Im2colGeom, with stride 1 and the output as wide as the input a
	// row of cols adds onto the channel as one flat shifted block; the few
	// elements that block wrongly touches (the columns that map to the
	// padding, landing on the neighbouring image row) are saved first and
	// put back after, which restores them exactly.
	flat := stride == 1 && ow == w
	var saved [256]float32
	row := 0
	for ci := 0; ci < g.C; ci++ {
		for ki := 0; ki < g.KH; ki++ {
			offY := ki*g.Dilation - g.PadTop
			y0, y1 := validRange(oh, h, offY, stride)
			for kj := 0; kj < g.KW; kj++ {
				in := cols[row*plane : (row+1)*plane]
				row++
				offX := kj*g.Dilation - g.PadLeft
				x0, x1 := validRange(ow, w, offX, stride)
				if y0 == y1 || x0 == x1 {
					continue
				}
				if edges := (y1 - y0 - 1) * (ow - (x1 - x0)); flat && edges <= len(saved) {
					// dst[shift+i] += in[i] for i = y·w+x inside the image.
					shift := ci*h*w + offY*w + offX
					lo, hi := y0*ow+x0, (y1-1)*ow+x1
					// The wrongly touched i lie between one row's x1 and the
					// next row's x0.
					n := 0
					for y := y0; y < y1-1; y++ {
						for i := y*ow + x1; i < (y+1)*ow+x0; i++ {
							saved[n] = dst[shift+i]
							n++
						}
					}
					Add(dst[shift+lo:shift+hi], dst[shift+lo:shift+hi], in[lo:hi])
					n = 0
					for y := y0; y < y1-1; y++ {
						for i := y*ow + x1; i < (y+1)*ow+x0; i++ {
							dst[shift+i] = saved[n]
							n++
						}
					}
					continue
				}
				iy, ix := y0*stride+offY, x0*stride+offX
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

// PhaseDims returns the height and width of each phase PadPhases writes
// for g: the padded image's, divided by g.Stride and rounded up.
func PhaseDims(g ConvGeom) (hq, wq int) {
	s := max(1, g.Stride)
	return (g.H + g.PadTop + g.PadBottom + s - 1) / s, (g.W + g.PadLeft + g.PadRight + s - 1) / s
}

// ShiftedApplies reports whether the convolution g can run as the
// shifted-window GEMM over its padded stride phases (PadPhases,
// PhaseWindows, SgemmOffsetRowsBiasClamp) instead of on im2col rows: a
// stride of 1 or 2, and not a plain 1×1 (whose image is its own im2col).
func ShiftedApplies(g ConvGeom) bool {
	pointwise := g.KH == 1 && g.KW == 1 && g.Stride <= 1 && g.PadTop == 0 && g.PadLeft == 0 && g.PadBottom == 0 && g.PadRight == 0
	return g.Stride <= 2 && !pointwise
}

// ShiftedWindows reports whether the convolution g with m output channels
// should run as the shifted-window GEMM (ShiftedApplies) rather than on
// im2col rows; compress/runtime times both instead. With the AVX-512
// kernels, or none, it takes at least 128 output pixels: below that the
// padding columns each window row computes and discards cost more than
// im2col saves. The AVX2 kernels compute no padding columns (their 8-wide
// groups lie inside output rows), and there the shifted windows also win
// from 16 output pixels up when m is at most 32. Measured on a Zen 3, one
// image at a time, im2col time over shifted time: 1.4–2.1 with 16 output
// channels on 7×7 to 14×14 outputs, 1.5 with 64 on 14×14; about 1 with 64
// on 7×7 and 10×10 and with 16 on a 4×4 output of 32 input channels, 0.65
// with 64 there.
func ShiftedWindows(g ConvGeom, m int) bool {
	if !ShiftedApplies(g) {
		return false
	}
	oh, ow := g.Out()
	return oh*ow >= 128 || (useAsm && !use512 && m <= 32 && oh*ow >= 16)
}

// PhaseWindows describes the shifted-window GEMM of the convolution g over
// the phases PadPhases writes: off[(ci·KH+ki)·KW+kj] is where the window of
// input channel ci and tap (ki, kj) starts, each window is n = oh·stride
// columns of which each row keeps its first ow (output row y's pixels at
// y·stride … y·stride+ow−1: the stride and width of
// SgemmOffsetRowsBiasClamp; stride is the phases' row width), and size is
// the buffer PadPhases needs, with the slack the GEMM reads past the last
// window.
func PhaseWindows(g ConvGeom) (off []int, n, stride, size int) {
	s, dil := max(1, g.Stride), max(1, g.Dilation)
	hq, wq := PhaseDims(g)
	oh, _ := g.Out()
	off = make([]int, 0, g.C*g.KH*g.KW)
	for ci := range g.C {
		for ki := range g.KH {
			for kj := range g.KW {
				phase := (ci*s+ki*dil%s)*s + kj*dil%s
				off = append(off, phase*hq*wq+ki*dil/s*wq+kj*dil/s)
			}
		}
	}
	n = oh * wq
	return off, n, wq, max(g.C*s*s*hq*wq, slices.Max(off)+n) + 32
}

// PadPhases writes the g.C×g.H×g.W image src, zero-padded as g says, into
// dst split into Stride² phases per channel: phase (a, b) of channel ci
// holds padded pixel (Stride·r+a, Stride·q+b) at
// dst[((ci·Stride+a)·Stride+b)·hq·wq + r·wq + q], with hq, wq from
// PhaseDims. A convolution of stride S then reads, for its tap (ki, kj),
// one phase shifted by a fixed offset: a stride-1 window
// (SgemmOffsetRowsBiasClamp). With stride 1 it is the padded image. Only
// the image's pixels are written: the padding positions, and those past
// the padded edge, keep what dst held, so clear dst[:C·Stride²·hq·wq] once
// before the first image of a geometry. It panics if dst is too short.
func PadPhases(src []float32, g ConvGeom, dst []float32) {
	s := max(1, g.Stride)
	hq, wq := PhaseDims(g)
	plane := hq * wq
	dst = dst[:g.C*s*s*plane]
	src = src[:g.C*g.H*g.W]
	if s == 1 {
		for ci := range g.C {
			if padRowsFast(dst[ci*plane+g.PadTop*wq+g.PadLeft:], src[ci*g.H*g.W:], g.H, g.W, g.W, wq) {
				continue
			}
			for y := range g.H {
				copy(dst[ci*plane+(y+g.PadTop)*wq+g.PadLeft:], src[(ci*g.H+y)*g.W:(ci*g.H+y+1)*g.W])
			}
		}
		return
	}
	// Per phase column b: the first source column, its place in the
	// phase row and the count.
	x0, q0, cnt := make([]int, s), make([]int, s), make([]int, s)
	for b := range s {
		x0[b] = ((b-g.PadLeft)%s + s) % s
		q0[b] = (x0[b] + g.PadLeft) / s
		cnt[b] = max(0, (g.W-x0[b]+s-1)/s)
	}
	for ci := range g.C {
		if s == 2 && splitPlane(dst, src, g, ci, plane, wq) {
			continue
		}
		a, r := g.PadTop%s, g.PadTop/s // the phase row of source row 0
		for y := range g.H {
			row := src[(ci*g.H+y)*g.W : (ci*g.H+y+1)*g.W]
			base := (ci*s+a)*s*plane + r*wq
			for b := range s {
				if cnt[b] == 0 {
					continue
				}
				// Rows are short (a few dozen floats): a plain loop beats
				// a call to the vector gather.
				d, sr := dst[base+b*plane+q0[b]:][:cnt[b]], row[x0[b]:]
				for i := range d {
					d[i] = sr[i*s]
				}
			}
			if a++; a == s {
				a, r = 0, r+1
			}
		}
	}
}

// splitPlane writes channel ci of a stride-2 PadPhases with the vector row
// split, two calls (source rows landing in phase rows 0 and 1) per
// channel; it reports false, having written nothing, where that kernel is
// not in use.
func splitPlane(dst, src []float32, g ConvGeom, ci, plane, wq int) bool {
	for a := range 2 {
		y0 := ((a-g.PadTop)%2 + 2) % 2 // first source row of phase row a
		if y0 >= g.H {
			continue
		}
		rows, r0, be := (g.H-y0+1)/2, (y0+g.PadTop)/2, g.PadLeft%2
		base := (ci*2 + a) * 2 * plane
		even := dst[base+be*plane+r0*wq+g.PadLeft/2:]
		odd := dst[base+(1-be)*plane+r0*wq+(g.PadLeft+1)/2:]
		if !splitRowsFast(even, odd, src[(ci*g.H+y0)*g.W:], rows, g.W, 2*g.W, wq) {
			return false
		}
	}
	return true
}

// padPhasesRef is PadPhases by its definition, pixel by pixel, writing
// every element of dst[:C·Stride²·hq·wq] (padding as zeros): the reference
// of the start-up self-test and the tests.
func padPhasesRef(src []float32, g ConvGeom, dst []float32) {
	s := max(1, g.Stride)
	hq, wq := PhaseDims(g)
	for i := range dst[:g.C*s*s*hq*wq] {
		q, r, ph := i%wq, i/wq%hq, i/(hq*wq)
		ci, a, b := ph/(s*s), ph/s%s, ph%s
		y, x := s*r+a-g.PadTop, s*q+b-g.PadLeft
		dst[i] = 0
		if y >= 0 && y < g.H && x >= 0 && x < g.W {
			dst[i] = src[(ci*g.H+y)*g.W+x]
		}
	}
}
