package sparse

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// spmvImpls returns the SpMVInt8 implementations this process may run:
// Go always, the assembly ones where the CPU has them and assembly is on.
func spmvImpls() []string {
	impls := []string{SpMVImplGo}
	if useAsm {
		impls = append(impls, SpMVImplAVX2)
		if cpuSpMV512 {
			impls = append(impls, SpMVImplAVX512)
		}
	}
	return impls
}

// TestSpMVInt8 runs every available SpMVInt8 implementation against
// RefSpMMCSRInt8 with one column, bit for bit, on shapes below, at and
// across the groups (16 rows), windows (32 columns) and slices (128
// columns) of the layouts, at densities from empty to full, with zero
// points 0, 1, 128 and 255, extreme weights and activations, and rows with
// no entries; y has guard values past Rows that must survive.
func TestSpMVInt8(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	shapes := [][2]int{{1, 1}, {3, 5}, {7, 15}, {8, 16}, {9, 17}, {16, 31}, {17, 32}, {40, 33}, {15, 127}, {16, 128}, {17, 129},
		{31, 255}, {33, 257}, {100, 300}, {300, 784}, {5, 1000}, {130, 3}, {1, 2049}}
	const guard = 19
	for _, impl := range spmvImpls() {
		for _, sh := range shapes {
			rows, cols := sh[0], sh[1]
			for _, density := range []float64{0, 0.02, 0.1, 0.5, 1} {
				w := randSparse[int8](r, rows, cols, density)
				if rows > 2 { // an empty row in the middle and extreme weights
					clear(w[rows/2*cols : (rows/2+1)*cols])
					w[0], w[len(w)-1] = -128, 127
				}
				a, err := FromDenseCSR(w, rows, cols, cols)
				if err != nil {
					t.Fatal(err)
				}
				m := newSlicedInt8(a, impl)
				for _, z := range []uint8{0, 1, 128, 255} {
					x := make([]uint8, cols)
					for i := range x {
						x[i] = uint8(r.IntN(256))
					}
					x[0], x[len(x)-1] = 255, 0
					want := make([]int32, rows)
					RefSpMMCSRInt8(a, x, 1, 1, z, want, 1)
					got := make([]int32, rows+guard)
					for i := range got {
						got[i] = -7
					}
					SpMVInt8(m, x, z, got)
					name := fmt.Sprintf("%s %d×%d density %g zero %d", impl, rows, cols, density, z)
					if !slices.Equal(got[:rows], want) {
						t.Fatalf("%s: got %v, want %v", name, got[:min(rows, 20)], want[:min(rows, 20)])
					}
					for i, v := range got[rows:] {
						if v != -7 {
							t.Fatalf("%s: guard %d overwritten with %d", name, i, v)
						}
					}
				}
			}
		}
	}
}

// TestSpMVInt8Extremes runs every available SpMVInt8 implementation
// against RefSpMMCSRInt8, bit for bit, on 1 to 40 rows and 1 to 300
// columns (across the 16-row groups, 32-column windows and 128-column
// slices, multiples of them or not), at densities from 1% to 99%, with an
// all-zero row and column, activations and weights at their extremes (all
// 0 or all 255; all −128, all 127 or a mix of both) or random, and zero
// points from 0 to 255.
func TestSpMVInt8Extremes(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	colsList := []int{1, 2, 15, 16, 17, 31, 32, 33, 47, 63, 64, 65, 100, 127, 128, 129, 200, 255, 256, 257, 300}
	densities := []float64{0.01, 0.05, 0.1, 0.2, 0.5, 0.9, 0.99}
	for rows := 1; rows <= 40; rows += 3 {
		for _, cols := range colsList {
			density := densities[r.IntN(len(densities))]
			wMode, xMode := r.IntN(4), r.IntN(4)
			w := make([]int8, rows*cols)
			for i := range w {
				if r.Float64() >= density {
					continue
				}
				switch wMode {
				case 0:
					w[i] = int8(r.IntN(256) - 128)
				case 1:
					w[i] = -128
				case 2:
					w[i] = 127
				default:
					w[i] = []int8{-128, 127}[r.IntN(2)]
				}
			}
			zr, zc := r.IntN(rows), r.IntN(cols)
			clear(w[zr*cols : (zr+1)*cols])
			for i := range rows {
				w[i*cols+zc] = 0
			}
			x := make([]uint8, cols)
			for i := range x {
				switch xMode {
				case 0:
					x[i] = uint8(r.IntN(256))
				case 1:
					x[i] = 255
				case 2:
					x[i] = 0
				default:
					x[i] = []uint8{0, 255}[r.IntN(2)]
				}
			}
			z := uint8(r.IntN(256))
			a, err := FromDenseCSR(w, rows, cols, cols)
			if err != nil {
				t.Fatal(err)
			}
			want := make([]int32, rows)
			RefSpMMCSRInt8(a, x, 1, 1, z, want, 1)
			for _, impl := range spmvImpls() {
				got := make([]int32, rows)
				SpMVInt8(newSlicedInt8(a, impl), x, z, got)
				if !slices.Equal(got, want) {
					t.Fatalf("%s %d×%d density %g (weights %d, activations %d) zero %d: got %v, want %v",
						impl, rows, cols, density, wMode, xMode, z, got[:min(rows, 20)], want[:min(rows, 20)])
				}
			}
		}
	}
}

