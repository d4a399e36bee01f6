package cpu_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/compressq/compressq/compress/fixed"
	"github.com/compressq/compressq/compress/internal/cpu"
	"github.com/compressq/compressq/compress/kernels"
	"github.com/compressq/compressq/compress/sparse"
)

// impls returns what every kernel package reports: name, Impl, ImplReason.
func impls() [][3]string {
	return [][3]string{
		{"fixed", fixed.Impl(), fixed.ImplReason()},
		{"sparse", sparse.Impl(), sparse.ImplReason()},
		{"sparse int8 SpMV", sparse.SpMVInt8Impl(), sparse.ImplReason()},
		{"kernels", kernels.Impl(), kernels.ImplReason()},
	}
}

// TestKillSwitch re-runs this test binary with NoAsmEnv=1 and checks, in
// the child, that every kernel package reports its pure-Go path and gives
// the kill switch (or the purego tag) as the reason.
func TestKillSwitch(t *testing.T) {
	if cpu.NoAsm {
		for _, p := range impls() {
			if p[1] != "go" {
				t.Errorf("%s: %s=1 but Impl() = %q", p[0], cpu.NoAsmEnv, p[1])
			}
			if p[2] != cpu.Disabled() || p[2] == "" {
				t.Errorf("%s: ImplReason() = %q, want %q", p[0], p[2], cpu.Disabled())
			}
		}
		t.Logf("child: %v", impls())
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillSwitch$", "-test.v")
	cmd.Env = append(os.Environ(), cpu.NoAsmEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child with %s=1: %v\n%s", cpu.NoAsmEnv, err, out)
	}
	if !strings.Contains(string(out), "child: ") {
		t.Fatalf("child with %s=1 did not run the check:\n%s", cpu.NoAsmEnv, out)
	}
	t.Logf("parent: %v\n%s", impls(), out)
}

// TestAsm checks Asm against the build and the environment.
func TestAsm(t *testing.T) {
	if cpu.Asm != (cpu.Disabled() == "") {
		t.Errorf("Asm = %v but Disabled() = %q", cpu.Asm, cpu.Disabled())
	}
	if cpu.NoAsm && cpu.Asm {
		t.Errorf("%s=1 but Asm is true", cpu.NoAsmEnv)
	}
	if cpu.PureGo && cpu.Asm {
		t.Errorf("purego build but Asm is true")
	}
}
