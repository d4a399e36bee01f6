//go:build !purego

package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/compressq/compressq/compress/internal/cpu"
)

// padSentinel marks the floats a kernel must not write: a signalling NaN
// whose bits no source float has.
var padSentinel = math.Float32frombits(0x7fa5a5a5)

// withPadAVX2 makes PadPhases move rows with the AVX2 kernels, whatever
// COMPRESSQ_NOASM says and even where the AVX-512 ones are in use, until
// tb ends; it skips tb where the CPU lacks AVX2.
func withPadAVX2(tb testing.TB) {
	tb.Helper()
	if !cpu.AVX2 {
		tb.Skip("the CPU lacks AVX2: padRowsAVX2 and splitRowsAVX2 cannot run")
	}
	saved512, savedAVX2 := usePad512, usePadAVX2
	usePad512, usePadAVX2 = false, true
	tb.Cleanup(func() { usePad512, usePadAVX2 = saved512, savedAVX2 })
}

// padSource returns n floats of src: mostly small random values, with
// every few a NaN payload, ±0, ±Inf, a subnormal or ±MaxFloat32, which a
// row copy must move bit for bit.
func padSource(r *rand.Rand, n int) []float32 {
	special := []float32{
		math.Float32frombits(0x7fc00001), math.Float32frombits(0xffc12345), math.Float32frombits(0x7f800001),
		float32(math.Copysign(0, -1)), 0, float32(math.Inf(1)), float32(math.Inf(-1)),
		math.Float32frombits(1), -math.Float32frombits(0x007fffff), math.MaxFloat32, -math.MaxFloat32,
	}
	s := make([]float32, n)
	for i := range s {
		if r.IntN(5) == 0 {
			s[i] = special[r.IntN(len(special))]
		} else {
			s[i] = r.Float32()*8 - 4
		}
	}
	return s
}

// sentinels returns n copies of padSentinel.
func sentinels(n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = padSentinel
	}
	return s
}

// firstBitDiff returns the first index where got and want differ bit for
// bit, or -1.
func firstBitDiff(got, want []float32) int {
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			return i
		}
	}
	return -1
}

// TestPadPhasesAVX2 checks PadPhases with the AVX2 row kernels against
// padPhasesRef, bit for bit, at strides 1 and 2 over widths 1–70, 1–5 rows,
// 1–3 channels and uneven pads: on a buffer of sentinels it must write the
// image pixels and leave every padding position, and the floats past the
// phases, as they were.
func TestPadPhasesAVX2(t *testing.T) {
	withPadAVX2(t)
	r := rand.New(rand.NewPCG(41, 42))
	const guard = 19
	for _, s := range []int{1, 2} {
		for _, p := range [][4]int{{0, 0, 0, 0}, {1, 1, 1, 1}, {0, 1, 2, 3}, {3, 2, 1, 0}, {2, 0, 1, 1}} {
			for c := 1; c <= 3; c++ {
				for h := 1; h <= 5; h++ {
					for w := 1; w <= 70; w++ {
						g := ConvGeom{C: c, H: h, W: w, KH: 3, KW: 3, Stride: s, Dilation: 1,
							PadTop: p[0], PadLeft: p[1], PadBottom: p[2], PadRight: p[3]}
						hq, wq := PhaseDims(g)
						n := c * s * s * hq * wq
						src := padSource(r, c*h*w)
						got := sentinels(n + guard)
						PadPhases(src, g, got)
						// want: the definition where a pixel of the image lands
						// (where the definition of an image of ones is 1), the
						// sentinel elsewhere.
						ref, ones, in := make([]float32, n), make([]float32, c*h*w), make([]float32, n)
						for i := range ones {
							ones[i] = 1
						}
						padPhasesRef(src, g, ref)
						padPhasesRef(ones, g, in)
						want := sentinels(n + guard)
						for i := range ref {
							if in[i] == 1 {
								want[i] = ref[i]
							}
						}
						if i := firstBitDiff(got, want); i >= 0 {
							where := fmt.Sprintf("%d floats past the phases", i-n)
							if i < n {
								where = fmt.Sprintf("phase plane %d at (%d,%d)", i/(hq*wq), i/wq%hq, i%wq)
							}
							t.Fatalf("stride %d, %d×%d×%d, pads %v: %s = %#x, want %#x",
								s, c, h, w, p, where, math.Float32bits(got[i]), math.Float32bits(want[i]))
						}
					}
				}
			}
		}
	}
}

