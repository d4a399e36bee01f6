package qnn

import (
	"context"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/compress/fixed"
	"github.com/compressq/compressq/compress/nn"
	"gorgonia.org/tensor"
)

// Forward runs the model in integers on x, uint8 input codes of shape
// [N, input...] flattened (N whole samples), and returns the int32 logits
// [N, Classes]; real logits are LogitScale times them. Each Conv2D is one
// im2row and one fused GEMM-requantize call over the whole batch, with
// weights packed at Quantize.
func (m *Model) Forward(x []uint8) ([]int32, error) {
	n, err := m.checkInput(x)
	if err != nil {
		return nil, err
	}
	opt := fixed.Options{Threads: m.threads}
	cur := x
	var logits []int32
	for _, l := range m.Layers {
		switch l.Kind {
		case KindConv:
			oc, oh, ow := l.Out[0], l.Out[1], l.Out[2]
			np, k := oh*ow, l.packed.K()
			a := make([]uint8, n*np*k)
			for i := range n {
				im2row(cur[i*prod(l.In):(i+1)*prod(l.In)], l.In, l.Kernel, l.Stride, l.Pad, oh, ow, l.InZero, a[i*np*k:(i+1)*np*k])
			}
			if l.Logits {
				acc := make([]int32, n*np*oc)
				fixed.GEMM(n*np, a, k, l.InZero, l.packed, acc, oc, opt)
				logits = rescaleLogits(acc, l)
				logits = nhwcToNCHW32(logits, n, np, oc)
				continue
			}
			y := make([]uint8, n*np*oc)
			fixed.GEMMRequantUint8(n*np, a, k, l.InZero, l.packed, l.rq, y, oc, opt)
			cur = nhwcToNCHW(y, n, np, oc)
		case KindDense:
			k, oc := l.packed.K(), l.packed.N()
			if l.Logits {
				acc := make([]int32, n*oc)
				fixed.GEMM(n, cur, k, l.InZero, l.packed, acc, oc, opt)
				logits = rescaleLogits(acc, l)
				continue
			}
			y := make([]uint8, n*oc)
			fixed.GEMMRequantUint8(n, cur, k, l.InZero, l.packed, l.rq, y, oc, opt)
			cur = y
		case KindMaxPool:
			cur = maxPoolU8(cur, n, l.In, l.Out, l.Kernel, l.Stride)
		case KindFlatten:
		case KindReLU:
			y := make([]uint8, len(cur))
			for i, v := range cur {
				y[i] = max(v, l.InZero)
			}
			cur = y
		}
	}
	return logits, nil
}

// rescaleLogits adds the bias to accumulators [rows, out] and rescales each
// column to the logit scale with its fixed-point multiplier.
func rescaleLogits(acc []int32, l *Layer) []int32 {
	out := len(l.Bias)
	for i := range acc {
		o := i % out
		acc[i] = fixed.MultiplyByQuantizedMultiplier(acc[i]+l.Bias[o], l.Mult[o], l.Shift[o])
	}
	return acc
}

// im2row writes the patches of one image src [C, H, W] as the rows of dst
// [oh·ow, C·k·k] (column order c, ki, kj, matching OIHW weights), reading
// the zero point where the window leaves the padded image.
func im2row(src []uint8, in []int, k, stride, pad, oh, ow int, zero uint8, dst []uint8) {
	c, h, w := in[0], in[1], in[2]
	kk := c * k * k
	for oy := range oh {
		for ox := range ow {
			row := dst[(oy*ow+ox)*kk : (oy*ow+ox+1)*kk]
			y0, x0 := oy*stride-pad, ox*stride-pad
			inside := y0 >= 0 && x0 >= 0 && y0+k <= h && x0+k <= w
			j := 0
			for ch := range c {
				plane := src[ch*h*w : (ch+1)*h*w]
				for ki := range k {
					y := y0 + ki
					if inside {
						copy(row[j:j+k], plane[y*w+x0:y*w+x0+k])
						j += k
						continue
					}
					for kj := range k {
						x := x0 + kj
						if y < 0 || y >= h || x < 0 || x >= w {
							row[j] = zero
						} else {
							row[j] = plane[y*w+x]
						}
						j++
					}
				}
			}
		}
	}
}

