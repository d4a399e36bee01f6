package quant

import (
	"fmt"
	"math"
)

// Calibration methods: how an [Observer] turns the activation statistics it
// collected into a clipping range.
const (
	// CalibMinMax uses the observed minimum and maximum.
	CalibMinMax = "minmax"
	// CalibPercentile clips both tails at a percentile of the observed
	// values (Observer.Percentile, default 99.99).
	CalibPercentile = "percentile"
	// CalibMSE picks the range minimising the expected squared quantization
	// error (rounding plus clipping) over the histogram.
	CalibMSE = "mse"
	// CalibKL picks the threshold minimising the KL divergence between the
	// histogram and its quantized version, as TensorRT's entropy
	// calibrator does.
	CalibKL = "kl"
)

// CalibMethods lists the calibration methods.
func CalibMethods() []string {
	return []string{CalibMinMax, CalibPercentile, CalibMSE, CalibKL}
}

// HistBins is the number of bins of each half of an Observer's histogram
// (TensorRT uses 2048).
const HistBins = 2048

// DefaultPercentile is the percentile CalibPercentile uses when
// Observer.Percentile is 0.
const DefaultPercentile = 99.99

// Observer collects statistics of one activation tensor over a calibration
// set: the exact minimum and maximum and two histograms of HistBins bins
// anchored at 0, one of the positive values and one of the magnitudes of the
// negative ones. When a value exceeds a histogram's range the bin width
// doubles (adjacent bins merge) until it fits, so the histograms stay exact
// counts over aligned bins. The zero value is ready to use; an Observer is
// not safe for concurrent use.
type Observer struct {
	// Percentile for CalibPercentile, in (50, 100]; 0 means
	// DefaultPercentile.
	Percentile float64

	n        int64
	min, max float64
	pos, neg halfHist
}

// halfHist counts values v ≥ 0 in HistBins bins of width w: bin i holds
// [i·w, (i+1)·w); the last bin also holds its upper edge.
type halfHist struct {
	w      float64
	counts []float64
}

func (h *halfHist) add(v float64) {
	if v == 0 && h.w == 0 {
		if h.counts == nil {
			h.counts = make([]float64, HistBins)
		}
		h.counts[0]++
		return
	}
	if h.counts == nil {
		h.counts = make([]float64, HistBins)
	}
	if h.w == 0 {
		// First non-zero value: its bin is the middle of the range, so the
		// range can grow or the data fill it.
		h.w = v / (HistBins / 2)
	}
	for v >= h.w*HistBins {
		for i := 0; i < HistBins/2; i++ {
			h.counts[i] = h.counts[2*i] + h.counts[2*i+1]
		}
		clear(h.counts[HistBins/2:])
		h.w *= 2
	}
	i := min(int(v/h.w), HistBins-1)
	h.counts[i]++
}

// Observe adds the values of x. NaN and infinite values are an error (they
// have no quantized representation), and nothing of x is added then.
func (o *Observer) Observe(x []float32) error {
	for i, v := range x {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("quant: observe: value %v at index %d: %w", v, i, ErrNonFinite)
		}
	}
	for _, v := range x {
		f := float64(v)
		if o.n == 0 {
			o.min, o.max = f, f
		}
		o.n++
		o.min, o.max = min(o.min, f), max(o.max, f)
		if f >= 0 {
			o.pos.add(f)
		} else {
			o.neg.add(-f)
		}
	}
	return nil
}

// Count returns the number of values observed.
func (o *Observer) Count() int64 { return o.n }

// MinMax returns the observed minimum and maximum (0, 0 before any value).
func (o *Observer) MinMax() (lo, hi float64) { return o.min, o.max }

