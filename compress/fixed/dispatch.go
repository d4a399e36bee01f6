package fixed

import (
	"math"
	"slices"

	"github.com/compressq/compressq/compress/internal/cpu"
)

// Names of the GEMM implementations, as returned by Impl.
const (
	ImplVNNI = "avx512vnni" // AVX-512 VNNI VPDPBUSD kernel
	ImplAVX2 = "avx2"       // AVX2 VPMADDWD kernel
	ImplGo   = "go"         // portable Go loops
)

// Kernels in use, decided once at start-up from the CPU features
// (cpu_amd64.go), the purego tag and the COMPRESSQ_NOASM kill switch (both
// read in compress/internal/cpu) and each kernel's self-test. Never written
// after init.
var (
	// HasAVX512VNNI reports whether the AVX-512 VNNI kernel is used: the
	// CPU has AVX-512 F, BW and VNNI, the OS saves ZMM state, neither the
	// purego tag nor COMPRESSQ_NOASM disabled assembly, and the kernel passed its
	// start-up self-test (selfTest).
	HasAVX512VNNI bool
	// HasAVX2 reports whether the AVX2 kernel is used, on the same terms.
	HasAVX2 bool
)

// impl is the implementation GEMM dispatches to and implReason why it is
// not the fastest kernel the CPU supports ("" when it is); fixed at init.
var (
	impl       = ImplGo
	implReason string
)

func init() {
	if implReason = cpu.Disabled(); implReason != "" {
		return
	}
	usePackAsm = cpuVNNI && packSelfTest()
	useRequantAsm = cpuVNNI && requantSelfTest()
	useQuantizeAsm = cpuAVX512F && quantizeSelfTest()
	HasAVX512VNNI = cpuVNNI && selfTest(ImplVNNI)
	HasAVX2 = cpuAVX2 && selfTest(ImplAVX2)
	switch {
	case cpuVNNI && sumSelfTest(ImplVNNI):
		sumImpl = ImplVNNI
	case cpuAVX2 && sumSelfTest(ImplAVX2):
		sumImpl = ImplAVX2
	}
	switch {
	case cpuVNNI && dwSelfTest(ImplVNNI):
		dwImpl = ImplVNNI
	case cpuAVX2 && dwSelfTest(ImplAVX2):
		dwImpl = ImplAVX2
	}
	switch {
	case cpuVNNI && lookupSelfTest(ImplVNNI):
		lookupImpl = ImplVNNI
	case cpuAVX2 && lookupSelfTest(ImplAVX2):
		lookupImpl = ImplAVX2
	}
	switch {
	case cpuVNNI && !HasAVX512VNNI:
		implReason = "the AVX-512 VNNI kernel failed its start-up self-test"
	case cpuAVX2 && !HasAVX2:
		implReason = "the AVX2 kernel failed its start-up self-test"
	case !cpuAVX2:
		implReason = "the CPU lacks AVX2"
	}
	switch {
	case HasAVX512VNNI:
		impl = ImplVNNI
	case HasAVX2:
		impl = ImplAVX2
	}
}

// selfTest reports whether the named assembly implementation reproduces
// GEMMRef on a small fixed problem that reaches every kernel variant, a
// partial panel, a K tail and the extreme values. A kernel that fails is
// never dispatched to, so a bad build or an untested CPU degrades to a
// slower exact path instead of wrong numbers; TestDispatch fails loudly in
// that case.
func selfTest(which string) bool {
	const n, k, aZero = 37, 13, 201
	for _, m := range []int{11, 15} { // together they reach every row variant
		a := make([]uint8, m*k)
		b := make([]int8, k*n)
		x := uint32(m)
		for i := range a {
			x = x*1664525 + 1013904223
			a[i] = uint8(x >> 24)
		}
		for i := range b {
			x = x*1664525 + 1013904223
			b[i] = int8(x >> 24)
		}
		a[0], a[1], b[0], b[1] = 255, 255, -128, 127
		want := make([]int32, m*n)
		GEMMRef(m, n, k, a, k, aZero, b, n, want, n)
		got := make([]int32, m*n)
		gemm(which, m, a, k, aZero, PackB(b, k, n, n), got, n, Options{Threads: 1})
		if !slices.Equal(got, want) {
			return false
		}
	}
	return windowSelfTest(which)
}

// windowSelfTest reports whether the named implementation computes
// GEMMWindows as GEMMRef computes the gathered rows: 19 overlapping rows
// (two whole micro-panels read in place and a partial one), three
// segments of 12 bytes, for 16 and 37 columns (the narrow and the full
// window kernel, a partial panel).
func windowSelfTest(which string) bool {
	const m, seg, aZero = 19, 12, 77
	offs, segs := make([]int, m), []int{0, 90, 41}
	a := make([]uint8, 200)
	x := uint32(5)
	for i := range a {
		x = x*1664525 + 1013904223
		a[i] = uint8(x >> 24)
	}
	a[0], a[3] = 255, 255
	for i := range offs {
		offs[i] = (i * 29) % 97
	}
	w, err := NewWindows(offs, segs, seg)
	if err != nil {
		panic(err)
	}
	k := w.K()
	rows := make([]uint8, 0, m*k)
	for _, r := range offs {
		for _, s := range segs {
			rows = append(rows, a[r+s:r+s+seg]...)
		}
	}
	for _, n := range []int{16, 37} {
		b := make([]int8, k*n)
		for i := range b {
			x = x*1664525 + 1013904223
			b[i] = int8(x >> 24)
		}
		b[0] = -128
		want := make([]int32, m*n)
		GEMMRef(m, n, k, rows, k, aZero, b, n, want, n)
		got := make([]int32, m*n)
		gemmOn(which, m, a, 0, w, aZero, PackB(b, k, n, n), got, n, Options{Threads: 1})
		if !slices.Equal(got, want) {
			return false
		}
	}
	return true
}

