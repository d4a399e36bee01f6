package sparse

import (
	"encoding/binary"
	"slices"
	"testing"
)

// fuzzInts reads small int32 values from data, two bytes each, as a
// decoder would read them from a file; values range over [-8, 248) so
// that both valid and invalid indices occur.
func fuzzInts(data []byte, n int) ([]int32, []byte) {
	out := make([]int32, 0, n)
	for len(out) < n && len(data) >= 2 {
		out = append(out, int32(binary.LittleEndian.Uint16(data)%256)-8)
		data = data[2:]
	}
	return out, data
}

// checkAccepted runs every kernel on an accepted matrix (which must not
// crash: the assembly trusts validated indices) and checks ToDense re-encodes
// to the same dense matrix.
func checkAccepted(t *testing.T, dense []float32, rows, cols int, spmm func(b []float32, n int, c []float32)) {
	t.Helper()
	const n = 9
	b := make([]float32, max(cols*n, 1))
	for i := range b {
		b[i] = float32(i%7) - 3
	}
	c := make([]float32, max(rows*n, 1))
	spmm(b, n, c)
	for i := range rows {
		for j := range n {
			var want float32
			for p := range cols {
				want += dense[i*cols+p] * b[p*n+j]
			}
			if d := c[i*n+j] - want; d > 1e-3 || d < -1e-3 {
				t.Fatalf("C[%d][%d] = %g, want %g", i, j, c[i*n+j], want)
			}
		}
	}
}

// FuzzNewCSR feeds arbitrary arrays to NewCSR; accepted matrices must
// decode, re-encode identically and multiply correctly (SpMM and SpMV).
func FuzzNewCSR(f *testing.F) {
	f.Add([]byte{3, 4, 2, 0, 8, 0, 9, 0, 11, 0, 8, 0, 10, 0})
	f.Add([]byte{1, 1, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 2 {
			return
		}
		rows, cols := int(data[0]%9), int(data[1]%40)
		rp, rest := fuzzInts(data[2:], rows+1)
		nnz := 0
		if len(rp) > 0 {
			nnz = max(0, int(rp[len(rp)-1]))
		}
		ci, _ := fuzzInts(rest, min(nnz, 400))
		val := make([]float32, len(ci))
		for i := range val {
			val[i] = float32(i%5) + 1
		}
		a, err := NewCSR(rows, cols, rp, ci, val)
		if err != nil {
			return
		}
		d := a.ToDense()
		again, err := FromDenseCSR(d, rows, cols, max(cols, 1))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(again.ToDense(), d) {
			t.Fatal("re-encoding differs")
		}
		checkAccepted(t, d, rows, cols, func(b []float32, n int, c []float32) { SpMMCSR(a, b, n, n, c, n) })
		x := make([]float32, cols)
		y := make([]float32, rows)
		want := make([]float32, rows)
		SpMVCSR(a, x, y)
		RefSpMVCSR(a, x, want)
	})
}

// FuzzNewBSR feeds arbitrary arrays to NewBSR; accepted matrices must
// decode and multiply correctly.
func FuzzNewBSR(f *testing.F) {
	f.Add([]byte{4, 6, 2, 3, 8, 0, 9, 0, 10, 0, 8, 0, 9, 0, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 4 {
			return
		}
		rows, cols, r, c := int(data[0]%9), int(data[1]%40), int(data[2]%5), int(data[3]%5)
		br := 0
		if r > 0 {
			br = (rows + r - 1) / r
		}
		rp, rest := fuzzInts(data[4:], br+1)
		nb := 0
		if len(rp) > 0 {
			nb = max(0, int(rp[len(rp)-1]))
		}
		ci, rest := fuzzInts(rest, min(nb, 100))
		val := make([]float32, len(ci)*r*c)
		for i := range val {
			if i < len(rest) {
				val[i] = float32(rest[i] % 3)
			}
		}
		a, err := NewBSR(rows, cols, r, c, rp, ci, val)
		if err != nil {
			return
		}
		d := a.ToDense()
		checkAccepted(t, d, rows, cols, func(b []float32, n int, cc []float32) { SpMMBSR(a, b, n, n, cc, n) })
		SpMVBSR(a, make([]float32, cols), make([]float32, rows))
	})
}

// FuzzNewNM24 feeds arbitrary index bytes and values to NewNM24; accepted
// matrices must decode to at most two nonzeros per group, re-encode
// identically and multiply correctly.
func FuzzNewNM24(f *testing.F) {
	f.Add([]byte{2, 7, 0x4, 0xe, 0x9, 0x4, 1, 2, 3, 4, 5, 6, 7, 8})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 2 {
			return
		}
		rows, cols := int(data[0]%9), int(data[1]%40)
		g := (cols + 3) / 4
		data = data[2:]
		if len(data) < rows*g*3 {
			return
		}
		idx := data[:rows*g]
		val := make([]float32, 2*rows*g)
		for i := range val {
			val[i] = float32(data[rows*g+i] % 3)
		}
		a, err := NewNM24(rows, cols, val, idx)
		if err != nil {
			return
		}
		d := a.ToDense()
		again, err := FromDenseNM24(d, rows, cols, max(cols, 1))
		if err != nil {
			t.Fatalf("decoded matrix not 2:4: %v", err)
		}
		if !slices.Equal(again.ToDense(), d) {
			t.Fatal("re-encoding differs")
		}
		checkAccepted(t, d, rows, cols, func(b []float32, n int, c []float32) { SpMMNM24(a, b, n, n, c, n) })
		// The int8 kernels (64-column strips, K blocks) must match their
		// reference exactly on the same index bytes.
		vi := make([]int8, len(val))
		for i := range vi {
			vi[i] = int8(data[rows*g+i]) * int8(val[i])
		}
		ai, err := NewNM24(rows, cols, vi, idx)
		if err != nil {
			t.Fatal(err)
		}
		const n = 65
		b := make([]uint8, max(cols*n, 1))
		for i := range b {
			b[i] = uint8(i * 37)
		}
		got, want := make([]int32, max(rows*n, 1)), make([]int32, max(rows*n, 1))
		SpMMNM24Int8(ai, b, n, n, 77, got, n)
		RefSpMMNM24Int8(ai, b, n, n, 77, want, n)
		if !slices.Equal(got, want) {
			t.Fatal("int8 SpMM differs from its reference")
		}
	})
}
