package data

import (
	"errors"
	"math"
	"testing"
)

func TestTransform(t *testing.T) {
	tr, err := ParseTransform("0.5, 0.25", "0.5,2")
	if err != nil {
		t.Fatal(err)
	}
	d := &Dataset{Name: "x", N: 1, C: 2, H: 1, W: 2, Images: []float32{0, 1, 0.25, 0.75}}
	st := Stats(d)
	if math.Abs(st.Mean[0]-0.5) > 1e-9 || math.Abs(st.Std[0]-0.5) > 1e-9 || math.Abs(st.Mean[1]-0.5) > 1e-9 || math.Abs(st.Std[1]-0.25) > 1e-9 {
		t.Fatalf("stats %v", st)
	}
	if err := d.Normalize(tr); err != nil {
		t.Fatal(err)
	}
	want := []float32{-1, 1, 0, 0.25}
	for i, v := range d.Images {
		if math.Abs(float64(v-want[i])) > 1e-6 {
			t.Fatalf("normalized %v, want %v", d.Images, want)
		}
	}
	if err := d.Normalize(tr); !errors.Is(err, ErrTransform) {
		t.Fatalf("second Normalize: %v", err)
	}
	for _, bad := range [][2]string{{"1", ""}, {"x", "1"}, {"0", "0"}, {"0,0,0", "1,1,1"}} {
		tr, err := ParseTransform(bad[0], bad[1])
		if err == nil {
			err = tr.Validate(2)
		}
		if !errors.Is(err, ErrTransform) {
			t.Errorf("mean %q std %q: err = %v", bad[0], bad[1], err)
		}
	}
	// RawPixels as a transform: std 1/255 maps [0, 1] back to 0..255.
	raw := RawPixels().Transform()
	if n, ok := raw.Normalization(); !ok || n != RawPixels() {
		t.Fatalf("RawPixels round trip: %+v %v", n, ok)
	}
	if !UnitRange().Transform().IsIdentity() {
		t.Fatal("UnitRange is not the identity")
	}
}
