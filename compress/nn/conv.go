package nn

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/compressq/compressq/compress/kernels"
	"gorgonia.org/tensor"
)

// Conv2D is a 2-D convolution over NCHW input with a square kernel, stride,
// zero padding, channel groups and dilation: weight [OutC, InC/Groups,
// Kernel, Kernel] (OIHW, the PyTorch and ONNX layout), bias [OutC].
//
// With G groups, input channels [g·InC/G, (g+1)·InC/G) feed only output
// channels [g·OutC/G, (g+1)·OutC/G). Groups == InC (> 1) is a depthwise
// convolution, computed by a direct loop over the window; other
// convolutions run as im2col and one GEMM per group.
type Conv2D struct {
	// InC and OutC are the input and output channel counts.
	InC, OutC int
	// Kernel is the square kernel size, Stride the step and Pad the zero
	// padding on every side (unless Pads is set).
	Kernel, Stride, Pad int
	// Groups is the number of channel groups; 0 and 1 both mean one.
	Groups int
	// Dilation is the spacing of the kernel taps; 0 and 1 both mean
	// adjacent taps.
	Dilation int
	// Pads, if not zero, is the padding [top, left, bottom, right] and
	// overrides Pad. Layers built by NewLayer keep symmetric padding in Pad
	// and set Pads only when the sides differ.
	Pads Pads
	// W is the weight, shape [OutC, InC/Groups, Kernel, Kernel]; B the bias
	// [OutC].
	W, B *tensor.Dense
	// DW and DB accumulate the gradients of W and B.
	DW, DB *tensor.Dense
}

// convChunk is the number of images one worker handles at a time (images
// with fewer than convWide output pixels as one GEMM over their
// concatenated im2col columns); it also fixes how weight-gradient partial
// sums are grouped, so results do not depend on the number of workers.
const convChunk = 8

// NewConv2D returns an ungrouped, undilated Conv2D layer initialized like
// PyTorch's nn.Conv2d: W and B uniform in ±1/√(InC·Kernel²). stride 0 means
// 1. NewLayer builds the general form from a LayerSpec.
func NewConv2D(inC, outC, kernel, stride, pad int, r *rand.Rand) *Conv2D {
	return newConv2D(inC, LayerSpec{Type: TypeConv2D, Filters: outC, Kernel: kernel, Stride: stride, Pad: pad}, r)
}

// newConv2D builds the conv2d of spec s for inC input channels, initialized
// like PyTorch: W and B uniform in ±1/√fan_in, fan_in = InC/Groups·Kernel².
// s must be valid for inC.
func newConv2D(inC int, s LayerSpec, r *rand.Rand) *Conv2D {
	k, g := s.Kernel, s.groups()
	c := &Conv2D{InC: inC, OutC: s.Filters, Kernel: k, Stride: s.stride(), Groups: g, Dilation: s.dilation()}
	c.Pad, c.Pads = splitPads(s.pads())
	c.W, c.DW = zeros(c.OutC, inC/g, k, k), zeros(c.OutC, inC/g, k, k)
	c.B, c.DB = zeros(c.OutC), zeros(c.OutC)
	bound := 1 / math.Sqrt(float64(inC/g*k*k))
	uniform(r, c.W.Float32s(), bound)
	uniform(r, c.B.Float32s(), bound)
	return c
}

// Spec implements Layer. Groups and Dilation appear only when above 1, Pads
// only when the sides differ.
func (c *Conv2D) Spec() LayerSpec {
	s := LayerSpec{Type: TypeConv2D, Filters: c.OutC, Kernel: c.Kernel, Stride: c.Stride}
	s.Pad, s.Pads = splitPads(c.pads())
	if c.groups() > 1 {
		s.Groups = c.groups()
	}
	if c.dilation() > 1 {
		s.Dilation = c.dilation()
	}
	return s
}

func (c *Conv2D) groups() int   { return max(1, c.Groups) }
func (c *Conv2D) dilation() int { return max(1, c.Dilation) }

