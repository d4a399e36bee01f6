package sparse

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// randSparse returns a rows×cols matrix with about density of its entries
// nonzero, values uniform in ±1 (float32) or ±127 (int8).
func randSparse[T Elem](r *rand.Rand, rows, cols int, density float64) []T {
	d := make([]T, rows*cols)
	for i := range d {
		if r.Float64() < density {
			var v T
			switch any(v).(type) {
			case float32:
				v = T(float32(2*r.Float64() - 1))
			case int8:
				v = T(int8(r.IntN(255) - 127))
			}
			if v == 0 {
				v = 1
			}
			d[i] = v
		}
	}
	return d
}

// rand24 returns a rows×cols matrix with at most 2 nonzeros per group of 4.
func rand24[T Elem](r *rand.Rand, rows, cols int) []T {
	d := randSparse[T](r, rows, cols, 1)
	for i := range rows {
		for q := 0; q < cols; q += 4 {
			keep := r.Perm(4)[:2]
			for t := 0; t < 4 && q+t < cols; t++ {
				if !slices.Contains(keep, t) {
					d[i*cols+q+t] = 0
				}
			}
		}
	}
	return d
}

// oddShapes are the (M, K, N) triples every kernel is tested on: empty,
// single, below, at and above the 8- and 64-column strips, 2:4-unaligned
// K, K across several K blocks of the 2:4 kernels, and products large
// enough to be split across goroutines.
var oddShapes = [][3]int{
	{0, 5, 3}, {3, 0, 4}, {1, 1, 1}, {2, 3, 0}, {5, 7, 1}, {7, 13, 8}, {9, 4, 9},
	{17, 33, 63}, {16, 64, 64}, {13, 30, 65}, {33, 71, 130}, {64, 256, 72},
	{3, 257, 127}, {65, 127, 257}, {257, 65, 17}, {127, 15, 65},
}

// guard is the value written around outputs to catch stray writes, and
// lead the guard elements before each output.
const (
	guard = -12345
	lead  = 16
)

// f32Close checks got against want with tolerance tol·scale[i] + 1e-6.
func f32Close(t *testing.T, what string, got, want, scale []float32, tol float64) {
	t.Helper()
	for i := range want {
		if d := math.Abs(float64(got[i] - want[i])); d > tol*float64(scale[i])+1e-6 {
			t.Fatalf("%s: [%d] = %g, want %g (|diff| %g)", what, i, got[i], want[i], d)
		}
	}
}

// absMul returns |A|·|B| for dense row-major A [m,k] and B [k,n], the
// error scale of a float32 product.
func absMul(a []float32, b []float32, m, k, n int) []float32 {
	s := make([]float32, m*n)
	for i := range m {
		for p := range k {
			for j := range n {
				s[i*n+j] += float32(math.Abs(float64(a[i*k+p] * b[p*n+j])))
			}
		}
	}
	return s
}

