package fixed

import (
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
	// Decided before the GEMM self-tests, so that they run the packers
	// GEMM will use.
	useI16Asm = cpuAVX2 && i16SelfTest()
	HasAVX512VNNI = cpuVNNI && selfTest(ImplVNNI)
	HasAVX2 = cpuAVX2 && selfTest(ImplAVX2)
	switch {
	case cpuVNNI && requantSelfTest(ImplVNNI):
		requantImpl = ImplVNNI
	case cpuAVX2 && requantSelfTest(ImplAVX2):
		requantImpl = ImplAVX2
	}
	switch {
	case cpuVNNI && quantizeSelfTest(ImplVNNI):
		quantizeImpl = ImplVNNI
	case cpuAVX2 && quantizeSelfTest(ImplAVX2):
		quantizeImpl = ImplAVX2
	}
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
