package qnn

import (
	"github.com/compressq/compressq/compress/fixed"
)

// forwardGraphChunk runs images [lo, hi) of x through a graph model's
// layers in order, each reading its inputs' buffers in the workspace
// ([H, W, C] per image for 3-D shapes, as the chain path), and writes the
// logits, with the GEMMs mm replaces (nil: none).
func (m *Model) forwardGraphChunk(ws *workspace, x []uint8, lo, hi int, logits []int32, opt fixed.Options, mm []Matmul) {
	nb, per := hi-lo, prod(m.Input)
	in := x[lo*per : hi*per]
	if m.hwcInput {
		dst := ws.act[0][:nb*per]
		for i := range nb {
			chwToHWC(dst[i*per:(i+1)*per], in[i*per:(i+1)*per], m.Input[0], m.Input[1]*m.Input[2])
		}
		in = dst
	}
	src := func(s int) []uint8 {
		if s < 0 {
			return in
		}
		return ws.outs[s]
	}
	out := logits[lo*m.Classes : hi*m.Classes]
	for i, l := range m.Layers {
		x0 := src(l.Inputs[0])
		inPer, outPer := prod(l.In), prod(l.Out)
		dst := ws.nodes[i]
		if dst != nil {
			dst = dst[:nb*outPer]
		}
		switch l.Kind {
		case KindConv:
			l.conv(ws, x0, nb, dst, out, opt, matmulAt(mm, i))
		case KindDense:
			l.dense(ws, x0, nb, dst, out, opt, matmulAt(mm, i))
		case KindDepthwise:
			var pad []uint8
			if l.win.copied {
				pad = ws.pads[l.win.slot]
			}
			for j := range nb {
				l.depthwise(dst[j*outPer:(j+1)*outPer], x0[j*inPer:(j+1)*inPer], pad, ws.tmp)
			}
		case KindMaxPool:
			for j := range nb {
				maxPoolGeomHWC(dst[j*outPer:(j+1)*outPer], x0[j*inPer:(j+1)*inPer], l)
			}
		case KindGlobalAvgPool, KindGlobalMaxPool:
			c, hw := l.In[0], l.In[1]*l.In[2]
			for j := range nb {
				globalPoolHWC(dst[j*c:(j+1)*c], x0[j*inPer:(j+1)*inPer], c, hw, l.Kind == KindGlobalMaxPool, ws.tmp)
			}
		case KindAdd:
			xs := make([][]uint8, len(l.Inputs))
			for k, s := range l.Inputs {
				xs[k] = src(s)[:nb*outPer]
			}
			l.addCodes(dst, xs)
		case KindConcat:
			l.concatHWC(dst, nb, src)
		case KindReLU, KindClip:
			lo, hi := l.ClampLo, l.ClampHi
			for j, v := range x0[:nb*outPer] {
				dst[j] = max(lo, min(hi, v))
			}
		case KindFlatten, KindReshape:
			if !l.transpose {
				dst = x0[:nb*outPer]
				break
			}
			for j := range nb {
				l.reshapeHWC(dst[j*outPer:(j+1)*outPer], x0[j*inPer:(j+1)*inPer], ws.act[1][:inPer])
			}
		}
		ws.outs[i] = dst
	}
	clear(ws.outs)
}

// im2rowGeomHWC is im2rowHWC for a graph Conv2D with any padding and
// dilation: the rows of dst [oh·ow, k·k·C] in (ki, kj, c) order, the input
// zero point where a tap leaves the image. It takes im2rowHWC's faster
// runs when the padding is symmetric and the taps adjacent.
func im2rowGeomHWC(dst, src []uint8, l *Layer, oh, ow int) {
	c, h, w := l.In[0], l.In[1], l.In[2]
	k, s, d, p := l.Kernel, l.Stride, l.Dilation, l.Pads
	if d == 1 && p[0] == p[1] && p[1] == p[2] && p[2] == p[3] {
		im2rowHWC(dst, src, c, h, w, k, s, p[0], oh, ow, l.InZero)
		return
	}
	at := 0
	for oy := range oh {
		for ox := range ow {
			for ki := range k {
				y := oy*s - p[0] + ki*d
				for kj := range k {
					x := ox*s - p[1] + kj*d
					if y < 0 || y >= h || x < 0 || x >= w {
						fill(dst[at:at+c], l.InZero)
					} else {
						copy(dst[at:at+c], src[(y*w+x)*c:(y*w+x+1)*c])
					}
					at += c
				}
			}
		}
	}
}

// maxPoolGeomHWC max-pools one [H, W, C] image into dst [oh, ow, C] with
// l's window; taps in the padding never win.
func maxPoolGeomHWC(dst, src []uint8, l *Layer) {
	c, h, w := l.In[0], l.In[1], l.In[2]
	oh, ow := l.Out[1], l.Out[2]
	k, s, p := l.Kernel, l.Stride, l.Pads
	for oy := range oh {
		for ox := range ow {
			d := dst[(oy*ow+ox)*c : (oy*ow+ox+1)*c]
			clear(d)
			for ki := range k {
				y := oy*s - p[0] + ki
				if y < 0 || y >= h {
					continue
				}
				for kj := range k {
					x := ox*s - p[1] + kj
					if x < 0 || x >= w {
						continue
					}
					row := src[(y*w+x)*c : (y*w+x+1)*c]
					row = row[:len(d)]
					for j, v := range row {
						d[j] = max(d[j], v)
					}
				}
			}
		}
	}
}

