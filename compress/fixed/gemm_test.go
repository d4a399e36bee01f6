package fixed

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"go.uber.org/goleak"

	"github.com/compressq/compressq/compress/internal/cpu"
)

// TestMain fails the run if a test leaves a goroutine behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// sentinel fills the guard bands around and between the rows of every C
// buffer; a kernel writing out of bounds changes one of them.
const sentinel int32 = -0x5A5A5A5B

// guardBand is the number of sentinel elements before and after C.
const guardBand = 67

// problem is one GEMM test case with its inputs in unpacked form.
type problem struct {
	m, n, k  int
	a        []uint8
	lda      int
	aZero    uint8
	b        []int8 // [k, n], row stride n
	ldc      int
	threads  int
	describe string
}

// newProblem fills a problem with values drawn by gen for A and B.
func newProblem(m, n, k, padA, padC int, aZero uint8, genA func() uint8, genB func() int8) *problem {
	p := &problem{m: m, n: n, k: k, lda: max(1, k+padA), aZero: aZero, ldc: max(1, n+padC)}
	p.a = make([]uint8, m*p.lda)
	for i := range p.a {
		p.a[i] = genA()
	}
	p.b = make([]int8, k*n)
	for i := range p.b {
		p.b[i] = genB()
	}
	p.describe = fmt.Sprintf("m=%d n=%d k=%d lda=%d ldc=%d aZero=%d", m, n, k, p.lda, p.ldc, aZero)
	return p
}

// guardedC returns a C buffer of p's shape inside guard bands, all
// sentinel, and the slice GEMM must write.
func (p *problem) guardedC() (whole, c []int32) {
	size := 0
	if p.m > 0 {
		size = (p.m-1)*p.ldc + p.n
	}
	whole = make([]int32, guardBand+size+guardBand)
	for i := range whole {
		whole[i] = sentinel
	}
	return whole, whole[guardBand : guardBand+size]
}

// checkC fails t unless the guarded buffer holds want (m×n, dense) in its
// rows and sentinels everywhere else.
func (p *problem) checkC(t *testing.T, which string, whole []int32, want []int32) {
	t.Helper()
	bad := 0
	for idx, v := range whole {
		exp := sentinel
		if o := idx - guardBand; o >= 0 && p.m > 0 && o < (p.m-1)*p.ldc+p.n && o%p.ldc < p.n {
			exp = want[(o/p.ldc)*p.n+o%p.ldc]
		}
		if v != exp {
			if bad < 5 {
				t.Errorf("%s %s: whole[%d] (C offset %d) = %d, want %d", which, p.describe, idx, idx-guardBand, v, exp)
			}
			bad++
		}
	}
	if bad > 0 {
		t.Fatalf("%s %s: %d wrong elements", which, p.describe, bad)
	}
}

// reference returns GEMMRef's dense m×n result for p.
func (p *problem) reference() []int32 {
	want := make([]int32, p.m*p.n)
	GEMMRef(p.m, p.n, p.k, p.a, p.lda, p.aZero, p.b, max(1, p.n), want, max(1, p.n))
	return want
}

// checkAll runs p on every available implementation, from PackB and from
// PackBT, and compares each with GEMMRef element for element.
func (p *problem) checkAll(t *testing.T) {
	t.Helper()
	want := p.reference()
	bt := make([]int8, p.n*p.k)
	for kk := 0; kk < p.k; kk++ {
		for j := 0; j < p.n; j++ {
			bt[j*p.k+kk] = p.b[kk*p.n+j]
		}
	}
	packs := []*PackedB{PackB(p.b, p.k, p.n, max(1, p.n)), PackBT(bt, p.n, p.k, max(1, p.k))}
	for _, which := range available() {
		for pi, pb := range packs {
			whole, c := p.guardedC()
			gemm(which, p.m, p.a, p.lda, p.aZero, pb, c, p.ldc, Options{Threads: p.threads})
			p.checkC(t, fmt.Sprintf("%s/pack%d", which, pi), whole, want)
		}
	}
}

func uniformA(r *rand.Rand) func() uint8 { return func() uint8 { return uint8(r.Uint32()) } }
func uniformB(r *rand.Rand) func() int8  { return func() int8 { return int8(r.Uint32()) } }

// extremeA draws mostly from {0, 1, 127, 128, 254, 255}, extremeB from
// {−128, −127, −1, 0, 1, 127}: the corners where saturating or sign bugs
// show.
func extremeA(r *rand.Rand) func() uint8 {
	vals := []uint8{0, 1, 127, 128, 254, 255}
	return func() uint8 { return vals[r.IntN(len(vals))] }
}

func extremeB(r *rand.Rand) func() int8 {
	vals := []int8{-128, -127, -1, 0, 1, 127}
	return func() int8 { return vals[r.IntN(len(vals))] }
}

func TestGEMMShapes(t *testing.T) {
	dims := []int{1, 3, 15, 17, 63, 65, 127, 257}
	r := rand.New(rand.NewPCG(1, 2))
	for _, m := range dims {
		for _, n := range dims {
			for _, k := range dims {
				if testing.Short() && m*n*k > 65*65*65 {
					continue
				}
				zero := uint8(r.IntN(256))
				p := newProblem(m, n, k, r.IntN(3), r.IntN(3), zero, uniformA(r), uniformB(r))
				p.checkAll(t)
			}
		}
	}
}

