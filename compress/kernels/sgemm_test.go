package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/compressq/compressq/compress/internal/cpu"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// sgemmFunc has Sgemm's signature; every implementation is tested through it.
type sgemmFunc func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)

// namedSgemm is one implementation under test.
type namedSgemm struct {
	name string
	f    sgemmFunc
}

// sgemmImpls lists the implementations that must agree with sgemmRef: the
// exported entry points, plus whichever fast path they do not reach in this
// run (gonum's when the assembly path is on, the assembly path itself when
// the CPU has it but COMPRESSQ_NOASM turned it off).
func sgemmImpls() []namedSgemm {
	impls := []namedSgemm{{"Sgemm", Sgemm}, {"SgemmSerial", SgemmSerial}}
	if useAsm {
		return append(impls, namedSgemm{"gonum", sgemmGonum})
	}
	return append(impls, asmImpls()...)
}

// sentinel is the NaN bit pattern written around C; a kernel that writes
// outside C changes it.
const sentinel = 0x7fc0dead

// guard is how many sentinel elements sit before and after C's storage.
const guard = 64

// sgemmCase is one Sgemm call with its operands laid out in memory.
type sgemmCase struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	pad            int // extra elements per row beyond the column count
}

func (tc sgemmCase) String() string {
	t := func(b bool) string {
		if b {
			return "T"
		}
		return "N"
	}
	return fmt.Sprintf("%s%s_%dx%dx%d_a%g_b%g_pad%d", t(tc.transA), t(tc.transB), tc.m, tc.n, tc.k, tc.alpha, tc.beta, tc.pad)
}

// sgemmData is one case's operands: C lives in buf between guard bands.
type sgemmData struct {
	a, b          []float32
	lda, ldb, ldc int
	buf           []float32 // guard | C storage (ldc-strided) | guard
	c0            []float32 // initial content of buf
}

func newSgemmData(rng *rand.Rand, tc sgemmCase) *sgemmData {
	ar, ac := tc.m, tc.k
	if tc.transA {
		ar, ac = tc.k, tc.m
	}
	br, bc := tc.k, tc.n
	if tc.transB {
		br, bc = tc.n, tc.k
	}
	d := &sgemmData{lda: ac + tc.pad, ldb: bc + tc.pad, ldc: tc.n + tc.pad}
	d.lda, d.ldb, d.ldc = max(d.lda, 1), max(d.ldb, 1), max(d.ldc, 1)
	d.a = randSlice(rng, max(0, (ar-1)*d.lda+ac))
	d.b = randSlice(rng, max(0, (br-1)*d.ldb+bc))
	clen := 0
	if tc.m > 0 {
		clen = (tc.m-1)*d.ldc + tc.n
	}
	d.c0 = make([]float32, guard+clen+guard)
	for i := range d.c0 {
		d.c0[i] = math.Float32frombits(sentinel)
	}
	for i := 0; i < tc.m; i++ {
		for j := 0; j < tc.n; j++ {
			v := rng.Float32()*2 - 1
			if tc.beta == 0 {
				v = float32(math.NaN()) // must not be read
			}
			d.c0[guard+i*d.ldc+j] = v
		}
	}
	d.buf = append([]float32(nil), d.c0...)
	return d
}

// c returns the C argument: exactly as long as its shape needs.
func (d *sgemmData) c() []float32 { return d.buf[guard : len(d.buf)-guard] }

func randSlice(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = rng.Float32()*2 - 1
	}
	return s
}

// sgemmTolerance returns, for each element of C (indexed like buf), the
// forward error bound of two float32 evaluations of the same sum,
//
//	|got - want| ≤ 2·(k+2)·u·(|alpha|·Σ_p |op(A)_ip|·|op(B)_pj| + |beta|·|C_ij|),
//
// with u = 2⁻²⁴ the unit roundoff: each result is within (k+2)·u·(…) of the
// exact value (Higham, Thm 3.5, with γ_n ≈ n·u).
func sgemmTolerance(tc sgemmCase, d *sgemmData) []float64 {
	const u = 1.0 / (1 << 24)
	tol := make([]float64, len(d.c0))
	for i := 0; i < tc.m; i++ {
		for j := 0; j < tc.n; j++ {
			var mag float64
			for p := 0; p < tc.k; p++ {
				mag += math.Abs(float64(at(d.a, d.lda, tc.transA, i, p)) * float64(at(d.b, d.ldb, tc.transB, p, j)))
			}
			mag *= math.Abs(float64(tc.alpha))
			idx := guard + i*d.ldc + j
			if tc.beta != 0 {
				mag += math.Abs(float64(tc.beta) * float64(d.c0[idx]))
			}
			tol[idx] = 2*float64(tc.k+2)*u*mag + 1e-30
		}
	}
	return tol
}

