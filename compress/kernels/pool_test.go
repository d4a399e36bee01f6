package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// poolCase is one pooling geometry over an n×c×h×w batch.
type poolCase struct{ n, c, h, w, k, stride int }

func (pc poolCase) String() string {
	return fmt.Sprintf("n%d_c%d_%dx%d_k%d_s%d", pc.n, pc.c, pc.h, pc.w, pc.k, pc.stride)
}

func (pc poolCase) out() (oh, ow int) {
	return ConvOutSize(pc.h, pc.k, pc.stride, 0), ConvOutSize(pc.w, pc.k, pc.stride, 0)
}

var poolCases = []poolCase{
	{2, 20, 24, 24, 2, 2}, // LeNet-5 after conv1
	{2, 50, 8, 8, 2, 2},   // LeNet-5 after conv2
	{1, 3, 7, 9, 3, 2},    // overlapping windows, odd sizes
	{3, 2, 5, 5, 2, 2},    // last row and column dropped
	{1, 1, 4, 4, 4, 1},
	{2, 2, 6, 5, 1, 1},
}

// window calls f with the flat src index of every element in the window of
// output (p, y, x), p = ni·c + ci, in row-major order.
func (pc poolCase) window(p, y, x int, f func(idx int)) {
	for i := 0; i < pc.k; i++ {
		for j := 0; j < pc.k; j++ {
			f((p*pc.h+y*pc.stride+i)*pc.w + x*pc.stride + j)
		}
	}
}

func TestMaxPool2D(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	for _, pc := range poolCases {
		t.Run(pc.String(), func(t *testing.T) {
			oh, ow := pc.out()
			src := randSlice(rng, pc.n*pc.c*pc.h*pc.w)
			dst := make([]float32, pc.n*pc.c*oh*ow)
			argmax := make([]int32, len(dst))
			MaxPool2D(src, pc.n, pc.c, pc.h, pc.w, pc.k, pc.stride, dst, argmax)
			dstNoArg := make([]float32, len(dst))
			MaxPool2D(src, pc.n, pc.c, pc.h, pc.w, pc.k, pc.stride, dstNoArg, nil)
			for p := 0; p < pc.n*pc.c; p++ {
				for y := 0; y < oh; y++ {
					for x := 0; x < ow; x++ {
						o := (p*oh+y)*ow + x
						want, wantIdx := float32(math.Inf(-1)), -1
						pc.window(p, y, x, func(idx int) {
							if src[idx] > want {
								want, wantIdx = src[idx], idx
							}
						})
						if dst[o] != want || int(argmax[o]) != wantIdx || dstNoArg[o] != want {
							t.Fatalf("out %d: got %v at %d (no-argmax run %v), want %v at %d", o, dst[o], argmax[o], dstNoArg[o], want, wantIdx)
						}
					}
				}
			}

			// Backward: each dy goes to its argmax, accumulating.
			dy := randSlice(rng, len(dst))
			dx := make([]float32, len(src))
			for i := range dx {
				dx[i] = 1
			}
			MaxPool2DBackward(dy, argmax, dx)
			want := make([]float64, len(src))
			for i := range want {
				want[i] = 1
			}
			for o, g := range dy {
				want[argmax[o]] += float64(g)
			}
			for i := range dx {
				// At most ceil(k/stride)² outputs share an input: a few roundings.
				if math.Abs(float64(dx[i])-want[i]) > 1e-5 {
					t.Fatalf("dx[%d] = %v, want %v", i, dx[i], want[i])
				}
			}
		})
	}
}