// TestRowKernelsAVX2 calls padRowsAVX2 and splitRowsAVX2 directly on 1–5
// rows of 1–70 floats (2–70 to split) at several source and destination
// strides, against their definitions, bit for bit: each destination row
// gets its floats, and every other float of the destination buffer
// (between rows, before and after) keeps its sentinel.
func TestRowKernelsAVX2(t *testing.T) {
	withPadAVX2(t)
	r := rand.New(rand.NewPCG(43, 44))
	const lead, guard = 7, 23
	for rows := 1; rows <= 5; rows++ {
		for w := 1; w <= 70; w++ {
			for _, sgap := range []int{0, 3, w + 1} {
				for _, dgap := range []int{0, 5, 16} {
					// Copies: dst row i = src row i.
					srcStride, dstStride := w+sgap, w+dgap
					src := padSource(r, (rows-1)*srcStride+w)
					got, want := sentinels(lead+(rows-1)*dstStride+w+guard), sentinels(lead+(rows-1)*dstStride+w+guard)
					for i := range rows {
						copy(want[lead+i*dstStride:], src[i*srcStride:i*srcStride+w])
					}
					padRowsAVX2(&got[lead], &src[0], rows, w, srcStride, dstStride)
					if i := firstBitDiff(got, want); i >= 0 {
						t.Fatalf("padRowsAVX2: %d rows of %d, strides %d, %d: float %d of the buffer (row origin %d) = %#x, want %#x",
							rows, w, srcStride, dstStride, i, lead, math.Float32bits(got[i]), math.Float32bits(want[i]))
					}
					if w < 2 {
						continue
					}
					// Splits: even and odd columns of src row i to even and
					// odd row i (stride 2·w+sgap: the source of a stride-2
					// PadPhases skips every other row).
					ne, no := (w+1)/2, w/2
					dstStride = ne + dgap
					n := lead + (rows-1)*dstStride + ne + guard
					gotE, gotO, wantE, wantO := sentinels(n), sentinels(n), sentinels(n), sentinels(n)
					for i := range rows {
						for x := range w {
							if x%2 == 0 {
								wantE[lead+i*dstStride+x/2] = src[i*srcStride+x]
							} else {
								wantO[lead+i*dstStride+x/2] = src[i*srcStride+x]
							}
						}
					}
					splitRowsAVX2(&gotE[lead], &gotO[lead], &src[0], rows, w, srcStride, dstStride)
					for _, o := range []struct {
						name      string
						got, want []float32
					}{{"even", gotE, wantE}, {"odd", gotO, wantO}} {
						if i := firstBitDiff(o.got, o.want); i >= 0 {
							t.Fatalf("splitRowsAVX2: %d rows of %d (%d even, %d odd), strides %d, %d: float %d of the %s buffer (row origin %d) = %#x, want %#x",
								rows, w, ne, no, srcStride, dstStride, i, o.name, lead, math.Float32bits(o.got[i]), math.Float32bits(o.want[i]))
						}
					}
				}
			}
		}
	}
}

// TestPadSelfTestAVX2 checks that init put the AVX2 row kernels in use
// exactly where the assembly is and the AVX-512 ones are not, and that
// padSelfTest passes with them on any CPU with AVX2.
func TestPadSelfTestAVX2(t *testing.T) {
	if want := useAsm && !usePad512; usePadAVX2 != want {
		t.Errorf("usePadAVX2 = %v, want %v (assembly in use %v, AVX-512 row kernels %v): the AVX2 row kernels failed their start-up self-test or were dispatched wrongly",
			usePadAVX2, want, useAsm, usePad512)
	}
	withPadAVX2(t)
	if !padSelfTest(false) {
		t.Fatal("padSelfTest fails with the AVX2 row kernels")
	}
}

// BenchmarkPadPhases times PadPhases on the ResNet fixture's padded
// convolution inputs (one image: 16 channels of 28×28 at strides 1 and 2,
// 32 of 14×14 at stride 1, padded by one) with the AVX2 row kernels and
// with the Go loops (a copy per row at stride 1, a strided loop at stride
// 2), alternating the two in one loop; it reports the time of each and
// their ratio, go/avx2.
//
//	go test ./compress/kernels -run '^$' -bench PadPhases -cpu 1 -count 3
func BenchmarkPadPhases(b *testing.B) {
	withPadAVX2(b)
	r := rand.New(rand.NewPCG(5, 6))
	for _, s := range []struct {
		name          string
		c, hw, stride int
	}{{"16x28x28_s1", 16, 28, 1}, {"16x28x28_s2", 16, 28, 2}, {"32x14x14_s1", 32, 14, 1}} {
		g := ConvGeom{C: s.c, H: s.hw, W: s.hw, KH: 3, KW: 3, Stride: s.stride, Dilation: 1,
			PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1}
		_, _, _, size := PhaseWindows(g)
		src, dst := randSlice(r, s.c*s.hw*s.hw), make([]float32, size)
		b.Run(s.name, func(b *testing.B) {
			var goTime, avx2Time time.Duration
			for b.Loop() {
				usePadAVX2 = false
				t0 := time.Now()
				PadPhases(src, g, dst)
				t1 := time.Now()
				usePadAVX2 = true
				PadPhases(src, g, dst)
				goTime += t1.Sub(t0)
				avx2Time += time.Since(t1)
			}
			b.ReportMetric(float64(goTime.Nanoseconds())/float64(b.N), "go-ns/op")
			b.ReportMetric(float64(avx2Time.Nanoseconds())/float64(b.N), "avx2-ns/op")
			b.ReportMetric(goTime.Seconds()/avx2Time.Seconds(), "go/avx2")
		})
	}
}
