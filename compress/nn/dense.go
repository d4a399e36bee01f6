package nn

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/compressq/compressq/compress/kernels"
	"gorgonia.org/tensor"
)

// Dense is a fully connected layer y = x·Wᵀ + b for x of shape [N, In].
type Dense struct {
	// In and Out are the input and output feature counts.
	In, Out int
	// W is the weight, shape [Out, In]; B the bias, shape [Out].
	W, B *tensor.Dense
	// DW and DB accumulate the gradients of W and B.
	DW, DB *tensor.Dense
}

// NewDense returns a Dense layer initialized like PyTorch's nn.Linear:
// W and B uniform in ±1/√In.
func NewDense(in, out int, r *rand.Rand) *Dense {
	d := &Dense{In: in, Out: out, W: zeros(out, in), B: zeros(out), DW: zeros(out, in), DB: zeros(out)}
	bound := 1 / math.Sqrt(float64(in))
	uniform(r, d.W.Float32s(), bound)
	uniform(r, d.B.Float32s(), bound)
	return d
}

// Spec implements Layer.
func (d *Dense) Spec() LayerSpec { return LayerSpec{Type: TypeDense, Units: d.Out} }

// Params implements Layer: weight, bias.
func (d *Dense) Params() []Param {
	return []Param{{Name: "weight", Value: d.W, Grad: d.DW}, {Name: "bias", Value: d.B, Grad: d.DB}}
}

// Forward implements Layer.
func (d *Dense) Forward(x *tensor.Dense, p Pass) (*tensor.Dense, Backward, error) {
	xs, n, err := checkInput(x, "dense", []int{d.In})
	if err != nil {
		return nil, nil, err
	}
	w, b := d.W.Float32s(), d.B.Float32s()
	ys := make([]float32, n*d.Out)
	for i := 0; i < n; i++ {
		copy(ys[i*d.Out:(i+1)*d.Out], b)
	}
	kernels.Sgemm(false, true, n, d.Out, d.In, 1, xs, d.In, w, d.In, 1, ys, d.Out)
	y := newTensor(ys, n, d.Out)
	if !p.Train {
		return y, nil, nil
	}
	back := func(dy *tensor.Dense) (*tensor.Dense, error) {
		ds, err := checkGrad(dy, "dense", []int{n, d.Out})
		if err != nil {
			return nil, err
		}
		dw, db := d.DW.Float32s(), d.DB.Float32s()
		kernels.Sgemm(true, false, d.Out, d.In, n, 1, ds, d.Out, xs, d.In, 1, dw, d.In)
		for i := 0; i < n; i++ {
			for j, g := range ds[i*d.Out : (i+1)*d.Out] {
				db[j] += g
			}
		}
		dx := make([]float32, n*d.In)
		kernels.Sgemm(false, false, n, d.In, d.Out, 1, ds, d.Out, w, d.In, 0, dx, d.In)
		return newTensor(dx, n, d.In), nil
	}
	return y, back, nil
}

// Conv2D is a 2-D convolution over NCHW input with a square kernel, stride
// and symmetric zero padding: weight [OutC, InC, Kernel, Kernel] (OIHW),
// bias [OutC].
type Conv2D struct {
	// InC and OutC are the input and output channel counts.
	InC, OutC int
	// Kernel is the square kernel size, Stride the step and Pad the zero
	// padding on every side.
	Kernel, Stride, Pad int
	// W is the weight, shape [OutC, InC, Kernel, Kernel]; B the bias [OutC].
	W, B *tensor.Dense
	// DW and DB accumulate the gradients of W and B.
	DW, DB *tensor.Dense
}

// convChunk is the number of images one worker handles at a time; it also
// fixes how weight-gradient partial sums are grouped, so results do not
// depend on the number of workers.
const convChunk = 8

// NewConv2D returns a Conv2D layer initialized like PyTorch's nn.Conv2d:
// W and B uniform in ±1/√(InC·Kernel²). stride 0 means 1.
func NewConv2D(inC, outC, kernel, stride, pad int, r *rand.Rand) *Conv2D {
	if stride <= 0 {
		stride = 1
	}
	c := &Conv2D{InC: inC, OutC: outC, Kernel: kernel, Stride: stride, Pad: pad,
		W: zeros(outC, inC, kernel, kernel), B: zeros(outC), DW: zeros(outC, inC, kernel, kernel), DB: zeros(outC)}
	bound := 1 / math.Sqrt(float64(inC*kernel*kernel))
	uniform(r, c.W.Float32s(), bound)
	uniform(r, c.B.Float32s(), bound)
	return c
}

