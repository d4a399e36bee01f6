//go:build !purego

package kernels

import (
	"runtime/debug"
	"slices"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// guardedPage is one read-write page between two that may be neither read
// nor written: a slice placed against either end of it faults if a kernel
// touches a float outside it.
type guardedPage []byte

// newGuardedPage maps a guardedPage for the length of tb.
func newGuardedPage(tb testing.TB) guardedPage {
	tb.Helper()
	ps := unix.Getpagesize()
	mem, err := unix.Mmap(-1, 0, 3*ps, unix.PROT_NONE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		tb.Fatalf("mmap: %v", err)
	}
	tb.Cleanup(func() { _ = unix.Munmap(mem) })
	if err := unix.Mprotect(mem[ps:2*ps], unix.PROT_READ|unix.PROT_WRITE); err != nil {
		tb.Fatalf("mprotect: %v", err)
	}
	return guardedPage(mem[ps : 2*ps])
}

// floats returns n floats of the page, against its end or its start,
// holding the first n of fill and zeros after them.
func (p guardedPage) floats(n int, atEnd bool, fill []float32) []float32 {
	off := 0
	if atEnd {
		off = len(p) - 4*n
	}
	s := unsafe.Slice((*float32)(unsafe.Pointer(&p[off])), n)
	clear(s[copy(s, fill):])
	return s
}

// TestRowKernelsAVX2Guarded runs padRowsAVX2 and splitRowsAVX2 with the
// source and every destination against a page that faults when touched,
// after the last row's floats and before the first's, over 1–70 floats a
// row (2–70 to split): the masked tails must neither read nor write past a
// row. A fault fails the test instead of crashing it.
func TestRowKernelsAVX2Guarded(t *testing.T) {
	withPadAVX2(t)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	srcPage, dstPage, oddPage := newGuardedPage(t), newGuardedPage(t), newGuardedPage(t)
	for w := 1; w <= 70; w++ {
		for rows := 1; rows <= 3; rows++ {
			for _, srcStride := range []int{w, 2*w + 1} {
				for _, atEnd := range []bool{true, false} {
					vals := make([]float32, (rows-1)*srcStride+w)
					for i := range vals {
						vals[i] = float32(i + 1)
					}
					src := srcPage.floats(len(vals), atEnd, vals)
					dst := dstPage.floats((rows-1)*w+w, atEnd, nil)
					func() {
						defer failOnFault(t, "padRowsAVX2", rows, w, srcStride, atEnd)
						padRowsAVX2(&dst[0], &src[0], rows, w, srcStride, w)
					}()
					for i := range rows {
						if !slices.Equal(dst[i*w:(i+1)*w], vals[i*srcStride:i*srcStride+w]) {
							t.Fatalf("padRowsAVX2: %d rows of %d, source stride %d: row %d = %v, want %v", rows, w, srcStride, i, dst[i*w:(i+1)*w], vals[i*srcStride:i*srcStride+w])
						}
					}
					if w < 2 {
						continue
					}
					ne, no := (w+1)/2, w/2
					even := dstPage.floats((rows-1)*ne+ne, atEnd, nil)
					odd := oddPage.floats((rows-1)*ne+no, atEnd, nil)
					func() {
						defer failOnFault(t, "splitRowsAVX2", rows, w, srcStride, atEnd)
						splitRowsAVX2(&even[0], &odd[0], &src[0], rows, w, srcStride, ne)
					}()
					for i := range rows {
						for x := range w {
							got := even[i*ne+x/2]
							if x%2 == 1 {
								got = odd[i*ne+x/2]
							}
							if want := vals[i*srcStride+x]; got != want {
								t.Fatalf("splitRowsAVX2: %d rows of %d, source stride %d: row %d column %d = %v, want %v", rows, w, srcStride, i, x, got, want)
							}
						}
					}
				}
			}
		}
	}
}

// failOnFault, deferred, turns a fault of a row kernel into a test failure
// naming the case.
func failOnFault(t *testing.T, kernel string, rows, w, srcStride int, atEnd bool) {
	t.Helper()
	if e := recover(); e != nil {
		edge := "start"
		if atEnd {
			edge = "end"
		}
		t.Fatalf("%s: %d rows of %d, source stride %d, buffers against the page's %s: %v", kernel, rows, w, srcStride, edge, e)
	}
}