// TestMaxPoolValues checks MaxPool2D without argmax against the argmax
// path, bit for bit, on inputs full of ties, signed zeros, infinities and
// NaNs (at window starts and inside), over the pool cases and a 3×3
// stride-3 one (the ONNX zoo MNIST CNN's).
func TestMaxPoolValues(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 24))
	special := []float32{0, float32(math.Copysign(0, -1)), 1, -1, float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN())}
	for _, pc := range append(slices.Clone(poolCases), poolCase{2, 3, 14, 14, 3, 3}, poolCase{1, 2, 9, 11, 3, 1}) {
		oh, ow := pc.out()
		for trial := range 20 {
			src := randSlice(rng, pc.n*pc.c*pc.h*pc.w)
			for i := range src {
				if rng.IntN(3) == 0 {
					src[i] = special[rng.IntN(len(special))]
				}
			}
			want, got := make([]float32, pc.n*pc.c*oh*ow), make([]float32, pc.n*pc.c*oh*ow)
			MaxPool2D(src, pc.n, pc.c, pc.h, pc.w, pc.k, pc.stride, want, make([]int32, len(want)))
			MaxPool2D(src, pc.n, pc.c, pc.h, pc.w, pc.k, pc.stride, got, nil)
			for o := range want {
				if math.Float32bits(got[o]) != math.Float32bits(want[o]) {
					t.Fatalf("%v trial %d: out %d = %v (%#x), want %v (%#x)", pc, trial, o, got[o], math.Float32bits(got[o]), want[o], math.Float32bits(want[o]))
				}
			}
		}
	}
}

func TestAvgPool2D(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 24))
	for _, pc := range poolCases {
		t.Run(pc.String(), func(t *testing.T) {
			oh, ow := pc.out()
			src := randSlice(rng, pc.n*pc.c*pc.h*pc.w)
			dst := make([]float32, pc.n*pc.c*oh*ow)
			AvgPool2D(src, pc.n, pc.c, pc.h, pc.w, pc.k, pc.stride, dst)
			dy := randSlice(rng, len(dst))
			dx := make([]float32, len(src))
			for i := range dx {
				dx[i] = 1
			}
			AvgPool2DBackward(dy, pc.n, pc.c, pc.h, pc.w, pc.k, pc.stride, dx)
			wantDx := make([]float64, len(src))
			for i := range wantDx {
				wantDx[i] = 1
			}
			inv := 1 / float64(pc.k*pc.k)
			for p := 0; p < pc.n*pc.c; p++ {
				for y := 0; y < oh; y++ {
					for x := 0; x < ow; x++ {
						o := (p*oh+y)*ow + x
						var want float64
						pc.window(p, y, x, func(idx int) {
							want += float64(src[idx])
							wantDx[idx] += float64(dy[o]) * inv
						})
						want *= inv
						// k² float32 additions of values in [-1, 1].
						if math.Abs(float64(dst[o])-want) > float64(pc.k*pc.k)*1e-7 {
							t.Fatalf("out %d = %v, want %v", o, dst[o], want)
						}
					}
				}
			}
			for i := range dx {
				if math.Abs(float64(dx[i])-wantDx[i]) > 1e-5 {
					t.Fatalf("dx[%d] = %v, want %v", i, dx[i], wantDx[i])
				}
			}
		})
	}
}

