package qnn

import (
	"github.com/compressq/compressq/compress/fixed"
)

// forwardRefGraph is ForwardRef for a graph model: every layer over the
// whole batch with [C, H, W] activations and scalar loops.
func (m *Model) forwardRefGraph(x []uint8, n int) []int32 {
	outs := make([][]uint8, len(m.Layers))
	src := func(s int) []uint8 {
		if s < 0 {
			return x
		}
		return outs[s]
	}
	var logits []int32
	for i, l := range m.Layers {
		x0 := src(l.Inputs[0])
		var y []uint8
		switch l.Kind {
		case KindConv, KindDense, KindDepthwise:
			y, logits = refGraphAffine(l, x0, n)
		case KindMaxPool:
			y = refMaxPoolGeom(l, x0, n)
		case KindGlobalAvgPool, KindGlobalMaxPool:
			c, hw := l.In[0], l.In[1]*l.In[2]
			y = make([]uint8, n*c)
			for p := range y {
				var s int32
				for _, v := range x0[p*hw : (p+1)*hw] {
					if l.Kind == KindGlobalMaxPool {
						s = max(s, int32(v))
					} else {
						s += int32(v)
					}
				}
				if l.Kind == KindGlobalAvgPool {
					s = roundMean(s, hw)
				}
				y[p] = uint8(s)
			}
		case KindAdd:
			y = make([]uint8, n*prod(l.Out))
			for j := range y {
				var s int32
				for k, in := range l.Inputs {
					s += fixed.MultiplyByQuantizedMultiplier((int32(src(in)[j])-int32(l.InZeros[k]))<<addShift, l.Mult[k], l.Shift[k])
				}
				v := fixed.MultiplyByQuantizedMultiplier(s, l.AddMult, l.AddShift) + int32(l.OutZero)
				y[j] = uint8(max(int32(l.ClampLo), min(int32(l.ClampHi), v)))
			}
		case KindConcat:
			per := prod(l.Out)
			y = make([]uint8, n*per)
			for i := range n {
				off := i * per
				for k, in := range l.Inputs {
					pk := prod(l.inShapes[k])
					for _, v := range src(in)[i*pk : (i+1)*pk] {
						q := fixed.MultiplyByQuantizedMultiplier(int32(v)-int32(l.InZeros[k]), l.Mult[k], l.Shift[k]) + int32(l.OutZero)
						y[off] = uint8(max(0, min(255, q)))
						off++
					}
				}
			}
		case KindReLU, KindClip:
			y = make([]uint8, len(x0))
			for j, v := range x0 {
				y[j] = max(l.ClampLo, min(l.ClampHi, v))
			}
		case KindFlatten, KindReshape:
			y = x0
		}
		outs[i] = y
	}
	return logits
}

// refGraphAffine runs a Dense or (grouped, depthwise, padded, dilated)
// Conv2D layer per image, output channel and pixel: the accumulator
// Σ (x − InZero)·w over the channel's group and window, the input zero
// point outside the image, then
//
//	q = clamp(MultiplyByQuantizedMultiplier(acc + bias, mult[o], shift[o]) + OutZero, ClampLo, ClampHi)
//
// or, for the logits layer, the int32 rescaled value.
func refGraphAffine(l *Layer, x []uint8, n int) ([]uint8, []int32) {
	out := len(l.Bias)
	k := len(l.W.Q) / out
	per := prod(l.In)
	oh, ow := 1, 1
	if l.Kind != KindDense {
		oh, ow = l.Out[1], l.Out[2]
	}
	np := oh * ow
	var y []uint8
	var logits []int32
	if l.Logits {
		logits = make([]int32, n*out*np)
	} else {
		y = make([]uint8, n*out*np)
	}
	zin := int32(l.InZero)
	for i := range n {
		img := x[i*per : (i+1)*per]
		for o := range out {
			w := l.W.Q[o*k : (o+1)*k]
			for p := range np {
				var acc int32
				if l.Kind == KindDense {
					for j, v := range img {
						acc += (int32(v) - zin) * int32(w[j])
					}
				} else {
					acc = refConvAt(l, img, o, p/ow, p%ow, w)
				}
				v := fixed.MultiplyByQuantizedMultiplier(acc+l.Bias[o], l.Mult[o], l.Shift[o])
				at := (i*out+o)*np + p
				if l.Logits {
					logits[at] = v
					continue
				}
				y[at] = uint8(max(int32(l.ClampLo), min(int32(l.ClampHi), v+int32(l.OutZero))))
			}
		}
	}
	return y, logits
}

// refConvAt returns the accumulator of output channel o at pixel (oy, ox)
// of a [C, H, W] image, w being o's weights [C/Groups, k, k].
func refConvAt(l *Layer, img []uint8, o, oy, ox int, w []int8) int32 {
	c, h, wd := l.In[0], l.In[1], l.In[2]
	cpg := c / l.Groups
	g := o / (len(l.Bias) / l.Groups)
	zin := int32(l.InZero)
	var acc int32
	for cc := range cpg {
		ch := g*cpg + cc
		for ki := range l.Kernel {
			for kj := range l.Kernel {
				y := oy*l.Stride - l.Pads[0] + ki*l.Dilation
				x := ox*l.Stride - l.Pads[1] + kj*l.Dilation
				v := zin
				if y >= 0 && y < h && x >= 0 && x < wd {
					v = int32(img[(ch*h+y)*wd+x])
				}
				acc += (v - zin) * int32(w[(cc*l.Kernel+ki)*l.Kernel+kj])
			}
		}
	}
	return acc
}

// refMaxPoolGeom takes the largest code of each window's taps inside the
// image.
func refMaxPoolGeom(l *Layer, x []uint8, n int) []uint8 {
	c, h, w := l.In[0], l.In[1], l.In[2]
	oh, ow := l.Out[1], l.Out[2]
	y := make([]uint8, n*c*oh*ow)
	for i := range n * c {
		for oy := range oh {
			for ox := range ow {
				var m uint8
				for ki := range l.Kernel {
					for kj := range l.Kernel {
						yy, xx := oy*l.Stride-l.Pads[0]+ki, ox*l.Stride-l.Pads[1]+kj
						if yy >= 0 && yy < h && xx >= 0 && xx < w {
							m = max(m, x[(i*h+yy)*w+xx])
						}
					}
				}
				y[(i*oh+oy)*ow+ox] = m
			}
		}
	}
	return y
}
