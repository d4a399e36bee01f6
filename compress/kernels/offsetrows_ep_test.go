package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestSgemmOffsetRowsBiasClamp compares SgemmOffsetRowsBiasClamp with Sgemm
// on the gathered B followed by the pure-Go epilogue, over odd shapes: every
// tile height and its partial rows, more rows than one A block (mc),
// partial 32-column tiles, strides with one to most columns kept, one and
// several K blocks, clamps open and closed, NaN passing through. On the
// fused assembly kernels (AVX-512, or AVX2 where every kept run is 8 wide)
// it also requires the same bits as the unfused indirect ones where K fits
// one block (same summation order).
func TestSgemmOffsetRowsBiasClamp(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	inf := float32(math.Inf(1))
	for _, m := range []int{1, 2, 3, 5, 6, 7, 8, 11, 12, 13, 16, 29, 32, 150} {
		for _, sw := range [][2]int{{1, 1}, {30, 28}, {16, 14}, {9, 1}, {70, 70}, {40, 33}} {
			stride, width := sw[0], sw[1]
			for _, n := range []int{1, 17, 32, 33, 70, 210} {
				for _, k := range []int{1, 9, 144, 300} {
					if m*n*k > 2_000_000 {
						continue
					}
					buf := randSlice(r, n+3*k+64)
					off := make([]int, k)
					for p := range off {
						off[p] = r.IntN(len(buf) - (n+31)/32*32 + 1)
					}
					if k > 3 {
						buf[off[2]+n/2] = float32(math.NaN())
					}
					g := make([]float32, k*n)
					for p := range k {
						copy(g[p*n:(p+1)*n], buf[off[p]:])
					}
					a, bias := randSlice(r, m*(k+2)), randSlice(r, m)
					kept := keptColumns(n, stride, width)
					ldc := kept + 3
					for _, clamp := range [][2]float32{{-inf, inf}, {0, 6}} {
						prod := make([]float32, m*n)
						Sgemm(false, false, m, n, k, 1, a, k+2, g, n, 0, prod, n)
						want := make([]float32, m*ldc)
						compactBiasClampRef(m, n, stride, width, prod, n, bias, clamp[0], clamp[1], want, ldc)
						got := randSlice(r, m*ldc)
						for i := range m {
							copy(want[i*ldc+kept:(i+1)*ldc], got[i*ldc+kept:(i+1)*ldc]) // untouched
						}
						SgemmOffsetRowsBiasClamp(m, n, k, a, k+2, buf, off, stride, width, bias, clamp[0], clamp[1], got, ldc)
						for i := range want {
							w, v := float64(want[i]), float64(got[i])
							if math.IsNaN(w) != math.IsNaN(v) || math.Abs(v-w) > 1e-4*(1+math.Abs(w)) {
								t.Fatalf("m=%d n=%d k=%d stride=%d width=%d clamp=%v: c[%d] = %v, want %v", m, n, k, stride, width, clamp, i, got[i], want[i])
							}
						}
						if !useAsm || k > 256 { // one K block (kc) of the unfused kernels
							continue
						}
						wide := make([]float32, m*n)
						SgemmOffsetRows(m, n, k, a, k+2, buf, off, 0, wide, n)
						exact := make([]float32, m*ldc)
						copy(exact, got)
						compactBiasClampRef(m, n, stride, width, wide, n, bias, clamp[0], clamp[1], exact, ldc)
						for i := range exact {
							if math.Float32bits(exact[i]) != math.Float32bits(got[i]) {
								t.Fatalf("m=%d n=%d k=%d stride=%d width=%d: fused c[%d] = %v, unfused %v", m, n, k, stride, width, i, got[i], exact[i])
							}
						}
					}
				}
			}
		}
	}
}

// TestSgemmOffsetRowsBiasClampChecks checks the argument checks.
func TestSgemmOffsetRowsBiasClampChecks(t *testing.T) {
	for name, f := range map[string]func(){
		"width > stride": func() {
			SgemmOffsetRowsBiasClamp(1, 4, 1, []float32{1}, 1, make([]float32, 40), []int{0}, 2, 3, []float32{0}, 0, 1, make([]float32, 4), 4)
		},
		"short C": func() {
			SgemmOffsetRowsBiasClamp(2, 4, 1, []float32{1, 1}, 1, make([]float32, 40), []int{0}, 4, 4, []float32{0, 0}, 0, 1, make([]float32, 7), 4)
		},
		"short bias": func() {
			SgemmOffsetRowsBiasClamp(2, 4, 1, []float32{1, 1}, 1, make([]float32, 40), []int{0}, 4, 4, []float32{0}, 0, 1, make([]float32, 8), 4)
		},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}

// BenchmarkConvShifted times SgemmOffsetRowsBiasClamp on the ResNet
// fixture's stride-1 3×3 convolutions as forwardShifted runs them (one
// image: 16 channels of 28×28, and 32 of 14×14, zero-padded by one), in
// GFLOP/s, beside the unfused SgemmOffsetRows plus epilogue.
//
//	go test -run '^$' -bench ConvShifted -count 5 ./compress/kernels/
func BenchmarkConvShifted(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, s := range []struct {
		name    string
		c, h, w int
	}{{"16x28x28", 16, 28, 28}, {"32x14x14", 32, 14, 14}} {
		hp, wp := s.h+2, s.w+2
		img := randSlice(r, s.c*hp*wp+64)
		var off []int
		for ci := range s.c {
			for ki := range 3 {
				for kj := range 3 {
					off = append(off, ci*hp*wp+ki*wp+kj)
				}
			}
		}
		m, k, n := s.c, len(off), s.h*wp
		a, bias := randSlice(r, m*k), randSlice(r, m)
		c, wide := make([]float32, m*s.h*s.w), make([]float32, m*n)
		flops := 2 * float64(m*k*s.h*s.w)
		b.Run(s.name+"/fused", func(b *testing.B) {
			for b.Loop() {
				SgemmOffsetRowsBiasClamp(m, n, k, a, k, img, off, wp, s.w, bias, 0, 6, c, s.h*s.w)
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
		b.Run(s.name+"/unfused", func(b *testing.B) {
			for b.Loop() {
				SgemmOffsetRows(m, n, k, a, k, img, off, 0, wide, n)
				compactBiasClamp(m, n, wp, s.w, wide, n, bias, 0, 6, c, s.h*s.w)
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