// TestSpMMFloat32 checks SpMMCSR, SpMMBSR (several block shapes) and
// SpMMNM24 against their references and against a dense product, with
// tolerance 1e-5·Σ|a||b| per entry, on odd shapes with guard bands: C has a
// stride 3 wider than n and its padding must keep the guard value.
func TestSpMMFloat32(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, sh := range oddShapes {
		m, k, n := sh[0], sh[1], sh[2]
		for _, density := range []float64{0, 0.1, 0.5, 1} {
			dense := randSparse[float32](r, m, k, density)
			d24 := rand24[float32](r, m, k)
			ldb, ldc := n+2, n+3
			b := make([]float32, max(k*ldb, 1))
			for i := range b {
				b[i] = float32(2*r.Float64() - 1)
			}
			compact := make([]float32, k*n)
			for p := range k {
				copy(compact[p*n:], b[p*ldb:p*ldb+n])
			}
			run := func(name string, a []float32, fast, ref func(c []float32)) {
				t.Run(fmt.Sprintf("%s/%dx%dx%d/d%.1f", name, m, k, n, density), func(t *testing.T) {
					want := make([]float32, m*n)
					scale := absMul(a, compact, m, k, n)
					for i := range m {
						for p := range k {
							for j := range n {
								want[i*n+j] += a[i*k+p] * compact[p*n+j]
							}
						}
					}
					for _, f := range []struct {
						name string
						fn   func(c []float32)
					}{{"fast", fast}, {"ref", ref}} {
						buf := make([]float32, lead+max(m*ldc, 1)+8)
						for i := range buf {
							buf[i] = guard
						}
						c := buf[lead:]
						f.fn(c)
						for i := range lead {
							if buf[i] != guard {
								t.Fatalf("%s wrote before C at %d", f.name, i-lead)
							}
						}
						got := make([]float32, m*n)
						for i := range m {
							copy(got[i*n:], c[i*ldc:i*ldc+n])
							for j := n; j < ldc && i*ldc+j < len(c); j++ {
								if c[i*ldc+j] != guard {
									t.Fatalf("%s wrote C[%d][%d] outside n = %d", f.name, i, j, n)
								}
							}
						}
						for i := m * ldc; i < len(c); i++ {
							if c[i] != guard {
								t.Fatalf("%s wrote past C at %d", f.name, i)
							}
						}
						f32Close(t, f.name, got, want, scale, 1e-5)
					}
				})
			}
			csr, err := FromDenseCSR(dense, m, k, max(k, 1))
			if err != nil {
				t.Fatal(err)
			}
			run("csr", dense, func(c []float32) { SpMMCSR(csr, b, n, ldb, c, ldc) }, func(c []float32) { RefSpMMCSR(csr, b, n, ldb, c, ldc) })
			for _, blk := range [][2]int{{1, 8}, {4, 4}, {2, 16}, {3, 5}} {
				bsr, err := FromDenseBSR(dense, m, k, max(k, 1), blk[0], blk[1])
				if err != nil {
					t.Fatal(err)
				}
				run(fmt.Sprintf("bsr%dx%d", blk[0], blk[1]), dense, func(c []float32) { SpMMBSR(bsr, b, n, ldb, c, ldc) }, func(c []float32) { RefSpMMBSR(bsr, b, n, ldb, c, ldc) })
			}
			nm, err := FromDenseNM24(d24, m, k, max(k, 1))
			if err != nil {
				t.Fatal(err)
			}
			run("nm24", d24, func(c []float32) { SpMMNM24(nm, b, n, ldb, c, ldc) }, func(c []float32) { RefSpMMNM24(nm, b, n, ldb, c, ldc) })
		}
	}
}

// TestSpMV checks SpMVCSR and SpMVBSR against RefSpMVCSR (tolerance
// 1e-5·Σ|a||x|) over odd shapes, with a guard element after y.
func TestSpMV(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, sh := range oddShapes {
		m, k := sh[0], sh[1]+sh[2]
		for _, density := range []float64{0, 0.05, 0.3, 1} {
			dense := randSparse[float32](r, m, k, density)
			x := make([]float32, k)
			for i := range x {
				x[i] = float32(2*r.Float64() - 1)
			}
			csr, _ := FromDenseCSR(dense, m, k, max(k, 1))
			want := make([]float32, m)
			RefSpMVCSR(csr, x, want)
			scale := absMul(dense, func() []float32 {
				a := make([]float32, k)
				for i, v := range x {
					a[i] = float32(math.Abs(float64(v)))
				}
				return a
			}(), m, k, 1)
			y := make([]float32, m+1)
			y[m] = guard
			SpMVCSR(csr, x, y)
			if y[m] != guard {
				t.Fatalf("SpMVCSR %dx%d wrote past y", m, k)
			}
			f32Close(t, fmt.Sprintf("csr %dx%d d%.2f", m, k, density), y[:m], want, scale, 1e-5)
			for _, blk := range [][2]int{{1, 8}, {4, 4}, {3, 5}} {
				bsr, _ := FromDenseBSR(dense, m, k, max(k, 1), blk[0], blk[1])
				y[m] = guard
				SpMVBSR(bsr, x, y)
				if y[m] != guard {
					t.Fatalf("SpMVBSR wrote past y")
				}
				f32Close(t, fmt.Sprintf("bsr%v %dx%d d%.2f", blk, m, k, density), y[:m], want, scale, 1e-5)
			}
		}
	}
}

