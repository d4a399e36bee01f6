package fixed

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// convWindows returns the Windows of a k×k convolution with the given
// stride and dilation over nb padded [hp, wp, c] images stored back to back
// (offset base), producing oh×ow pixels each: one segment per kernel row
// of k·c bytes when dilation is 1, else one per tap of c bytes.
func convWindows(nb, base, hp, wp, c, k, stride, dil, oh, ow int) *Windows {
	var rows, segs []int
	for j := range nb {
		for oy := range oh {
			for ox := range ow {
				rows = append(rows, base+j*hp*wp*c+(oy*stride*wp+ox*stride)*c)
			}
		}
	}
	seg := k * c
	if dil == 1 {
		for ki := range k {
			segs = append(segs, ki*wp*c)
		}
	} else {
		seg = c
		for ki := range k {
			for kj := range k {
				segs = append(segs, (ki*wp+kj)*dil*c)
			}
		}
	}
	return mustWindows(rows, segs, seg)
}

// mustWindows is NewWindows for offsets known to be valid.
func mustWindows(rows, segs []int, seg int) *Windows {
	w, err := NewWindows(rows, segs, seg)
	if err != nil {
		panic(err)
	}
	return w
}

// gathered returns the row-major A [w.Rows(), K] that w reads from a.
func gathered(a []uint8, w *Windows) []uint8 {
	out := make([]uint8, 0, w.Rows()*w.K())
	for _, r := range w.rows {
		for _, s := range w.segs {
			out = append(out, a[r+s:r+s+w.seg]...)
		}
	}
	return out
}

// TestGEMMWindows checks GEMMWindows on every implementation against
// GEMMRef of the gathered A, over convolution geometries with channel
// counts that are and are not multiples of 4 (the assembly packing and the
// gathering path), strides, dilations, several images per call, irregular
// row offsets and thread counts, with guard bands around C.
func TestGEMMWindows(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 9))
	type geom struct{ nb, h, w, c, k, stride, dil, pad, n int }
	cases := []geom{
		{1, 28, 28, 16, 3, 1, 1, 1, 16}, // the ResNet's 16-channel 3×3 convolutions
		{2, 28, 28, 16, 3, 2, 1, 1, 32}, // its stride-2 3×3
		{2, 14, 14, 32, 3, 1, 1, 1, 32}, // its 32-channel 3×3
		{2, 27, 27, 16, 1, 2, 1, 0, 32}, // a 1×1 stride-2 projection
		{1, 12, 12, 20, 5, 1, 1, 0, 50}, // LeNet-5's second convolution
		{3, 9, 7, 8, 3, 1, 2, 2, 17},    // dilation: one segment per tap
		{1, 7, 9, 3, 3, 1, 1, 1, 5},     // c = 3: gathered rows
		{2, 5, 6, 12, 2, 3, 1, 1, 33},   // even kernel, stride 3, N past a panel
		{1, 11, 11, 44, 3, 1, 1, 1, 8},  // segments of 132 bytes: 4 blocks and a tail
		{1, 30, 30, 4, 3, 1, 1, 1, 16},  // 900 rows: several A blocks
	}
	for _, g := range cases {
		hp, wp := g.h+2*g.pad, g.w+2*g.pad
		ext := g.dil*(g.k-1) + 1
		oh, ow := (hp-ext)/g.stride+1, (wp-ext)/g.stride+1
		const base = 5
		a := make([]uint8, base+g.nb*hp*wp*g.c+3)
		for i := range a {
			a[i] = uint8(r.Uint32())
		}
		w := convWindows(g.nb, base, hp, wp, g.c, g.k, g.stride, g.dil, oh, ow)
		k := w.K()
		for _, aZero := range []uint8{0, 131} {
			p := &problem{m: w.Rows(), n: g.n, k: k, lda: k, aZero: aZero, ldc: g.n + 3}
			p.a = gathered(a, w)
			p.b = make([]int8, k*g.n)
			for i := range p.b {
				p.b[i] = int8(r.Uint32())
			}
			p.describe = fmt.Sprintf("%+v aZero=%d", g, aZero)
			want := p.reference()
			pb := PackB(p.b, k, g.n, g.n)
			for _, which := range available() {
				for _, threads := range []int{1, 3} {
					whole, c := p.guardedC()
					gemmOn(which, p.m, a, 0, w, aZero, pb, c, p.ldc, Options{Threads: threads})
					p.checkC(t, fmt.Sprintf("%s/threads=%d", which, threads), whole, want)
				}
			}
		}
	}
	// Irregular, overlapping rows and unequal segment gaps.
	a := make([]uint8, 4000)
	for i := range a {
		a[i] = uint8(r.Uint32())
	}
	var offs []int
	for range 45 {
		offs = append(offs, int(r.Uint32()%2900))
	}
	w := mustWindows(offs, []int{0, 900, 333, 17}, 36)
	k := w.K()
	p := &problem{m: w.Rows(), n: 40, k: k, lda: k, aZero: 9, ldc: 40, describe: "irregular rows"}
	p.a = gathered(a, w)
	p.b = make([]int8, k*p.n)
	for i := range p.b {
		p.b[i] = int8(r.Uint32())
	}
	want := p.reference()
	pb := PackB(p.b, k, p.n, p.n)
	for _, which := range available() {
		whole, c := p.guardedC()
		gemmOn(which, p.m, a, 0, w, p.aZero, pb, c, p.ldc, Options{Threads: 1})
		p.checkC(t, which, whole, want)
	}
	// The exported entry point on the dispatched kernel, on all rows and
	// on a prefix.
	whole, c := p.guardedC()
	GEMMWindows(p.m, a, w, p.aZero, pb, c, p.ldc, Options{})
	p.checkC(t, "GEMMWindows", whole, want)
	p.m = 21
	whole, c = p.guardedC()
	GEMMWindows(p.m, a, w, p.aZero, pb, c, p.ldc, Options{})
	p.checkC(t, "GEMMWindows prefix", whole, want[:21*p.n])
}