// TestSlicedInt8Windows decodes the AVX2 layout (whatever the CPU) and
// checks that it holds every entry of the matrix once, with its weight and
// column, that every window lies in x (or in the copy of a shorter x) and
// every index in its window, and that each group has an even number of
// steps.
func TestSlicedInt8Windows(t *testing.T) {
	r := rand.New(rand.NewPCG(23, 24))
	for _, sh := range [][2]int{{1, 1}, {5, 31}, {16, 32}, {17, 33}, {40, 300}, {300, 784}} {
		rows, cols := sh[0], sh[1]
		for _, density := range []float64{0, 0.05, 0.3, 1} {
			w := randSparse[int8](r, rows, cols, density)
			a, err := FromDenseCSR(w, rows, cols, cols)
			if err != nil {
				t.Fatal(err)
			}
			m := newSlicedInt8(a, SpMVImplAVX2)
			name := fmt.Sprintf("%d×%d density %g", rows, cols, density)
			got := make([]int8, rows*cols)
			seen := make([]bool, rows*cols)
			step := 0
			for g, n := range m.steps {
				if n%2 != 0 {
					t.Fatalf("%s: group %d has %d steps", name, g, n)
				}
				for range n {
					o := int(m.off[step])
					if o < 0 || o+m.s > max(cols, m.s) {
						t.Fatalf("%s: step %d: window at %d outside x", name, step, o)
					}
					// Undo widenOrder: word w of the low (high) widening
					// holds byte lo (hi).
					var wb [32]int8
					for v := range 16 {
						lo, hi := v, 8+v
						if v >= 8 {
							lo, hi = 8+v, 16+v
						}
						wb[lo], wb[hi] = m.val[32*step+v], m.val[32*step+16+v]
					}
					for row := range m.g {
						for b := range 2 {
							at := avx2Slot(row, b)
							if wb[at] == 0 {
								continue
							}
							i, k := g*m.g+row, o+int(m.idx[32*step+at])-0x70
							if i >= rows || k < o || k >= min(o+m.s, cols) {
								t.Fatalf("%s: step %d: entry of row %d at column %d outside the window at %d", name, step, i, k, o)
							}
							if seen[i*cols+k] {
								t.Fatalf("%s: entry (%d, %d) twice", name, i, k)
							}
							seen[i*cols+k], got[i*cols+k] = true, wb[at]
						}
					}
					step++
				}
			}
			if len(m.off) != step+1 || len(m.idx) != 32*(step+1) || len(m.val) != 32*(step+1) {
				t.Fatalf("%s: %d steps, %d window starts, %d indices, %d weights", name, step, len(m.off), len(m.idx), len(m.val))
			}
			if !slices.Equal(got, w) {
				t.Fatalf("%s: the layout does not hold the matrix", name)
			}
		}
	}
}

