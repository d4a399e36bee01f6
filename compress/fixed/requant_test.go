package fixed

import (
	"math"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"
)

// The functions below are an independent statement of the rounding rules
// in exact rational arithmetic (math/big), with no shared code or tricks.

// bigSRDHM is round(a·b/2³¹), ties toward +∞: ⌊(a·b + 2³⁰) / 2³¹⌋, clamped
// to int32 (only a = b = MinInt32 needs it).
func bigSRDHM(a, b int32) int32 {
	p := new(big.Int).Mul(big.NewInt(int64(a)), big.NewInt(int64(b)))
	p.Add(p, big.NewInt(1<<30))
	q := floorDiv(p, new(big.Int).Lsh(big.NewInt(1), 31))
	return clampBig(q)
}

// bigRDBPOT is x/2^e rounded to nearest, ties away from zero.
func bigRDBPOT(x int32, e int) int32 {
	abs := new(big.Int).Abs(big.NewInt(int64(x)))
	// |x|/2^e rounded half up = ⌊(2|x| + 2^e) / 2^(e+1)⌋.
	num := new(big.Int).Add(new(big.Int).Lsh(abs, 1), new(big.Int).Lsh(big.NewInt(1), uint(e)))
	q := floorDiv(num, new(big.Int).Lsh(big.NewInt(1), uint(e+1)))
	if x < 0 {
		q.Neg(q)
	}
	return clampBig(q)
}

// bigMultiply is MultiplyByQuantizedMultiplier from the two above, with the
// left shift saturated in exact arithmetic.
func bigMultiply(x, mult int32, shift int) int32 {
	if shift > 0 {
		return bigSRDHM(clampBig(new(big.Int).Lsh(big.NewInt(int64(x)), uint(shift))), mult)
	}
	return bigRDBPOT(bigSRDHM(x, mult), -shift)
}

func floorDiv(a, b *big.Int) *big.Int {
	q, m := new(big.Int).DivMod(a, b, new(big.Int)) // Euclidean; b > 0 makes it floor
	_ = m
	return q
}

func clampBig(v *big.Int) int32 {
	if v.Cmp(big.NewInt(math.MaxInt32)) > 0 {
		return math.MaxInt32
	}
	if v.Cmp(big.NewInt(math.MinInt32)) < 0 {
		return math.MinInt32
	}
	return int32(v.Int64())
}

// edgeInt32 are values at and around every boundary that matters.
var edgeInt32 = []int32{
	math.MinInt32, math.MinInt32 + 1, math.MinInt32 + 2, -1 << 30, -1<<30 - 1, -1<<30 + 1,
	-65536, -32769, -32768, -256, -255, -129, -128, -127, -3, -2, -1, 0, 1, 2, 3,
	127, 128, 255, 256, 32767, 32768, 65535, 1<<30 - 1, 1 << 30, 1<<30 + 1,
	math.MaxInt32 - 1, math.MaxInt32,
}

func TestSRDHMEdges(t *testing.T) {
	for _, a := range edgeInt32 {
		for _, b := range edgeInt32 {
			if got, want := SaturatingRoundingDoublingHighMul(a, b), bigSRDHM(a, b); got != want {
				t.Errorf("SaturatingRoundingDoublingHighMul(%d, %d) = %d, want %d", a, b, got, want)
			}
		}
	}
	if got := SaturatingRoundingDoublingHighMul(math.MinInt32, math.MinInt32); got != math.MaxInt32 {
		t.Errorf("SRDHM(MinInt32, MinInt32) = %d, want MaxInt32", got)
	}
}

func TestSRDHMRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for range 20000 {
		a, b := int32(r.Uint32()), int32(r.Uint32())
		if got, want := SaturatingRoundingDoublingHighMul(a, b), bigSRDHM(a, b); got != want {
			t.Fatalf("SaturatingRoundingDoublingHighMul(%d, %d) = %d, want %d", a, b, got, want)
		}
	}
}