// TestGEMMWindowsPanics checks the boundary checks of GEMMWindows.
func TestGEMMWindowsPanics(t *testing.T) {
	pb := PackB(make([]int8, 8*4), 8, 4, 4)
	c := make([]int32, 2*4)
	a := make([]uint8, 20)
	for _, tc := range []struct {
		name string
		m    int
		w    *Windows
	}{
		{"K mismatch", 2, mustWindows([]int{0, 1}, []int{0}, 4)},
		{"past the end", 2, mustWindows([]int{0, 13}, []int{0, 4}, 4)},
		{"more rows than windows", 3, mustWindows([]int{0, 1}, []int{0, 4}, 4)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", tc.name)
				}
			}()
			GEMMWindows(tc.m, a, tc.w, 0, pb, c, 4, Options{})
		})
	}
	// The prefix that stays inside a is fine.
	GEMMWindows(1, a[:8], mustWindows([]int{0, 13}, []int{0, 4}, 4), 0, pb, c, 4, Options{})
	for _, bad := range [][3][]int{{{-1}, {0}, {4}}, {{0}, {-4}, {4}}, {{0}, {0}, {-1}}} {
		if _, err := NewWindows(bad[0], bad[1], bad[2][0]); err == nil {
			t.Errorf("NewWindows(%v, %v, %d): no error", bad[0], bad[1], bad[2][0])
		}
	}
}

