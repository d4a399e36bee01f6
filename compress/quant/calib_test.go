package quant

import (
	"math"
	"math/rand/v2"
	"testing"
)

func gaussian(n int, seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, 7))
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	return x
}

func observe(t *testing.T, o *Observer, xs ...[]float32) {
	t.Helper()
	for _, x := range xs {
		if err := o.Observe(x); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCalibrationGaussian checks every method on 10⁶ samples of N(0, 1),
// whose maximum magnitude is about 4.9σ. Known answers: min/max is the
// extreme sample; the 99.99th percentile of |x| clipped on both sides is
// ±3.89σ (two-sided tail 5·10⁻⁵ each); the MSE-optimal symmetric clip for 4
// bits is about 2.5σ (Banner et al., ACIQ: 2.55σ) and for 8 bits clearly
// below the maximum; KL (smoothed as MXNet does) clips at most to the maximum.
func TestCalibrationGaussian(t *testing.T) {
	var o Observer
	x := gaussian(1_000_000, 1)
	observe(t, &o, x[:1000], x[1000:]) // the first batch fixes a small range that must grow
	lo, hi := o.MinMax()
	maxAbs := max(-lo, hi)
	tests := []struct {
		method   string
		bits     int
		min, max float64 // bounds on hi (and −lo)
	}{
		{CalibMinMax, 8, hi, hi},
		{CalibPercentile, 8, 3.80, 3.98},
		{CalibMSE, 4, 2.2, 2.9},
		{CalibMSE, 8, 2.5, 0.9 * maxAbs},
		{CalibKL, 8, 3.0, maxAbs}, // smoothed KL barely clips a Gaussian
	}
	for _, tt := range tests {
		l, h, err := o.Range(tt.method, tt.bits)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s/%d bits: [%.3f, %.3f] (data [%.3f, %.3f])", tt.method, tt.bits, l, h, lo, hi)
		if h < tt.min-1e-9 || h > tt.max+1e-9 {
			t.Errorf("%s/%d: hi = %.3f, want in [%.3f, %.3f]", tt.method, tt.bits, h, tt.min, tt.max)
		}
		if tt.method != CalibMinMax && math.Abs(-l-h) > 0.15*h {
			t.Errorf("%s/%d: range [%.3f, %.3f] is not roughly symmetric for a symmetric distribution", tt.method, tt.bits, l, h)
		}
		if l < lo || h > hi {
			t.Errorf("%s/%d: range [%.3f, %.3f] exceeds the data [%.3f, %.3f]", tt.method, tt.bits, l, h, lo, hi)
		}
	}
}

// TestCalibrationOutlier adds one value of 40 to 10⁶ ReLU-like values
// |N(0, 1)| (maximum about 5): min/max follows the outlier, while
// percentile and KL keep the range near the bulk (below 6) and MSE, which
// must still pay for clipping the outlier, well below it (the optimum
// balances 10⁶ rounding errors against one clipping error: about 20).
func TestCalibrationOutlier(t *testing.T) {
	x := gaussian(1_000_000, 5)
	for i, v := range x {
		x[i] = float32(math.Abs(float64(v)))
	}
	x[500] = 40
	var o Observer
	observe(t, &o, x)
	for _, tt := range []struct {
		method   string
		min, max float64
	}{
		{CalibMinMax, 40, 40},
		{CalibPercentile, 3.5, 6},
		{CalibKL, 2, 8},
		{CalibMSE, 5, 30},
	} {
		l, h, err := o.Range(tt.method, 8)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: [%g, %g]", tt.method, l, h)
		if l != 0 || h < tt.min || h > tt.max {
			t.Errorf("%s: range [%g, %g], want [0, h] with h in [%g, %g]", tt.method, l, h, tt.min, tt.max)
		}
	}
}

func TestCalibrationEdgeCases(t *testing.T) {
	var o Observer
	if l, h, err := o.Range(CalibKL, 8); err != nil || l != 0 || h != 0 {
		t.Errorf("empty observer: [%g, %g], %v", l, h, err)
	}
	observe(t, &o, []float32{0, 0, 0})
	if l, h, err := o.Range(CalibMSE, 8); err != nil || l != 0 || h != 0 {
		t.Errorf("all zeros: [%g, %g], %v", l, h, err)
	}
	if err := o.Observe([]float32{1, float32(math.NaN())}); err == nil || o.Count() != 3 {
		t.Errorf("NaN: err %v, count %d (want an error and nothing added)", err, o.Count())
	}
	observe(t, &o, []float32{-2, 5})
	for _, m := range CalibMethods() {
		l, h, err := o.Range(m, 8)
		if err != nil || l > 0 || h < 0 || l < -2 || h > 5 {
			t.Errorf("%s: [%g, %g], %v", m, l, h, err)
		}
	}
	if _, _, err := o.Range("entropy", 8); err == nil {
		t.Error("unknown method accepted")
	}
	if _, _, err := o.Range(CalibMSE, 1); err == nil {
		t.Error("1 bit accepted")
	}
}

func TestActivationParams(t *testing.T) {
	for _, tt := range []struct {
		lo, hi float64
		zero   uint8
	}{
		{0, 6, 0}, {-1, 1, 127}, {-3, 0, 255}, {2, 5, 0}, {0, 0, 0},
	} {
		s, z := ActivationParams(tt.lo, tt.hi)
		if z != tt.zero {
			t.Errorf("[%g, %g]: zero %d, want %d", tt.lo, tt.hi, z, tt.zero)
		}
		lo, hi := min(tt.lo, 0), max(tt.hi, 0)
		if hi > lo {
			// Both ends are reachable within one step.
			if got := float64(s) * (0 - float64(z)); math.Abs(got-lo) > float64(s) {
				t.Errorf("[%g, %g]: code 0 is %g", tt.lo, tt.hi, got)
			}
			if got := float64(s) * (255 - float64(z)); math.Abs(got-hi) > float64(s) {
				t.Errorf("[%g, %g]: code 255 is %g", tt.lo, tt.hi, got)
			}
		}
	}
}
