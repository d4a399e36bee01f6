package data

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Transform is the input preprocessing of a model: a pixel p, first scaled
// to [0, 1], becomes (p - Mean[c]) / Std[c] in channel c. Mean and Std hold
// one value per channel, or a single value for every channel. The zero value
// (no values) is the identity: the model receives [0, 1] pixels.
//
// A Transform belongs to the data set it was computed on and is stored in
// the metadata of every model trained on it (see compress/model), so that
// evaluation, calibration, fine-tuning and export apply the same one.
type Transform struct {
	Mean []float64 `json:"mean,omitempty"`
	Std  []float64 `json:"std,omitempty"`
}

// ErrTransform is wrapped by every error about a malformed Transform.
var ErrTransform = errors.New("invalid input transform")

// IsIdentity reports whether t leaves [0, 1] pixels unchanged.
func (t Transform) IsIdentity() bool {
	for _, m := range t.Mean {
		if m != 0 {
			return false
		}
	}
	for _, s := range t.Std {
		if s != 1 {
			return false
		}
	}
	return true
}

// Validate checks t for a data set of the given number of channels (0 skips
// the count check): Mean and Std both empty, or each holding 1 or channels
// finite values, every Std > 0.
func (t Transform) Validate(channels int) error {
	if len(t.Mean) == 0 && len(t.Std) == 0 {
		return nil
	}
	if len(t.Mean) == 0 || len(t.Std) == 0 {
		return fmt.Errorf("mean %v and std %v: give both or neither: %w", t.Mean, t.Std, ErrTransform)
	}
	for _, f := range []struct {
		name string
		v    []float64
	}{{"mean", t.Mean}, {"std", t.Std}} {
		if channels > 0 && len(f.v) != 1 && len(f.v) != channels {
			return fmt.Errorf("%s has %d values, want 1 or %d (one per channel): %w", f.name, len(f.v), channels, ErrTransform)
		}
		for i, x := range f.v {
			if math.IsNaN(x) || math.IsInf(x, 0) || (f.name == "std" && !(x > 0)) {
				return fmt.Errorf("%s[%d] = %v, want a finite number%s: %w", f.name, i, x, map[bool]string{true: " > 0"}[f.name == "std"], ErrTransform)
			}
		}
	}
	return nil
}

// Channel returns the mean and std of channel c (0, 1 for the identity).
func (t Transform) Channel(c int) (mean, std float64) {
	mean, std = 0, 1
	switch {
	case len(t.Mean) == 1:
		mean = t.Mean[0]
	case c < len(t.Mean):
		mean = t.Mean[c]
	}
	switch {
	case len(t.Std) == 1:
		std = t.Std[0]
	case c < len(t.Std):
		std = t.Std[c]
	}
	return mean, std
}

// String renders t as "mean=0.1307 std=0.3081" (comma-separated per
// channel), or "identity".
func (t Transform) String() string {
	if len(t.Mean) == 0 && len(t.Std) == 0 {
		return "identity"
	}
	return "mean=" + FormatFloats(t.Mean) + " std=" + FormatFloats(t.Std)
}

// FormatFloats renders v comma-separated, each value in the shortest form
// that parses back to the same float64.
func FormatFloats(v []float64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.FormatFloat(x, 'g', -1, 64)
	}
	return strings.Join(s, ",")
}

// ParseFloats parses a comma-separated list of numbers ("" gives nil).
func ParseFloats(s string) ([]float64, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	parts := strings.Split(s, ",")
	v := make([]float64, len(parts))
	for i, p := range parts {
		x, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil {
			return nil, fmt.Errorf("value %d %q is not a number: %w", i+1, p, ErrTransform)
		}
		v[i] = x
	}
	return v, nil
}

// ParseTransform reads the --mean and --std flags: comma-separated values,
// one per channel or one for all. Both empty gives the zero Transform (the
// caller's default applies); one without the other is an error.
func ParseTransform(mean, std string) (Transform, error) {
	m, err := ParseFloats(mean)
	if err != nil {
		return Transform{}, fmt.Errorf("--mean: %w", err)
	}
	s, err := ParseFloats(std)
	if err != nil {
		return Transform{}, fmt.Errorf("--std: %w", err)
	}
	t := Transform{Mean: m, Std: s}
	if err := t.Validate(0); err != nil {
		return Transform{}, fmt.Errorf("--mean/--std: %w", err)
	}
	return t, nil
}