// usePackAsm reports whether packAU8 transposes full micro-panels with
// packAU8x8 (AVX2 and AVX-512 BW, so with the VNNI kernels that read its
// panels); set at init when its self-test passes.
var usePackAsm bool

// packSelfTest reports whether packAU8 with packAU8x8 packs as the Go loop
// does: rows in two full micro-panels and a partial one, a K of two
// transposed blocks and a partial group.
func packSelfTest() bool {
	const m, k, lda = 19, 77, 80
	kg := (k + groupK - 1) / groupK
	a := make([]uint8, m*lda)
	for i := range a {
		a[i] = uint8(i*7 + i/lda)
	}
	want := make([]uint8, packRows(m, vnniMR)*kg*groupK)
	for u := 0; u*vnniMR < m; u++ {
		packAU8Rows(want[u*kg*vnniMR*groupK:], a, lda, u*vnniMR, m, k, kg)
	}
	usePackAsm = true
	got := make([]uint8, len(want))
	packAU8(got, a, lda, 0, m, k, kg)
	usePackAsm = false
	return slices.Equal(got, want)
}

// useRequantAsm reports whether Requantizer.Uint8 and Uint8Max4 run
// requantU8Max4 (AVX-512 F, present with the VNNI kernels); set at init
// when its self-test passes.
var useRequantAsm bool

// requantSelfTest reports whether Uint8, Uint8Max4 and Uint8Rows give the
// same bytes with the assembly as in Go, on every shift, multipliers from 0 to
// MaxInt32 and accumulators from MinInt32 to MaxInt32, and on right shifts
// only (no left shift at all: the assembly's other loop, the usual case).
func requantSelfTest() bool {
	r, accs := requantCase(62, 7, false)
	right, _ := requantCase(62, 7, true)
	return requantAgrees(r, accs) && requantAgrees(right, accs)
}

// requantCase returns a Requantizer of n channels covering every shift
// from −31 to 30 (only −31 to 0 when right is set) and extreme
// multipliers, and four accumulator rows with extreme values, from seed.
func requantCase(n int, seed uint32, right bool) (*Requantizer, [4][]int32) {
	x := seed
	next := func() uint32 { x = x*1664525 + 1013904223; return x }
	bias, mult, shift := make([]int32, n), make([]int32, n), make([]int, n)
	for o := range n {
		shift[o] = o%62 - 31
		if right {
			shift[o] = -(o % 32)
		}
		mult[o] = int32(next() >> 1)
		bias[o] = int32(next()) >> (next() % 32)
	}
	mult[0], mult[n-1] = 0, math.MaxInt32
	r, err := NewRequantizer(bias, mult, shift, int32(next()%256), int32(next()%64), 255-int32(next()%64))
	if err != nil {
		panic(err)
	}
	var accs [4][]int32
	for i := range accs {
		accs[i] = make([]int32, n)
		for o := range n {
			accs[i][o] = int32(next()) >> (next() % 32)
		}
	}
	for i := range min(n, 4) {
		accs[i][i] = [2]int32{math.MaxInt32, math.MinInt32}[i%2]
	}
	return r, accs
}

// requantAgrees reports whether Uint8, Uint8Max4 and Uint8Rows of r give
// the same bytes with and without the assembly on accs.
func requantAgrees(r *Requantizer, accs [4][]int32) bool {
	saved := useRequantAsm
	defer func() { useRequantAsm = saved }()
	n := len(accs[0])
	var got, want [2][]uint8
	for i, on := range []bool{true, false} {
		useRequantAsm = on
		got[i], want[i] = make([]uint8, n), make([]uint8, n)
		r.Uint8(got[i], accs[0])
		r.Uint8Max4(want[i], accs[0], accs[1], accs[2], accs[3])
	}
	if !slices.Equal(got[0], got[1]) || !slices.Equal(want[0], want[1]) {
		return false
	}
	// Uint8Rows: the four rows as one block, on a channel prefix whose
	// length is the longest multiple of 8 and 3 more (a Go tail).
	c := min(n, n&^7+3)
	if c == 0 {
		return true
	}
	block := make([]int32, 0, 4*c)
	for _, a := range accs {
		block = append(block, a[:c]...)
	}
	var rows [2][]uint8
	for i, on := range []bool{true, false} {
		useRequantAsm = on
		rows[i] = make([]uint8, len(block))
		r.Uint8Rows(rows[i], block, c)
	}
	return slices.Equal(rows[0], rows[1])
}

// Impl returns the name of the implementation GEMM uses in this process:
// ImplVNNI, ImplAVX2 or ImplGo.
func Impl() string { return impl }

// ImplReason returns why Impl is not the fastest kernel the CPU supports
// (the purego tag, COMPRESSQ_NOASM=1, a missing CPU feature or a kernel that
// failed its start-up self-test), or "" when it is.
func ImplReason() string { return implReason }

// available returns the implementations this process can run, fastest
// first; tests and benchmarks compare them all.
func available() []string {
	var s []string
	if HasAVX512VNNI {
		s = append(s, ImplVNNI)
	}
	if HasAVX2 {
		s = append(s, ImplAVX2)
	}
	return append(s, ImplGo)
}