// TestSpMMInt8 checks the int8 kernels bit for bit against a dense int32
// product of A and (B − zero), for zero points 0 and 131.
func TestSpMMInt8(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, sh := range oddShapes {
		m, k, n := sh[0], sh[1], sh[2]
		for _, z := range []uint8{0, 131} {
			dense := randSparse[int8](r, m, k, 0.3)
			d24 := rand24[int8](r, m, k)
			ldb, ldc := n+1, n+2
			b := make([]uint8, max(k*ldb, 1))
			for i := range b {
				b[i] = uint8(r.IntN(256))
			}
			want := func(a []int8) []int32 {
				w := make([]int32, m*n)
				for i := range m {
					for p := range k {
						for j := range n {
							w[i*n+j] += int32(a[i*k+p]) * (int32(b[p*ldb+j]) - int32(z))
						}
					}
				}
				return w
			}
			check := func(name string, w []int32, fn func(c []int32)) {
				buf := make([]int32, lead+max(m*ldc, 1)+4)
				for i := range buf {
					buf[i] = guard
				}
				c := buf[lead:]
				fn(c)
				for i := range lead {
					if buf[i] != guard {
						t.Fatalf("%s %v: wrote before C at %d", name, sh, i-lead)
					}
				}
				for i := m * ldc; i < len(c); i++ {
					if c[i] != guard {
						t.Fatalf("%s %v: wrote past C at %d", name, sh, i)
					}
				}
				for i := range m {
					for j := range ldc {
						if i*ldc+j >= len(c) {
							break
						}
						if j >= n {
							if c[i*ldc+j] != guard {
								t.Fatalf("%s %v: wrote C[%d][%d] outside n", name, sh, i, j)
							}
						} else if c[i*ldc+j] != w[i*n+j] {
							t.Fatalf("%s %v z=%d: C[%d][%d] = %d, want %d", name, sh, z, i, j, c[i*ldc+j], w[i*n+j])
						}
					}
				}
			}
			csr, _ := FromDenseCSR(dense, m, k, max(k, 1))
			w := want(dense)
			check("csr", w, func(c []int32) { SpMMCSRInt8(csr, b, n, ldb, z, c, ldc) })
			check("csr ref", w, func(c []int32) { RefSpMMCSRInt8(csr, b, n, ldb, z, c, ldc) })
			for _, blk := range [][2]int{{1, 16}, {4, 4}, {3, 5}} {
				bsr, _ := FromDenseBSR(dense, m, k, max(k, 1), blk[0], blk[1])
				check("bsr", w, func(c []int32) { SpMMBSRInt8(bsr, b, n, ldb, z, c, ldc) })
				check("bsr ref", w, func(c []int32) { RefSpMMBSRInt8(bsr, b, n, ldb, z, c, ldc) })
			}
			nm, err := FromDenseNM24(d24, m, k, max(k, 1))
			if err != nil {
				t.Fatal(err)
			}
			w24 := want(d24)
			check("nm24", w24, func(c []int32) { SpMMNM24Int8(nm, b, n, ldb, z, c, ldc) })
			check("nm24 ref", w24, func(c []int32) { RefSpMMNM24Int8(nm, b, n, ldb, z, c, ldc) })
		}
	}
}

// TestRoundTrip encodes random matrices in every format, checks ToDense
// gives them back exactly, and that New… accepts the encoder's arrays.
func TestRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, sh := range oddShapes {
		m, k := sh[0], sh[1]
		d := randSparse[float32](r, m, k, 0.2)
		csr, err := FromDenseCSR(d, m, k, max(k, 1))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(csr.ToDense(), d) {
			t.Fatalf("csr %dx%d round trip differs", m, k)
		}
		if _, err := NewCSR(m, k, csr.RowPtr(), csr.ColIdx(), csr.Val()); err != nil {
			t.Fatalf("NewCSR rejects encoder output: %v", err)
		}
		bsr, _ := FromDenseBSR(d, m, k, max(k, 1), 3, 4)
		if !slices.Equal(bsr.ToDense(), d) {
			t.Fatalf("bsr %dx%d round trip differs", m, k)
		}
		br, bc := bsr.Block()
		if _, err := NewBSR(m, k, br, bc, bsr.RowPtr(), bsr.ColIdx(), bsr.Val()); err != nil {
			t.Fatalf("NewBSR rejects encoder output: %v", err)
		}
		d8 := rand24[int8](r, m, k)
		nm, err := FromDenseNM24(d8, m, k, max(k, 1))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(nm.ToDense(), d8) {
			t.Fatalf("nm24 %dx%d round trip differs", m, k)
		}
		if _, err := NewNM24(m, k, nm.Val(), nm.Idx()); err != nil {
			t.Fatalf("NewNM24 rejects encoder output: %v", err)
		}
	}
	if _, err := FromDenseNM24([]float32{1, 2, 3, 0}, 1, 4, 4); !errors.Is(err, ErrNot24) {
		t.Fatalf("three nonzeros in a group: err %v, want ErrNot24", err)
	}
}

