package fixed

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// benchLoop runs f in b's loop and reports the multiply-accumulate rate,
// macs per call: GMAC/s over wall time and, where the OS reports it,
// GMAC/cpu-s over the CPU time the whole process used. On a shared machine
// the second figure is the steadier one: time spent waiting for a core does
// not count, while work on extra threads (GC, a second worker) does.
func benchLoop(b *testing.B, macs float64, f func()) {
	cpu0, ok := processCPU()
	for b.Loop() {
		f()
	}
	cpu1, _ := processCPU()
	total := macs * float64(b.N)
	b.ReportMetric(total/b.Elapsed().Seconds()/1e9, "GMAC/s")
	if ok && cpu1 > cpu0 {
		b.ReportMetric(total/(cpu1-cpu0).Seconds()/1e9, "GMAC/cpu-s")
	}
}

// singleThread runs f with GOMAXPROCS 1, so libraries that parallelise on
// their own (gonum) measure one core too.
func singleThread(b *testing.B, f func(b *testing.B)) {
	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)
	f(b)
}

// benchInputs returns random activations [m, k] and packed weights [k, n].
func benchInputs(m, n, k int) ([]uint8, []int8, *PackedB) {
	r := rand.New(rand.NewPCG(7, 8))
	a := make([]uint8, m*k)
	for i := range a {
		a[i] = uint8(r.Uint32())
	}
	w := make([]int8, k*n)
	for i := range w {
		w[i] = int8(r.Uint32())
	}
	return a, w, PackB(w, k, n, n)
}

// BenchmarkGEMM measures every available implementation at 1024³, at the
// batch-1 and batch-64 shapes of a 1024×1024 layer and at a narrow conv
// shape, on one and two threads. The portable Go path runs 256³ only.
func BenchmarkGEMM(b *testing.B) {
	// 12544×16×144: the ResNet fixture's 16-channel 3×3 convolutions, 64
	// images after im2row (the 16-column VNNI kernel).
	shapes := [][3]int{{1024, 1024, 1024}, {64, 1024, 1024}, {1, 1024, 1024}, {256, 256, 256}, {12544, 16, 144}}
	for _, which := range available() {
		for _, s := range shapes {
			m, n, k := s[0], s[1], s[2]
			if which == ImplGo && m*n*k > 256*256*256 {
				continue
			}
			a, _, pb := benchInputs(m, n, k)
			c := make([]int32, m*n)
			for _, threads := range []int{1, 2} {
				b.Run(fmt.Sprintf("impl=%s/%dx%dx%d/threads=%d", which, m, n, k, threads), func(b *testing.B) {
					benchLoop(b, float64(m*n*k), func() {
						gemm(which, m, a, k, 3, pb, c, n, Options{Threads: threads})
					})
				})
			}
		}
	}
}

// BenchmarkRequantizer measures Requantizer.Uint8Rows on every available
// implementation on 65,536 accumulators with per-channel parameters, in
// rows of 16 and 32 channels (the ResNet fixture's convolutions: one or two
// 16-lane chunks a row) and of 1,024, in values per second.
//
//	go test ./compress/fixed -run '^$' -bench Requantizer -cpu 1
func BenchmarkRequantizer(b *testing.B) {
	const size = 1 << 16
	for _, which := range available() {
		for _, n := range []int{16, 32, 1024} {
			b.Run(fmt.Sprintf("impl=%s/channels=%d", which, n), func(b *testing.B) {
				r := rand.New(rand.NewPCG(1, 2))
				mult, shift, bias := make([]int32, n), make([]int, n), make([]int32, n)
				for o := range n {
					mult[o], shift[o] = QuantizeMultiplier(math.Ldexp(0.5+r.Float64()/2, r.IntN(20)-16))
					bias[o] = int32(r.IntN(1<<16)) - 1<<15
				}
				rq, err := NewRequantizer(bias, mult, shift, 3, 3, 255)
				if err != nil {
					b.Fatal(err)
				}
				acc := make([]int32, size)
				for i := range acc {
					acc[i] = int32(r.IntN(1<<22)) - 1<<21
				}
				dst := make([]uint8, size)
				b.SetBytes(size)
				for b.Loop() {
					rq.uint8Rows(which, dst, acc, n)
				}
			})
		}
	}
}

// BenchmarkQuantizeFloat32 measures QuantizeFloat32 on every available
// implementation on a 32×32×3 image, in values per second.
func BenchmarkQuantizeFloat32(b *testing.B) {
	const size = 32 * 32 * 3
	r := rand.New(rand.NewPCG(3, 4))
	x, dst := make([]float32, size), make([]uint8, size)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	for _, which := range available() {
		b.Run("impl="+which, func(b *testing.B) {
			b.SetBytes(size)
			for b.Loop() {
				quantize(which, dst, x, 60, 128)
			}
		})
	}
}

// BenchmarkGEMMRef measures the reference triple loop (unpacked B) at 256³.
func BenchmarkGEMMRef(b *testing.B) {
	const m, n, k = 256, 256, 256
	a, w, _ := benchInputs(m, n, k)
	c := make([]int32, m*n)
	benchLoop(b, m*n*k, func() { GEMMRef(m, n, k, a, k, 3, w, n, c, n) })
}

// BenchmarkSgemmGonum measures gonum's pure-Go fp32 Sgemm at 1024³ on one
// thread, the fp32 baseline of the int8 kernels.
func BenchmarkSgemmGonum(b *testing.B) {
	const n = 1024
	r := rand.New(rand.NewPCG(9, 10))
	x, y, z := make([]float32, n*n), make([]float32, n*n), make([]float32, n*n)
	for i := range x {
		x[i], y[i] = r.Float32(), r.Float32()
	}
	singleThread(b, func(b *testing.B) {
		var impl gonum.Implementation
		benchLoop(b, n*n*n, func() {
			impl.Sgemm(blas.NoTrans, blas.NoTrans, n, n, n, 1, x, n, y, n, 0, z, n)
		})
	})
}

// BenchmarkVNNIPeak measures one core's VPDPBUSD throughput: 24 independent
// ZMM VPDPBUSD per iteration on registers only, 64 MACs each.
func BenchmarkVNNIPeak(b *testing.B) {
	if !HasAVX512VNNI {
		b.Skip("CPU lacks AVX-512 VNNI (or assembly is disabled)")
	}
	const iters = 1 << 16
	benchLoop(b, iters*24*64, func() { vnniPeak(iters) })
}

// BenchmarkAVX2Peak measures one core's VPMADDWD+VPADDD throughput, the
// instruction pair of the AVX2 kernel: 12 independent pairs per iteration on
// registers only, 16 MACs each.
func BenchmarkAVX2Peak(b *testing.B) {
	if !HasAVX2 {
		b.Skip("CPU lacks AVX2 (or assembly is disabled)")
	}
	const iters = 1 << 16
	benchLoop(b, iters*12*16, func() { avx2Peak(iters) })
}
