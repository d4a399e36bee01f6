package fixed

import (
	"os"
	"slices"
)

// NoAsmEnv names the environment variable that, set to "1" when the program
// starts, makes GEMM take its portable Go path. The purego build tag does the
// same at compile time.
const NoAsmEnv = "COMPRESSQ_NOASM"

// Names of the GEMM implementations, as returned by Impl.
const (
	ImplVNNI = "avx512vnni" // AVX-512 VNNI VPDPBUSD kernel
	ImplAVX2 = "avx2"       // AVX2 VPMADDWD kernel
	ImplGo   = "go"         // portable Go loops
)

// CPU features the kernels need, read once at start-up (cpu_amd64.go) and
// cleared when NoAsmEnv is set. Never written after init.
var (
	// HasAVX512VNNI reports whether the AVX-512 VNNI kernel is used: the
	// CPU has AVX-512 F, BW and VNNI, the OS saves ZMM state, neither the
	// purego tag nor NoAsmEnv disabled assembly, and the kernel passed its
	// start-up self-test (selfTest).
	HasAVX512VNNI bool
	// HasAVX2 reports whether the AVX2 kernel is used, on the same terms.
	HasAVX2 bool
)

// impl is the implementation GEMM dispatches to, fixed at init.
var impl = ImplGo

func init() {
	if os.Getenv(NoAsmEnv) == "1" {
		return
	}
	HasAVX512VNNI = cpuVNNI && selfTest(ImplVNNI)
	HasAVX2 = cpuAVX2 && selfTest(ImplAVX2)
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
		gemm(which, m, a, k, aZero, PackB(b, k, n, n), got, n, nil, Options{Threads: 1})
		if !slices.Equal(got, want) {
			return false
		}
	}
	return true
}

// Impl returns the name of the implementation GEMM uses in this process:
// ImplVNNI, ImplAVX2 or ImplGo.
func Impl() string { return impl }

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