func TestRoundingDivideByPOT(t *testing.T) {
	tests := []struct {
		x    int32
		e    int
		want int32
	}{
		{5, 1, 3}, {-5, 1, -3}, {3, 1, 2}, {-3, 1, -2}, {1, 1, 1}, {-1, 1, -1},
		{6, 2, 2}, {-6, 2, -2}, {5, 2, 1}, {-5, 2, -1}, {7, 0, 7},
		{math.MinInt32, 31, -1}, {math.MaxInt32, 31, 1}, {math.MinInt32, 1, -1 << 30},
		{1 << 30, 31, 1}, {1<<30 - 1, 31, 0}, {-1 << 30, 31, -1}, {-1<<30 + 1, 31, 0},
	}
	for _, tt := range tests {
		if got := RoundingDivideByPOT(tt.x, tt.e); got != tt.want {
			t.Errorf("RoundingDivideByPOT(%d, %d) = %d, want %d", tt.x, tt.e, got, tt.want)
		}
	}
	for _, x := range edgeInt32 {
		for e := 0; e <= 31; e++ {
			if got, want := RoundingDivideByPOT(x, e), bigRDBPOT(x, e); got != want {
				t.Errorf("RoundingDivideByPOT(%d, %d) = %d, want %d", x, e, got, want)
			}
		}
	}
}

func TestQuantizeMultiplier(t *testing.T) {
	tests := []struct {
		real  float64
		mult  int32
		shift int
	}{
		{0, 0, 0},
		{0.5, 1 << 30, 0},
		{0.25, 1 << 30, -1},
		{1, 1 << 30, 1},
		{0.75, 3 << 29, 0},
		{math.Nextafter(1, 0), 1 << 30, 1}, // rounds up to 2³¹: halved, shift+1
		{1e-12, 0, 0},                      // below 2⁻³²
		{math.Ldexp(1, 40), math.MaxInt32, 30},
	}
	for _, tt := range tests {
		m, s := QuantizeMultiplier(tt.real)
		if m != tt.mult || s != tt.shift {
			t.Errorf("QuantizeMultiplier(%v) = (%d, %d), want (%d, %d)", tt.real, m, s, tt.mult, tt.shift)
		}
	}
	r := rand.New(rand.NewPCG(13, 14))
	for range 5000 {
		real := math.Ldexp(r.Float64()+0.5, -r.IntN(30)) // [2⁻³⁰, 1.5)
		m, s := QuantizeMultiplier(real)
		if m < 1<<30 {
			t.Fatalf("QuantizeMultiplier(%v) mantissa %d < 2³⁰", real, m)
		}
		if back := math.Ldexp(float64(m), s-31); math.Abs(back-real) > math.Ldexp(real, -30) {
			t.Fatalf("QuantizeMultiplier(%v) = (%d, %d) represents %v", real, m, s, back)
		}
	}
	for _, bad := range []float64{-1, math.NaN(), math.Inf(1)} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("QuantizeMultiplier(%v) did not panic", bad)
				}
			}()
			QuantizeMultiplier(bad)
		}()
	}
}

func TestMultiplyByQuantizedMultiplierEdges(t *testing.T) {
	mults := []int32{0, 1, 1 << 30, 1<<30 + 1, 3 << 29, math.MaxInt32 - 1, math.MaxInt32, math.MinInt32}
	for _, x := range edgeInt32 {
		for _, m := range mults {
			for s := -31; s <= 30; s++ {
				if got, want := MultiplyByQuantizedMultiplier(x, m, s), bigMultiply(x, m, s); got != want {
					t.Fatalf("MultiplyByQuantizedMultiplier(%d, %d, %d) = %d, want %d", x, m, s, got, want)
				}
			}
		}
	}
}

// TestMultiplyByQuantizedMultiplierFloat compares with float64 math: the
// fixed-point result is within 1 of round(x·real) (two roundings, and the
// multiplier's own 2⁻³¹ relative error).
func TestMultiplyByQuantizedMultiplierFloat(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	for range 50000 {
		real := math.Ldexp(r.Float64()+0.5, -r.IntN(20)-1) // (2⁻²¹, 0.75)
		x := int32(r.Uint32()) >> r.IntN(31)
		m, s := QuantizeMultiplier(real)
		got := MultiplyByQuantizedMultiplier(x, m, s)
		want := math.Round(float64(x) * real)
		if math.Abs(float64(got)-want) > 1 {
			t.Fatalf("MultiplyByQuantizedMultiplier(%d, QuantizeMultiplier(%v)) = %d, float %v", x, real, got, want)
		}
	}
}