// pads returns the effective padding [top, left, bottom, right].
func (c *Conv2D) pads() Pads {
	if c.Pads != (Pads{}) {
		return c.Pads
	}
	return Pads{c.Pad, c.Pad, c.Pad, c.Pad}
}

// depthwise reports whether c runs the direct depthwise loop: more than one
// group, one input channel each.
func (c *Conv2D) depthwise() bool { return c.groups() > 1 && c.groups() == c.InC }

// Extensions names the features c uses beyond an ungrouped, undilated,
// symmetrically padded convolution — "grouped", "dilated", "asymmetrically
// padded" — for packages that handle only that plain form and must refuse
// the others. It is empty for a plain convolution.
func (c *Conv2D) Extensions() []string {
	var e []string
	if c.groups() > 1 {
		e = append(e, "grouped")
	}
	if c.dilation() > 1 {
		e = append(e, "dilated")
	}
	if !c.pads().symmetric() {
		e = append(e, "asymmetrically padded")
	}
	return e
}

// kgeom returns the kernel geometry of c over one [InC, h, w] image.
func (c *Conv2D) kgeom(h, w int) kernels.ConvGeom {
	p := c.pads()
	return kernels.ConvGeom{C: c.InC, H: h, W: w, KH: c.Kernel, KW: c.Kernel, Stride: c.Stride,
		Dilation: c.dilation(), PadTop: p[0], PadLeft: p[1], PadBottom: p[2], PadRight: p[3]}
}

// Params implements Layer: weight, bias.
func (c *Conv2D) Params() []Param {
	return []Param{{Name: "weight", Value: c.W, Grad: c.DW}, {Name: "bias", Value: c.B, Grad: c.DB}}
}

// convGeom holds the sizes of one Conv2D call.
type convGeom struct {
	n, h, w, oh, ow  int
	ckk, np, in, out int // im2col rows, output pixels, input and output values per image
	kg               kernels.ConvGeom
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
		kernels.Im2colGeom(xs[i*g.in:(i+1)*g.in], g.kg, dst)
		if nb == 1 {
			return
		}
		for r := 0; r < g.ckk; r++ {
			copy(wide[r*nb*g.np+j*g.np:r*nb*g.np+(j+1)*g.np], tmp[r*g.np:(r+1)*g.np])
		}
	}
}

// Forward implements Layer. Chunks of convChunk images run in parallel.
// A depthwise convolution runs the direct loop of kernels.DepthwiseConv2D
// on each image; any other runs an im2col of every image of the chunk
// followed by one GEMM per group g,
// W_g[OutC/G, InC/G·K·K] · cols_g[InC/G·K·K, images·OH·OW].
func (c *Conv2D) Forward(x *tensor.Dense, p Pass) (*tensor.Dense, Backward, error) {
	return c.forward(x, p, c.depthwise())
}

// geometry checks the input x against c and returns its data and sizes.
func (c *Conv2D) geometry(x *tensor.Dense) ([]float32, convGeom, error) {
	sh := x.Shape()
	if len(sh) != 4 || sh[1] != c.InC {
		return nil, convGeom{}, fmt.Errorf("conv2d: input shape %v, want [N %d H W]", []int(sh), c.InC)
	}
	xs, err := f32(x, "conv2d input")
	if err != nil {
		return nil, convGeom{}, err
	}
	gr := c.groups()
	if c.InC%gr != 0 || c.OutC%gr != 0 || c.W.Len() != c.OutC*c.InC/gr*c.Kernel*c.Kernel || c.B.Len() != c.OutC {
		return nil, convGeom{}, fmt.Errorf("conv2d: %d→%d channels in %d groups with W %v and B %v", c.InC, c.OutC, gr, c.W.Shape(), c.B.Shape())
	}
	g := convGeom{n: sh[0], h: sh[2], w: sh[3], kg: c.kgeom(sh[2], sh[3])}
	k, p := c.Kernel, c.pads()
	if k <= 0 || c.Stride <= 0 || min(p[0], p[1], p[2], p[3]) < 0 {
		return nil, convGeom{}, fmt.Errorf("conv2d: kernel %d, stride %d, pads %v", k, c.Stride, p)
	}
	g.oh, g.ow = g.kg.Out()
	if g.oh <= 0 || g.ow <= 0 {
		return nil, convGeom{}, fmt.Errorf("conv2d: kernel %d (dilation %d) does not fit input %dx%d with pads %v", k, c.dilation(), g.h, g.w, c.pads())
	}
	g.ckk, g.np, g.in = c.InC*k*k, g.oh*g.ow, c.InC*g.h*g.w
	g.out = c.OutC * g.np
	return xs, g, nil
}

