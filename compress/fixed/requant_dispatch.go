package fixed

import (
	"math"
	"slices"
)

// requantImpl is the implementation Requantizer.Uint8Rows and Uint8Max4
// use, quantizeImpl the one QuantizeFloat32 uses: ImplVNNI for the AVX-512 F
// kernels (present with VNNI), ImplAVX2 or ImplGo. Fixed at init
// (dispatch.go) from the CPU, the purego tag and COMPRESSQ_NOASM
// (cpu.Disabled) and each kernel's start-up self-test: a kernel that fails
// it is never dispatched to.
var (
	requantImpl  = ImplGo
	quantizeImpl = ImplGo
)

// requantSelfTest reports whether the named implementation of Uint8,
// Uint8Max4 and Uint8Rows gives the same bytes as the Go loop on every
// shift, multipliers from 0 to MaxInt32 and accumulators from MinInt32 to
// MaxInt32, with and without left shifts (the assembly's two loops), on 62
// channels (every whole chunk and a Go tail) and on 8.
func requantSelfTest(which string) bool {
	for _, n := range []int{62, 8} {
		for _, right := range []bool{false, true} {
			bias, mult, shift, acc := requantCase(n, 4, 7, right)
			r, err := NewRequantizer(bias, mult, shift, 201, 3, 250)
			if err != nil {
				panic(err)
			}
			if !requantAgrees(which, r, acc, n) {
				return false
			}
		}
	}
	return true
}

// requantCase returns the parameters of n channels and rows rows of n
// accumulators, from seed: shift[o] = (o + seed) mod 62 − 31, every shift
// from −31 to 30 in turn (−((o + seed) mod 32) when right is set: right
// shifts only), random multipliers with 0 and MaxInt32 among them, biases
// and accumulators of every magnitude with MinInt32 and MaxInt32 among them.
func requantCase(n, rows int, seed uint32, right bool) (bias, mult []int32, shift []int, acc []int32) {
	x := seed
	next := func() uint32 { x = x*1664525 + 1013904223; return x }
	bias, mult, shift = make([]int32, n), make([]int32, n), make([]int, n)
	for o := range n {
		shift[o] = (o+int(seed))%62 - 31
		if right {
			shift[o] = -((o + int(seed)) % 32)
		}
		mult[o] = int32(next() >> 1)
		bias[o] = int32(next()) >> (next() % 32)
	}
	mult[int(seed)%n], mult[n-1] = 0, math.MaxInt32
	acc = make([]int32, rows*n)
	for i := range acc {
		acc[i] = int32(next()) >> (next() % 32)
	}
	for i := range min(len(acc), 4) {
		acc[(i*(n+1)+int(seed))%len(acc)] = [2]int32{math.MaxInt32, math.MinInt32}[i%2]
	}
	return bias, mult, shift, acc
}

// requantAgrees reports whether the named implementation gives the same
// bytes as the Go loop for r, and writes none past its output: Uint8Rows
// on acc in rows of c, Uint8 on its first row and Uint8Max4 on its first
// four rows (repeated when fewer).
func requantAgrees(which string, r *Requantizer, acc []int32, c int) bool {
	const guard, mark = 8, 0xa5
	rows := len(acc) / c
	row := func(i int) []int32 { i %= rows; return acc[i*c : (i+1)*c] }
	calls := []func(w string, dst []uint8){
		func(w string, dst []uint8) { r.uint8Rows(w, dst, acc, c) },
		func(w string, dst []uint8) { r.uint8Rows(w, dst, row(0), c) },
		func(w string, dst []uint8) { r.uint8Max4(w, dst[:c], row(0), row(1), row(2), row(3)) },
	}
	for k, f := range calls {
		n := c
		if k == 0 {
			n = len(acc)
		}
		var got [2][]uint8
		for i, w := range []string{which, ImplGo} {
			got[i] = make([]uint8, n+guard)
			for j := range got[i] {
				got[i][j] = mark
			}
			f(w, got[i])
		}
		if !slices.Equal(got[0], got[1]) || slices.ContainsFunc(got[0][n:], func(b uint8) bool { return b != mark }) {
			return false
		}
	}
	return true
}