// TestMatchRef checks the exported conv and pool kernels are bit-identical
// to the reference loops in ref_test.go: they sum in the same order.
func TestMatchRef(t *testing.T) {
	rng := rand.New(rand.NewPCG(25, 26))
	same := func(t *testing.T, what string, got, want []float32) {
		t.Helper()
		for i := range want {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("%s[%d] = %v, reference %v", what, i, got[i], want[i])
			}
		}
	}
	for _, cc := range convCases {
		t.Run(cc.String(), func(t *testing.T) {
			oh, ow := cc.out()
			src := randSlice(rng, cc.c*cc.h*cc.w)
			got, want := make([]float32, cc.c*cc.kh*cc.kw*oh*ow), make([]float32, cc.c*cc.kh*cc.kw*oh*ow)
			Im2col(src, cc.c, cc.h, cc.w, cc.kh, cc.kw, cc.stride, cc.pad, got)
			im2colRef(src, cc.c, cc.h, cc.w, cc.kh, cc.kw, cc.stride, cc.pad, want)
			same(t, "Im2col", got, want)
			cols := randSlice(rng, len(got))
			gotX, wantX := randSlice(rng, len(src)), make([]float32, len(src))
			copy(wantX, gotX)
			Col2im(cols, cc.c, cc.h, cc.w, cc.kh, cc.kw, cc.stride, cc.pad, gotX)
			col2imRef(cols, cc.c, cc.h, cc.w, cc.kh, cc.kw, cc.stride, cc.pad, wantX)
			same(t, "Col2im", gotX, wantX)
		})
	}
	for _, pc := range poolCases {
		t.Run(pc.String(), func(t *testing.T) {
			oh, ow := pc.out()
			src := randSlice(rng, pc.n*pc.c*pc.h*pc.w)
			// Ties everywhere (as after ReLU): values from {0, 1, 2, 3} on
			// even planes, so first-maximum order matters.
			for i := range src {
				if (i/(pc.h*pc.w))%2 == 0 {
					src[i] = float32(rng.IntN(4))
				}
			}
			out := pc.n * pc.c * oh * ow
			got, want := make([]float32, out), make([]float32, out)
			gotArg, wantArg := make([]int32, out), make([]int32, out)
			MaxPool2D(src, pc.n, pc.c, pc.h, pc.w, pc.k, pc.stride, got, gotArg)
			maxPool2DRef(src, pc.n, pc.c, pc.h, pc.w, pc.k, pc.stride, want, wantArg)
			same(t, "MaxPool2D", got, want)
			for i := range wantArg {
				if gotArg[i] != wantArg[i] {
					t.Fatalf("argmax[%d] = %d, reference %d", i, gotArg[i], wantArg[i])
				}
			}
			AvgPool2D(src, pc.n, pc.c, pc.h, pc.w, pc.k, pc.stride, got)
			avgPool2DRef(src, pc.n, pc.c, pc.h, pc.w, pc.k, pc.stride, want)
			same(t, "AvgPool2D", got, want)
			dy := randSlice(rng, out)
			gotX, wantX := make([]float32, len(src)), make([]float32, len(src))
			AvgPool2DBackward(dy, pc.n, pc.c, pc.h, pc.w, pc.k, pc.stride, gotX)
			avgPool2DBackwardRef(dy, pc.n, pc.c, pc.h, pc.w, pc.k, pc.stride, wantX)
			same(t, "AvgPool2DBackward", gotX, wantX)
		})
	}
}

// TestConvPoolPanics checks the boundary checks reject bad geometry and
// short slices.
func TestConvPoolPanics(t *testing.T) {
	s := make([]float32, 16)
	tests := []struct {
		name string
		call func()
	}{
		{"Im2col short dst", func() { Im2col(s, 1, 4, 4, 3, 3, 1, 0, s[:3]) }},
		{"Im2col short src", func() { Im2col(s[:15], 1, 4, 4, 1, 1, 1, 0, s) }},
		{"Im2col zero stride", func() { Im2col(s, 1, 4, 4, 3, 3, 0, 0, s) }},
		{"Col2im kernel too big", func() { Col2im(s, 1, 2, 2, 3, 3, 1, 0, s) }},
		{"MaxPool2D short dst", func() { MaxPool2D(s, 1, 1, 4, 4, 2, 2, s[:3], nil) }},
		{"MaxPool2D short argmax", func() { MaxPool2D(s, 1, 1, 4, 4, 2, 2, s, make([]int32, 3)) }},
		{"AvgPool2D window too big", func() { AvgPool2D(s, 1, 1, 4, 4, 5, 1, s) }},
		{"AvgPool2DBackward short dx", func() { AvgPool2DBackward(s, 1, 1, 4, 4, 2, 2, s[:15]) }},
		{"MaxPool2DBackward short argmax", func() { MaxPool2DBackward(s[:4], make([]int32, 3), s) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("no panic")
				}
			}()
			tt.call()
		})
	}
}
