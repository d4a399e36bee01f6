package fixed

import "os"

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
	// HasAVX512VNNI reports whether the AVX-512 VNNI kernel can run: the CPU
	// has AVX-512 F, BW and VNNI, the OS saves ZMM state, and neither the
	// purego tag nor NoAsmEnv disabled assembly.
	HasAVX512VNNI bool
	// HasAVX2 reports whether the AVX2 kernel can run, on the same terms.
	HasAVX2 bool
)

// impl is the implementation GEMM dispatches to, fixed at init.
var impl = ImplGo

func init() {
	if os.Getenv(NoAsmEnv) == "1" {
		return
	}
	HasAVX512VNNI, HasAVX2 = cpuVNNI, cpuAVX2
	switch {
	case HasAVX512VNNI:
		impl = ImplVNNI
	case HasAVX2:
		impl = ImplAVX2
	}
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
