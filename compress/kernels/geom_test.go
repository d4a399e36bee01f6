package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// geomCases are convolution geometries beyond the square-padded ones of
// convCases: dilation, asymmetric padding, strides that skip columns.
var geomCases = []ConvGeom{
	{C: 3, H: 7, W: 9, KH: 3, KW: 3, Stride: 1, Dilation: 2, PadTop: 2, PadLeft: 2, PadBottom: 2, PadRight: 2},
	{C: 2, H: 8, W: 7, KH: 3, KW: 3, Stride: 2, Dilation: 1, PadTop: 0, PadLeft: 1, PadBottom: 1, PadRight: 0},
	{C: 2, H: 6, W: 5, KH: 2, KW: 3, Stride: 1, Dilation: 3, PadTop: 1, PadLeft: 0, PadBottom: 0, PadRight: 2},
	{C: 1, H: 5, W: 5, KH: 3, KW: 3, Stride: 3, Dilation: 2, PadTop: 3, PadLeft: 1, PadBottom: 2, PadRight: 4},
	{C: 4, H: 4, W: 6, KH: 1, KW: 1, Stride: 2, Dilation: 1},
	// Rows of 21 outputs: two 8-wide assembly blocks and a tail at stride 1.
	{C: 3, H: 5, W: 21, KH: 3, KW: 3, Stride: 1, Dilation: 1, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1},
	// Padding wider than the window: outputs whose taps all fall in it.
	{C: 2, H: 4, W: 3, KH: 3, KW: 3, Stride: 1, Dilation: 1, PadTop: 0, PadLeft: 1, PadBottom: 4, PadRight: 3},
	// Stride 1 with the output as wide as the input (Im2colGeom's flat
	// copies): asymmetric "same" padding, a 5×5 window, rows not padded,
	// and a 1×1 window.
	{C: 2, H: 6, W: 7, KH: 3, KW: 3, Stride: 1, Dilation: 1, PadTop: 2, PadLeft: 0, PadBottom: 0, PadRight: 2},
	{C: 3, H: 9, W: 8, KH: 5, KW: 5, Stride: 1, Dilation: 1, PadTop: 2, PadLeft: 2, PadBottom: 2, PadRight: 2},
	{C: 2, H: 6, W: 5, KH: 3, KW: 3, Stride: 1, Dilation: 1, PadTop: 0, PadLeft: 1, PadBottom: 0, PadRight: 1},
	{C: 3, H: 4, W: 5, KH: 1, KW: 1, Stride: 1, Dilation: 1},
}

func geomName(g ConvGeom) string {
	return fmt.Sprintf("c%d_%dx%d_k%dx%d_s%d_d%d_p%d,%d,%d,%d", g.C, g.H, g.W, g.KH, g.KW, g.Stride, g.Dilation,
		g.PadTop, g.PadLeft, g.PadBottom, g.PadRight)
}

func TestConvGeomOut(t *testing.T) {
	tests := []struct {
		g        ConvGeom
		oh, ow   int
		describe string
	}{
		{Geom(1, 28, 28, 5, 5, 1, 0), 24, 24, "LeNet conv1"},
		{ConvGeom{H: 7, W: 7, KH: 3, KW: 3, Stride: 1, Dilation: 2}, 3, 3, "dilation 2 spans 5"},
		{ConvGeom{H: 7, W: 7, KH: 3, KW: 3, Stride: 2, Dilation: 1, PadTop: 1, PadRight: 1}, 3, 3, "one-sided pads"},
		{ConvGeom{H: 5, W: 6, KH: 2, KW: 2, Stride: 2, Dilation: 1, CeilMode: true}, 3, 3, "ceil keeps the partial window"},
		{ConvGeom{H: 5, W: 5, KH: 2, KW: 2, Stride: 2, Dilation: 1, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1, CeilMode: true}, 3, 3,
			"ceil drops a window starting in the bottom padding"},
		{ConvGeom{H: 2, W: 2, KH: 3, KW: 3, Stride: 1, Dilation: 1}, 0, 0, "does not fit"},
		{ConvGeom{H: 9, W: 9, KH: 3, KW: 3, Stride: 1, Dilation: math.MaxInt / 2}, 0, 0, "dilation overflowing the span"},
		{ConvGeom{H: 9, W: 9, KH: 3, KW: 3, Stride: 1, Dilation: 1, PadTop: math.MaxInt, PadLeft: math.MaxInt}, 0, 0, "overflowing pads"},
		{ConvGeom{H: 9, W: 9, KH: 3, KW: 3, Stride: 0, Dilation: 1}, 0, 0, "stride 0"},
	}
	for _, tt := range tests {
		if oh, ow := tt.g.Out(); oh != tt.oh || ow != tt.ow {
			t.Errorf("%s: Out() = %d×%d, want %d×%d", tt.describe, oh, ow, tt.oh, tt.ow)
		}
	}
	// Without dilation, asymmetry or ceil, Out agrees with ConvOutSize.
	for _, cc := range convCases {
		oh, ow := Geom(cc.c, cc.h, cc.w, cc.kh, cc.kw, cc.stride, cc.pad).Out()
		if woh, wow := cc.out(); oh != woh || ow != wow {
			t.Errorf("%v: Out %d×%d, ConvOutSize %d×%d", cc, oh, ow, woh, wow)
		}
	}
}

