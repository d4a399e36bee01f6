//go:build !purego

package kernels

import (
	"os"
	"testing"
)

// asmImpls returns the assembly paths when the CPU can run them, each behind
// Sgemm's front end (checks and trivial cases), whatever NoAsmEnv says.
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

// TestDispatch checks that the CPU flags and NoAsmEnv decide useAsm.
func TestDispatch(t *testing.T) {
	want := hasAVX2FMA && os.Getenv(NoAsmEnv) != "1"
	if useAsm != want {
		t.Errorf("useAsm = %v, want %v (AVX2+FMA %v, %s=%q)", useAsm, want, hasAVX2FMA, NoAsmEnv, os.Getenv(NoAsmEnv))
	}
}