// nhwcToNCHW transposes n blocks of [np, c] into [c, np].
func nhwcToNCHW(y []uint8, n, np, c int) []uint8 {
	out := make([]uint8, len(y))
	for i := range n {
		src, dst := y[i*np*c:(i+1)*np*c], out[i*np*c:(i+1)*np*c]
		for p := range np {
			for ch := range c {
				dst[ch*np+p] = src[p*c+ch]
			}
		}
	}
	return out
}

func nhwcToNCHW32(y []int32, n, np, c int) []int32 {
	out := make([]int32, len(y))
	for i := range n {
		src, dst := y[i*np*c:(i+1)*np*c], out[i*np*c:(i+1)*np*c]
		for p := range np {
			for ch := range c {
				dst[ch*np+p] = src[p*c+ch]
			}
		}
	}
	return out
}

// maxPoolU8 is max pooling on uint8 codes, [n, C, H, W] → [n, C, OH, OW].
func maxPoolU8(x []uint8, n int, in, out []int, k, stride int) []uint8 {
	c, h, w := in[0], in[1], in[2]
	oh, ow := out[1], out[2]
	y := make([]uint8, n*c*oh*ow)
	for p := range n * c {
		src, dst := x[p*h*w:(p+1)*h*w], y[p*oh*ow:(p+1)*oh*ow]
		for oy := range oh {
			for ox := range ow {
				m := uint8(0)
				for ki := range k {
					for _, v := range src[(oy*stride+ki)*w+ox*stride : (oy*stride+ki)*w+ox*stride+k] {
						m = max(m, v)
					}
				}
				dst[oy*ow+ox] = m
			}
		}
	}
	return y
}

// Evaluation is the accuracy of one way of running a model on a data set.
type Evaluation struct {
	Correct, Total int
}

// Accuracy returns Correct/Total.
func (e Evaluation) Accuracy() float64 {
	if e.Total == 0 {
		return 0
	}
	return float64(e.Correct) / float64(e.Total)
}

// Path selects how Evaluate runs a model.
type Path int

const (
	// PathInt is Model.Forward, the fast integer path.
	PathInt Path = iota
	// PathRef is Model.ForwardRef, the reference integer path.
	PathRef
	// PathFake is Model.FakeQuant, the float simulation.
	PathFake
)

// Evaluate returns the top-1 accuracy of m on set (normalized images,
// quantized with QuantizeInput for the integer paths), in batches of 256.
func Evaluate(ctx context.Context, m *Model, set *data.Dataset, path Path) (Evaluation, error) {
	if set == nil || set.Len() == 0 {
		return Evaluation{}, errEmpty
	}
	var ev Evaluation
	for x, y := range set.Batches(256, nil) {
		if err := ctx.Err(); err != nil {
			return Evaluation{}, err
		}
		var pred []int
		switch path {
		case PathFake:
			logits, err := m.FakeQuant(x)
			if err != nil {
				return Evaluation{}, err
			}
			if pred, err = nn.Argmax(logits); err != nil {
				return Evaluation{}, err
			}
		default:
			fwd := m.Forward
			if path == PathRef {
				fwd = m.ForwardRef
			}
			logits, err := fwd(m.QuantizeInput(x.Float32s()))
			if err != nil {
				return Evaluation{}, err
			}
			pred = Argmax(logits, m.Classes)
		}
		for i, p := range pred {
			if p == y[i] {
				ev.Correct++
			}
		}
		ev.Total += len(y)
	}
	return ev, nil
}

// asDense wraps float32 data in a tensor of the given shape.
func asDense(v []float32, shape ...int) *tensor.Dense {
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(v))
}