// TestIm2colGeom checks Im2colGeom element by element against its reference,
// and Col2imGeom against it as its adjoint.
func TestIm2colGeom(t *testing.T) {
	const u = 1.0 / (1 << 24)
	rng := rand.New(rand.NewPCG(31, 32))
	for _, g := range geomCases {
		t.Run(geomName(g), func(t *testing.T) {
			oh, ow := g.Out()
			src := randSlice(rng, g.C*g.H*g.W)
			n := g.C * g.KH * g.KW * oh * ow
			got, want := make([]float32, n+8), make([]float32, n)
			for i := range got {
				got[i] = float32(math.NaN())
			}
			Im2colGeom(src, g, got[:n])
			im2colGeomRef(src, g, want)
			if !slices.Equal(got[:n], want) {
				t.Fatalf("Im2colGeom differs from the reference")
			}
			for _, v := range got[n:] {
				if !math.IsNaN(float64(v)) {
					t.Fatalf("Im2colGeom wrote past the %d columns", n)
				}
			}
			y := randSlice(rng, n)
			back := make([]float32, len(src))
			Col2imGeom(y, g, back)
			var lhs, rhs, mag float64
			for i := range y {
				lhs += float64(want[i]) * float64(y[i])
				mag += math.Abs(float64(want[i]) * float64(y[i]))
			}
			for i := range src {
				rhs += float64(src[i]) * float64(back[i])
			}
			if tol := float64(g.KH*g.KW)*u*mag + 1e-12; math.Abs(lhs-rhs) > tol {
				t.Errorf("<Im2col(x), y> = %v, <x, Col2im(y)> = %v, |diff| > %.3g", lhs, rhs, tol)
			}
		})
	}
}

// TestDepthwiseConv2D checks the direct depthwise loop against the float64
// definition and its backward against the adjoint identity
// <DW(x), y> = <x, dx(y)> and the weight gradient's definition
// dw[o][t] = Σ y[o]·x-tap[t].
func TestDepthwiseConv2D(t *testing.T) {
	rng := rand.New(rand.NewPCG(33, 34))
	for _, g := range geomCases {
		for _, mult := range []int{1, 2} {
			t.Run(fmt.Sprintf("%s_m%d", geomName(g), mult), func(t *testing.T) {
				oh, ow := g.Out()
				kk := g.KH * g.KW
				src := randSlice(rng, g.C*g.H*g.W)
				w := randSlice(rng, g.C*mult*kk)
				bias := randSlice(rng, g.C*mult)
				got := make([]float32, g.C*mult*oh*ow)
				for i := range got {
					got[i] = float32(math.NaN()) // every output is written
				}
				DepthwiseConv2D(src, g, mult, w, bias, got)
				want := make([]float32, len(got))
				depthwiseRef(src, g, mult, w, want)
				tol := float64(kk+1) / (1 << 24) * 4 * float64(kk)
				for i := range got {
					if d := float64(got[i]) - float64(bias[i/(oh*ow)]) - float64(want[i]); !(math.Abs(d) <= tol) {
						t.Fatalf("out[%d] = %v, want bias %v + %v", i, got[i], bias[i/(oh*ow)], want[i])
					}
				}
				noBias := make([]float32, len(got))
				DepthwiseConv2D(src, g, mult, w, nil, noBias)
				for i := range noBias {
					if d := float64(noBias[i]) - float64(want[i]); !(math.Abs(d) <= tol) {
						t.Fatalf("nil bias: out[%d] = %v, want %v", i, noBias[i], want[i])
					}
				}
				dy := randSlice(rng, len(got))
				dx, dw := make([]float32, len(src)), make([]float32, len(w))
				DepthwiseConv2DBackward(src, dy, g, mult, w, dw, dx)
				var lhs, rhs float64
				for i := range dy {
					lhs += float64(want[i]) * float64(dy[i])
				}
				for i := range src {
					rhs += float64(src[i]) * float64(dx[i])
				}
				if math.Abs(lhs-rhs) > tol*float64(len(dy)) {
					t.Errorf("adjoint: <DW(x), y> = %v, <x, dx> = %v", lhs, rhs)
				}
				// dw[o][t] is the dot product of dy[o] with the tap's
				// column of the image, which a one-hot weight extracts.
				for o := 0; o < g.C*mult; o++ {
					for tap := 0; tap < kk; tap++ {
						hot := make([]float32, len(w))
						hot[o*kk+tap] = 1
						col := make([]float32, len(got))
						depthwiseRef(src, g, mult, hot, col)
						var s float64
						for i, v := range col {
							s += float64(v) * float64(dy[i])
						}
						if math.Abs(s-float64(dw[o*kk+tap])) > tol*float64(oh*ow) {
							t.Fatalf("dw[%d][%d] = %v, want %v", o, tap, dw[o*kk+tap], s)
						}
					}
				}
				// Without dx only dw is computed, and the same.
				dw2 := make([]float32, len(w))
				DepthwiseConv2DBackward(src, dy, g, mult, w, dw2, nil)
				if !slices.Equal(dw, dw2) {
					t.Errorf("dw differs without dx")
				}
			})
		}
	}
}

