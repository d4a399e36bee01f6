//go:build !purego

package kernels

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/compressq/compressq/compress/internal/cpu"
)

// asmImpls returns the assembly paths when the CPU can run them, each behind
// Sgemm's front end (checks and trivial cases), whatever COMPRESSQ_NOASM says.
func asmImpls() []namedSgemm {
	if !hasAVX2FMA {
		return nil
	}
	return []namedSgemm{{"asm", withFront(sgemmParallel)}, {"asmSerial", withFront(sgemmBlocked)}}
}

// withFront wraps a fast path in Sgemm's checks and trivial cases.
func withFront(f sgemmFunc) sgemmFunc {
	return func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
		checkSgemm(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
		if m == 0 || n == 0 {
			return
		}
		if alpha == 0 || k == 0 {
			scaleC(m, n, beta, c, ldc)
			return
		}
		f(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	}
}

// TestDispatch checks that the CPU flags and the kill switch decide useAsm,
// and that the assembly passed its start-up self-test where it may run.
func TestDispatch(t *testing.T) {
	want := hasAVX2FMA && cpu.Asm
	if useAsm != want {
		t.Errorf("useAsm = %v, want %v (AVX2+FMA %v, assembly allowed %v, reason %q)", useAsm, want, hasAVX2FMA, cpu.Asm, ImplReason())
	}
	if usePad512 != use512 {
		t.Errorf("usePad512 = %v with use512 = %v: the AVX-512 row copies of PadPhases failed their start-up self-test", usePad512, use512)
	}
}

// TestPack checks packA and packB against their definitions for every
// transpose, with partial slivers and k not a multiple of the 8-wide
// assembly transpose.
func TestPack(t *testing.T) {
	if !hasAVX2FMA {
		t.Skip("no AVX2+FMA")
	}
	rng := rand.New(rand.NewPCG(9, 9))
	for _, trans := range []bool{false, true} {
		for _, sh := range [][2]int{{1, 1}, {6, 8}, {16, 8}, {13, 21}, {35, 67}} {
			rows, kb := sh[0], sh[1]
			const pad, i0, p0 = 3, 2, 5 // block origin inside the stored matrix
			// A: op(A) is (i0+rows)×(p0+kb).
			ar, ac := i0+rows, p0+kb
			if trans {
				ar, ac = ac, ar
			}
			ld := ac + pad
			x := randSlice(rng, ar*ld)
			opx := func(i, p int) float32 { return at(x, ld, trans, i, p) }

			gotA := make([]float32, roundUp(rows, mr)*kb)
			for i := range gotA {
				gotA[i] = float32(math.NaN())
			}
			packA(trans, x, ld, i0, p0, rows, kb, gotA, make([]float32, nr*kb))
			for s := 0; s < len(gotA)/(mr*kb); s++ {
				for p := 0; p < kb; p++ {
					for r := 0; r < mr; r++ {
						want := float32(0)
						if i := s*mr + r; i < rows {
							want = opx(i0+i, p0+p)
						}
						if g := gotA[s*mr*kb+p*mr+r]; g != want {
							t.Fatalf("packA trans=%v %dx%d: sliver %d p %d r %d = %v, want %v", trans, rows, kb, s, p, r, g, want)
						}
					}
				}
			}

			// B: op(B) is (p0+kb)×(i0+rows); use rows as the column count.
			opb := func(p, j int) float32 { return at(x, ld, trans, j, p) }
			gotB := make([]float32, kb*roundUp(rows, nr))
			for i := range gotB {
				gotB[i] = float32(math.NaN())
			}
			packB(!trans, x, ld, p0, i0, kb, rows, gotB, make([]float32, nr*kb))
			for s := 0; s < len(gotB)/(nr*kb); s++ {
				for p := 0; p < kb; p++ {
					for j := 0; j < nr; j++ {
						want := float32(0)
						if jj := s*nr + j; jj < rows {
							want = opb(p0+p, i0+jj)
						}
						if g := gotB[s*nr*kb+p*nr+j]; g != want {
							t.Fatalf("packB trans=%v %dx%d: sliver %d p %d j %d = %v, want %v", !trans, kb, rows, s, p, j, g, want)
						}
					}
				}
			}
		}
	}
}

// BenchmarkKernel6x16 times the micro-kernel alone on L1-resident packed
// panels (k = 256), the ceiling for the blocked Sgemm.
func BenchmarkKernel6x16(b *testing.B) {
	if !hasAVX2FMA {
		b.Skip("no AVX2+FMA")
	}
	const k = 256
	rng := rand.New(rand.NewPCG(1, 1))
	a, bp, c := randSlice(rng, mr*k), randSlice(rng, k*nr), make([]float32, mr*nr)
	cpu0 := processCPU()
	for b.Loop() {
		sgemmKernel6x16(k, &a[0], &bp[0], &c[0], nr, 1, 0, mr, nr)
	}
	flops := 2 * mr * nr * k * float64(b.N)
	b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	if cpu := processCPU() - cpu0; cpu > 0 {
		b.ReportMetric(flops/cpu.Seconds()/1e9, "GFLOP/cpu-s")
	}
}

// TestSgemmAVX512MatchesAVX2 runs the blocked Sgemm with and without the
// AVX-512 6×32 micro-kernel over odd shapes, every transpose, alpha 1 and
// not, beta 0 and not, and requires the same bits: both kernels accumulate
// each element in the same order. It runs where the CPU has AVX-512F.
func TestSgemmAVX512MatchesAVX2(t *testing.T) {
	if !hasAVX2FMA || !cpu.AVX512F {
		t.Skip("the CPU lacks AVX-512F")
	}
	saved := use512
	defer func() { use512 = saved }()
	r := rand.New(rand.NewPCG(7, 8))
	for _, m := range []int{1, 5, 6, 7, 13, 40} {
		for _, n := range []int{1, 15, 16, 17, 31, 32, 33, 50, 97} {
			for _, k := range []int{1, 3, 4, 9, 300} {
				for _, tA := range []bool{false, true} {
					for _, tB := range []bool{false, true} {
						lda, ldb, ldc := k+1, n+2, n+3
						if tA {
							lda = m + 1
						}
						if tB {
							ldb = k + 2
						}
						a := randSlice(r, max(m, k)*lda)
						b := randSlice(r, max(n, k)*ldb)
						c0 := randSlice(r, m*ldc)
						for _, ab := range [][2]float32{{1, 0}, {-0.5, 1.25}} {
							var got [2][]float32
							for i, on := range []bool{false, true} {
								use512 = on
								got[i] = append([]float32(nil), c0...)
								sgemmBlocked(tA, tB, m, n, k, ab[0], a, lda, b, ldb, ab[1], got[i], ldc)
							}
							for i := range c0 {
								if math.Float32bits(got[0][i]) != math.Float32bits(got[1][i]) {
									t.Fatalf("m=%d n=%d k=%d tA=%v tB=%v alpha=%v beta=%v: c[%d] AVX2 %v, AVX-512 %v",
										m, n, k, tA, tB, ab[0], ab[1], i, got[0][i], got[1][i])
								}
							}
						}
					}
				}
			}
		}
	}
}

// BenchmarkSgemmAVX512 times the serial blocked Sgemm with and without the
// AVX-512 micro-kernel on one goroutine, in GFLOP/s, on a square product
// and on the shapes of the PyTorch ResNet fixture's 3×3 convolutions (one
// image's im2col GEMM). It runs where the CPU has AVX-512F.
//
//	go test -run '^$' -bench SgemmAVX512 -count 5 ./compress/kernels/
func BenchmarkSgemmAVX512(b *testing.B) {
	if !hasAVX2FMA || !cpu.AVX512F {
		b.Skip("the CPU lacks AVX-512F")
	}
	saved := use512
	defer func() { use512 = saved }()
	r := rand.New(rand.NewPCG(1, 2))
	for _, s := range []struct {
		name    string
		m, n, k int
	}{{"1024x1024x1024", 1024, 1024, 1024}, {"conv16_16x784x144", 16, 784, 144}, {"conv32_32x196x288", 32, 196, 288}} {
		a, bm, c := randSlice(r, s.m*s.k), randSlice(r, s.k*s.n), make([]float32, s.m*s.n)
		for _, on := range []bool{false, true} {
			name := "avx2"
			if on {
				name = "avx512"
			}
			b.Run(s.name+"/"+name, func(b *testing.B) {
				use512 = on
				for b.Loop() {
					sgemmBlocked(false, false, s.m, s.n, s.k, 1, a, s.k, bm, s.n, 0, c, s.n)
				}
				b.ReportMetric(2*float64(s.m*s.n*s.k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

// TestOffsetRowsInPlace checks the indirect AVX-512 kernels (B read in
// place through row offsets) against Sgemm on the gathered B over odd
// shapes: 1–6 and 7–12 row tiles, partial 32-column tiles, several K
// blocks, beta 0 and not. It runs where the CPU has AVX-512F.
func TestOffsetRowsInPlace(t *testing.T) {
	if !use512 {
		t.Skip("the AVX-512 kernels are not in use on this CPU")
	}
	r := rand.New(rand.NewPCG(13, 14))
	for _, m := range []int{1, 5, 7, 12, 16, 29} {
		for _, n := range []int{1, 17, 32, 33, 70, 210} {
			for _, k := range []int{1, 9, 144, 300} {
				buf := randSlice(r, n+2*k+64)
				off := make([]int, k)
				for p := range off {
					off[p] = r.IntN(len(buf) - roundUp(n, 32) + 1)
				}
				g := make([]float32, k*n)
				for p := range k {
					copy(g[p*n:(p+1)*n], buf[off[p]:])
				}
				a := randSlice(r, m*(k+1))
				for _, beta := range []float32{0, -0.5} {
					c0 := randSlice(r, m*(n+2))
					want := append([]float32(nil), c0...)
					sgemmBlocked(false, false, m, n, k, 1, a, k+1, g, n, beta, want, n+2)
					got := append([]float32(nil), c0...)
					offsetRowsInPlace(m, n, k, a, k+1, buf, off, beta, got, n+2)
					for i := range want {
						if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
							t.Fatalf("m=%d n=%d k=%d beta=%v: c[%d] = %v, packed kernels %v", m, n, k, beta, i, got[i], want[i])
						}
					}
				}
			}
		}
	}
}

// TestOffsetRowsBiasClampAVX2 runs the AVX2 fused-epilogue kernels directly
// (also where AVX-512 would take their place) against gonum's Sgemm on the
// gathered B and the pure-Go epilogue: every row count up to two A blocks
// (mc), with panels of 6 and 4 rows and partial ones, runs of kept columns
// of 8 (one group), 9–15 (a group overlapping the one before), 28 and 14
// (the ResNet's rows), a whole row (width = stride) and a partial last
// run, an odd number of groups, K from 1 to past one K block, clamps open
// and closed, NaN passing through, and nothing written outside the kept
// columns; bit for bit against the unfused indirect path where K is one
// block. It also checks the runs shorter than 8 are refused.
func TestOffsetRowsBiasClampAVX2(t *testing.T) {
	if !hasAVX2FMA || !cpu.Asm {
		t.Skip("the AVX2 kernels cannot run: no AVX2+FMA, or assembly disabled")
	}
	r := rand.New(rand.NewPCG(31, 32))
	inf := float32(math.Inf(1))
	type shape struct{ n, stride, width int }
	shapes := []shape{{8, 8, 8}, {29, 10, 9}, {30 * 28, 30, 28}, {16 * 14, 16, 14}, {70, 70, 70}, {33, 11, 11}, {34, 12, 10}, {3 * 17, 17, 15}, {40, 20, 8}}
	for _, m := range []int{1, 2, 4, 5, 6, 7, 8, 10, 11, 14, 16, 32, 150, 300} {
		for _, s := range shapes {
			for _, k := range []int{1, 9, 144, 300} {
				if m*s.n*k > 3_000_000 {
					continue
				}
				buf := randSlice(r, s.n+3*k+8)
				off := make([]int, k)
				for p := range off {
					off[p] = r.IntN(len(buf) - s.n + 1)
				}
				if k > 3 {
					buf[off[2]+s.width/2] = float32(math.NaN())
				}
				g := make([]float32, k*s.n)
				for p := range k {
					copy(g[p*s.n:(p+1)*s.n], buf[off[p]:])
				}
				a, bias := randSlice(r, m*(k+1)), randSlice(r, m)
				kept := keptColumns(s.n, s.stride, s.width)
				ldc := kept + 5
				for _, clamp := range [][2]float32{{-inf, inf}, {-0.5, 0.5}} {
					prod, wide := make([]float32, m*s.n), make([]float32, m*s.n)
					sgemmGonum(false, false, m, s.n, k, 1, a, k+1, g, s.n, 0, prod, s.n)
					blocked(false, m, s.n, k, 1, a, k+1, bSource{b: buf, off: off}, 0, wide, s.n)
					got := randSlice(r, m*ldc)
					want, exact := make([]float32, len(got)), make([]float32, len(got))
					copy(want, got)
					copy(exact, got)
					compactBiasClampRef(m, s.n, s.stride, s.width, prod, s.n, bias, clamp[0], clamp[1], want, ldc)
					compactBiasClampRef(m, s.n, s.stride, s.width, wide, s.n, bias, clamp[0], clamp[1], exact, ldc)
					if !offsetRowsBiasClampAVX2(m, s.n, k, a, k+1, buf, off, s.stride, s.width, bias, clamp[0], clamp[1], got, ldc) {
						t.Fatalf("m=%d n=%d stride=%d width=%d: refused", m, s.n, s.stride, s.width)
					}
					for i := range want {
						w, v := float64(want[i]), float64(got[i])
						if math.IsNaN(w) != math.IsNaN(v) || math.Abs(v-w) > 1e-4*(1+math.Abs(w)) {
							t.Fatalf("m=%d n=%d k=%d stride=%d width=%d clamp=%v: c[%d] = %v, want %v", m, s.n, k, s.stride, s.width, clamp, i, got[i], want[i])
						}
						// The same chain of multiply-adds as the unfused
						// kernel where K is one of its blocks.
						if k <= kc && math.Float32bits(exact[i]) != math.Float32bits(got[i]) && !(math.IsNaN(w) && math.IsNaN(v)) {
							t.Fatalf("m=%d n=%d k=%d stride=%d width=%d clamp=%v: fused c[%d] = %v, unfused %v", m, s.n, k, s.stride, s.width, clamp, i, got[i], exact[i])
						}
					}
				}
			}
		}
	}
	for _, s := range []shape{{30, 30, 7}, {20, 10, 10 - 3}, {25, 10, 9}} { // a run of 7, 7, and a last run of 5
		c := make([]float32, 4*s.n)
		if offsetRowsBiasClampAVX2(2, s.n, 1, []float32{1, 1}, 1, make([]float32, 2*s.n), []int{0}, s.stride, s.width, []float32{0, 0}, 0, 1, c, s.n) {
			t.Errorf("n=%d stride=%d width=%d: a run shorter than 8 accepted", s.n, s.stride, s.width)
		}
	}
}