// Range returns the clipping range [lo, hi] for quantization to 2^bits
// levels (bits in [2, 16]) by the named method. The range always contains 0
// (so 0 is exactly representable) and lies within the observed [min, max]
// extended to 0. With no values observed it is [0, 0].
func (o *Observer) Range(method string, bits int) (lo, hi float64, err error) {
	if bits < 2 || bits > 16 {
		return 0, 0, fmt.Errorf("quant: calibration bits = %d, want 2..16", bits)
	}
	lo, hi = min(o.min, 0), max(o.max, 0)
	if o.n == 0 || lo == hi {
		return lo, hi, nil
	}
	switch method {
	case CalibMinMax, "":
		return lo, hi, nil
	case CalibPercentile:
		p := o.Percentile
		if p == 0 {
			p = DefaultPercentile
		}
		if !(p > 50 && p <= 100) {
			return 0, 0, fmt.Errorf("quant: percentile = %g, want (50, 100]", p)
		}
		return o.percentile(p, lo, hi)
	case CalibMSE:
		a := o.bestScale(bits, lo, hi)
		return a * lo, a * hi, nil
	case CalibKL:
		return o.kl(bits, lo, hi)
	}
	return 0, 0, fmt.Errorf("quant: unknown calibration method %q (want one of %v)", method, CalibMethods())
}

// bins calls fn for every non-empty bin of both histograms with the bin's
// centre (signed) and count.
func (o *Observer) bins(fn func(x, count float64)) {
	for _, h := range []struct {
		hist *halfHist
		sign float64
	}{{&o.pos, 1}, {&o.neg, -1}} {
		for i, c := range h.hist.counts {
			if c != 0 {
				fn(h.sign*(float64(i)+0.5)*h.hist.w, c)
			}
		}
	}
}

// percentile clips each tail so that (100−p)% of the values lie beyond the
// two clipping points together: (100−p)/2 % on each side.
func (o *Observer) percentile(p, lo, hi float64) (float64, float64, error) {
	tail := float64(o.n) * (100 - p) / 200
	edge := func(h *halfHist, limit float64) float64 {
		var above float64
		for i := HistBins - 1; i >= 0; i-- {
			above += h.counts[i]
			if above > tail {
				return min(limit, float64(i+1)*h.w)
			}
		}
		return 0
	}
	rhi, rlo := hi, lo
	if hi > 0 {
		rhi = edge(&o.pos, hi)
	}
	if lo < 0 {
		rlo = -edge(&o.neg, -lo)
	}
	return rlo, rhi, nil
}

// quantMSE is the expected squared error of quantizing the histogram onto
// 2^bits levels spanning [lo, hi] with an integer zero point, rounding half
// to even and clamping as ActivationParams and the integer kernels do.
func (o *Observer) quantMSE(bits int, lo, hi float64) float64 {
	levels := float64(int(1)<<bits - 1)
	s := (hi - lo) / levels
	if s <= 0 {
		return math.Inf(1)
	}
	z := math.Round(-lo / s)
	var sum float64
	o.bins(func(x, c float64) {
		q := math.Max(0, math.Min(levels, math.RoundToEven(x/s)+z))
		d := x - s*(q-z)
		sum += c * d * d
	})
	return sum
}

// bestScale searches the factor a in (0, 1] (a grid of 400 steps) for which
// the range [a·lo, a·hi] gives the least quantization MSE.
func (o *Observer) bestScale(bits int, lo, hi float64) float64 {
	best, bestErr := 1.0, math.Inf(1)
	const steps = 400
	for k := steps; k >= 1; k-- {
		a := float64(k) / steps
		if e := o.quantMSE(bits, a*lo, a*hi); e < bestErr {
			best, bestErr = a, e
		}
	}
	return best
}