// TestMalformed checks that the decoders reject each kind of bad array with
// an error naming the problem.
func TestMalformed(t *testing.T) {
	v3 := []float32{1, 2, 3}
	cases := []struct {
		name string
		err  error
		want string
	}{
		{"csr short rowptr", err1(NewCSR(2, 4, []int32{0, 3}, []int32{0, 1, 2}, v3)), "want rows+1"},
		{"csr rowptr start", err1(NewCSR(2, 4, []int32{1, 2, 3}, []int32{0, 1, 2}, v3)), "row pointer[0]"},
		{"csr rowptr decreasing", err1(NewCSR(2, 4, []int32{0, 2, 1}, []int32{0, 1, 2}, v3)), "< row pointer"},
		{"csr rowptr end", err1(NewCSR(2, 4, []int32{0, 1, 2}, []int32{0, 1, 2}, v3)), "last row pointer"},
		{"csr col out of range", err1(NewCSR(2, 4, []int32{0, 1, 3}, []int32{0, 1, 4}, v3)), "out of range"},
		{"csr negative col", err1(NewCSR(2, 4, []int32{0, 1, 3}, []int32{-1, 1, 2}, v3)), "out of range"},
		{"csr unsorted", err1(NewCSR(2, 4, []int32{0, 0, 3}, []int32{2, 1, 3}, v3)), "not above"},
		{"csr idx/val length", err1(NewCSR(2, 4, []int32{0, 0, 2}, []int32{0, 1}, v3)), "column indices for"},
		{"csr negative shape", err1(NewCSR(-1, 4, nil, nil, []float32{})), "out of range"},
		{"bsr block size", err1(NewBSR(4, 4, 0, 2, []int32{0}, nil, []float32{})), "block"},
		{"bsr values", err1(NewBSR(4, 4, 2, 2, []int32{0, 1, 1}, []int32{0}, v3)), "values for"},
		{"bsr block col", err1(NewBSR(4, 4, 2, 2, []int32{0, 1, 1}, []int32{2}, []float32{1, 2, 3, 4})), "out of range"},
		{"bsr edge nonzero", err1(NewBSR(3, 4, 2, 2, []int32{0, 0, 1}, []int32{0}, []float32{1, 2, 3, 4})), "outside"},
		{"nm24 idx length", err1(NewNM24(1, 8, []float32{1, 2, 3, 4}, []uint8{0x4})), "index bytes"},
		{"nm24 order", err1(NewNM24(1, 4, []float32{1, 2}, []uint8{0x1})), "p0 < p1"},
		{"nm24 high nibble", err1(NewNM24(1, 4, []float32{1, 2}, []uint8{0x14})), "p0 < p1"},
		{"nm24 past cols", err1(NewNM24(1, 3, []float32{1, 2}, []uint8{0xe})), "column 3"},
	}
	for _, c := range cases {
		if c.err == nil || !strings.Contains(c.err.Error(), c.want) {
			t.Errorf("%s: err %v, want one containing %q", c.name, c.err, c.want)
		}
	}
}

func err1[T any](_ T, err error) error { return err }

// TestShapePanics checks that kernels refuse buffers too small for the shape.
func TestShapePanics(t *testing.T) {
	a, _ := FromDenseCSR([]float32{1, 0, 0, 1}, 2, 2, 2)
	for name, fn := range map[string]func(){
		"short B":   func() { SpMMCSR(a, make([]float32, 3), 2, 2, make([]float32, 4), 2) },
		"short C":   func() { SpMMCSR(a, make([]float32, 4), 2, 2, make([]float32, 3), 2) },
		"small ldc": func() { SpMMCSR(a, make([]float32, 4), 2, 2, make([]float32, 4), 1) },
		"short x":   func() { SpMVCSR(a, make([]float32, 1), make([]float32, 2)) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			fn()
		}()
	}
}
