package fixed

import (
	"fmt"
	"slices"
)

// Lookup2 sets dst[j] = t[a[j]<<8 | b[j]] for j < len(dst): a function of
// two uint8 codes looked up in its table, such as a two-input Add's output
// code (compress/qnn). Whole blocks of 16 (AVX-512) or 8 (AVX2) codes are
// gathered from the table's aligned 4-byte words, the rest looked up in
// Go. It panics if a or b is shorter than dst.
func Lookup2(dst, a, b []uint8, t *[1 << 16]uint8) {
	if len(a) < len(dst) || len(b) < len(dst) {
		panic(fmt.Sprintf("fixed: Lookup2: %d and %d codes for %d outputs", len(a), len(b), len(dst)))
	}
	lookup2(lookupImpl, dst, a[:len(dst)], b[:len(dst)], t)
}

// lookup2 is Lookup2 on the named implementation; a and b are len(dst)
// long.
func lookup2(which string, dst, a, b []uint8, t *[1 << 16]uint8) {
	j0 := 0
	switch n := len(dst); {
	case which == ImplVNNI && n >= 16:
		j0 = n &^ 15
		lookup2x16(&dst[0], &a[0], &b[0], j0, &t[0])
	case which == ImplAVX2 && n >= 8:
		j0 = n &^ 7
		lookup2x8(&dst[0], &a[0], &b[0], j0, &t[0])
	}
	lookup2Go(dst[j0:], a[j0:], b[j0:], t)
}

// lookup2Go is Lookup2 in Go, the reference of the assembly: a uint16
// index needs no bounds check.
func lookup2Go(dst, a, b []uint8, t *[1 << 16]uint8) {
	a, b = a[:len(dst)], b[:len(dst)]
	for j := range dst {
		dst[j] = t[uint16(a[j])<<8|uint16(b[j])]
	}
}

// lookupImpl is the implementation Lookup2 uses (ImplVNNI for the
// AVX-512 kernel, ImplAVX2 or ImplGo), fixed at init by lookupSelfTest.
var lookupImpl = ImplGo

// lookupSelfTest reports whether the named implementation of Lookup2
// agrees with the Go loop on 1,029 pseudo-random pairs of codes with the
// table's first and last entries (a table whose neighbouring entries
// differ, so a wrong byte of a gathered word shows).
func lookupSelfTest(which string) bool {
	t := new([1 << 16]uint8)
	for i := range t {
		t[i] = uint8(i*7 + i>>8*13)
	}
	a, b := make([]uint8, 1029), make([]uint8, 1029)
	x := uint32(3)
	for i := range a {
		x = x*1664525 + 1013904223
		a[i], b[i] = uint8(x>>24), uint8(x>>16)
	}
	a[0], b[0], a[1], b[1] = 0, 0, 255, 255
	want, got := make([]uint8, len(a)), make([]uint8, len(a))
	lookup2Go(want, a, b, t)
	lookup2(which, got, a, b, t)
	return slices.Equal(got, want)
}