// poolGeomCases are padded and ceil-mode pooling geometries; every pad is
// smaller than the window, so no window lies entirely in the padding.
var poolGeomCases = []ConvGeom{
	{C: 2, H: 5, W: 5, KH: 3, KW: 3, Stride: 2, Dilation: 1, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1},
	{C: 3, H: 6, W: 7, KH: 2, KW: 2, Stride: 2, Dilation: 1, PadTop: 1, PadLeft: 0, PadBottom: 0, PadRight: 1},
	{C: 1, H: 5, W: 6, KH: 2, KW: 2, Stride: 2, Dilation: 1, CeilMode: true},
	{C: 2, H: 7, W: 5, KH: 3, KW: 3, Stride: 2, Dilation: 1, PadTop: 1, PadLeft: 2, PadBottom: 0, PadRight: 1, CeilMode: true},
	{C: 2, H: 4, W: 4, KH: 3, KW: 3, Stride: 1, Dilation: 1, PadTop: 2, PadLeft: 2, PadBottom: 2, PadRight: 2},
}

// ceilExtra returns how many rows and columns past the padding the last
// ceil-mode window reaches.
func ceilExtra(g ConvGeom) (eh, ew int) {
	oh, ow := g.Out()
	eh = max(0, (oh-1)*g.Stride+g.KH-(g.H+g.PadTop+g.PadBottom))
	ew = max(0, (ow-1)*g.Stride+g.KW-(g.W+g.PadLeft+g.PadRight))
	return eh, ew
}

