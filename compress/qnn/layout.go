package qnn

import (
	"encoding/binary"

	"github.com/compressq/compressq/compress/fixed"
)

// The fast path keeps every image activation as [H, W, C] (NHWC per
// sample): the rows of a GEMM's output are pixels and its columns channels,
// so a Conv2D output is already the next layer's input without a
// transpose, and an im2row patch row is k runs of k·C contiguous bytes. The
// exported shapes (Layer.In, Layer.Out) and the reference path stay
// [C, H, W]; weights are reordered once at Quantize to match.

// hwcOrder returns the reordering of a Conv2D weight row from the
// (c, ki, kj) order of OIHW to the (ki, kj, c) order of an NHWC patch:
// dst[o][(ki·k + kj)·c + ch] = src[o][(ch·k + ki)·k + kj].
func hwcOrder(w []int8, out, c, k int) []int8 {
	kk := c * k * k
	dst := make([]int8, len(w))
	for o := range out {
		src, d := w[o*kk:(o+1)*kk], dst[o*kk:(o+1)*kk]
		for ch := range c {
			for ki := range k {
				for kj := range k {
					d[(ki*k+kj)*c+ch] = src[(ch*k+ki)*k+kj]
				}
			}
		}
	}
	return dst
}

// flattenOrder returns the reordering of a Dense weight row whose input is
// a flattened [c, h, w] activation to the flattened [h, w, c] order the fast
// path holds it in: dst[o][(y·w + x)·c + ch] = src[o][(ch·h + y)·w + x].
func flattenOrder(wt []int8, out int, shape []int) []int8 {
	c, h, w := shape[0], shape[1], shape[2]
	kk := c * h * w
	dst := make([]int8, len(wt))
	for o := range out {
		src, d := wt[o*kk:(o+1)*kk], dst[o*kk:(o+1)*kk]
		for ch := range c {
			for p := range h * w {
				d[p*c+ch] = src[ch*h*w+p]
			}
		}
	}
	return dst
}

// chwToHWC writes the [C, H, W] image src as [H, W, C] into dst.
func chwToHWC(dst, src []uint8, c, hw int) {
	for ch := range c {
		for p, v := range src[ch*hw : (ch+1)*hw] {
			dst[p*c+ch] = v
		}
	}
}

// im2rowHWC writes the patches of one [H, W, C] image src as the rows of
// dst [oh·ow, k·k·C] in (ki, kj, c) order, with the zero point where the
// window leaves the image. dst must extend at least 8 bytes past the last
// row: short runs are moved as one 8-byte word and the excess is
// overwritten by the next run.
func im2rowHWC(dst, src []uint8, c, h, w, k, stride, pad, oh, ow int, zero uint8) {
	kc := k * c
	d := 0
	for oy := range oh {
		y0 := oy*stride - pad
		for ox := range ow {
			x0 := ox*stride - pad
			if y0 >= 0 && x0 >= 0 && y0+k <= h && x0+k <= w {
				// The whole window is inside the image: k runs of k·C bytes.
				s := (y0*w + x0) * c
				if kc <= 8 && s+(k-1)*w*c+8 <= len(src) {
					for ki := range k {
						binary.LittleEndian.PutUint64(dst[d+ki*kc:], binary.LittleEndian.Uint64(src[s+ki*w*c:]))
					}
				} else {
					for ki := range k {
						copy(dst[d+ki*kc:d+(ki+1)*kc], src[s+ki*w*c:])
					}
				}
				d += k * kc
				continue
			}
			// The columns of the window inside the image: [xa, xb).
			xa, xb := max(x0, 0), min(x0+k, w)
			for ki := range k {
				y := y0 + ki
				if y < 0 || y >= h || xa >= xb {
					fill(dst[d:d+kc], zero)
					d += kc
					continue
				}
				left, run := (xa-x0)*c, (xb-xa)*c
				fill(dst[d:d+left], zero)
				s := (y*w + xa) * c
				if run <= 8 && s+8 <= len(src) {
					binary.LittleEndian.PutUint64(dst[d+left:], binary.LittleEndian.Uint64(src[s:]))
				} else {
					copy(dst[d+left:d+left+run], src[s:s+run])
				}
				fill(dst[d+left+run:d+kc], zero)
				d += kc
			}
		}
	}
}

// fill sets every byte of b to v.
func fill(b []uint8, v uint8) {
	for i := range b {
		b[i] = v
	}
}

// poolRescaleHWC max-pools int32 accumulators acc [oh, ow, C] with a k×k
// window and stride, then requantizes the pooled values into dst
// [ph, pw, C]. Pooling before requantizing is exact: the rescaling is
// monotone in the accumulator as long as acc + bias does not wrap, which
// Quantize checks before fusing. tmp holds C values.
func poolRescaleHWC(dst []uint8, acc []int32, c, ow, k, stride, ph, pw int, rs *fixed.Requantizer, tmp []int32) {
	if k == 2 {
		pool2Rescale(dst, acc, c, ow, stride, ph, pw, rs)
		return
	}
	t := tmp[:c]
	for py := range ph {
		for px := range pw {
			copy(t, acc[(py*stride*ow+px*stride)*c:])
			for ki := range k {
				row := acc[((py*stride+ki)*ow+px*stride)*c:]
				for kj := range k {
					src := row[kj*c : (kj+1)*c]
					for j, v := range src {
						t[j] = max(t[j], v)
					}
				}
			}
			rs.Uint8(dst[(py*pw+px)*c:], t)
		}
	}
}

// pool2Rescale is poolRescaleHWC for a 2×2 window: the four values of
// each channel are compared and requantized in one pass.
func pool2Rescale(dst []uint8, acc []int32, c, ow, stride, ph, pw int, rs *fixed.Requantizer) {
	for py := range ph {
		for px := range pw {
			at, o := (py*stride*ow+px*stride)*c, (py*pw+px)*c
			rs.Uint8Max4(dst[o:o+c], acc[at:at+c], acc[at+c:at+2*c], acc[at+ow*c:at+ow*c+c], acc[at+ow*c+c:at+ow*c+2*c])
		}
	}
}

// maxPoolHWC is max pooling of uint8 codes on one [H, W, C] image into
// dst [ph, pw, C].
func maxPoolHWC(dst, src []uint8, c, w, k, stride, ph, pw int) {
	for py := range ph {
		for px := range pw {
			d := dst[(py*pw+px)*c : (py*pw+px+1)*c]
			clear(d)
			for ki := range k {
				row := src[((py*stride+ki)*w+px*stride)*c:]
				for kj := range k {
					for j, v := range row[kj*c : (kj+1)*c] {
						d[j] = max(d[j], v)
					}
				}
			}
		}
	}
}