// forward is Forward with the algorithm chosen: the direct depthwise loop,
// or im2col and GEMM (which benchmarks compare on depthwise layers).
func (c *Conv2D) forward(x *tensor.Dense, p Pass, direct bool) (*tensor.Dense, Backward, error) {
	xs, g, err := c.geometry(x)
	if err != nil {
		return nil, nil, err
	}
	if direct && !c.depthwise() {
		return nil, nil, fmt.Errorf("conv2d: the direct loop needs a depthwise conv, not %d groups of %d channels", c.groups(), c.InC)
	}
	var y *tensor.Dense
	if direct {
		y = c.forwardDepthwise(g, xs, c.W.Float32s(), c.B.Float32s())
	} else {
		inf := float32(math.Inf(1))
		y = c.forwardGEMM(g, xs, c.W.Float32s(), c.B.Float32s(), -inf, inf, newFloats)
	}
	if !p.Train {
		return y, nil, nil
	}
	return y, func(dy *tensor.Dense, needDx bool) (*tensor.Dense, error) {
		if direct {
			return c.backwardDepthwise(g, xs, dy, needDx)
		}
		return c.backward(g, xs, dy, needDx)
	}, nil
}

// convWide is the number of output pixels from which one image's im2col
// columns make a GEMM wide enough on their own: such an image's GEMM then
// writes its output in place. Narrower images are batched convChunk at a
// time, side by side, and their outputs copied out.
const convWide = 128