// TestSpMVInt8Batch checks SpMVInt8Batch against RefSpMMCSRInt8 on
// sample-major batches of 0 to 9 vectors (the assembly kernels take four at
// a time) with strides wider than the matrix, on shapes with whole and
// partial groups and slices, for every available implementation; y has
// guard values between and after the vectors.
func TestSpMVInt8Batch(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	for _, sh := range [][2]int{{37, 301}, {16, 128}, {300, 784}, {5, 3}} {
		rows, cols := sh[0], sh[1]
		ldx, ldy := cols+9, rows+3
		a, err := FromDenseCSR(randSparse[int8](r, rows, cols, 0.1), rows, cols, cols)
		if err != nil {
			t.Fatal(err)
		}
		for n := range 10 {
			x := make([]uint8, n*ldx)
			for i := range x {
				x[i] = uint8(r.IntN(256))
			}
			// The reference takes B feature-major: transpose the batch.
			b := make([]uint8, cols*n)
			for i := range n {
				for k := range cols {
					b[k*n+i] = x[i*ldx+k]
				}
			}
			want := make([]int32, rows*n)
			if n > 0 {
				RefSpMMCSRInt8(a, b, n, n, 3, want, n)
			}
			for _, impl := range spmvImpls() {
				y := make([]int32, n*ldy)
				for i := range y {
					y[i] = -7
				}
				SpMVInt8Batch(newSlicedInt8(a, impl), x, n, ldx, 3, y, ldy)
				for i := range n {
					for o := range ldy {
						w := int32(-7)
						if o < rows {
							w = want[o*n+i]
						}
						if y[i*ldy+o] != w {
							t.Fatalf("%s %d×%d batch %d: sample %d row %d: %d, want %d", impl, rows, cols, n, i, o, y[i*ldy+o], w)
						}
					}
				}
			}
		}
	}
}

// TestSpMVInt8Panics checks the shape checks of the two entry points.
func TestSpMVInt8Panics(t *testing.T) {
	a, _ := FromDenseCSR([]int8{1, 0, 2, 0, 3, 0}, 2, 3, 3)
	m := NewSlicedInt8(a)
	for name, f := range map[string]func(){
		"short x":     func() { SpMVInt8(m, make([]uint8, 2), 0, make([]int32, 2)) },
		"short y":     func() { SpMVInt8(m, make([]uint8, 3), 0, make([]int32, 1)) },
		"small ldx":   func() { SpMVInt8Batch(m, make([]uint8, 9), 2, 2, 0, make([]int32, 4), 2) },
		"short batch": func() { SpMVInt8Batch(m, make([]uint8, 5), 2, 3, 0, make([]int32, 4), 2) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}

// FuzzSpMVInt8 builds an int8 matrix and input vectors from arbitrary
// bytes — shapes up to 40×300 (across groups and slices of both layouts),
// a density byte, weights, activations and the zero point — and requires
// every available SpMVInt8 implementation, one vector and a batch of five,
// to equal RefSpMMCSRInt8 bit for bit.
func FuzzSpMVInt8(f *testing.F) {
	f.Add([]byte{17, 200, 30, 128, 1, 2, 3, 255, 128, 0})
	f.Add([]byte{16, 128, 255, 0, 127, 129})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 5 {
			return
		}
		rows, cols, density, zero := int(data[0]%41), 1+int(data[1])+int(data[2]%2)*44, data[3], data[4]
		data = data[5:]
		at := 0
		next := func() byte {
			if len(data) == 0 {
				return 0
			}
			b := data[at%len(data)] ^ byte(at*131)
			at++
			return b
		}
		w := make([]int8, rows*cols)
		for i := range w {
			if next() < density {
				w[i] = int8(next())
			}
		}
		const n = 5
		x := make([]uint8, n*cols)
		for i := range x {
			x[i] = next()
		}
		a, err := FromDenseCSR(w, rows, cols, cols)
		if err != nil {
			t.Fatal(err)
		}
		want := make([]int32, rows*n)
		b := make([]uint8, cols*n)
		for i := range n {
			for k := range cols {
				b[k*n+i] = x[i*cols+k]
			}
		}
		RefSpMMCSRInt8(a, b, n, n, zero, want, n)
		for _, impl := range spmvImpls() {
			m := newSlicedInt8(a, impl)
			y := make([]int32, rows)
			SpMVInt8(m, x, zero, y)
			yb := make([]int32, n*rows)
			SpMVInt8Batch(m, x, n, cols, zero, yb, rows)
			for o := range rows {
				if y[o] != want[o*n] {
					t.Fatalf("%s %d×%d: row %d: %d, want %d", impl, rows, cols, o, y[o], want[o*n])
				}
				for i := range n {
					if yb[i*rows+o] != want[o*n+i] {
						t.Fatalf("%s %d×%d batch: sample %d row %d: %d, want %d", impl, rows, cols, i, o, yb[i*rows+o], want[o*n+i])
					}
				}
			}
		}
	})
}
