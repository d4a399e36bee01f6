package kernels

import (
	"fmt"
	"math"
)

// checkPool panics unless the pooling geometry is valid and src and dst are
// long enough; it returns the output size.
func checkPool(fn string, src, dst []float32, n, c, h, w, k, stride int) (oh, ow int) {
	if n <= 0 || c <= 0 || h <= 0 || w <= 0 || k <= 0 || stride <= 0 || k > h || k > w {
		panic(fmt.Sprintf("kernels: %s: bad geometry n=%d c=%d h=%d w=%d k=%d stride=%d", fn, n, c, h, w, k, stride))
	}
	oh, ow = ConvOutSize(h, k, stride, 0), ConvOutSize(w, k, stride, 0)
	if len(src) < n*c*h*w {
		panic(fmt.Sprintf("kernels: %s: input has %d elements, need n·c·h·w = %d", fn, len(src), n*c*h*w))
	}
	if len(dst) < n*c*oh*ow {
		panic(fmt.Sprintf("kernels: %s: output has %d elements, need n·c·oh·ow = %d", fn, len(dst), n*c*oh*ow))
	}
	return oh, ow
}

// MaxPool2D pools src, shape [n, c, h, w] (NCHW), with a k×k window and the
// given stride (no padding) into dst, shape [n, c, oh, ow]. argmax, if not
// nil, receives for each output the flat index into src of its maximum (the
// first in row-major window order on ties), for MaxPool2DBackward. It panics
// if the geometry is invalid or a slice is too short.
func MaxPool2D(src []float32, n, c, h, w, k, stride int, dst []float32, argmax []int32) {
	oh, ow := checkPool("MaxPool2D", src, dst, n, c, h, w, k, stride)
	if argmax != nil && len(argmax) < n*c*oh*ow {
		panic(fmt.Sprintf("kernels: MaxPool2D: argmax has %d elements, need %d", len(argmax), n*c*oh*ow))
	}
	if k == 2 && stride == 2 {
		maxPool2x2(src, n*c, h, w, oh, ow, dst, argmax)
		return
	}
	if argmax == nil {
		maxPoolValues(src, n*c, h, w, k, stride, oh, ow, dst)
		return
	}
	o := 0
	for p := 0; p < n*c; p++ {
		base := p * h * w
		for y := 0; y < oh; y++ {
			for x := 0; x < ow; x++ {
				best, bi := float32(math.Inf(-1)), -1
				for i := 0; i < k; i++ {
					r := base + (y*stride+i)*w + x*stride
					for j, v := range src[r : r+k] {
						if v > best || bi < 0 {
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

// maxPoolValues is MaxPool2D without argmax: each output row is built
// window row by window row, the first row's maximum (from its first
// element, as MaxPool2D starts from the window's first) then each later
// row's (from −Inf, so a NaN is skipped as MaxPool2D skips it) replacing
// it only where strictly larger, which keeps the first maximum in
// row-major order with the same NaN handling, in tighter loops; with the
// assembly in use each output row is one call of maxPoolRowSSE, which
// folds every window in row-major order without branches.
func maxPoolValues(src []float32, planes, h, w, k, stride, oh, ow int, dst []float32) {
	if useAsm {
		for p := range planes {
			plane := src[p*h*w : (p+1)*h*w]
			for y := range oh {
				maxPoolRowFast(dst[(p*oh+y)*ow:(p*oh+y+1)*ow], plane[y*stride*w:], k, stride, w)
			}
		}
		return
	}
	maxPoolValuesGo(src, planes, h, w, k, stride, oh, ow, dst)
}

// maxPoolValuesGo is maxPoolValues in Go.
func maxPoolValuesGo(src []float32, planes, h, w, k, stride, oh, ow int, dst []float32) {
	inf := float32(math.Inf(-1))
	for p := range planes {
		plane := src[p*h*w : (p+1)*h*w]
		for y := range oh {
			d := dst[(p*oh+y)*ow : (p*oh+y+1)*ow]
			for i := range k {
				row := plane[(y*stride+i)*w : (y*stride+i+1)*w]
				for x := range d {
					win := row[x*stride : x*stride+k]
					m := win[0]
					if i > 0 {
						m = inf
						if win[0] > m {
							m = win[0]
						}
					}
					for _, v := range win[1:] {
						if v > m {
							m = v
						}
					}
					if i == 0 || m > d[x] {
						d[x] = m
					}
				}
			}
		}
	}
}

// maxPool2x2 is MaxPool2D for 2×2 windows with stride 2 over planes
// [h, w] images: per window, the larger of each row's pair (the left on
// ties), then the second row's winner if strictly larger, which is the first
// maximum in row-major order.
func maxPool2x2(src []float32, planes, h, w, oh, ow int, dst []float32, argmax []int32) {
	o := 0
	for p := 0; p < planes; p++ {
		for y := 0; y < oh; y++ {
			i0 := (p*h + 2*y) * w
			r0 := src[i0 : i0+2*ow]
			r1 := src[i0+w : i0+w+2*ow]
			d := dst[o : o+ow]
			var am []int32
			if argmax != nil {
				am = argmax[o : o+ow]
			}
			for x := maxPool2x2Row(d, am, r0, r1, w, i0); x < ow; x++ {
				a, b := r0[2*x], r0[2*x+1]
				e, f := r1[2*x], r1[2*x+1]
				m0, j0 := a, 0
				if b > a {
					m0, j0 = b, 1
				}
				m1, j1 := e, w
				if f > e {
					m1, j1 = f, w+1
				}
				if m1 > m0 {
					m0, j0 = m1, j1
				}
				d[x] = m0
				if am != nil {
					am[x] = int32(i0 + 2*x + j0)
				}
			}
			o += ow
		}
	}
}

// MaxPool2DBackward adds each output gradient dy[i] into dx[argmax[i]].
// It panics if argmax is shorter than dy or indexes outside dx.
func MaxPool2DBackward(dy []float32, argmax []int32, dx []float32) {
	argmax = argmax[:len(dy)]
	for i, g := range dy {
		dx[argmax[i]] += g
	}
}

// AvgPool2D averages src, shape [n, c, h, w], over k×k windows with the given
// stride (no padding) into dst, shape [n, c, oh, ow]; each window is summed
// row by row, left to right, then scaled by 1/k². It panics if the geometry
// is invalid or a slice is too short.
func AvgPool2D(src []float32, n, c, h, w, k, stride int, dst []float32) {
	oh, ow := checkPool("AvgPool2D", src, dst, n, c, h, w, k, stride)
	inv := 1 / float32(k*k)
	o := 0
	for p := 0; p < n*c; p++ {
		base := p * h * w
		for y := 0; y < oh; y++ {
			if k == 2 && stride == 2 {
				i0 := base + 2*y*w
				r0, r1 := src[i0:i0+2*ow], src[i0+w:i0+w+2*ow]
				d := dst[o : o+ow]
				for x := range d {
					d[x] = (r0[2*x] + r0[2*x+1] + r1[2*x] + r1[2*x+1]) * inv
				}
				o += ow
				continue
			}
			for x := 0; x < ow; x++ {
				var s float32
				for i := 0; i < k; i++ {
					r := base + (y*stride+i)*w + x*stride
					for _, v := range src[r : r+k] {
						s += v
					}
				}
				dst[o] = s * inv
				o++
			}
		}
	}
}

// AvgPool2DBackward spreads each output gradient of AvgPool2D evenly over its
// window, accumulating into dx, shape [n, c, h, w]. It panics if the
// geometry is invalid or a slice is too short.
func AvgPool2DBackward(dy []float32, n, c, h, w, k, stride int, dx []float32) {
	oh, ow := checkPool("AvgPool2DBackward", dx, dy, n, c, h, w, k, stride)
	inv := 1 / float32(k*k)
	o := 0
	for p := 0; p < n*c; p++ {
		base := p * h * w
		for y := 0; y < oh; y++ {
			if k == 2 && stride == 2 {
				i0 := base + 2*y*w
				d0, d1 := dx[i0:i0+2*ow], dx[i0+w:i0+w+2*ow]
				for x, g := range dy[o : o+ow] {
					g *= inv
					d0[2*x] += g
					d0[2*x+1] += g
					d1[2*x] += g
					d1[2*x+1] += g
				}
				o += ow
				continue
			}
			for x := 0; x < ow; x++ {
				g := dy[o] * inv
				for i := 0; i < k; i++ {
					r := base + (y*stride+i)*w + x*stride
					win := dx[r : r+k]
					for j := range win {
						win[j] += g
					}
				}
				o++
			}
		}
	}
}

// checkPoolGeom panics unless g is a valid pooling geometry whose windows
// each hold at least one image element and src and dst hold n images and
// their outputs; it returns the output size.
func (g ConvGeom) checkPoolGeom(fn string, n int, src, dst []float32) (oh, ow int) {
	oh, ow = g.check(fn)
	if n <= 0 {
		panic(fmt.Sprintf("kernels: %s: batch size %d", fn, n))
	}
	y0, y1, _, x0, x1, _ := g.tapRanges(oh, ow)
	// Output row y has an image tap iff some ki has y in [y0[ki], y1[ki]);
	// the union of those ranges must cover [0, oh), likewise columns.
	if !covers(y0, y1, oh) || !covers(x0, x1, ow) {
		panic(fmt.Sprintf("kernels: %s: geometry %+v has a window entirely in the padding", fn, g))
	}
	if len(src) < n*g.C*g.H*g.W {
		panic(fmt.Sprintf("kernels: %s: input has %d elements, need n·c·h·w = %d", fn, len(src), n*g.C*g.H*g.W))
	}
	if len(dst) < n*g.C*oh*ow {
		panic(fmt.Sprintf("kernels: %s: output has %d elements, need n·c·oh·ow = %d", fn, len(dst), n*g.C*oh*ow))
	}
	return oh, ow
}

// covers reports whether the union of the ranges [lo[i], hi[i]) is [0, n).
func covers(lo, hi []int, n int) bool {
	for p := 0; p < n; p++ {
		in := false
		for i := range lo {
			if p >= lo[i] && p < hi[i] {
				in = true
				break
			}
		}
		if !in {
			return false
		}
	}
	return true
}

// MaxPool2DGeom pools src, shape [n, g.C, g.H, g.W], over the windows of g
// into dst, shape [n, g.C, oh, ow] with oh, ow from g.Out (so CeilMode
// applies). Each output is the maximum of its window's taps inside the
// image: padding never wins, as if it held −∞. argmax, if not nil, receives
// the flat src index of each maximum (the first in row-major window order
// on ties), for MaxPool2DBackward. It panics if the geometry is invalid, a
// window lies entirely in the padding, or a slice is too short.
func MaxPool2DGeom(src []float32, n int, g ConvGeom, dst []float32, argmax []int32) {
	oh, ow := g.checkPoolGeom("MaxPool2DGeom", n, src, dst)
	if argmax != nil && len(argmax) < n*g.C*oh*ow {
		panic(fmt.Sprintf("kernels: MaxPool2DGeom: argmax has %d elements, need %d", len(argmax), n*g.C*oh*ow))
	}
	y0, y1, offY, x0, x1, offX := g.tapRanges(oh, ow)
	o := 0
	for p := range n * g.C {
		base := p * g.H * g.W
		for y := range oh {
			for x := range ow {
				best, bi := float32(math.Inf(-1)), -1
				for ki := range g.KH {
					if y < y0[ki] || y >= y1[ki] {
						continue
					}
					r := base + (y*g.Stride+offY[ki])*g.W + x*g.Stride
					for kj := range g.KW {
						if x < x0[kj] || x >= x1[kj] {
							continue
						}
						if v := src[r+offX[kj]]; v > best || bi < 0 {
							best, bi = v, r+offX[kj]
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

// avgDivisors returns, per output row and per output column, how many of
// its window's taps AvgPool2DGeom counts: those inside the image, or with
// countPad those inside the image and its declared padding (never those a
// ceil-mode window has beyond the padding).
func (g ConvGeom) avgDivisors(oh, ow int, countPad bool) (rows, cols []int) {
	count := func(out, in, k, lo, hi int) []int {
		c := make([]int, out)
		for y := range c {
			for ki := range k {
				p := y*g.Stride - lo + ki*g.Dilation
				if countPad && p >= -lo && p < in+hi || p >= 0 && p < in {
					c[y]++
				}
			}
		}
		return c
	}
	return count(oh, g.H, g.KH, g.PadTop, g.PadBottom), count(ow, g.W, g.KW, g.PadLeft, g.PadRight)
}

// AvgPool2DGeom averages src, shape [n, g.C, g.H, g.W], over the windows of
// g into dst, shape [n, g.C, oh, ow] with oh, ow from g.Out: each output is
// the sum of its window's taps inside the image divided by the number of
// taps inside the image (countPad false, ONNX's count_include_pad=0) or
// inside the image and its padding (countPad true). It panics if the
// geometry is invalid, a window lies entirely in the padding, or a slice is
// too short.
func AvgPool2DGeom(src []float32, n int, g ConvGeom, countPad bool, dst []float32) {
	oh, ow := g.checkPoolGeom("AvgPool2DGeom", n, src, dst)
	y0, y1, offY, x0, x1, offX := g.tapRanges(oh, ow)
	dr, dc := g.avgDivisors(oh, ow, countPad)
	o := 0
	for p := range n * g.C {
		base := p * g.H * g.W
		for y := range oh {
			for x := range ow {
				var s float32
				for ki := range g.KH {
					if y < y0[ki] || y >= y1[ki] {
						continue
					}
					r := base + (y*g.Stride+offY[ki])*g.W + x*g.Stride
					for kj := range g.KW {
						if x >= x0[kj] && x < x1[kj] {
							s += src[r+offX[kj]]
						}
					}
				}
				dst[o] = s / float32(dr[y]*dc[x])
				o++
			}
		}
	}
}

// AvgPool2DGeomBackward is the adjoint of AvgPool2DGeom: it adds each
// output gradient, divided like its output, into every image tap of its
// window in dx, shape [n, g.C, g.H, g.W]. It panics if the geometry is
// invalid or a slice is too short.
func AvgPool2DGeomBackward(dy []float32, n int, g ConvGeom, countPad bool, dx []float32) {
	oh, ow := g.checkPoolGeom("AvgPool2DGeomBackward", n, dx, dy)
	y0, y1, offY, x0, x1, offX := g.tapRanges(oh, ow)
	dr, dc := g.avgDivisors(oh, ow, countPad)
	o := 0
	for p := range n * g.C {
		base := p * g.H * g.W
		for y := range oh {
			for x := range ow {
				gr := dy[o] / float32(dr[y]*dc[x])
				o++
				for ki := range g.KH {
					if y < y0[ki] || y >= y1[ki] {
						continue
					}
					r := base + (y*g.Stride+offY[ki])*g.W + x*g.Stride
					for kj := range g.KW {
						if x >= x0[kj] && x < x1[kj] {
							dx[r+offX[kj]] += gr
						}
					}
				}
			}
		}
	}
}