// forwardGEMM computes the convolution with weights wt and bias b (c's own,
// or folded with a batch norm) as im2col and one GEMM per group, and clamps
// the output to [lo, hi] (±Inf for no activation) while it is in cache. A
// 1×1 convolution with stride 1 and no padding reads the image itself as
// its im2col matrix. alloc supplies the output buffer, which every path
// overwrites in full.
func (c *Conv2D) forwardGEMM(g convGeom, xs, wt, b []float32, lo, hi float32, alloc func(int) []float32) *tensor.Dense {
	gr := c.groups()
	ocg, kg := c.OutC/gr, g.ckk/gr // output channels and im2col rows per group
	pointwise := c.pointwise()
	if kernels.ShiftedWindows(g.kg, ocg) {
		return c.forwardShifted(g, xs, wt, b, lo, hi, alloc)
	}
	ys := alloc(g.n * g.out)
	forChunks(g.n, convChunk, func(_, _, lo0, hi0 int) {
		if g.np >= convWide {
			var cols []float32
			var rows []int
			if !pointwise {
				// 32 floats of slack let SgemmOffsetRows read the im2col
				// rows in place instead of packing them.
				buf := getFloats(g.ckk*g.np + 32)
				defer putFloats(buf)
				cols = *buf
				rows = make([]int, kg)
				for p := range rows {
					rows[p] = p * g.np
				}
			}
			for i := lo0; i < hi0; i++ {
				x := xs[i*g.in : (i+1)*g.in]
				if pointwise {
					cols = x
				} else {
					kernels.Im2colGeom(x, g.kg, cols[:g.ckk*g.np])
				}
				yi := ys[i*g.out : (i+1)*g.out]
				if rows != nil {
					for gi := range gr {
						kernels.SgemmOffsetRowsBiasClamp(ocg, g.np, kg, wt[gi*ocg*kg:], kg, cols[gi*kg*g.np:], rows, g.np, g.np,
							b[gi*ocg:], lo, hi, yi[gi*ocg*g.np:], g.np)
					}
					continue
				}
				for gi := range gr {
					kernels.SgemmSerial(false, false, ocg, g.np, kg, 1, wt[gi*ocg*kg:], kg, cols[gi*kg*g.np:], g.np, 0, yi[gi*ocg*g.np:], g.np)
				}
				for o, bo := range b {
					row := yi[o*g.np : (o+1)*g.np]
					kernels.ScaleBiasClamp(row, row, 1, bo, lo, hi)
				}
			}
			return
		}
		nb := hi0 - lo0
		cols := nb * g.np
		tmp, wide, yw := getFloats(g.ckk*g.np), getFloats(g.ckk*cols), getFloats(c.OutC*cols)
		defer putFloats(tmp)
		defer putFloats(wide)
		defer putFloats(yw)
		c.unfold(g, xs, lo0, hi0, *tmp, *wide)
		for gi := range gr {
			kernels.SgemmSerial(false, false, ocg, cols, kg, 1, wt[gi*ocg*kg:], kg, (*wide)[gi*kg*cols:], cols, 0, (*yw)[gi*ocg*cols:], cols)
		}
		for j := 0; j < nb; j++ {
			yi := ys[(lo0+j)*g.out : (lo0+j+1)*g.out]
			for o, bo := range b {
				kernels.ScaleBiasClamp(yi[o*g.np:(o+1)*g.np], (*yw)[o*cols+j*g.np:o*cols+(j+1)*g.np], 1, bo, lo, hi)
			}
		}
	})
	return newTensor(ys, g.n, c.OutC, g.oh, g.ow)
}

// forwardShifted is forwardGEMM for a convolution with at least convWide
// output pixels, without im2col: each image is copied into a zero-padded
// buffer split into stride² phases (kernels.PadPhases; for stride 1 the
// padded image), so the im2col row of (channel, ki, kj) is one phase
// shifted by a fixed offset; the GEMM reads those windows in place over oh
// rows of wq columns and keeps the first ow of each row, adding the bias
// and clamping as it stores (kernels.SgemmOffsetRowsBiasClamp).
func (c *Conv2D) forwardShifted(g convGeom, xs, wt, b []float32, lo, hi float32, alloc func(int) []float32) *tensor.Dense {
	gr := c.groups()
	ocg, kg := c.OutC/gr, g.ckk/gr
	off, nw, wq, size := kernels.PhaseWindows(g.kg)
	ys := alloc(g.n * g.out)
	forChunks(g.n, convChunk, func(_, _, lo0, hi0 int) {
		padded := getFloats(size)
		defer putFloats(padded)
		pad := *padded
		clear(pad) // PadPhases writes only the image's pixels
		for i := lo0; i < hi0; i++ {
			kernels.PadPhases(xs[i*g.in:(i+1)*g.in], g.kg, pad)
			yi := ys[i*g.out : (i+1)*g.out]
			for gi := range gr {
				kernels.SgemmOffsetRowsBiasClamp(ocg, nw, kg, wt[gi*ocg*kg:], kg, pad, off[gi*kg:(gi+1)*kg], wq, g.ow,
					b[gi*ocg:], lo, hi, yi[gi*ocg*g.np:], g.np)
			}
		}
	})
	return newTensor(ys, g.n, c.OutC, g.oh, g.ow)
}

