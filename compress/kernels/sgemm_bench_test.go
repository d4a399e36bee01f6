package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// benchShape is one Sgemm shape measured by BenchmarkSgemm.
type benchShape struct {
	name           string
	transA, transB bool
	m, n, k        int
}

// benchShapes are 1024³ and the GEMMs of training LeNet-300-100 and LeNet-5
// at batch 64, with weights stored [out, in] (PyTorch layout): a dense layer
// runs Y = X·Wᵀ (NT), dX = dY·W (NN) and dW = dYᵀ·X (TN); a convolution
// runs Y = W·cols (NN), dW = dY·colsᵀ (NT) and dcols = Wᵀ·dY (TN), per image
// (cols of one image) or batched (cols of 64 images side by side).
var benchShapes = []benchShape{
	{"square", false, false, 1024, 1024, 1024},
	{"fc1_fwd", false, true, 64, 300, 784},
	{"fc1_dx", false, false, 64, 784, 300},
	{"fc1_dw", true, false, 300, 784, 64},
	{"fc2_fwd", false, true, 64, 100, 300},
	{"fc2_dx", false, false, 64, 300, 100},
	{"fc2_dw", true, false, 100, 300, 64},
	{"conv1_fwd_img", false, false, 20, 576, 25},
	{"conv1_dw_img", false, true, 20, 25, 576},
	{"conv1_fwd_b64", false, false, 20, 64 * 576, 25},
	{"conv2_fwd_img", false, false, 50, 64, 500},
	{"conv2_dw_img", false, true, 50, 500, 64},
	{"conv2_dcols_img", true, false, 500, 64, 50},
	{"conv2_fwd_b64", false, false, 50, 64 * 64, 500},
	{"conv2_dcols_b64", true, false, 500, 64 * 64, 50},
}

// refMaxWork bounds the shapes the triple-loop reference is timed on.
const refMaxWork = 1 << 22

// BenchmarkSgemm times the assembly path (when this build and CPU have it)
// beside gonum's Sgemm and the reference loop in the same binary, reporting
// GFLOP/s (2·m·n·k per call) and GFLOP per CPU-second of the whole process
// (all threads; on a shared machine the wall-clock figure drops when other
// jobs take the cores, the per-CPU-second one much less). Run with -cpu 1,2
// for one and two threads: both the assembly path and gonum split work up to
// GOMAXPROCS.
func BenchmarkSgemm(b *testing.B) {
	var impls []namedSgemm
	for _, im := range asmImpls() {
		if im.name == "asm" {
			impls = append(impls, im)
		}
	}
	impls = append(impls, namedSgemm{"gonum", sgemmGonum}, namedSgemm{"ref", sgemmRef})
	for _, s := range benchShapes {
		ar, ac := s.m, s.k
		if s.transA {
			ar, ac = s.k, s.m
		}
		br, bc := s.k, s.n
		if s.transB {
			br, bc = s.n, s.k
		}
		for _, im := range impls {
			if im.name == "ref" && s.m*s.n*s.k > refMaxWork {
				continue
			}
			b.Run(fmt.Sprintf("%s_%dx%dx%d/%s", s.name, s.m, s.n, s.k, im.name), func(b *testing.B) {
				rng := rand.New(rand.NewPCG(1, 1))
				a, bm, c := randSlice(rng, ar*ac), randSlice(rng, br*bc), randSlice(rng, s.m*s.n)
				cpu0 := processCPU()
				for b.Loop() {
					im.f(s.transA, s.transB, s.m, s.n, s.k, 1, a, ac, bm, bc, 0, c, s.n)
				}
				flops := 2 * float64(s.m) * float64(s.n) * float64(s.k) * float64(b.N)
				b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				if cpu := processCPU() - cpu0; cpu > 0 {
					b.ReportMetric(flops/cpu.Seconds()/1e9, "GFLOP/cpu-s")
				}
			})
		}
	}
}
