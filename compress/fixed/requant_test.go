package fixed

import (
	"math"
	"math/big"
	"math/rand/v2"
	"slices"
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

// TestMultiplierMatchesScalar checks the branch-free Multiplier against
// MultiplyByQuantizedMultiplier and the big-number statement on the extreme
// accumulators, the extreme multipliers and every shift, then on random
// values.
func TestMultiplierMatchesScalar(t *testing.T) {
	xs := []int32{math.MinInt32, math.MinInt32 + 1, -1 << 30, -3, -2, -1, 0, 1, 2, 3, 1 << 30, math.MaxInt32 - 1, math.MaxInt32}
	mults := []int32{0, 1, 1 << 30, 1<<30 + 1, 3 << 29, math.MaxInt32 - 1, math.MaxInt32}
	check := func(x, mult int32, shift int, big bool) {
		t.Helper()
		want := MultiplyByQuantizedMultiplier(x, mult, shift)
		if got := NewMultiplier(mult, shift).Apply(x); got != want {
			t.Fatalf("Multiplier(%d, shift %d).Apply(%d) = %d, want %d", mult, shift, x, got, want)
		}
		if big {
			if b := bigMultiply(x, mult, shift); b != want {
				t.Fatalf("MultiplyByQuantizedMultiplier(%d, %d, %d) = %d, big-number rule %d", x, mult, shift, want, b)
			}
		}
	}
	for shift := -31; shift <= 30; shift++ {
		for _, x := range xs {
			for _, m := range mults {
				check(x, m, shift, true)
			}
		}
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 1 << 18 {
		x := int32(r.Uint32())
		if r.IntN(2) == 0 { // accumulator-sized values hit the ties more often
			x = int32(r.IntN(1<<22)) - 1<<21
		}
		m, s := QuantizeMultiplier(math.Ldexp(0.5+r.Float64()/2, r.IntN(40)-33))
		check(x, m, s, false)
		check(x, int32(r.Uint32()>>1), r.IntN(62)-31, false)
	}
}

// TestRequantizer checks Uint8, Uint8Max4 and Int32 against the scalar
// rule written out with the big-number functions, per channel, with and
// without a fused ReLU, with a bias that wraps and a saturating left shift.
func TestRequantizer(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	const n = 67
	mult, shift, bias := make([]int32, n), make([]int, n), make([]int32, n)
	for o := range n {
		bias[o] = int32(r.IntN(1<<20)) - 1<<19
		mult[o], shift[o] = QuantizeMultiplier(math.Ldexp(0.5+r.Float64()/2, r.IntN(20)-16))
	}
	bias[0], bias[1] = math.MaxInt32, math.MinInt32 // the addition wraps
	mult[2], shift[2] = math.MaxInt32, 30           // the left shift saturates
	rows := make([][]int32, 4)
	for k := range rows {
		rows[k] = make([]int32, n)
		for o := range n {
			rows[k][o] = edgeInt32[r.IntN(len(edgeInt32))] >> r.IntN(24)
		}
	}
	tests := []struct {
		name           string
		bias           []int32
		zero, lo, hi   int32
		wantLo, wantHi int64
	}{
		{"plain", bias, 37, 0, 255, 0, 255},
		{"relu", bias, 37, 37, 255, 37, 255},
		{"relu6-like clamp", bias, -5, 10, 100, 10, 100},
		{"no bias, wide clamp", nil, 128, math.MinInt32, math.MaxInt32, 0, 255},
		// Every code is lo, truncated to 8 bits, as the Go loop computes it.
		{"clamp above 255", bias, 0, 300, 400, 300, 255},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rq, err := NewRequantizer(tt.bias, mult, shift, tt.zero, tt.lo, tt.hi)
			if err != nil {
				t.Fatal(err)
			}
			scalar := func(a int32, o int) int32 {
				if tt.bias != nil {
					a = int32(uint32(a) + uint32(tt.bias[o]))
				}
				return bigMultiply(a, mult[o], shift[o])
			}
			u8 := func(a int32, o int) uint8 {
				return uint8(max(tt.wantLo, min(tt.wantHi, int64(scalar(a, o))+int64(tt.zero))))
			}
			got, got4 := make([]uint8, n), make([]uint8, n)
			logits := make([]int32, n)
			rq.Uint8(got, rows[0])
			rq.Int32(logits, rows[0])
			rq.Uint8Max4(got4, rows[0], rows[1], rows[2], rows[3])
			for o, a := range rows[0] {
				if want := u8(a, o); got[o] != want {
					t.Errorf("Uint8 channel %d acc %d: %d, want %d", o, a, got[o], want)
				}
				if want := scalar(a, o); logits[o] != want {
					t.Errorf("Int32 channel %d acc %d: %d, want %d", o, a, logits[o], want)
				}
				m := max(rows[0][o], rows[1][o], rows[2][o], rows[3][o])
				if tt.bias != nil && (int64(m)+int64(tt.bias[o]) != int64(m+tt.bias[o])) {
					continue // pooling first is exact only without wrapping
				}
				if want := u8(m, o); got4[o] != want {
					t.Errorf("Uint8Max4 channel %d max %d: %d, want %d", o, m, got4[o], want)
				}
			}
		})
	}
}