// TestGEMMNarrow covers the 16-column VNNI kernel of narrow layers: last
// panels of 16 columns stored in place (n 16, 48) and fewer through the
// tile, with full and partial 8-row micro-panels.
func TestGEMMNarrow(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, m := range []int{8, 9, 16, 23, 64} {
		for _, n := range []int{1, 8, 15, 16, 48} {
			for _, k := range []int{1, 4, 17, 150} {
				p := newProblem(m, n, k, r.IntN(3), r.IntN(3), uint8(r.IntN(256)), uniformA(r), uniformB(r))
				p.checkAll(t)
			}
		}
	}
}

func TestGEMMExtremes(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	constA := func(v uint8) func() uint8 { return func() uint8 { return v } }
	constB := func(v int8) func() int8 { return func() int8 { return v } }
	tests := []struct {
		name  string
		aZero uint8
		genA  func() uint8
		genB  func() int8
	}{
		{"255x-128", 0, constA(255), constB(-128)},
		{"255x127", 0, constA(255), constB(127)},
		{"255x-127", 0, constA(255), constB(-127)},
		{"0x-128 zero255", 255, constA(0), constB(-128)},
		{"0x127 zero255", 255, constA(0), constB(127)},
		{"255x-128 zero128", 128, constA(255), constB(-128)},
		{"mixed corners", 0, extremeA(r), extremeB(r)},
		{"mixed corners zero255", 255, extremeA(r), extremeB(r)},
		{"mixed corners zero17", 17, extremeA(r), extremeB(r)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, s := range [][3]int{{1, 1, 1}, {17, 33, 257}, {65, 65, 127}, {9, 31, 1025}, {7, 64, 3}} {
				p := newProblem(s[0], s[1], s[2], 1, 3, tt.aZero, tt.genA, tt.genB)
				p.checkAll(t)
			}
		})
	}
}

// TestGEMMWraps checks that all paths agree modulo 2³² when K is so long
// (K > 65793) that the exact sum leaves the int32 range.
func TestGEMMWraps(t *testing.T) {
	const k = 70001
	p := newProblem(9, 33, k, 0, 0, 0, func() uint8 { return 255 }, func() int8 { return -128 })
	want := p.reference()
	if exact := int64(k) * 255 * -128; int64(want[0]) == exact {
		t.Fatalf("reference did not wrap: %d", want[0])
	}
	p.checkAll(t)
}

func TestGEMMThreads(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, s := range [][3]int{{300, 200, 100}, {3, 700, 1000}, {1, 1000, 3000}, {129, 31, 2000}} {
		for _, threads := range []int{1, 2, 3} {
			p := newProblem(s[0], s[1], s[2], 0, 1, uint8(r.IntN(256)), uniformA(r), uniformB(r))
			p.threads = threads
			p.describe += fmt.Sprintf(" threads=%d", threads)
			p.checkAll(t)
		}
	}
}

func TestGEMMZeroSizes(t *testing.T) {
	for _, s := range [][3]int{{0, 5, 5}, {5, 0, 5}, {5, 5, 0}, {0, 0, 0}} {
		p := newProblem(s[0], s[1], s[2], 0, 0, 3, func() uint8 { return 9 }, func() int8 { return 9 })
		p.checkAll(t)
	}
}

func TestGEMMPanicsOnBadShapes(t *testing.T) {
	b := PackB(make([]int8, 12), 3, 4, 4)
	tests := []struct {
		name string
		call func()
	}{
		{"short A", func() { GEMM(2, make([]uint8, 5), 3, 0, b, make([]int32, 8), 4, Options{}) }},
		{"short C", func() { GEMM(2, make([]uint8, 6), 3, 0, b, make([]int32, 7), 4, Options{}) }},
		{"small lda", func() { GEMM(2, make([]uint8, 6), 2, 0, b, make([]int32, 8), 4, Options{}) }},
		{"small ldc", func() { GEMM(2, make([]uint8, 6), 3, 0, b, make([]int32, 8), 3, Options{}) }},
		{"negative m", func() { GEMM(-1, nil, 3, 0, b, nil, 4, Options{}) }},
		{"short B", func() { PackB(make([]int8, 11), 3, 4, 4) }},
		{"short Bt", func() { PackBT(make([]int8, 11), 4, 3, 3) }},
		{"ref short C", func() { GEMMRef(2, 4, 3, make([]uint8, 6), 3, 0, make([]int8, 12), 4, make([]int32, 7), 4) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("%s did not panic", tt.name)
				}
			}()
			tt.call()
		})
	}
}

func TestColSums(t *testing.T) {
	b := []int8{1, -2, 3, 127, -128, 5} // [2, 3]
	got := PackB(b, 2, 3, 3).ColSums()
	if want := []int32{128, -130, 8}; !slices.Equal(got, want) {
		t.Fatalf("ColSums = %v, want %v", got, want)
	}
}

