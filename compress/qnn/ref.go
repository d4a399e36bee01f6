package qnn

import (
	"math"

	"github.com/compressq/compressq/compress/fixed"
)

// ForwardRef computes Forward with the simplest loops: the convolution
// patch gathered element by element, fixed.GEMMRef on the unpacked weights,
// and the scalar requantization
//
//	q = clamp(MultiplyByQuantizedMultiplier(acc + bias, mult[o], shift[o]) + zero, lo, 255)
//
// with lo the output zero point under a fused ReLU and 0 otherwise. Forward
// must equal it bit for bit. For a graph model (see Model.Graph) it runs
// every layer over the whole batch with scalar loops instead (graphref.go):
// the grouped convolution sum per output channel and pixel, the Add and
// Concat rescaling element by element.
func (m *Model) ForwardRef(x []uint8) ([]int32, error) {
	n, err := m.checkInput(x)
	if err != nil {
		return nil, err
	}
	if m.graph {
		return m.forwardRefGraph(x, n), nil
	}
	cur := x
	var logits []int32
	for _, l := range m.Layers {
		switch l.Kind {
		case KindConv, KindDense:
			cur, logits = refAffine(l, cur, n)
		case KindMaxPool:
			cur = refMaxPool(l, cur, n)
		case KindFlatten:
		case KindReLU:
			y := make([]uint8, len(cur))
			for i, v := range cur {
				if v < l.InZero {
					v = l.InZero
				}
				y[i] = v
			}
			cur = y
		}
	}
	return logits, nil
}

// refAffine runs one Dense or Conv2D layer per image and output pixel.
func refAffine(l *Layer, x []uint8, n int) ([]uint8, []int32) {
	out := len(l.Bias)
	k := len(l.wt) / out
	oh, ow := 1, 1
	if l.Kind == KindConv {
		oh, ow = l.Out[1], l.Out[2]
	}
	per := 1
	for _, d := range l.In {
		per *= d
	}
	np := oh * ow
	patch := make([]uint8, k)
	acc := make([]int32, out)
	var y []uint8
	var logits []int32
	if l.Logits {
		logits = make([]int32, n*out*np)
	} else {
		y = make([]uint8, n*out*np)
	}
	for i := range n {
		img := x[i*per : (i+1)*per]
		for p := range np {
			if l.Kind == KindConv {
				refPatch(l, img, p/ow, p%ow, patch)
			} else {
				copy(patch, img)
			}
			fixed.GEMMRef(1, out, k, patch, k, l.InZero, l.wt, out, acc, out)
			for o, a := range acc {
				v := fixed.MultiplyByQuantizedMultiplier(a+l.Bias[o], l.Mult[o], l.Shift[o])
				at := (i*out+o)*np + p
				if l.Logits {
					logits[at] = v
					continue
				}
				q := int64(v) + int64(l.OutZero)
				lo := int64(0)
				if l.ReLU {
					lo = int64(l.OutZero)
				}
				q = max(lo, min(math.MaxUint8, q))
				y[at] = uint8(q)
			}
		}
	}
	return y, logits
}

// refPatch gathers the input window of output pixel (oy, ox) in (c, ki, kj)
// order, with the input zero point outside the image.
func refPatch(l *Layer, img []uint8, oy, ox int, patch []uint8) {
	c, h, w := l.In[0], l.In[1], l.In[2]
	j := 0
	for ch := 0; ch < c; ch++ {
		for ki := 0; ki < l.Kernel; ki++ {
			for kj := 0; kj < l.Kernel; kj++ {
				y := oy*l.Stride - l.Pad + ki
				x := ox*l.Stride - l.Pad + kj
				v := l.InZero
				if y >= 0 && y < h && x >= 0 && x < w {
					v = img[(ch*h+y)*w+x]
				}
				patch[j] = v
				j++
			}
		}
	}
}

// refMaxPool takes the largest code of each window.
func refMaxPool(l *Layer, x []uint8, n int) []uint8 {
	c, h, w := l.In[0], l.In[1], l.In[2]
	oh, ow := l.Out[1], l.Out[2]
	y := make([]uint8, n*c*oh*ow)
	for i := 0; i < n; i++ {
		for ch := 0; ch < c; ch++ {
			for oy := 0; oy < oh; oy++ {
				for ox := 0; ox < ow; ox++ {
					var m uint8
					for ki := 0; ki < l.Kernel; ki++ {
						for kj := 0; kj < l.Kernel; kj++ {
							v := x[((i*c+ch)*h+oy*l.Stride+ki)*w+ox*l.Stride+kj]
							if v > m {
								m = v
							}
						}
					}
					y[((i*c+ch)*oh+oy)*ow+ox] = m
				}
			}
		}
	}
	return y
}