// Spec implements Layer.
func (c *Conv2D) Spec() LayerSpec {
	return LayerSpec{Type: TypeConv2D, Filters: c.OutC, Kernel: c.Kernel, Stride: c.Stride, Pad: c.Pad}
}

// Params implements Layer: weight, bias.
func (c *Conv2D) Params() []Param {
	return []Param{{Name: "weight", Value: c.W, Grad: c.DW}, {Name: "bias", Value: c.B, Grad: c.DB}}
}

// Forward implements Layer. Images are processed in parallel, each as an
// im2col followed by one GEMM.
func (c *Conv2D) Forward(x *tensor.Dense, p Pass) (*tensor.Dense, Backward, error) {
	sh := x.Shape()
	if len(sh) != 4 || sh[1] != c.InC {
		return nil, nil, fmt.Errorf("conv2d: input shape %v, want [N %d H W]", []int(sh), c.InC)
	}
	xs, err := f32(x, "conv2d input")
	if err != nil {
		return nil, nil, err
	}
	n, h, w := sh[0], sh[2], sh[3]
	k, s, pad := c.Kernel, c.Stride, c.Pad
	oh, ow := kernels.ConvOutSize(h, k, s, pad), kernels.ConvOutSize(w, k, s, pad)
	if h+2*pad < k || w+2*pad < k || oh <= 0 || ow <= 0 {
		return nil, nil, fmt.Errorf("conv2d: kernel %d does not fit input %dx%d with pad %d", k, h, w, pad)
	}
	ckk, np, in := c.InC*k*k, oh*ow, c.InC*h*w
	out := c.OutC * np
	wt, b := c.W.Float32s(), c.B.Float32s()
	ys := make([]float32, n*out)
	forChunks(n, convChunk, func(_, lo, hi int) {
		cols := make([]float32, ckk*np)
		for i := lo; i < hi; i++ {
			kernels.Im2col(xs[i*in:(i+1)*in], c.InC, h, w, k, k, s, pad, cols)
			yi := ys[i*out : (i+1)*out]
			for o, bo := range b {
				row := yi[o*np : (o+1)*np]
				for j := range row {
					row[j] = bo
				}
			}
			kernels.Sgemm(false, false, c.OutC, np, ckk, 1, wt, ckk, cols, np, 1, yi, np)
		}
	})
	y := newTensor(ys, n, c.OutC, oh, ow)
	if !p.Train {
		return y, nil, nil
	}
	back := func(dy *tensor.Dense) (*tensor.Dense, error) {
		ds, err := checkGrad(dy, "conv2d", []int{n, c.OutC, oh, ow})
		if err != nil {
			return nil, err
		}
		chunks := (n + convChunk - 1) / convChunk
		wsz := c.OutC * ckk
		partial := make([]float32, chunks*(wsz+c.OutC))
		dx := make([]float32, n*in)
		forChunks(n, convChunk, func(ci, lo, hi int) {
			dw := partial[ci*(wsz+c.OutC) : ci*(wsz+c.OutC)+wsz]
			db := partial[ci*(wsz+c.OutC)+wsz : (ci+1)*(wsz+c.OutC)]
			cols := make([]float32, ckk*np)
			for i := lo; i < hi; i++ {
				dyi := ds[i*out : (i+1)*out]
				kernels.Im2col(xs[i*in:(i+1)*in], c.InC, h, w, k, k, s, pad, cols)
				kernels.Sgemm(false, true, c.OutC, ckk, np, 1, dyi, np, cols, np, 1, dw, ckk)
				for o := range db {
					var sum float32
					for _, g := range dyi[o*np : (o+1)*np] {
						sum += g
					}
					db[o] += sum
				}
				kernels.Sgemm(true, false, ckk, np, c.OutC, 1, wt, ckk, dyi, np, 0, cols, np)
				kernels.Col2im(cols, c.InC, h, w, k, k, s, pad, dx[i*in:(i+1)*in])
			}
		})
		gw, gb := c.DW.Float32s(), c.DB.Float32s()
		for ci := 0; ci < chunks; ci++ {
			part := partial[ci*(wsz+c.OutC) : (ci+1)*(wsz+c.OutC)]
			for j, v := range part[:wsz] {
				gw[j] += v
			}
			for j, v := range part[wsz:] {
				gb[j] += v
			}
		}
		return newTensor(dx, n, c.InC, h, w), nil
	}
	return y, back, nil
}