// kl chooses a threshold T by TensorRT's entropy calibration: over the
// histogram of |x| (the positive histogram alone when nothing is negative,
// the negative one alone when nothing is positive, else both merged), try
// every cut-off i ≥ L bins and keep the one whose clipped distribution
// loses the least information when merged into L bins (KL divergence),
// where L = 2^bits levels for a one-sided range and 2^(bits−1) per side for
// a two-sided one (TensorRT's int8 case). The range is [−T, T] cut to the
// observed one.
func (o *Observer) kl(bits int, lo, hi float64) (float64, float64, error) {
	var hist []float64
	var w float64
	target := 1 << bits
	switch {
	case lo == 0:
		hist, w = o.pos.counts, o.pos.w
	case hi == 0:
		hist, w = o.neg.counts, o.neg.w
	default:
		target /= 2
		hist, w = mergeMagnitudes(&o.pos, &o.neg)
	}
	// The histogram above its last non-empty bin carries no information.
	last := len(hist)
	for last > 0 && hist[last-1] == 0 {
		last--
	}
	hist = hist[:last]
	t := float64(len(hist)) * w
	if len(hist) > target {
		best, bestKL := len(hist), math.Inf(1)
		for i := target; i <= len(hist); i++ {
			if d := klClipped(hist, i, target); d < bestKL {
				best, bestKL = i, d
			}
		}
		t = float64(best) * w
	}
	return max(lo, -t), min(hi, t), nil
}

// mergeMagnitudes returns one histogram of |x| from the positive and
// negative halves, at the coarser of the two bin widths.
func mergeMagnitudes(a, b *halfHist) ([]float64, float64) {
	if a.w < b.w {
		a, b = b, a
	}
	out := append([]float64(nil), a.counts...)
	if b.w == 0 {
		out[0] += sum(b.counts)
		return out, a.w
	}
	ratio := a.w / b.w // a power of two ≥ 1 when both grew from similar starts
	for i, c := range b.counts {
		j := min(int((float64(i)+0.5)/ratio), HistBins-1)
		out[j] += c
	}
	return out, a.w
}

func sum(s []float64) float64 {
	var t float64
	for _, v := range s {
		t += v
	}
	return t
}

// klClipped returns KL(P‖Q) where P is hist[:i] with the counts beyond i
// added to its last bin, and Q is hist[:i] (without those outliers) merged
// into target bins of equal width and expanded back, each merged bin's
// mass spread evenly over its non-empty source bins (TensorRT's algorithm).
func klClipped(hist []float64, i, target int) float64 {
	p := make([]float64, i)
	copy(p, hist[:i])
	for _, c := range hist[i:] {
		p[i-1] += c
	}
	q := make([]float64, i)
	for b := 0; b < target; b++ {
		start := b * i / target
		end := (b + 1) * i / target
		var mass float64
		nonzero := 0
		for j := start; j < end; j++ {
			mass += hist[j]
			if p[j] != 0 {
				nonzero++
			}
		}
		for j := start; j < end; j++ {
			if p[j] != 0 {
				q[j] = mass / float64(nonzero)
			}
		}
	}
	ps, qs := sum(p), sum(q)
	if ps == 0 || qs == 0 {
		return math.Inf(1)
	}
	var d float64
	for j := range p {
		if p[j] == 0 {
			continue
		}
		pj, qj := p[j]/ps, q[j]/qs
		if qj == 0 {
			// Outlier mass in a merged bin with no other data: smooth as
			// MXNet's calibrator does rather than rule the cut-off out.
			qj = klEpsilon
		}
		d += pj * math.Log(pj/qj)
	}
	return d
}

// klEpsilon is the probability given to an empty bin of Q where P has mass.
const klEpsilon = 1e-4

// ActivationParams returns the scale and zero point that map the range
// [lo, hi] (widened to contain 0) onto the uint8 codes [0, 255]:
// x ≈ scale·(q − zero). The zero point is an integer, so 0 is exact. An
// empty range gets scale 1 and zero point 0.
func ActivationParams(lo, hi float64) (scale float32, zero uint8) {
	lo, hi = min(lo, 0), max(hi, 0)
	if hi == lo {
		return 1, 0
	}
	s := scaleCovering(hi-lo, 255)
	z := math.RoundToEven(-lo / float64(s))
	return s, uint8(max(0, min(255, z)))
}