// inferForward is Forward for inference with bn, if not nil, folded into
// the weights, and the output clamped to [lo, hi] (a ReLU or ReLU6 that
// reads only this convolution or its batch norm; ±Inf for none).
func (c *Conv2D) inferForward(x *tensor.Dense, bn *BatchNorm, lo, hi float32, alloc func(int) []float32) (*tensor.Dense, error) {
	xs, g, err := c.geometry(x)
	if err != nil {
		return nil, err
	}
	wt, b := c.W.Float32s(), c.B.Float32s()
	if bn != nil {
		fw, fb := make([]float32, len(wt)), make([]float32, len(b))
		if err := bn.fold(wt, b, fw, fb); err != nil {
			return nil, err
		}
		wt, b = fw, fb
	}
	if !c.depthwise() {
		return c.forwardGEMM(g, xs, wt, b, lo, hi, alloc), nil
	}
	y := c.forwardDepthwise(g, xs, wt, b)
	clampInPlace(y.Float32s(), lo, hi)
	return y, nil
}

// forwardDepthwise computes a depthwise convolution image by image with
// the direct loop.
func (c *Conv2D) forwardDepthwise(g convGeom, xs, wt, b []float32) *tensor.Dense {
	mult := c.OutC / c.InC
	ys := make([]float32, g.n*g.out)
	forChunks(g.n, convChunk, func(_, _, lo, hi int) {
		for i := lo; i < hi; i++ {
			kernels.DepthwiseConv2D(xs[i*g.in:(i+1)*g.in], g.kg, mult, wt, b, ys[i*g.out:(i+1)*g.out])
		}
	})
	return newTensor(ys, g.n, c.OutC, g.oh, g.ow)
}

// backwardDepthwise is the backward pass of forwardDepthwise; like
// backward it sums weight gradients per chunk, then the chunks in order.
func (c *Conv2D) backwardDepthwise(g convGeom, xs []float32, dy *tensor.Dense, needDx bool) (*tensor.Dense, error) {
	ds, err := checkGrad(dy, "conv2d", []int{g.n, c.OutC, g.oh, g.ow})
	if err != nil {
		return nil, err
	}
	wt := c.W.Float32s()
	mult := c.OutC / c.InC
	chunks := (g.n + convChunk - 1) / convChunk
	wsz := len(wt)
	psz := wsz + c.OutC
	partial := make([]float32, chunks*psz)
	var dx []float32
	if needDx {
		dx = make([]float32, g.n*g.in)
	}
	forChunks(g.n, convChunk, func(_, ci, lo, hi int) {
		dw := partial[ci*psz : ci*psz+wsz]
		db := partial[ci*psz+wsz : (ci+1)*psz]
		for i := lo; i < hi; i++ {
			dyi := ds[i*g.out : (i+1)*g.out]
			for o := range db {
				var sum float32
				for _, v := range dyi[o*g.np : (o+1)*g.np] {
					sum += v
				}
				db[o] += sum
			}
			var dxi []float32
			if needDx {
				dxi = dx[i*g.in : (i+1)*g.in]
			}
			kernels.DepthwiseConv2DBackward(xs[i*g.in:(i+1)*g.in], dyi, g.kg, mult, wt, dw, dxi)
		}
	})
	c.addPartials(partial, chunks, wsz)
	if !needDx {
		return nil, nil
	}
	return newTensor(dx, g.n, c.InC, g.h, g.w), nil
}

// addPartials adds the per-chunk weight and bias gradients, each chunk
// holding wsz weight entries then OutC bias entries, into DW and DB in
// chunk order.
func (c *Conv2D) addPartials(partial []float32, chunks, wsz int) {
	gw, gb := c.DW.Float32s(), c.DB.Float32s()
	psz := wsz + c.OutC
	for ci := 0; ci < chunks; ci++ {
		part := partial[ci*psz : (ci+1)*psz]
		for j, v := range part[:wsz] {
			gw[j] += v
		}
		for j, v := range part[wsz:] {
			gb[j] += v
		}
	}
}