// referenceRequant is the per-element rule of Requant written out plainly
// with the big-number functions.
func referenceRequant(acc int32, j int, r *Requant, lo, hi int32) int32 {
	v := acc
	if r.Bias != nil {
		v = int32(uint32(v) + uint32(r.Bias[j]))
	}
	m, s := r.Mult[0], r.Shift[0]
	if len(r.Mult) > 1 {
		m, s = r.Mult[j], r.Shift[j]
	}
	w := int64(bigMultiply(v, m, s)) + int64(r.OutZero)
	if r.Min != 0 || r.Max != 0 {
		lo, hi = max(lo, r.Min), min(hi, r.Max)
	}
	return int32(max(int64(lo), min(int64(hi), w)))
}

func TestRequantize(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 18))
	const m, n = 5, 7
	acc := make([]int32, m*(n+2))
	for i := range acc {
		acc[i] = edgeInt32[r.IntN(len(edgeInt32))] >> r.IntN(20)
	}
	m1, s1 := QuantizeMultiplier(0.0123)
	perChan := &Requant{Bias: make([]int32, n), Mult: make([]int32, n), Shift: make([]int, n), OutZero: -3}
	for j := range n {
		perChan.Bias[j] = int32(r.IntN(2001) - 1000)
		perChan.Mult[j], perChan.Shift[j] = QuantizeMultiplier(math.Ldexp(r.Float64()+0.5, -r.IntN(12)))
	}
	tests := []struct {
		name string
		rq   *Requant
	}{
		{"per-tensor", &Requant{Mult: []int32{m1}, Shift: []int{s1}, OutZero: 10}},
		{"per-tensor relu", &Requant{Mult: []int32{m1}, Shift: []int{s1}, OutZero: 10, Min: 10, Max: 100}},
		{"per-channel bias", perChan},
		{"bias wraps", &Requant{Bias: []int32{math.MaxInt32, math.MinInt32, 1, -1, math.MaxInt32, 0, 5}, Mult: []int32{1 << 30}, Shift: []int{0}}},
		{"left shift saturates", &Requant{Mult: []int32{math.MaxInt32}, Shift: []int{30}, OutZero: -128}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d8 := make([]int8, m*(n+1))
			u8 := make([]uint8, m*(n+1))
			RequantizeInt8(d8, n+1, acc, n+2, m, n, tt.rq)
			RequantizeUint8(u8, n+1, acc, n+2, m, n, tt.rq)
			for i := range m {
				for j := range n {
					a := acc[i*(n+2)+j]
					if want := referenceRequant(a, j, tt.rq, -128, 127); int32(d8[i*(n+1)+j]) != want {
						t.Errorf("int8 [%d][%d] acc %d = %d, want %d", i, j, a, d8[i*(n+1)+j], want)
					}
					if want := referenceRequant(a, j, tt.rq, 0, 255); int32(u8[i*(n+1)+j]) != want {
						t.Errorf("uint8 [%d][%d] acc %d = %d, want %d", i, j, a, u8[i*(n+1)+j], want)
					}
				}
			}
		})
	}
}

func TestRequantValidate(t *testing.T) {
	bad := &Requant{Mult: []int32{1, 2}, Shift: []int{40}, Bias: []int32{1}, Min: 5, Max: 1}
	err := bad.Validate(3)
	if err == nil {
		t.Fatal("Validate accepted a broken Requant")
	}
	for _, want := range []string{"Mult has 2", "Shift has 1", "Shift[0] = 40", "Bias has 1", "Min 5 > Requant.Max 1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate error %q lacks %q", err, want)
		}
	}
	good := &Requant{Mult: []int32{1 << 30}, Shift: []int{-3}}
	if err := good.Validate(3); err != nil {
		t.Errorf("Validate(good) = %v", err)
	}
}
