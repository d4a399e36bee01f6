package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

func TestConvOutSize(t *testing.T) {
	tests := []struct{ in, k, stride, pad, want int }{
		{28, 5, 1, 0, 24},
		{12, 5, 1, 0, 8},
		{24, 2, 2, 0, 12},
		{28, 3, 1, 1, 28},
		{7, 3, 2, 0, 3},
		{7, 3, 2, 1, 4},
		{5, 5, 1, 0, 1},
	}
	for _, tt := range tests {
		if got := ConvOutSize(tt.in, tt.k, tt.stride, tt.pad); got != tt.want {
			t.Errorf("ConvOutSize(%d, %d, %d, %d) = %d, want %d", tt.in, tt.k, tt.stride, tt.pad, got, tt.want)
		}
	}
}

// convCase is one convolution geometry.
type convCase struct{ c, h, w, kh, kw, stride, pad int }

func (cc convCase) String() string {
	return fmt.Sprintf("c%d_%dx%d_k%dx%d_s%d_p%d", cc.c, cc.h, cc.w, cc.kh, cc.kw, cc.stride, cc.pad)
}

func (cc convCase) out() (oh, ow int) {
	return ConvOutSize(cc.h, cc.kh, cc.stride, cc.pad), ConvOutSize(cc.w, cc.kw, cc.stride, cc.pad)
}

var convCases = []convCase{
	{1, 28, 28, 5, 5, 1, 0},  // LeNet-5 conv1
	{20, 12, 12, 5, 5, 1, 0}, // LeNet-5 conv2
	{3, 7, 9, 3, 3, 1, 1},
	{2, 8, 7, 3, 2, 2, 1},
	{2, 5, 5, 1, 1, 1, 0},
	{1, 6, 6, 4, 4, 3, 2},
	{2, 3, 4, 3, 3, 1, 2}, // padding wider than the image is deep
}

// TestIm2col checks every element of Im2col against its definition,
// cols[(ci·kh+ki)·kw+kj][y·ow+x] = src[ci][y·s-p+ki][x·s-p+kj] (0 outside).
func TestIm2col(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, cc := range convCases {
		t.Run(cc.String(), func(t *testing.T) {
			oh, ow := cc.out()
			src := randSlice(rng, cc.c*cc.h*cc.w)
			dst := make([]float32, cc.c*cc.kh*cc.kw*oh*ow)
			for i := range dst {
				dst[i] = float32(math.NaN())
			}
			Im2col(src, cc.c, cc.h, cc.w, cc.kh, cc.kw, cc.stride, cc.pad, dst)
			for ci := 0; ci < cc.c; ci++ {
				for ki := 0; ki < cc.kh; ki++ {
					for kj := 0; kj < cc.kw; kj++ {
						row := (ci*cc.kh+ki)*cc.kw + kj
						for y := 0; y < oh; y++ {
							for x := 0; x < ow; x++ {
								iy, ix := y*cc.stride-cc.pad+ki, x*cc.stride-cc.pad+kj
								want := float32(0)
								if iy >= 0 && iy < cc.h && ix >= 0 && ix < cc.w {
									want = src[(ci*cc.h+iy)*cc.w+ix]
								}
								if got := dst[row*oh*ow+y*ow+x]; got != want {
									t.Fatalf("cols[%d][%d,%d] = %v, want %v", row, y, x, got, want)
								}
							}
						}
					}
				}
			}
		})
	}
}

// TestCol2imAdjoint checks <Im2col(x), y> = <x, Col2im(y)>. Both sides are
// summed in float64 from float32 values; Col2im's float32 accumulation of at
// most kh·kw terms per element bounds the difference by
// kh·kw·u·Σ|x|·max|Col2im(|y|)|, taken here as kh·kw·u·Σ_i |x_i|·Σ_j |y_j|
// over the column entries of x_i, with u = 2⁻²⁴.
func TestCol2imAdjoint(t *testing.T) {
	const u = 1.0 / (1 << 24)
	rng := rand.New(rand.NewPCG(13, 14))
	for _, cc := range convCases {
		t.Run(cc.String(), func(t *testing.T) {
			oh, ow := cc.out()
			x := randSlice(rng, cc.c*cc.h*cc.w)
			y := randSlice(rng, cc.c*cc.kh*cc.kw*oh*ow)
			cols := make([]float32, len(y))
			Im2col(x, cc.c, cc.h, cc.w, cc.kh, cc.kw, cc.stride, cc.pad, cols)
			back := make([]float32, len(x))
			Col2im(y, cc.c, cc.h, cc.w, cc.kh, cc.kw, cc.stride, cc.pad, back)
			absY := make([]float32, len(y))
			for i, v := range y {
				absY[i] = float32(math.Abs(float64(v)))
			}
			backAbs := make([]float32, len(x))
			Col2im(absY, cc.c, cc.h, cc.w, cc.kh, cc.kw, cc.stride, cc.pad, backAbs)
			var lhs, rhs, mag float64
			for i := range y {
				lhs += float64(cols[i]) * float64(y[i])
			}
			for i := range x {
				rhs += float64(x[i]) * float64(back[i])
				mag += math.Abs(float64(x[i])) * float64(backAbs[i])
			}
			tol := float64(cc.kh*cc.kw)*u*mag + 1e-12
			if math.Abs(lhs-rhs) > tol {
				t.Errorf("<Im2col(x), y> = %v, <x, Col2im(y)> = %v, |diff| %.3g > %.3g", lhs, rhs, math.Abs(lhs-rhs), tol)
			}
		})
	}
}