func (c *Conv2D) backward(g convGeom, xs []float32, dy *tensor.Dense, needDx bool) (*tensor.Dense, error) {
	ds, err := checkGrad(dy, "conv2d", []int{g.n, c.OutC, g.oh, g.ow})
	if err != nil {
		return nil, err
	}
	wt := c.W.Float32s()
	gr := c.groups()
	ocg, kg := c.OutC/gr, g.ckk/gr
	chunks := (g.n + convChunk - 1) / convChunk
	wsz := len(wt)
	psz := wsz + c.OutC
	partial := make([]float32, chunks*psz)
	var dx []float32
	if needDx {
		dx = make([]float32, g.n*g.in)
	}
	pointwise := c.pointwise()
	// A wide stride-1 convolution gets its input gradient as a convolution
	// of dy (inputGrad), without col2im; the chunks below then do only the
	// weight and bias gradients.
	var dxT *tensor.Dense
	if needDx && g.np >= convWide && c.Stride == 1 && !pointwise {
		dxT = c.inputGrad(g, ds)
		dx = nil
	}
	forChunks(g.n, convChunk, func(_, ci, lo, hi int) {
		dw := partial[ci*psz : ci*psz+wsz]
		db := partial[ci*psz+wsz : (ci+1)*psz]
		if g.np >= convWide {
			c.backwardWide(g, xs, ds, wt, dw, db, dx, lo, hi, pointwise)
			return
		}
		nb := hi - lo
		cols := nb * g.np
		tmp, wide, yw := getFloats(g.ckk*g.np), getFloats(g.ckk*cols), getFloats(c.OutC*cols)
		defer putFloats(tmp)
		defer putFloats(wide)
		defer putFloats(yw)
		dyw := (*yw)[:c.OutC*cols]
		for j := 0; j < nb; j++ {
			dyi := ds[(lo+j)*g.out : (lo+j+1)*g.out]
			for o := 0; o < c.OutC; o++ {
				copy(dyw[o*cols+j*g.np:o*cols+(j+1)*g.np], dyi[o*g.np:(o+1)*g.np])
			}
		}
		for o := range db {
			db[o] = kernels.Sum(dyw[o*cols : (o+1)*cols])
		}
		c.unfold(g, xs, lo, hi, *tmp, *wide)
		for gi := range gr {
			kernels.SgemmSerial(false, true, ocg, kg, cols, 1, dyw[gi*ocg*cols:], cols, (*wide)[gi*kg*cols:], cols, 0, dw[gi*ocg*kg:], kg)
		}
		if !needDx {
			return
		}
		for gi := range gr {
			kernels.SgemmSerial(true, false, kg, cols, ocg, 1, wt[gi*ocg*kg:], kg, dyw[gi*ocg*cols:], cols, 0, (*wide)[gi*kg*cols:], cols)
		}
		for j := 0; j < nb; j++ {
			src := *wide
			if nb > 1 {
				src = *tmp
				for r := 0; r < g.ckk; r++ {
					copy(src[r*g.np:(r+1)*g.np], (*wide)[r*cols+j*g.np:r*cols+(j+1)*g.np])
				}
			}
			i := lo + j
			kernels.Col2imGeom(src, g.kg, dx[i*g.in:(i+1)*g.in])
		}
	})
	c.addPartials(partial, chunks, wsz)
	if !needDx {
		return nil, nil
	}
	if dxT != nil {
		return dxT, nil
	}
	return newTensor(dx, g.n, c.InC, g.h, g.w), nil
}

