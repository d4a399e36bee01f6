package fixed

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// TestLookup2 checks Lookup2 on every available implementation against
// the Go loop: random tables and codes, the table's first and last
// entries, lengths around the 8- and 16-code blocks, guard bytes after
// dst.
func TestLookup2(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 9))
	tab := new([1 << 16]uint8)
	for i := range tab {
		tab[i] = uint8(r.Uint32())
	}
	for _, n := range []int{0, 1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 100, 12544} {
		a, b := make([]uint8, n), make([]uint8, n)
		for i := range a {
			a[i], b[i] = uint8(r.Uint32()), uint8(r.Uint32())
		}
		if n > 2 {
			a[0], b[0], a[n-1], b[n-1] = 255, 255, 0, 0
		}
		want := make([]uint8, n)
		for j := range want {
			want[j] = tab[int(a[j])<<8|int(b[j])]
		}
		for _, which := range available() {
			got := bytes.Repeat([]uint8{0xA5}, n+5)
			lookup2(which, got[:n], a, b, tab)
			if !bytes.Equal(got[:n], want) || !bytes.Equal(got[n:], bytes.Repeat([]uint8{0xA5}, 5)) {
				t.Errorf("%s n=%d: differs from the table", which, n)
			}
		}
		got := make([]uint8, n)
		Lookup2(got, a, b, tab)
		if !bytes.Equal(got, want) {
			t.Errorf("Lookup2 n=%d: differs from the table", n)
		}
	}
	if HasAVX512VNNI && lookupImpl != ImplVNNI || !HasAVX512VNNI && HasAVX2 && lookupImpl != ImplAVX2 {
		t.Errorf("Lookup2 runs %s with VNNI %v, AVX2 %v", lookupImpl, HasAVX512VNNI, HasAVX2)
	}
	defer func() {
		if recover() == nil {
			t.Error("Lookup2 with short codes: no panic")
		}
	}()
	Lookup2(make([]uint8, 4), make([]uint8, 3), make([]uint8, 4), tab)
}

// BenchmarkLookup2 measures each available implementation of Lookup2 on
// the ResNet fixture's first Add at batch 64 (64·12,544 codes), in codes
// per second.
func BenchmarkLookup2(b *testing.B) {
	const n = 64 * 12544
	r := rand.New(rand.NewPCG(2, 9))
	tab := new([1 << 16]uint8)
	x, y, dst := make([]uint8, n), make([]uint8, n), make([]uint8, n)
	for i := range x {
		x[i], y[i] = uint8(r.Uint32()), uint8(r.Uint32())
	}
	for _, which := range available() {
		b.Run(which, func(b *testing.B) {
			for b.Loop() {
				lookup2(which, dst, x, y, tab)
			}
			b.ReportMetric(n*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gcodes/s")
		})
	}
}