// Stats returns the per-channel mean and (population) standard deviation of
// d's values, accumulated in float64. A channel with zero variance gets std
// 1, so the transform stays invertible.
func Stats(d *Dataset) Transform {
	t := Transform{Mean: make([]float64, d.C), Std: make([]float64, d.C)}
	hw := d.H * d.W
	if d.N == 0 || hw == 0 {
		for c := range t.Std {
			t.Std[c] = 1
		}
		return t
	}
	for c := 0; c < d.C; c++ {
		var sum, sq float64
		for i := 0; i < d.N; i++ {
			off := (i*d.C + c) * hw
			var s, q float64
			for _, v := range d.Images[off : off+hw] {
				x := float64(v)
				s += x
				q += x * x
			}
			sum += s
			sq += q
		}
		n := float64(d.N * hw)
		mean := sum / n
		v := sq/n - mean*mean
		std := math.Sqrt(max(v, 0))
		if !(std > 0) {
			std = 1
		}
		t.Mean[c], t.Std[c] = mean, std
	}
	return t
}

// Normalize applies t to d's images in place and records it in d.Transform.
// d must hold [0, 1] pixels (a set as the loaders return it, not yet
// normalized); sets sharing its backing arrays (Subset, Split) see the
// change. The identity transform leaves d as it is.
func (d *Dataset) Normalize(t Transform) error {
	if err := t.Validate(d.C); err != nil {
		return fmt.Errorf("%s: %w", d.Name, err)
	}
	if !d.Transform.IsIdentity() {
		return fmt.Errorf("%s: already normalized with %v: %w", d.Name, d.Transform, ErrTransform)
	}
	if t.IsIdentity() {
		return nil
	}
	hw := d.H * d.W
	for c := 0; c < d.C; c++ {
		mean, std := t.Channel(c)
		m, inv := float32(mean), float32(1/std)
		for i := 0; i < d.N; i++ {
			off := (i*d.C + c) * hw
			for j, v := range d.Images[off : off+hw] {
				d.Images[off+j] = (v - m) * inv
			}
		}
	}
	d.Transform = t
	return nil
}

// Normalization returns the affine map from a pixel byte to the model's
// input that t amounts to (Scale = 1/(255 std), Shift = -mean/std), when
// every channel has the same mean and std; ok is false otherwise. Integer
// models use it to take raw pixel bytes as input codes.
func (t Transform) Normalization() (n Normalization, ok bool) {
	mean, std := t.Channel(0)
	for c := 1; c < max(len(t.Mean), len(t.Std)); c++ {
		if m, s := t.Channel(c); m != mean || s != std {
			return Normalization{}, false
		}
	}
	return Normalization{Scale: float32(1 / (255 * std)), Shift: float32(-mean / std)}, true
}

// Transform returns the per-channel form of n: the same map from pixel
// bytes, expressed on [0, 1] pixels (std = 1/(255 Scale), mean = -Shift std).
func (n Normalization) Transform() Transform {
	n = n.orDefault()
	if n == UnitRange() {
		return Transform{}
	}
	std := 1 / (255 * float64(n.Scale))
	return Transform{Mean: []float64{-float64(n.Shift) * std}, Std: []float64{std}}
}

// Normalized returns a copy of d with t applied, leaving d (which may be
// shared, e.g. cached) as it is; the identity returns d itself.
func (d *Dataset) Normalized(t Transform) (*Dataset, error) {
	if err := t.Validate(d.C); err != nil {
		return nil, fmt.Errorf("%s: %w", d.Name, err)
	}
	if t.IsIdentity() {
		return d, nil
	}
	c := *d
	c.Images = append([]float32(nil), d.Images...)
	if err := c.Normalize(t); err != nil {
		return nil, err
	}
	return &c, nil
}