// TestPool2DGeom checks the padded pooling kernels against the unpadded
// references run on explicitly padded images: −∞ padding for the maximum;
// for the average, the window sum of the zero-padded image over the window
// sum of a 0/1 image marking the counted positions.
func TestPool2DGeom(t *testing.T) {
	rng := rand.New(rand.NewPCG(35, 36))
	const n = 2
	for _, g := range poolGeomCases {
		t.Run(geomName(g)+fmt.Sprint("_ceil", g.CeilMode), func(t *testing.T) {
			oh, ow := g.Out()
			planes := n * g.C
			eh, ew := ceilExtra(g)
			src := randSlice(rng, planes*g.H*g.W)
			got := make([]float32, planes*oh*ow)
			argmax := make([]int32, len(got))
			MaxPool2DGeom(src, n, g, got, argmax)
			padded, ph, pw := padPlanes(src, planes, g.H, g.W, g.PadTop, g.PadLeft, g.PadBottom+eh, g.PadRight+ew, float32(math.Inf(-1)))
			want := make([]float32, len(got))
			maxPool2DRef(padded, planes, 1, ph, pw, g.KH, g.Stride, want, nil)
			if !slices.Equal(got, want) {
				t.Fatalf("MaxPool2DGeom %v, want %v", got, want)
			}
			for o, i := range argmax {
				if src[i] != got[o] {
					t.Fatalf("argmax[%d] = %d holds %v, not the maximum %v", o, i, src[i], got[o])
				}
			}
			for _, countPad := range []bool{false, true} {
				avg := make([]float32, len(got))
				AvgPool2DGeom(src, n, g, countPad, avg)
				vals, _, _ := padPlanes(src, planes, g.H, g.W, g.PadTop, g.PadLeft, g.PadBottom+eh, g.PadRight+ew, 0)
				ones := make([]float32, planes*g.H*g.W)
				for i := range ones {
					ones[i] = 1
				}
				var mask []float32
				if countPad {
					inner, ih, iw := padPlanes(ones, planes, g.H, g.W, g.PadTop, g.PadLeft, g.PadBottom, g.PadRight, 1)
					mask, _, _ = padPlanes(inner, planes, ih, iw, 0, 0, eh, ew, 0)
				} else {
					mask, _, _ = padPlanes(ones, planes, g.H, g.W, g.PadTop, g.PadLeft, g.PadBottom+eh, g.PadRight+ew, 0)
				}
				sum, cnt := make([]float32, len(got)), make([]float32, len(got))
				avgPool2DRef(vals, planes, 1, ph, pw, g.KH, g.Stride, sum)
				avgPool2DRef(mask, planes, 1, ph, pw, g.KH, g.Stride, cnt)
				for i := range avg {
					if w := sum[i] / cnt[i]; math.Abs(float64(avg[i]-w)) > 1e-6 {
						t.Fatalf("count_include_pad=%v: avg[%d] = %v, want %v", countPad, i, avg[i], w)
					}
				}
				// Backward is the adjoint: <avg(x), y> = <x, back(y)>.
				dy := randSlice(rng, len(got))
				dx := make([]float32, len(src))
				AvgPool2DGeomBackward(dy, n, g, countPad, dx)
				var lhs, rhs float64
				for i := range dy {
					lhs += float64(avg[i]) * float64(dy[i])
				}
				for i := range src {
					rhs += float64(src[i]) * float64(dx[i])
				}
				if math.Abs(lhs-rhs) > 1e-4 {
					t.Errorf("count_include_pad=%v: <avg(x), y> = %v, <x, back(y)> = %v", countPad, lhs, rhs)
				}
			}
		})
	}
}

// TestPool2DGeomUnpadded checks that without padding or ceil mode the
// general kernels agree with the fast unpadded ones.
func TestPool2DGeomUnpadded(t *testing.T) {
	rng := rand.New(rand.NewPCG(37, 38))
	for _, pc := range poolCases {
		t.Run(pc.String(), func(t *testing.T) {
			g := ConvGeom{C: pc.c, H: pc.h, W: pc.w, KH: pc.k, KW: pc.k, Stride: pc.stride, Dilation: 1}
			oh, ow := pc.out()
			src := randSlice(rng, pc.n*pc.c*pc.h*pc.w)
			a, b := make([]float32, pc.n*pc.c*oh*ow), make([]float32, pc.n*pc.c*oh*ow)
			ia, ib := make([]int32, len(a)), make([]int32, len(b))
			MaxPool2D(src, pc.n, pc.c, pc.h, pc.w, pc.k, pc.stride, a, ia)
			MaxPool2DGeom(src, pc.n, g, b, ib)
			if !slices.Equal(a, b) || !slices.Equal(ia, ib) {
				t.Fatalf("MaxPool2DGeom differs from MaxPool2D")
			}
			AvgPool2D(src, pc.n, pc.c, pc.h, pc.w, pc.k, pc.stride, a)
			AvgPool2DGeom(src, pc.n, g, false, b)
			for i := range a {
				if math.Abs(float64(a[i]-b[i])) > 1e-6 {
					t.Fatalf("AvgPool2DGeom[%d] = %v, AvgPool2D %v", i, b[i], a[i])
				}
			}
		})
	}
}

func TestPool2DGeomRejectsEmptyWindows(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("a window entirely in the padding did not panic")
		}
	}()
	g := ConvGeom{C: 1, H: 2, W: 2, KH: 2, KW: 2, Stride: 1, Dilation: 1, PadTop: 2, PadLeft: 0, PadBottom: 0, PadRight: 0}
	MaxPool2DGeom(make([]float32, 4), 1, g, make([]float32, 16), nil)
}

// TestDepthwiseAsmRuns checks that the 3×3 assembly path takes the
// 8-column blocks when the assembly is on, so the tests above exercise it.
func TestDepthwiseAsmRuns(t *testing.T) {
	dst, src, w := make([]float32, 2*20), make([]float32, 4*22), make([]float32, 9)
	done := dw3x3Rows(dst, src, 2, 20, 20, 22, 1, w, 0, false)
	if want := map[bool]int{true: 16, false: 0}[useAsm]; done != want {
		t.Fatalf("dw3x3Rows did %d columns with useAsm=%v, want %d", done, useAsm, want)
	}
}
