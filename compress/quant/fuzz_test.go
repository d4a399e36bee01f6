package quant

import (
	"encoding/binary"
	"errors"
	"math"
	"testing"
)

// FuzzQuantizeTensor checks, for arbitrary float32 bit patterns and every
// scheme, that QuantizeTensor either rejects a non-finite or out-of-range
// weight or returns codes in range whose reconstruction is within
// scale/2 (+ Epsilon) of every weight.
func FuzzQuantizeTensor(f *testing.F) {
	f.Add([]byte{0, 0, 128, 63, 0, 0, 0, 192, 0, 0, 0, 0, 0, 0, 0, 0}, uint8(0), uint8(2))
	f.Add([]byte{1, 0, 0, 0, 255, 255, 127, 127}, uint8(7), uint8(1))
	f.Fuzz(func(t *testing.T, raw []byte, mode, rows uint8) {
		w := make([]float32, len(raw)/4)
		for i := range w {
			w[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
		r := int(rows%4) + 1
		if len(w)%r != 0 {
			w = w[:len(w)-len(w)%r]
		}
		shape := []int{r, len(w) / r}
		p := Params{Bits: 8, Scheme: Scheme(mode & 1), Symmetric: mode&2 != 0}
		if mode&4 != 0 {
			p.Bits = 4
		}
		q, err := QuantizeTensor(w, shape, p)
		if err != nil {
			if !errors.Is(err, ErrNonFinite) {
				t.Fatalf("unexpected error: %v", err)
			}
			return
		}
		if err := q.Validate(); err != nil {
			t.Fatal(err)
		}
		st, err := ErrorStats(w, q)
		if err != nil {
			t.Fatal(err)
		}
		if st.Violations != 0 {
			t.Fatalf("%d elements exceed scale/2 (max error %g, bounds %v) for %v", st.Violations, st.MaxAbsError, st.Bound, w)
		}
	})
}
