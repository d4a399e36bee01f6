package kernels

import "math"

// MaxPool2D pools src, shape [n, c, h, w] (NCHW), with a k×k window and the
// given stride (no padding) into dst, shape [n, c, oh, ow]. argmax, if not
// nil, receives for each output the flat index into src of its maximum, for
// MaxPool2DBackward.
func MaxPool2D(src []float32, n, c, h, w, k, stride int, dst []float32, argmax []int32) {
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

// MaxPool2DBackward adds each output gradient dy[i] into dx[argmax[i]].
func MaxPool2DBackward(dy []float32, argmax []int32, dx []float32) {
	for i, g := range dy {
		dx[argmax[i]] += g
	}
}

// AvgPool2D averages src, shape [n, c, h, w], over k×k windows with the given
// stride (no padding) into dst, shape [n, c, oh, ow].
func AvgPool2D(src []float32, n, c, h, w, k, stride int, dst []float32) {
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

// AvgPool2DBackward spreads each output gradient of AvgPool2D evenly over its
// window, accumulating into dx, shape [n, c, h, w].
func AvgPool2DBackward(dy []float32, n, c, h, w, k, stride int, dx []float32) {
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
