package sparse

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkKernels times each kernel that has an assembly path on a
// 512×512 layer (10% density for CSR and BSR with 1×8 blocks, 2:4 for
// NM24) at batch 64 (SpMM) or 1 (SpMV), and reports GFLOP/s counting two
// flops per stored value and column of B. Compare builds, or
// COMPRESSQ_NOASM=1 against the default, with
//
//	go test ./compress/sparse -run '^$' -bench Kernels -benchtime 200x -count 3
func BenchmarkKernels(b *testing.B) {
	const m, k, n, density = 512, 512, 64, 0.1
	r := rand.New(rand.NewPCG(11, 12))
	wf := randSparse[float32](r, m, k, density)
	wi := randSparse[int8](r, m, k, density)
	bf := make([]float32, k*n)
	bu := make([]uint8, k*n)
	for i := range bf {
		bf[i] = float32(2*r.Float64() - 1)
		bu[i] = uint8(r.Uint32())
	}
	cf := make([]float32, m*n)
	ci := make([]int32, m*n)
	must := func(err error) {
		if err != nil {
			b.Fatal(err)
		}
	}
	csr, err := FromDenseCSR(wf, m, k, k)
	must(err)
	csr8, err := FromDenseCSR(wi, m, k, k)
	must(err)
	bsr, err := FromDenseBSR(wf, m, k, k, 1, 8)
	must(err)
	bsr8, err := FromDenseBSR(wi, m, k, k, 1, 8)
	must(err)
	nm, err := FromDenseNM24(rand24[float32](r, m, k), m, k, k)
	must(err)
	nm8, err := FromDenseNM24(rand24[int8](r, m, k), m, k, k)
	must(err)
	for _, bc := range []struct {
		name   string
		stored int // values the kernel multiplies per column of B
		cols   int
		f      func()
	}{
		{"CSR/f32", csr.NNZ(), n, func() { SpMMCSR(csr, bf, n, n, cf, n) }},
		{"CSR/f32/spmv", csr.NNZ(), 1, func() { SpMVCSR(csr, bf[:k], cf[:m]) }},
		{"CSR/int8", csr8.NNZ(), n, func() { SpMMCSRInt8(csr8, bu, n, n, 128, ci, n) }},
		{"BSR1x8/f32", bsr.NNZ(), n, func() { SpMMBSR(bsr, bf, n, n, cf, n) }},
		{"BSR1x8/f32/spmv", bsr.NNZ(), 1, func() { SpMVBSR(bsr, bf[:k], cf[:m]) }},
		{"BSR1x8/int8", bsr8.NNZ(), n, func() { SpMMBSRInt8(bsr8, bu, n, n, 128, ci, n) }},
		{"NM24/f32", m * k / 2, n, func() { SpMMNM24(nm, bf, n, n, cf, n) }},
		{"NM24/int8", m * k / 2, n, func() { SpMMNM24Int8(nm8, bu, n, n, 128, ci, n) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				bc.f()
			}
			b.ReportMetric(2*float64(bc.stored)*float64(bc.cols)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