// TestUnpackT checks that UnpackT returns what PackBT packed, for shapes
// with partial panels and K groups.
func TestUnpackT(t *testing.T) {
	for _, sh := range [][2]int{{1, 1}, {3, 5}, {33, 7}, {70, 129}} {
		n, k := sh[0], sh[1]
		bt := make([]int8, n*k)
		for i := range bt {
			bt[i] = int8(i*37 + 11)
		}
		if got := PackBT(bt, n, k, k).UnpackT(); !slices.Equal(got, bt) {
			t.Errorf("%d×%d: UnpackT differs from the packed matrix", n, k)
		}
	}
}

func TestInt8ToUint8(t *testing.T) {
	src := []int8{-128, -1, 0, 1, 127}
	dst := make([]uint8, len(src))
	Int8ToUint8(dst, src)
	if want := []uint8{0, 127, 128, 129, 255}; !slices.Equal(dst, want) {
		t.Fatalf("Int8ToUint8 = %v, want %v", dst, want)
	}
}

// TestDispatch checks that Impl follows the CPU flags and the kill switch,
// and that no kernel the CPU supports failed its start-up self-test.
func TestDispatch(t *testing.T) {
	want := ImplGo
	switch {
	case HasAVX512VNNI:
		want = ImplVNNI
	case HasAVX2:
		want = ImplAVX2
	}
	if Impl() != want {
		t.Fatalf("Impl() = %q, want %q (VNNI %v, AVX2 %v)", Impl(), want, HasAVX512VNNI, HasAVX2)
	}
	if !cpu.Asm {
		if Impl() != ImplGo || usePackAsm || requantImpl != ImplGo || quantizeImpl != ImplGo {
			t.Fatalf("assembly disabled (%s) but Impl() = %q, pack assembly %v, requantization %s, quantization %s",
				cpu.Disabled(), Impl(), usePackAsm, requantImpl, quantizeImpl)
		}
	} else {
		if cpuVNNI && !HasAVX512VNNI {
			t.Errorf("the CPU has AVX-512 VNNI but the VNNI kernel failed its start-up self-test")
		}
		if cpuAVX2 && !HasAVX2 {
			t.Errorf("the CPU has AVX2 but the AVX2 kernel failed its start-up self-test")
		}
		if cpuVNNI && !usePackAsm {
			t.Errorf("the CPU has AVX-512 but the A-panel transpose failed its start-up self-test")
		}
	}
	t.Logf("Impl() = %s, available %v, reason %q", Impl(), available(), ImplReason())
}

// FuzzGEMM compares every available implementation with GEMMRef on shapes
// and values taken from the fuzz input.
func FuzzGEMM(f *testing.F) {
	f.Add(uint8(1), uint8(1), uint16(1), uint8(0), uint8(0), []byte{255, 128})
	f.Add(uint8(17), uint8(33), uint16(65), uint8(128), uint8(1), []byte{0, 255, 127, 128, 1})
	f.Add(uint8(9), uint8(65), uint16(300), uint8(255), uint8(2), []byte{255, 0x80})
	f.Fuzz(func(t *testing.T, m, n uint8, k uint16, aZero, pad uint8, data []byte) {
		mm, nn, kk := int(m%40), int(n%80), int(k%600)
		if len(data) == 0 {
			data = []byte{0}
		}
		i := 0
		next := func() byte { v := data[i%len(data)] ^ byte(i/len(data)*131); i++; return v }
		p := newProblem(mm, nn, kk, int(pad%3), int(pad/3%3), aZero,
			func() uint8 { return next() }, func() int8 { return int8(next()) })
		p.checkAll(t)
	})
}

// TestPackAU8 compares packAU8 with the assembly transpose against the Go loop
// over odd shapes: row ranges with full and partial micro-panels, K below,
// at and past whole 32-byte blocks, row strides with slack, an offset first
// row. It runs where the transpose is in use.
func TestPackAU8(t *testing.T) {
	if !usePackAsm {
		t.Skip("the AVX2 pack is not in use here")
	}
	for _, k := range []int{1, 3, 4, 5, 25, 31, 32, 33, 64, 100, 150, 257, 400} {
		for _, rows := range [][2]int{{0, 8}, {3, 11}, {0, 19}, {5, 37}, {0, 7}} {
			i0, i1 := rows[0], rows[1]
			lda := k + 5
			kg := (k + groupK - 1) / groupK
			a := make([]uint8, i1*lda)
			for i := range a {
				a[i] = uint8(i*13 + 7)
			}
			n := packRows(i1-i0, vnniMR) * kg * groupK
			want, got := make([]uint8, n), make([]uint8, n)
			for i := range got {
				got[i] = 0xAA // every byte must be written
			}
			for u := 0; i0+u*vnniMR < i1; u++ {
				packAU8Rows(want[u*kg*vnniMR*groupK:], a, lda, i0+u*vnniMR, i1, k, kg)
			}
			packAU8(got, a, lda, i0, i1, k, kg)
			if !slices.Equal(got, want) {
				t.Fatalf("k=%d rows [%d, %d): packs differ", k, i0, i1)
			}
		}
	}
}
