package fixed

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/compressq/compressq/compress/internal/cpu"
)

// i16Sentinel fills packed buffers before a pack; i16Guard elements of it
// follow the packed panels and must survive.
const (
	i16Sentinel int16 = 0x5A5B
	i16Guard    int   = 29
)

// needI16Asm skips t where the assembly packer cannot run and fails it
// where it should but failed its start-up self-test.
func needI16Asm(t *testing.T) {
	t.Helper()
	if !useI16Asm {
		if cpu.Asm && cpuAVX2 {
			t.Fatal("the CPU has AVX2 but packAI16x6 failed its start-up self-test")
		}
		t.Skipf("packAI16x6 is not in use (assembly: %q, AVX2: %v)", cpu.Disabled(), cpuAVX2)
	}
}

// packBoth runs pack into two guarded buffers of size int16, with the
// assembly packer and with the Go loop, and returns both whole buffers.
func packBoth(size int, pack func(dst []int16)) (asm, ref []int16) {
	saved := useI16Asm
	defer func() { useI16Asm = saved }()
	var out [2][]int16
	for i, on := range []bool{true, false} {
		useI16Asm = on
		out[i] = make([]int16, size+i16Guard)
		for j := range out[i] {
			out[i][j] = i16Sentinel
		}
		pack(out[i][:size:size])
	}
	return out[0], out[1]
}

// TestPackI16 compares packI16 on packAI16x6 with the Go packAI16 over m =
// 1…20 rows (partial micro-panels) from row 0 and row 3, K = 1…70 (blocks
// of 4 groups, groups left, partial groups), odd row strides and extreme
// values, with A ending at an unreadable page and guard elements after
// the panels.
func TestPackI16(t *testing.T) {
	needI16Asm(t)
	r := rand.New(rand.NewPCG(3, 4))
	vals := []uint8{0, 1, 127, 128, 254, 255}
	for k := 1; k <= 70; k++ {
		kg := (k + groupK - 1) / groupK
		lda := k | 1
		if k%4 == 1 {
			lda = k + 6
		}
		for m := 1; m <= 20; m++ {
			for _, i0 := range []int{0, 3} {
				i1 := i0 + m
				a := tailGuarded(t, (i1-1)*lda+k)
				for i := range a {
					if r.IntN(4) == 0 {
						a[i] = vals[r.IntN(len(vals))]
					} else {
						a[i] = uint8(r.Uint32())
					}
				}
				size := packRows(m, avx2MR) * kg * groupK
				got, want := packBoth(size, func(dst []int16) { packI16(dst, a, lda, i0, i1, k, kg) })
				if i := firstDiff(got, want); i >= 0 {
					t.Fatalf("k=%d lda=%d rows [%d, %d): element %d of %d = %d, want %d", k, lda, i0, i1, i, size, got[i], want[i])
				}
			}
		}
	}
}

// TestPackWinI16 compares packAVX2 of windowed rows, packed in place by
// packAI16x6 when segments are whole groups and gathered otherwise, with
// gatherRows and the Go packAI16: m = 1…20 overlapping rows in random
// order, 1–3 segments in any order, segment lengths that are and are not
// multiples of 4, the last window ending at an unreadable page.
func TestPackWinI16(t *testing.T) {
	needI16Asm(t)
	r := rand.New(rand.NewPCG(5, 6))
	for _, seg := range []int{1, 3, 4, 5, 8, 12, 13, 16, 20, 36, 48, 64, 68, 96} {
		for nseg := 1; nseg <= 3; nseg++ {
			for m := 1; m <= 20; m++ {
				segs := make([]int, nseg)
				for s := range segs {
					segs[s] = r.IntN(3 * seg)
				}
				offs := make([]int, m)
				for i := range offs {
					offs[i] = r.IntN(2*seg + 9)
				}
				w := mustWindows(offs, segs, seg)
				a := tailGuarded(t, w.ends[m-1])
				for i := range a {
					a[i] = uint8(r.Uint32())
				}
				k := w.K()
				g := &gemmCall{a: a, win: w, b: &PackedB{k: k, kg: (k + groupK - 1) / groupK}}
				var rows []uint8
				size := packRows(m, avx2MR) * g.b.kg * groupK
				got, want := packBoth(size, func(dst []int16) { g.packAVX2(dst, &rows, 0, m) })
				if i := firstDiff(got, want); i >= 0 {
					t.Fatalf("%d rows %v, segments %v of %d: element %d of %d = %d, want %d", m, offs, segs, seg, i, size, got[i], want[i])
				}
			}
		}
	}
}

// firstDiff returns the first index where a and b differ, or −1.
func firstDiff(a, b []int16) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	return -1
}

// BenchmarkPackI16 measures packing one block of A (16 micro-panels of 6
// rows) for the AVX2 kernels, with the assembly and with the Go loop:
// row-major at K = 144 and 1024, and from the windows of the ResNet
// fixture's 16-channel 3×3 convolution (K = 144: three segments of 48
// bytes), in packed bytes per second.
//
//	go test ./compress/fixed -run '^$' -bench PackI16 -cpu 1
func BenchmarkPackI16(b *testing.B) {
	if !useI16Asm {
		b.Skip("packAI16x6 is not in use")
	}
	const m = mcPanels * avx2MR
	r := rand.New(rand.NewPCG(1, 2))
	img := make([]uint8, 30*30*16)
	for i := range img {
		img[i] = uint8(r.Uint32())
	}
	win := convWindows(1, 0, 30, 30, 16, 3, 1, 1, 28, 28)
	for _, tc := range []struct {
		name string
		k    int
		g    *gemmCall
	}{
		{"rows/k=144", 144, nil},
		{"rows/k=1024", 1024, nil},
		{"windows/k=144", 144, &gemmCall{a: img, win: win}},
	} {
		kg := tc.k / groupK
		g := tc.g
		if g == nil {
			a := make([]uint8, m*tc.k)
			for i := range a {
				a[i] = uint8(r.Uint32())
			}
			g = &gemmCall{a: a, lda: tc.k}
		}
		g.b = &PackedB{k: tc.k, kg: kg}
		ap := make([]int16, m*kg*groupK)
		for _, on := range []bool{true, false} {
			b.Run(fmt.Sprintf("%s/asm=%v", tc.name, on), func(b *testing.B) {
				saved := useI16Asm
				defer func() { useI16Asm = saved }()
				useI16Asm = on
				var rows []uint8
				b.SetBytes(int64(2 * len(ap)))
				for b.Loop() {
					g.packAVX2(ap, &rows, 0, m)
				}
			})
		}
	}
}
