package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkIm2col times Im2col and Col2im beside their reference loops on
// the LeNet-5 convolutions, one image each, reporting column-matrix floats
// per second.
func BenchmarkIm2col(b *testing.B) {
	type convFunc func(x []float32, c, h, w, kh, kw, stride, pad int, y []float32)
	for _, cc := range convCases[:2] {
		oh, ow := cc.out()
		rng := rand.New(rand.NewPCG(1, 1))
		img := randSlice(rng, cc.c*cc.h*cc.w)
		cols := randSlice(rng, cc.c*cc.kh*cc.kw*oh*ow)
		for _, f := range []struct {
			name  string
			f     convFunc
			toCol bool
		}{
			{"Im2col", Im2col, true}, {"Im2col_ref", im2colRef, true},
			{"Col2im", Col2im, false}, {"Col2im_ref", col2imRef, false},
		} {
			b.Run(fmt.Sprintf("%v/%s", cc, f.name), func(b *testing.B) {
				for b.Loop() {
					if f.toCol {
						f.f(img, cc.c, cc.h, cc.w, cc.kh, cc.kw, cc.stride, cc.pad, cols)
					} else {
						f.f(cols, cc.c, cc.h, cc.w, cc.kh, cc.kw, cc.stride, cc.pad, img)
					}
				}
				b.ReportMetric(float64(len(cols))*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gfloat/s")
			})
		}
	}
}

// BenchmarkPool times the pooling kernels beside their reference loops on
// the LeNet-5 pooling layers at batch 64, reporting input floats per second.
func BenchmarkPool(b *testing.B) {
	for _, pc := range []poolCase{{64, 20, 24, 24, 2, 2}, {64, 50, 8, 8, 2, 2}} {
		oh, ow := pc.out()
		rng := rand.New(rand.NewPCG(1, 1))
		src := randSlice(rng, pc.n*pc.c*pc.h*pc.w)
		dst := make([]float32, pc.n*pc.c*oh*ow)
		argmax := make([]int32, len(dst))
		dx := make([]float32, len(src))
		for _, f := range []struct {
			name string
			f    func()
		}{
			{"MaxPool2D", func() { MaxPool2D(src, pc.n, pc.c, pc.h, pc.w, pc.k, pc.stride, dst, argmax) }},
			{"MaxPool2D_ref", func() { maxPool2DRef(src, pc.n, pc.c, pc.h, pc.w, pc.k, pc.stride, dst, argmax) }},
			{"MaxPool2DBackward", func() { MaxPool2DBackward(dst, argmax, dx) }},
			{"AvgPool2D", func() { AvgPool2D(src, pc.n, pc.c, pc.h, pc.w, pc.k, pc.stride, dst) }},
			{"AvgPool2D_ref", func() { avgPool2DRef(src, pc.n, pc.c, pc.h, pc.w, pc.k, pc.stride, dst) }},
			{"AvgPool2DBackward", func() { AvgPool2DBackward(dst, pc.n, pc.c, pc.h, pc.w, pc.k, pc.stride, dx) }},
			{"AvgPool2DBackward_ref", func() { avgPool2DBackwardRef(dst, pc.n, pc.c, pc.h, pc.w, pc.k, pc.stride, dx) }},
		} {
			b.Run(fmt.Sprintf("%v/%s", pc, f.name), func(b *testing.B) {
				for b.Loop() {
					f.f()
				}
				b.ReportMetric(float64(len(src))*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gfloat/s")
			})
		}
	}
}
