package sparse

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/compressq/compressq/compress/fixed"
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

// BenchmarkSpMVInt8 times SpMVInt8Batch in every implementation this
// process may run against the dense int8 GEMM of compress/fixed (m rows,
// the [n, K] activations times the packed [K, out] weights) on the layers
// of LeNet-300-100 and a 1024×1024 one at 10% density, for one vector and
// for eight (a chunk of qnn's forward), interleaved in each iteration. It
// reports each one's ns per call and the dense time over each sparse one:
//
//	go test ./compress/sparse -run '^$' -bench SpMVInt8 -benchtime 2000x
func BenchmarkSpMVInt8(b *testing.B) {
	r := rand.New(rand.NewPCG(15, 16))
	for _, sh := range [][2]int{{300, 784}, {100, 300}, {1024, 1024}} {
		rows, cols := sh[0], sh[1]
		w := randSparse[int8](r, rows, cols, 0.1)
		a, err := FromDenseCSR(w, rows, cols, cols)
		if err != nil {
			b.Fatal(err)
		}
		pw := fixed.PackBT(w, rows, cols, cols)
		for _, n := range []int{1, 8} {
			x := make([]uint8, n*cols)
			for i := range x {
				x[i] = uint8(r.Uint32())
			}
			y := make([]int32, n*rows)
			b.Run(fmt.Sprintf("%dx%d/n=%d", rows, cols, n), func(b *testing.B) {
				names := []string{"dense"}
				fns := []func(){func() { fixed.GEMM(n, x, cols, 3, pw, y, rows, fixed.Options{Threads: 1}) }}
				for _, impl := range spmvImpls() {
					m := newSlicedInt8(a, impl)
					names = append(names, impl)
					fns = append(fns, func() { SpMVInt8Batch(m, x, n, cols, 3, y, rows) })
				}
				ns := make([]time.Duration, len(fns))
				for b.Loop() {
					for i, f := range fns {
						t0 := time.Now()
						f()
						ns[i] += time.Since(t0)
					}
				}
				for i, name := range names {
					b.ReportMetric(float64(ns[i].Nanoseconds())/float64(b.N), name+"-ns")
					if i > 0 {
						b.ReportMetric(float64(ns[0])/float64(ns[i]), "dense/"+name)
					}
				}
			})
		}
	}
}