// globalPoolHWC averages (rounding half up: the code of the mean is the
// mean of the codes, as the grid is affine; the sums by fixed.SumRows) or
// takes the maximum of each channel of one [H, W, C] image into dst [C].
// sum holds C values.
func globalPoolHWC(dst, src []uint8, c, hw int, isMax bool, sum []int32) {
	s := sum[:c]
	if !isMax {
		fixed.SumRows(s, src[:hw*c], c)
	} else {
		clear(s)
		for p := range hw {
			row := src[p*c : (p+1)*c]
			row = row[:len(s)]
			for j, v := range row {
				s[j] = max(s[j], int32(v))
			}
		}
	}
	for j, v := range s {
		if !isMax {
			v = roundMean(v, hw)
		}
		dst[j] = uint8(v)
	}
}

// roundMean returns sum/n rounded half up, for sum ≥ 0 and n > 0.
func roundMean(sum int32, n int) int32 {
	return int32((2*int64(sum) + int64(n)) / (2 * int64(n)))
}

// addCodes adds the inputs xs element-wise into dst (one layout for all):
//
//	t_k = MultiplyByQuantizedMultiplier((x_k − InZeros[k])·2^addShift, Mult[k], Shift[k])
//	q   = clamp(MultiplyByQuantizedMultiplier(Σ t_k, AddMult, AddShift) + OutZero, ClampLo, ClampHi)
//
// with each t_k looked up by its code.
func (l *Layer) addCodes(dst []uint8, xs [][]uint8) {
	zero, lo, hi := int32(l.OutZero), int32(l.ClampLo), int32(l.ClampHi)
	if t := l.add2; t != nil && len(xs) == 2 {
		// The output code depends on the two input codes only: one look-up
		// in a 64 KiB table of the same arithmetic (tabulateAdd2),
		// gathered sixteen codes at a time.
		fixed.Lookup2(dst, xs[0], xs[1], t)
		return
	}
	for j := range dst {
		var s int32
		for k, x := range xs {
			s += l.addLUT[k][x[j]]
		}
		dst[j] = uint8(max(lo, min(hi, l.sum.Apply(s)+zero)))
	}
}

// tabulateAdd2 returns a two-input Add's output code for every pair of
// input codes, indexed a<<8 | b, computed as addCodes computes one.
func (l *Layer) tabulateAdd2() *[1 << 16]uint8 {
	zero, lo, hi := int32(l.OutZero), int32(l.ClampLo), int32(l.ClampHi)
	t := new([1 << 16]uint8)
	ta, tb := &l.addLUT[0], &l.addLUT[1]
	for i := range t {
		t[i] = uint8(max(lo, min(hi, l.sum.Apply(ta[i>>8]+tb[i&0xff])+zero)))
	}
	return t
}

// requantRun writes the codes src of input k of a Concat into dst on the
// output grid: a copy when the grids agree, else the code
// clamp(MultiplyByQuantizedMultiplier(x − InZeros[k], Mult[k], Shift[k]) + OutZero, 0, 255)
// looked up.
func (l *Layer) requantRun(dst, src []uint8, k int) {
	if l.InScales[k] == l.OutScale && l.InZeros[k] == l.OutZero {
		copy(dst, src)
		return
	}
	t := &l.catLUT[k]
	src = src[:len(dst)]
	for j, v := range src {
		dst[j] = t[v]
	}
}

// concatHWC joins the inputs of a Concat along channels for nb images:
// per pixel for [C, H, W] shapes (stored [H, W, C]), per image otherwise.
func (l *Layer) concatHWC(dst []uint8, nb int, src func(int) []uint8) {
	np := 1
	if len(l.Out) == 3 {
		np = l.Out[1] * l.Out[2]
	}
	total := prod(l.Out) / np
	off := 0
	for k, s := range l.Inputs {
		x := src(s)
		ck := prod(l.inShapes[k]) / np
		for p := range nb * np {
			l.requantRun(dst[p*total+off:p*total+off+ck], x[p*ck:(p+1)*ck], k)
		}
		off += ck
	}
}

// reshapeHWC writes one image's activation src from its input's fast-path
// order to its output's: through [C, H, W] order in tmp when both are
// spatial.
func (l *Layer) reshapeHWC(dst, src, tmp []uint8) {
	if spatial(l.In) {
		c, hw := l.In[0], l.In[1]*l.In[2]
		t := dst
		if spatial(l.Out) {
			t = tmp
		}
		hwcToCHW(t, src, c, hw)
		src = t
	}
	if spatial(l.Out) {
		chwToHWC(dst, src, l.Out[0], l.Out[1]*l.Out[2])
		return
	}
	copy(dst, src)
}

// hwcToCHW writes the [H, W, C] image src as [C, H, W] into dst.
func hwcToCHW(dst, src []uint8, c, hw int) {
	for ch := range c {
		d := dst[ch*hw : (ch+1)*hw]
		for p := range d {
			d[p] = src[p*c+ch]
		}
	}
}