// checkSgemmResult compares got.buf with want.buf: sentinels and the gaps
// between rows must be bit-identical to the initial content, each element of
// C within its tolerance from sgemmTolerance.
func checkSgemmResult(t *testing.T, tc sgemmCase, d, got, want *sgemmData, tol []float64) {
	t.Helper()
	bad := 0
	for idx := range got.buf {
		off := idx - guard
		inC := idx >= guard && idx < len(got.buf)-guard && off%d.ldc < tc.n
		g, w := got.buf[idx], want.buf[idx]
		if !inC {
			if math.Float32bits(g) != math.Float32bits(d.c0[idx]) {
				t.Errorf("%v: element %d outside C changed: %x, want %x", tc, idx, math.Float32bits(g), math.Float32bits(d.c0[idx]))
				bad++
			}
		} else if diff := math.Abs(float64(g) - float64(w)); !(diff <= tol[idx]) {
			t.Errorf("%v: C[%d][%d] = %v, want %v (|diff| %.3g > tol %.3g)", tc, off/d.ldc, off%d.ldc, g, w, diff, tol[idx])
			bad++
		}
		if bad >= 5 {
			t.Fatalf("%v: too many mismatches", tc)
		}
	}
}

// at returns element (i, j) of op(X) for X stored row-major with stride ld.
func at(x []float32, ld int, trans bool, i, j int) float32 {
	if trans {
		return x[j*ld+i]
	}
	return x[i*ld+j]
}

// runSgemmCase checks every implementation against sgemmRef on one case.
func runSgemmCase(t *testing.T, rng *rand.Rand, tc sgemmCase, impls []namedSgemm) {
	t.Helper()
	d := newSgemmData(rng, tc)
	want := &sgemmData{buf: append([]float32(nil), d.c0...)}
	if tc.m > 0 && tc.n > 0 {
		sgemmRef(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, d.a, d.lda, d.b, d.ldb, tc.beta, want.c(), d.ldc)
	}
	tol := sgemmTolerance(tc, d)
	for _, im := range impls {
		got := &sgemmData{buf: append([]float32(nil), d.c0...)}
		im.f(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, d.a, d.lda, d.b, d.ldb, tc.beta, got.c(), d.ldc)
		t.Run(im.name, func(t *testing.T) { checkSgemmResult(t, tc, d, got, want, tol) })
	}
}

// TestSgemmOddShapes sweeps every combination of m, n, k from odd sizes
// around the register and cache blocks, in all four transpose combinations,
// cycling through alpha, beta and stride padding.
func TestSgemmOddShapes(t *testing.T) {
	dims := []int{1, 3, 15, 17, 31, 33, 63, 65, 127, 257}
	if testing.Short() {
		dims = []int{1, 3, 17, 33, 65}
	}
	alphas := []float32{1, -0.5, 2.5}
	betas := []float32{0, 1, -1.5, 0.25}
	pads := []int{0, 1, 7}
	rng := rand.New(rand.NewPCG(1, 2))
	impls := sgemmImpls()
	i := 0
	for _, m := range dims {
		for _, n := range dims {
			for _, k := range dims {
				for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
					tc := sgemmCase{tr[0], tr[1], m, n, k, alphas[i%len(alphas)], betas[i%len(betas)], pads[i%len(pads)]}
					i++
					runSgemmCase(t, rng, tc, impls)
				}
			}
		}
	}
}

