// Package cpu is the one place where compressq's kernel packages
// (compress/fixed, compress/sparse, compress/kernels) learn whether they may
// run assembly: the purego build tag, the NoAsmEnv kill switch read once at
// start-up, and the x86 features of the CPU and OS read once from
// golang.org/x/sys/cpu. It decides nothing else: each kernel package picks
// its own implementation from these flags and runs its own start-up
// self-check.
package cpu

import (
	"os"
	"runtime"

	xcpu "golang.org/x/sys/cpu"
)

// NoAsmEnv names the environment variable that, set to "1" when the program
// starts, makes every kernel package take its pure-Go path. The purego build
// tag does the same at compile time.
const NoAsmEnv = "COMPRESSQ_NOASM"

// NoAsm reports whether NoAsmEnv was "1" at start-up. Never written after
// init.
var NoAsm = os.Getenv(NoAsmEnv) == "1"

// X86 feature flags of this CPU and OS, read once at start-up; all false off
// amd64. The AVX-512 flags are only set when the OS saves ZMM state.
var (
	AVX2       = xcpu.X86.HasAVX2
	FMA        = xcpu.X86.HasFMA
	AVX512F    = xcpu.X86.HasAVX512F
	AVX512BW   = xcpu.X86.HasAVX512BW
	AVX512VL   = xcpu.X86.HasAVX512VL
	AVX512VNNI = xcpu.X86.HasAVX512VNNI
	AVX512VBMI = xcpu.X86.HasAVX512VBMI
	AVXVNNI    = xcpu.X86.HasAVXVNNI
)

// Asm reports whether assembly may run in this process at all: the build is
// amd64 without the purego tag and NoAsmEnv was not "1" at start-up. A
// kernel package uses its assembly only if Asm, the features it needs and
// its own start-up self-check all agree. Never written after init.
var Asm = runtime.GOARCH == "amd64" && !PureGo && !NoAsm

// Reasons a kernel package gives for running its pure-Go path.
const (
	ReasonPureGo   = "built with the purego tag"
	ReasonNoAsmEnv = NoAsmEnv + "=1 at start-up"
	ReasonArch     = "no assembly for " + runtime.GOARCH
)

// Disabled returns why assembly is off in this process (one of the Reason
// constants), or "" when Asm is true.
func Disabled() string {
	switch {
	case PureGo:
		return ReasonPureGo
	case runtime.GOARCH != "amd64":
		return ReasonArch
	case NoAsm:
		return ReasonNoAsmEnv
	}
	return ""
}