// BenchmarkConvLayers times, at batch 64 on one thread, the GEMMs of the
// convolutions with at least 16 outputs of the PyTorch ResNet fixture and
// LeNet-5 on the dispatched kernel, interleaved in each iteration with the
// register-only loop of BenchmarkVNNIPeak (or, on AVX2 without AVX-512
// VNNI, of BenchmarkAVX2Peak): "windows" is GEMMWindows over padded images
// (what compress/qnn runs when the input has a multiple of 4 channels),
// "im2col" the GEMM of rows already gathered (the time after im2col), each
// in calls of as many images as qnn puts in one (64 KiB of accumulators).
// It reports GMAC/s of each (the layer's own multiply-accumulates: a
// window whose kernel rows are rounded up to a multiple of 4 bytes does
// more) and their fractions of the peak measured in the same iterations:
//
//	go test ./compress/fixed -run '^$' -bench ConvLayers -benchtime 20x -count 5
func BenchmarkConvLayers(b *testing.B) {
	peakLoop, peakMACs := vnniPeak, 24*64
	switch {
	case HasAVX512VNNI:
	case HasAVX2:
		peakLoop, peakMACs = avx2Peak, 12*16
	default:
		b.Skip("CPU lacks AVX2 (or assembly is disabled)")
	}
	const batch = 64
	type layer struct {
		name                       string
		h, w, c, k, stride, pad, n int
	}
	for _, l := range []layer{
		{"resnet-conv1", 28, 28, 16, 3, 1, 1, 16},
		{"resnet-conv4-s2", 28, 28, 16, 3, 2, 1, 32},
		{"resnet-conv5", 14, 14, 32, 3, 1, 1, 32},
		{"resnet-proj-1x1-s2", 28, 28, 16, 1, 2, 0, 32},
		{"resnet-conv0", 28, 28, 1, 3, 1, 1, 16},
		{"lenet5-conv1", 28, 28, 1, 5, 1, 0, 20},
		{"lenet5-conv2", 12, 12, 20, 5, 1, 0, 50},
	} {
		b.Run(l.name, func(b *testing.B) {
			hp, wp := l.h+2*l.pad, l.w+2*l.pad
			oh, ow := (hp-l.k)/l.stride+1, (wp-l.k)/l.stride+1
			np := oh * ow
			group := max(1, (64<<10)/(4*np*l.n))
			r := rand.New(rand.NewPCG(1, 2))
			// Each kernel row of the windows is read rounded up to a
			// multiple of 4 bytes (qnn gives the extra bytes zero weights),
			// so images carry 4 bytes of slack.
			img := make([]uint8, batch*hp*wp*l.c+4)
			for i := range img {
				img[i] = uint8(r.Uint32())
			}
			full := convWindows(group, 0, hp, wp, l.c, l.k, l.stride, 1, oh, ow)
			w := mustWindows(full.rows, full.segs, (l.k*l.c+3)&^3)
			wtW := make([]int8, w.K()*l.n)
			for i := range wtW {
				wtW[i] = int8(r.Uint32())
			}
			pbW := PackB(wtW, w.K(), l.n, l.n)
			k := l.k * l.k * l.c
			wt := make([]int8, k*l.n)
			for i := range wt {
				wt[i] = int8(r.Uint32())
			}
			pb := PackB(wt, k, l.n, l.n)
			rows := gathered(img[:batch*hp*wp*l.c], convWindows(batch, 0, hp, wp, l.c, l.k, l.stride, 1, oh, ow))
			c := make([]int32, group*np*l.n)
			macs := float64(batch * np * l.n * k)
			peakIters := int(macs) / peakMACs
			one := Options{Threads: 1}
			var tw, ti, tp time.Duration
			for b.Loop() {
				t0 := time.Now()
				for i0 := 0; i0 < batch; i0 += group {
					g := min(group, batch-i0)
					GEMMWindows(g*np, img[i0*hp*wp*l.c:], w, 3, pbW, c, l.n, one)
				}
				t1 := time.Now()
				for i0 := 0; i0 < batch; i0 += group {
					g := min(group, batch-i0)
					GEMM(g*np, rows[i0*np*k:], k, 3, pb, c, l.n, one)
				}
				t2 := time.Now()
				peakLoop(peakIters)
				t3 := time.Now()
				tw, ti, tp = tw+t1.Sub(t0), ti+t2.Sub(t1), tp+t3.Sub(t2)
			}
			n := float64(b.N)
			peak := float64(peakIters*peakMACs) * n / tp.Seconds()
			b.ReportMetric(macs*n/tw.Seconds()/1e9, "windows-GMAC/s")
			b.ReportMetric(macs*n/ti.Seconds()/1e9, "im2col-GMAC/s")
			b.ReportMetric(peak/1e9, "peak-GMAC/s")
			b.ReportMetric(100*macs*n/tw.Seconds()/peak, "windows-%peak")
			b.ReportMetric(100*macs*n/ti.Seconds()/peak, "im2col-%peak")
		})
	}
}
