package kernels

import (
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// openBLASPeerEnv names the environment variable that, set to a python3
// with NumPy on OpenBLAS (Debian's /usr/bin/python3 with python3-numpy),
// makes BenchmarkSgemmVsOpenBLAS time OpenBLAS's sgemm on one thread right
// after compressq's and report the ratio. Set OPENBLAS_CORETYPE as
// docs/BENCHMARKS.md says (SkylakeX where AVX-512 exists, else Haswell).
const openBLASPeerEnv = "COMPRESSQ_OPENBLAS_PEER"

// openBLASScript times float32 1024×1024 @ 1024×1024 through NumPy, best of
// 20 after a warm-up, on one OpenBLAS thread, and prints GFLOP/s.
const openBLASScript = `import time, numpy as np
a = np.random.rand(1024, 1024).astype(np.float32); b = np.random.rand(1024, 1024).astype(np.float32)
a @ b
best = min((lambda t: (a @ b, time.perf_counter() - t)[1])(time.perf_counter()) for _ in range(20))
print(2 * 1024**3 / best / 1e9)`

// BenchmarkSgemmVsOpenBLAS times a 1024³ Sgemm on one goroutine (the
// blocked path, no splitting) in GFLOP/s and, with COMPRESSQ_OPENBLAS_PEER
// set, OpenBLAS's in the same run, reporting compressq's throughput over
// OpenBLAS's (above 1 is faster).
//
//	OPENBLAS_CORETYPE=SkylakeX COMPRESSQ_OPENBLAS_PEER=/usr/bin/python3 go test -run '^$' -bench SgemmVsOpenBLAS -count 3 ./compress/kernels/
func BenchmarkSgemmVsOpenBLAS(b *testing.B) {
	const n = 1024
	r := rand.New(rand.NewPCG(3, 4))
	a, bm, c := randSlice(r, n*n), randSlice(r, n*n), make([]float32, n*n)
	for b.Loop() {
		SgemmSerial(false, false, n, n, n, 1, a, n, bm, n, 0, c, n)
	}
	ours := 2 * float64(n*n*n) * float64(b.N) / b.Elapsed().Seconds() / 1e9
	b.ReportMetric(ours, "GFLOP/s")
	python := os.Getenv(openBLASPeerEnv)
	if python == "" {
		return
	}
	cmd := exec.Command(python, "-c", openBLASScript)
	cmd.Env = append(os.Environ(), "OPENBLAS_NUM_THREADS=1", "OMP_NUM_THREADS=1")
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("OpenBLAS peer: %v", err)
	}
	theirs, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	if err != nil {
		b.Fatalf("OpenBLAS peer output %q: %v", out, err)
	}
	b.ReportMetric(theirs, "openblas_GFLOP/s")
	b.ReportMetric(ours/theirs, "x_openblas")
}