// TestSgemmScalars covers every alpha/beta special case (0, 1, other) and
// the empty dimensions, on shapes with edge tiles in both directions.
func TestSgemmScalars(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	impls := sgemmImpls()
	shapes := [][3]int{{7, 19, 5}, {13, 35, 300}, {0, 5, 3}, {5, 0, 3}, {5, 6, 0}, {600, 20, 9}}
	for _, sh := range shapes {
		for _, alpha := range []float32{0, 1, -2} {
			for _, beta := range []float32{0, 1, 0.5} {
				for _, tr := range [][2]bool{{false, false}, {true, true}} {
					runSgemmCase(t, rng, sgemmCase{tr[0], tr[1], sh[0], sh[1], sh[2], alpha, beta, 3}, impls)
				}
			}
		}
	}
}

// TestSgemmBlocking crosses the mc, kc and nc cache-block boundaries, where
// beta must apply once and later k blocks accumulate.
func TestSgemmBlocking(t *testing.T) {
	if testing.Short() {
		t.Skip("large shapes")
	}
	rng := rand.New(rand.NewPCG(5, 6))
	impls := sgemmImpls()
	for _, tc := range []sgemmCase{
		{false, false, 145, 33, 513, 1, 0.5, 0},
		{true, false, 300, 17, 257, -1, 0, 2},
		{false, true, 7, 4097, 260, 0.5, 2, 1},
		{true, true, 151, 4100, 3, 1, 1, 0},
	} {
		runSgemmCase(t, rng, tc, impls)
	}
}

// TestSgemmPanics checks the boundary checks name the bad argument.
func TestSgemmPanics(t *testing.T) {
	a := make([]float32, 12)
	tests := []struct {
		name string
		call func()
	}{
		{"negative m", func() { Sgemm(false, false, -1, 2, 2, 1, a, 2, a, 2, 0, a, 2) }},
		{"short lda", func() { Sgemm(false, false, 2, 2, 3, 1, a, 2, a, 2, 0, a, 2) }},
		{"short ldb trans", func() { Sgemm(false, true, 2, 2, 3, 1, a, 3, a, 2, 0, a, 2) }},
		{"short c", func() { Sgemm(false, false, 4, 4, 1, 1, a, 1, a, 4, 0, a, 4) }},
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

// TestNoAsmEnv checks the kill switch: with COMPRESSQ_NOASM=1 at start-up
// the assembly path must be off and ImplReason must say so.
func TestNoAsmEnv(t *testing.T) {
	if os.Getenv(cpu.NoAsmEnv) == "1" && (useAsm || ImplReason() != cpu.ReasonNoAsmEnv && ImplReason() != cpu.ReasonPureGo) {
		t.Fatalf("%s=1 but useAsm = %v, ImplReason() = %q", cpu.NoAsmEnv, useAsm, ImplReason())
	}
	t.Logf("Impl() = %s, reason %q", Impl(), ImplReason())
}

// fuzzScalars are the alpha and beta values the fuzzer picks from; NaN and
// infinities are left out since the tolerance check needs finite results.
var fuzzScalars = []float32{0, 1, -1, 0.5, -3, 1e-3}

// FuzzSgemm checks every implementation against sgemmRef on fuzzed small
// shapes, transposes, scalars, strides and data.
func FuzzSgemm(f *testing.F) {
	f.Add(uint8(6), uint8(16), uint8(4), false, false, uint8(1), uint8(0), uint8(0), uint64(1))
	f.Add(uint8(7), uint8(17), uint8(33), true, true, uint8(2), uint8(3), uint8(2), uint64(2))
	f.Add(uint8(1), uint8(1), uint8(1), true, false, uint8(4), uint8(1), uint8(1), uint64(3))
	f.Add(uint8(0), uint8(5), uint8(0), false, true, uint8(1), uint8(2), uint8(0), uint64(4))
	impls := sgemmImpls()
	f.Fuzz(func(t *testing.T, m, n, k uint8, ta, tb bool, ai, bi, pad uint8, seed uint64) {
		tc := sgemmCase{
			transA: ta, transB: tb,
			m: int(m % 41), n: int(n % 41), k: int(k % 70),
			alpha: fuzzScalars[int(ai)%len(fuzzScalars)],
			beta:  fuzzScalars[int(bi)%len(fuzzScalars)],
			pad:   int(pad % 5),
		}
		runSgemmCase(t, rand.New(rand.NewPCG(seed, 7)), tc, impls)
	})
}