// inputGrad returns the input gradient of a stride-1 convolution for the
// output gradient ds: the stride-1 convolution of ds with the weights
// flipped in both spatial axes and their channel axes swapped (per group),
// over ds padded by dil·(k−1) − p on each side where the forward padded by
// p, which brings the output back to the input's size. It runs on
// forwardShifted, so it needs no col2im.
func (c *Conv2D) inputGrad(g convGeom, ds []float32) *tensor.Dense {
	gr, k, dil := c.groups(), c.Kernel, c.dilation()
	icg, ocg := c.InC/gr, c.OutC/gr
	p := c.pads()
	span := dil * (k - 1)
	t := &Conv2D{InC: c.OutC, OutC: c.InC, Kernel: k, Stride: 1, Groups: gr, Dilation: dil,
		Pads: Pads{span - p[0], span - p[1], span - p[2], span - p[3]}}
	wt := c.W.Float32s()
	// t's weight [InC, OutC/G, k, k]: t.W[ci][o'][ki][kj] = W[o][ci'][k−1−ki][k−1−kj]
	// with o = group·ocg + o' and ci' = ci − group·icg.
	tw := make([]float32, len(wt))
	for ci := range c.InC {
		grp, cil := ci/icg, ci%icg
		for ol := range ocg {
			o := grp*ocg + ol
			for ki := range k {
				for kj := range k {
					tw[((ci*ocg+ol)*k+ki)*k+kj] = wt[((o*icg+cil)*k+(k-1-ki))*k+(k-1-kj)]
				}
			}
		}
	}
	tg := convGeom{n: g.n, h: g.oh, w: g.ow, oh: g.h, ow: g.w}
	tg.kg = t.kgeom(g.oh, g.ow)
	tg.ckk, tg.np, tg.in = c.OutC*k*k, g.h*g.w, c.OutC*g.oh*g.ow
	tg.out = c.InC * tg.np
	inf := float32(math.Inf(1))
	return t.forwardShifted(tg, ds, tw, make([]float32, c.InC), -inf, inf, newFloats)
}

// pointwise reports whether c's im2col matrix is its input image itself: a
// 1×1 kernel with stride 1 and no padding.
func (c *Conv2D) pointwise() bool {
	return c.Kernel == 1 && c.Stride == 1 && c.pads() == Pads{}
}

// backwardWide is the backward pass of images [lo, hi) one image at a time,
// for images with at least convWide output pixels: their gradients are read
// and written in place, with no side-by-side copies. dw and db receive the
// chunk's weight and bias gradients; dx, if not nil, the input gradients.
func (c *Conv2D) backwardWide(g convGeom, xs, ds, wt, dw, db, dx []float32, lo, hi int, pointwise bool) {
	gr := c.groups()
	ocg, kg := c.OutC/gr, g.ckk/gr
	var buf *[]float32
	if !pointwise {
		buf = getFloats(g.ckk * g.np)
		defer putFloats(buf)
	}
	for i := lo; i < hi; i++ {
		dyi := ds[i*g.out : (i+1)*g.out]
		for o := range db {
			db[o] += kernels.Sum(dyi[o*g.np : (o+1)*g.np])
		}
		x := xs[i*g.in : (i+1)*g.in]
		cols := x
		if !pointwise {
			cols = *buf
			kernels.Im2colGeom(x, g.kg, cols)
		}
		var beta float32
		if i > lo {
			beta = 1
		}
		for gi := range gr {
			kernels.SgemmSerial(false, true, ocg, kg, g.np, 1, dyi[gi*ocg*g.np:], g.np, cols[gi*kg*g.np:], g.np, beta, dw[gi*ocg*kg:], kg)
		}
		if dx == nil {
			continue
		}
		dxi := dx[i*g.in : (i+1)*g.in]
		if pointwise {
			// The input gradient is the im2col gradient itself.
			for gi := range gr {
				kernels.SgemmSerial(true, false, kg, g.np, ocg, 1, wt[gi*ocg*kg:], kg, dyi[gi*ocg*g.np:], g.np, 0, dxi[gi*kg*g.np:], g.np)
			}
			continue
		}
		for gi := range gr {
			kernels.SgemmSerial(true, false, kg, g.np, ocg, 1, wt[gi*ocg*kg:], kg, dyi[gi*ocg*g.np:], g.np, 0, cols[gi*kg*g.np:], g.np)
		}
		kernels.Col2imGeom(cols, g.kg, dxi)
	}
}
