package nn

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/compressq/compressq/compress/kernels"
	"gorgonia.org/tensor"
)

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

// convChunk is the number of images one worker handles at a time, as one
// GEMM over their concatenated im2col columns; it also fixes how
// weight-gradient partial sums are grouped, so results do not depend on the
// number of workers.
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

// convGeom holds the sizes of one Conv2D call.
type convGeom struct {
	n, h, w, oh, ow  int
	ckk, np, in, out int // im2col rows, output pixels, input and output values per image
}

// unfold writes the im2col columns of images [lo, hi) of xs side by side
// into wide, shape [ckk, (hi-lo)·np], using tmp ([ckk, np]) as scratch.
func (c *Conv2D) unfold(g convGeom, xs []float32, lo, hi int, tmp, wide []float32) {
	nb := hi - lo
	for j := 0; j < nb; j++ {
		i := lo + j
		dst := tmp
		if nb == 1 {
			dst = wide
		}
		kernels.Im2col(xs[i*g.in:(i+1)*g.in], c.InC, g.h, g.w, c.Kernel, c.Kernel, c.Stride, c.Pad, dst)
		if nb == 1 {
			return
		}
		for r := 0; r < g.ckk; r++ {
			copy(wide[r*nb*g.np+j*g.np:r*nb*g.np+(j+1)*g.np], tmp[r*g.np:(r+1)*g.np])
		}
	}
}

// convScratch is one worker's buffers.
type convScratch struct{ tmp, wide, ywide []float32 }

func newConvScratch(g convGeom, outC int) *convScratch {
	return &convScratch{
		tmp:   make([]float32, g.ckk*g.np),
		wide:  make([]float32, g.ckk*convChunk*g.np),
		ywide: make([]float32, outC*convChunk*g.np),
	}
}

// Forward implements Layer. Chunks of convChunk images run in parallel,
// each as an im2col of every image followed by one GEMM
// W[OutC, InC·K·K] · cols[InC·K·K, images·OH·OW].
func (c *Conv2D) Forward(x *tensor.Dense, p Pass) (*tensor.Dense, Backward, error) {
	sh := x.Shape()
	if len(sh) != 4 || sh[1] != c.InC {
		return nil, nil, fmt.Errorf("conv2d: input shape %v, want [N %d H W]", []int(sh), c.InC)
	}
	xs, err := f32(x, "conv2d input")
	if err != nil {
		return nil, nil, err
	}
	g := convGeom{n: sh[0], h: sh[2], w: sh[3]}
	k, s, pad := c.Kernel, c.Stride, c.Pad
	g.oh, g.ow = kernels.ConvOutSize(g.h, k, s, pad), kernels.ConvOutSize(g.w, k, s, pad)
	if g.h+2*pad < k || g.w+2*pad < k || g.oh <= 0 || g.ow <= 0 {
		return nil, nil, fmt.Errorf("conv2d: kernel %d does not fit input %dx%d with pad %d", k, g.h, g.w, pad)
	}
	g.ckk, g.np, g.in = c.InC*k*k, g.oh*g.ow, c.InC*g.h*g.w
	g.out = c.OutC * g.np
	wt, b := c.W.Float32s(), c.B.Float32s()
	ys := make([]float32, g.n*g.out)
	scratch := make([]*convScratch, chunkWorkers(g.n, convChunk))
	forChunks(g.n, convChunk, func(wk, _, lo, hi int) {
		if scratch[wk] == nil {
			scratch[wk] = newConvScratch(g, c.OutC)
		}
		sc := scratch[wk]
		nb := hi - lo
		cols := nb * g.np
		c.unfold(g, xs, lo, hi, sc.tmp, sc.wide)
		yw := sc.ywide[:c.OutC*cols]
		for o, bo := range b {
			row := yw[o*cols : (o+1)*cols]
			for j := range row {
				row[j] = bo
			}
		}
		kernels.SgemmSerial(false, false, c.OutC, cols, g.ckk, 1, wt, g.ckk, sc.wide, cols, 1, yw, cols)
		for j := 0; j < nb; j++ {
			yi := ys[(lo+j)*g.out : (lo+j+1)*g.out]
			for o := 0; o < c.OutC; o++ {
				copy(yi[o*g.np:(o+1)*g.np], yw[o*cols+j*g.np:o*cols+(j+1)*g.np])
			}
		}
	})
	y := newTensor(ys, g.n, c.OutC, g.oh, g.ow)
	if !p.Train {
		return y, nil, nil
	}
	return y, func(dy *tensor.Dense, needDx bool) (*tensor.Dense, error) {
		return c.backward(g, xs, dy, needDx)
	}, nil
}

func (c *Conv2D) backward(g convGeom, xs []float32, dy *tensor.Dense, needDx bool) (*tensor.Dense, error) {
	ds, err := checkGrad(dy, "conv2d", []int{g.n, c.OutC, g.oh, g.ow})
	if err != nil {
		return nil, err
	}
	wt := c.W.Float32s()
	chunks := (g.n + convChunk - 1) / convChunk
	wsz := c.OutC * g.ckk
	psz := wsz + c.OutC
	partial := make([]float32, chunks*psz)
	var dx []float32
	if needDx {
		dx = make([]float32, g.n*g.in)
	}
	scratch := make([]*convScratch, chunkWorkers(g.n, convChunk))
	forChunks(g.n, convChunk, func(wk, ci, lo, hi int) {
		if scratch[wk] == nil {
			scratch[wk] = newConvScratch(g, c.OutC)
		}
		sc := scratch[wk]
		nb := hi - lo
		cols := nb * g.np
		dw := partial[ci*psz : ci*psz+wsz]
		db := partial[ci*psz+wsz : (ci+1)*psz]
		dyw := sc.ywide[:c.OutC*cols]
		for j := 0; j < nb; j++ {
			dyi := ds[(lo+j)*g.out : (lo+j+1)*g.out]
			for o := 0; o < c.OutC; o++ {
				copy(dyw[o*cols+j*g.np:o*cols+(j+1)*g.np], dyi[o*g.np:(o+1)*g.np])
			}
		}
		for o := range db {
			var sum float32
			for _, v := range dyw[o*cols : (o+1)*cols] {
				sum += v
			}
			db[o] = sum
		}
		c.unfold(g, xs, lo, hi, sc.tmp, sc.wide)
		kernels.SgemmSerial(false, true, c.OutC, g.ckk, cols, 1, dyw, cols, sc.wide, cols, 0, dw, g.ckk)
		if !needDx {
			return
		}
		kernels.SgemmSerial(true, false, g.ckk, cols, c.OutC, 1, wt, g.ckk, dyw, cols, 0, sc.wide, cols)
		for j := 0; j < nb; j++ {
			src := sc.wide
			if nb > 1 {
				src = sc.tmp
				for r := 0; r < g.ckk; r++ {
					copy(src[r*g.np:(r+1)*g.np], sc.wide[r*cols+j*g.np:r*cols+(j+1)*g.np])
				}
			}
			i := lo + j
			kernels.Col2im(src, c.InC, g.h, g.w, c.Kernel, c.Kernel, c.Stride, c.Pad, dx[i*g.in:(i+1)*g.in])
		}
	})
	gw, gb := c.DW.Float32s(), c.DB.Float32s()
	for ci := 0; ci < chunks; ci++ {
		part := partial[ci*psz : (ci+1)*psz]
		for j, v := range part[:wsz] {
			gw[j] += v
		}
		for j, v := range part[wsz:] {
			gb[j] += v
		}
	}
	if !needDx {
		return nil, nil
	}
	return newTensor(dx, g.n, c.InC, g.h, g.w), nil
}