// TestCol2imAccumulates checks Col2im adds into dst instead of overwriting.
func TestCol2imAccumulates(t *testing.T) {
	cc := convCase{2, 5, 6, 3, 3, 1, 1}
	oh, ow := cc.out()
	cols := make([]float32, cc.c*cc.kh*cc.kw*oh*ow)
	for i := range cols {
		cols[i] = 1
	}
	fresh := make([]float32, cc.c*cc.h*cc.w)
	Col2im(cols, cc.c, cc.h, cc.w, cc.kh, cc.kw, cc.stride, cc.pad, fresh)
	acc := make([]float32, len(fresh))
	for i := range acc {
		acc[i] = 10
	}
	Col2im(cols, cc.c, cc.h, cc.w, cc.kh, cc.kw, cc.stride, cc.pad, acc)
	for i := range acc {
		if acc[i] != fresh[i]+10 {
			t.Fatalf("dst[%d] = %v, want %v", i, acc[i], fresh[i]+10)
		}
	}
	// With 3×3 windows, stride 1 and pad 1, every pixel is covered 9 times
	// except along the border.
	if fresh[1*cc.w+1] != 9 || fresh[0] != 4 {
		t.Errorf("coverage: interior %v (want 9), corner %v (want 4)", fresh[1*cc.w+1], fresh[0])
	}
}

// TestConvIm2colSgemm checks that Sgemm on Im2col output is the direct
// convolution out[f][y][x] = Σ w[f][ci][ki][kj]·src[ci][y·s-p+ki][x·s-p+kj].
func TestConvIm2colSgemm(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	const filters = 7
	for _, cc := range convCases {
		t.Run(cc.String(), func(t *testing.T) {
			oh, ow := cc.out()
			kdim := cc.c * cc.kh * cc.kw
			src := randSlice(rng, cc.c*cc.h*cc.w)
			wts := randSlice(rng, filters*kdim)
			cols := make([]float32, kdim*oh*ow)
			Im2col(src, cc.c, cc.h, cc.w, cc.kh, cc.kw, cc.stride, cc.pad, cols)
			out := make([]float32, filters*oh*ow)
			Sgemm(false, false, filters, oh*ow, kdim, 1, wts, kdim, cols, oh*ow, 0, out, oh*ow)
			for f := 0; f < filters; f++ {
				for y := 0; y < oh; y++ {
					for x := 0; x < ow; x++ {
						var want, mag float64
						for ci := 0; ci < cc.c; ci++ {
							for ki := 0; ki < cc.kh; ki++ {
								for kj := 0; kj < cc.kw; kj++ {
									iy, ix := y*cc.stride-cc.pad+ki, x*cc.stride-cc.pad+kj
									if iy < 0 || iy >= cc.h || ix < 0 || ix >= cc.w {
										continue
									}
									p := float64(wts[f*kdim+(ci*cc.kh+ki)*cc.kw+kj]) * float64(src[(ci*cc.h+iy)*cc.w+ix])
									want += p
									mag += math.Abs(p)
								}
							}
						}
						tol := float64(kdim+1) / (1 << 24) * mag
						if got := out[f*oh*ow+y*ow+x]; math.Abs(float64(got)-want) > tol+1e-30 {
							t.Fatalf("out[%d][%d][%d] = %v, want %v", f, y, x, got, want)
						}
					}
				}
			}
		})
	}
}

// TestPadPhases checks PadPhases against padPhasesRef, its definition read
// pixel by pixel, over strides 1–3, odd sizes and uneven pads, on a cleared
// buffer, and that it writes nothing past its phases.
func TestPadPhases(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	for _, s := range []int{1, 2, 3} {
		for _, hw := range [][2]int{{1, 1}, {5, 7}, {28, 28}, {14, 9}, {3, 32}, {4, 64}, {6, 70}, {2, 33}, {3, 2}} {
			for _, p := range [][4]int{{0, 0, 0, 0}, {1, 1, 1, 1}, {0, 1, 2, 3}, {3, 2, 1, 0}} {
				g := ConvGeom{C: 3, H: hw[0], W: hw[1], KH: 3, KW: 3, Stride: s, Dilation: 1,
					PadTop: p[0], PadLeft: p[1], PadBottom: p[2], PadRight: p[3]}
				src := randSlice(r, g.C*g.H*g.W)
				hq, wq := PhaseDims(g)
				dst := randSlice(r, g.C*s*s*hq*wq+5)
				tail := dst[len(dst)-5:][0]
				clear(dst[:g.C*s*s*hq*wq])
				PadPhases(src, g, dst)
				want := make([]float32, g.C*s*s*hq*wq)
				padPhasesRef(src, g, want)
				for i, w := range want {
					if dst[i] != w {
						t.Fatalf("stride %d %v pads %v: phase plane %d at (%d,%d) = %v, want %v", s, hw, p, i/(hq*wq), i/wq%hq, i%wq, dst[i], w)
					}
				}
				if dst[len(dst)-5] != tail {
					t.Fatalf("stride %d %v pads %v: wrote past its phases", s, hw, p)
				}
			}
		}
	}
}