func TestNewRequantizerErrors(t *testing.T) {
	_, err := NewRequantizer([]int32{1}, []int32{1, -2}, []int{40}, 0, 5, 1)
	if err == nil {
		t.Fatal("NewRequantizer accepted broken parameters")
	}
	for _, want := range []string{"1 shifts for 2 multipliers", "1 biases for 2", "mult[1] = -2 < 0", "shift[0] = 40 outside", "clamp lo 5 > hi 1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if _, err := NewRequantizer(nil, []int32{1 << 30}, []int{-3}, 0, 0, 255); err != nil {
		t.Errorf("NewRequantizer(valid) = %v", err)
	}
}

// asmImpls are the assembly implementations a test runs where available.
var asmImpls = []string{ImplVNNI, ImplAVX2}

// TestRequantAsm checks Uint8Rows, Uint8 and Uint8Max4 on each assembly
// implementation against the Go loop bit for bit: every channel count up
// to 40 (whole chunks of 8 and 16 and every tail), 1 to 5 rows, every shift
// in every lane (the seed rotates them), right shifts only (the loop
// without left shifts), extreme multipliers, biases and accumulators, zero
// points from 0 to 255 and clamps inside, across and outside [0, 255]
// (those outside give lo > hi after the clamp to [0, 255]: the Go loop). requantAgrees also checks that nothing is written
// past the output.
func TestRequantAsm(t *testing.T) {
	clamps := [][2]int32{{0, 255}, {-1, 300}, {10, 100}, {300, 400}, {-9, -5}, {255, 255}, {0, 0}}
	for _, which := range asmImpls {
		t.Run(which, func(t *testing.T) {
			if !slices.Contains(available(), which) {
				t.Skipf("no %s kernels here: %s", which, asmMissing())
			}
			for seed := range uint32(62) {
				for n := 1; n <= 40; n++ {
					for rows := 1; rows <= 5; rows++ {
						for _, right := range []bool{false, true} {
							bias, mult, shift, acc := requantCase(n, rows, seed, right)
							k := int(seed) + n + rows
							zero := int32(k*53) % 256
							if k%41 == 0 {
								zero = 1 << 16 // outside the int32 lanes' range: Go
							}
							lo, hi := clamps[k%len(clamps)][0], clamps[k%len(clamps)][1]
							if k%3 == 0 && zero <= hi {
								lo = zero // a fused ReLU
							}
							r, err := NewRequantizer(bias, mult, shift, zero, lo, hi)
							if err != nil {
								t.Fatal(err)
							}
							if !requantAgrees(which, r, acc, n) {
								t.Fatalf("seed %d, %d channels, %d rows, right shifts only %v, zero %d, clamp [%d, %d]: assembly and Go differ",
									seed, n, rows, right, zero, lo, hi)
							}
						}
					}
				}
			}
		})
	}
	if HasAVX512VNNI && requantImpl != ImplVNNI || !HasAVX512VNNI && HasAVX2 && requantImpl != ImplAVX2 {
		t.Errorf("Uint8Rows runs %s with VNNI %v, AVX2 %v", requantImpl, HasAVX512VNNI, HasAVX2)
	}
	t.Logf("requantization: %s", requantImpl)
}
