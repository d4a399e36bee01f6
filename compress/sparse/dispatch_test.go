package sparse

import (
	"testing"

	"github.com/compressq/compressq/compress/internal/cpu"
)

// TestDispatch checks that the CPU flags and the kill switch decide useAsm,
// and that the assembly passed its start-up self-test where it may run.
func TestDispatch(t *testing.T) {
	want := cpuAsm && cpu.Asm
	if useAsm != want {
		t.Errorf("useAsm = %v, want %v (AVX2+FMA %v, assembly allowed %v, reason %q)", useAsm, want, cpuAsm, cpu.Asm, ImplReason())
	}
	if useAsm != (ImplReason() == "") {
		t.Errorf("useAsm = %v but ImplReason() = %q", useAsm, ImplReason())
	}
	t.Logf("Impl() = %s, SpMVInt8Impl() = %s, reason %q", Impl(), SpMVInt8Impl(), ImplReason())
}
