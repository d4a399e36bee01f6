package kernels

import (
	"math/rand/v2"
	"testing"
	"time"
)

// The step benchmarks run the kernel calls of one training step (forward and
// backward, batch 64) of LeNet-300-100 and LeNet-5 as compress/nn makes them
// (convolutions per image through Im2col and Sgemm, weights stored [out, in]),
// on one goroutine, with the GEMMs done by the assembly path or by gonum.
// Activations, loss and optimizer updates are left out: the figure is kernel
// time per batch, reported as ms/batch and as s/epoch for 60,000 images.

const (
	stepBatch       = 64
	batchesPerEpoch = (60000 + stepBatch - 1) / stepBatch
)

// stepGemms are the GEMM implementations the step benchmarks compare.
func stepGemms() []namedSgemm {
	var impls []namedSgemm
	if len(asmImpls()) > 0 {
		impls = append(impls, namedSgemm{"asm", SgemmSerial})
	}
	return append(impls, namedSgemm{"gonum", sgemmGonum})
}

// reportStep reports wall time per batch and per epoch, and CPU time per
// batch since cpu0 (see processCPU).
func reportStep(b *testing.B, cpu0 time.Duration) {
	per := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(per*1e3, "ms/batch")
	b.ReportMetric(per*batchesPerEpoch, "s/epoch")
	if cpu := processCPU() - cpu0; cpu > 0 {
		b.ReportMetric(cpu.Seconds()/float64(b.N)*1e3, "cpu-ms/batch")
	}
	b.ReportMetric(0, "ns/op")
}

// denseStep runs forward and backward GEMMs of a stack of dense layers;
// inputGrad asks for the gradient of the first layer's input too.
func denseStep(gemm sgemmFunc, sizes []int, acts, grads, ws, dws [][]float32, inputGrad bool) {
	n := stepBatch
	for l := 0; l+1 < len(sizes); l++ {
		in, out := sizes[l], sizes[l+1]
		gemm(false, true, n, out, in, 1, acts[l], in, ws[l], in, 0, acts[l+1], out)
	}
	for l := len(sizes) - 2; l >= 0; l-- {
		in, out := sizes[l], sizes[l+1]
		gemm(true, false, out, in, n, 1, grads[l+1], out, acts[l], in, 1, dws[l], in)
		if l > 0 || inputGrad {
			gemm(false, false, n, in, out, 1, grads[l+1], out, ws[l], in, 0, grads[l], in)
		}
	}
}

// newDense allocates activations, gradients, weights and weight gradients
// for dense layers of the given sizes at batch stepBatch.
func newDense(rng *rand.Rand, sizes []int) (acts, grads, ws, dws [][]float32) {
	for l, s := range sizes {
		acts = append(acts, randSlice(rng, stepBatch*s))
		grads = append(grads, randSlice(rng, stepBatch*s))
		if l+1 < len(sizes) {
			ws = append(ws, randSlice(rng, s*sizes[l+1]))
			dws = append(dws, make([]float32, s*sizes[l+1]))
		}
	}
	return acts, grads, ws, dws
}

func BenchmarkStepLeNet300100(b *testing.B) {
	sizes := []int{784, 300, 100, 10}
	acts, grads, ws, dws := newDense(rand.New(rand.NewPCG(1, 2)), sizes)
	for _, g := range stepGemms() {
		b.Run(g.name, func(b *testing.B) {
			cpu0 := processCPU()
			for b.Loop() {
				denseStep(g.f, sizes, acts, grads, ws, dws, false)
			}
			reportStep(b, cpu0)
		})
	}
}

// convLayer is one LeNet-5 convolution followed by 2×2 max pooling.
type convLayer struct {
	c, h, w, outC, k int
	wt, dw           []float32
	cols             []float32
	y, pooled        []float32 // conv output [n, outC, oh, ow] and pooled
	argmax           []int32
}

func newConvLayer(rng *rand.Rand, c, h, w, outC, k int) *convLayer {
	oh, ow := h-k+1, w-k+1
	return &convLayer{
		c: c, h: h, w: w, outC: outC, k: k,
		wt: randSlice(rng, outC*c*k*k), dw: make([]float32, outC*c*k*k),
		cols:   make([]float32, c*k*k*oh*ow),
		y:      make([]float32, stepBatch*outC*oh*ow),
		pooled: make([]float32, stepBatch*outC*oh/2*ow/2),
		argmax: make([]int32, stepBatch*outC*oh/2*ow/2),
	}
}

// forward runs Im2col and Sgemm per image, then max pooling.
func (l *convLayer) forward(gemm sgemmFunc, x []float32) {
	oh, ow := l.h-l.k+1, l.w-l.k+1
	ckk, np, in, out := l.c*l.k*l.k, oh*ow, l.c*l.h*l.w, l.outC*oh*ow
	for i := 0; i < stepBatch; i++ {
		Im2col(x[i*in:(i+1)*in], l.c, l.h, l.w, l.k, l.k, 1, 0, l.cols)
		gemm(false, false, l.outC, np, ckk, 1, l.wt, ckk, l.cols, np, 0, l.y[i*out:(i+1)*out], np)
	}
	MaxPool2D(l.y, stepBatch, l.outC, oh, ow, 2, 2, l.pooled, l.argmax)
}

// backward takes the gradient of the pooled output, accumulates the weight
// gradient and, if dx is not nil, writes the input gradient.
func (l *convLayer) backward(gemm sgemmFunc, x, dpooled, dy, dx []float32) {
	oh, ow := l.h-l.k+1, l.w-l.k+1
	ckk, np, in, out := l.c*l.k*l.k, oh*ow, l.c*l.h*l.w, l.outC*oh*ow
	clear(dy)
	MaxPool2DBackward(dpooled, l.argmax, dy)
	if dx != nil {
		clear(dx)
	}
	for i := 0; i < stepBatch; i++ {
		dyi := dy[i*out : (i+1)*out]
		Im2col(x[i*in:(i+1)*in], l.c, l.h, l.w, l.k, l.k, 1, 0, l.cols)
		gemm(false, true, l.outC, ckk, np, 1, dyi, np, l.cols, np, 1, l.dw, ckk)
		if dx != nil {
			gemm(true, false, ckk, np, l.outC, 1, l.wt, ckk, dyi, np, 0, l.cols, np)
			Col2im(l.cols, l.c, l.h, l.w, l.k, l.k, 1, 0, dx[i*in:(i+1)*in])
		}
	}
}

func BenchmarkStepLeNet5(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 4))
	x := randSlice(rng, stepBatch*28*28)
	conv1 := newConvLayer(rng, 1, 28, 28, 20, 5)
	conv2 := newConvLayer(rng, 20, 12, 12, 50, 5)
	sizes := []int{800, 500, 10}
	acts, grads, ws, dws := newDense(rng, sizes)
	dy1 := make([]float32, len(conv1.y))
	dy2 := make([]float32, len(conv2.y))
	dp1 := make([]float32, len(conv1.pooled))
	for _, g := range stepGemms() {
		b.Run(g.name, func(b *testing.B) {
			cpu0 := processCPU()
			for b.Loop() {
				conv1.forward(g.f, x)
				conv2.forward(g.f, conv1.pooled)
				copy(acts[0], conv2.pooled)
				denseStep(g.f, sizes, acts, grads, ws, dws, true)
				conv2.backward(g.f, conv1.pooled, grads[0], dy2, dp1)
				conv1.backward(g.f, x, dp1, dy1, nil)
			}
			reportStep(b, cpu0)
		})
	}
}
