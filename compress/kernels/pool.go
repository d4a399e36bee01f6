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
