package nn

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
)

// Pads is explicit zero padding of a 2-D window, [top, left, bottom, right]
// (ONNX's pads order for two spatial axes). In JSON it is an array of
// exactly four integers.
type Pads [4]int

// padSides names the entries of Pads.
var padSides = [4]string{"top", "left", "bottom", "right"}

// UnmarshalJSON decodes an array of exactly four integers; null leaves p
// unchanged.
func (p *Pads) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var s []int
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("pads: %w", err)
	}
	if len(s) != 4 {
		return fmt.Errorf("pads: want 4 values [top, left, bottom, right], got %d", len(s))
	}
	copy(p[:], s)
	return nil
}

// symmetric reports whether every side has the same padding.
func (p Pads) symmetric() bool { return p[0] == p[1] && p[1] == p[2] && p[2] == p[3] }

// splitPads returns symmetric padding as Pad and asymmetric padding as Pads.
func splitPads(p Pads) (int, Pads) {
	if p.symmetric() {
		return p[0], Pads{}
	}
	return 0, p
}

// MaxDims is the largest rank a Dims holds.
const MaxDims = 4

// Dims is a short per-sample shape held in a comparable array: its leading
// non-zero entries are the dimensions, the rest zero. An entry -1 in a
// reshape target stands for the size inferred from the input. In JSON it is
// an array of 1 to MaxDims non-zero integers.
type Dims [MaxDims]int

// DimsOf returns the Dims holding shape, or an error if it is empty, longer
// than MaxDims or has a zero entry.
func DimsOf(shape ...int) (Dims, error) {
	var d Dims
	if len(shape) == 0 || len(shape) > MaxDims {
		return d, fmt.Errorf("shape %v: want 1 to %d dims", shape, MaxDims)
	}
	for i, v := range shape {
		if v == 0 {
			return d, fmt.Errorf("shape %v: dim %d is 0, want > 0 or -1 (inferred)", shape, i)
		}
		d[i] = v
	}
	return d, nil
}

// Slice returns the dimensions.
func (d Dims) Slice() []int {
	n := 0
	for n < len(d) && d[n] != 0 {
		n++
	}
	return slices.Clone(d[:n])
}

// MarshalJSON encodes the dimensions as an array.
func (d Dims) MarshalJSON() ([]byte, error) { return json.Marshal(d.Slice()) }

// UnmarshalJSON decodes an array of 1 to MaxDims non-zero integers; null
// leaves d unchanged.
func (d *Dims) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var s []int
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("shape: %w", err)
	}
	v, err := DimsOf(s...)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// check reports a Dims that is empty, has a zero before a non-zero entry,
// an entry below -1 or more than one -1.
func (d Dims) check() error {
	s := d.Slice()
	if len(s) == 0 {
		return errors.New("must have 1 to 4 dims")
	}
	for _, v := range d[len(s):] {
		if v != 0 {
			return fmt.Errorf("%v has a zero dim before a non-zero one", [MaxDims]int(d))
		}
	}
	inferred := 0
	for i, v := range s {
		if v < -1 {
			return fmt.Errorf("dim %d is %d, want > 0 or -1 (inferred)", i, v)
		}
		if v == -1 {
			inferred++
		}
	}
	if inferred > 1 {
		return fmt.Errorf("%v has %d entries -1, at most one may be inferred", s, inferred)
	}
	return nil
}

// resolve returns the shape of d for n elements, filling in a -1 entry.
func (d Dims) resolve(n int) ([]int, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	s := d.Slice()
	known, at := 1, -1
	for i, v := range s {
		if v == -1 {
			at = i
			continue
		}
		if v > n || known > n/v { // the product exceeds n (and cannot overflow)
			return nil, fmt.Errorf("cannot reshape %d values to %v", n, s)
		}
		known *= v
	}
	if at >= 0 {
		if known == 0 || n%known != 0 {
			return nil, fmt.Errorf("cannot reshape %d values to %v", n, s)
		}
		s[at] = n / known
	}
	if prod(s) != n {
		return nil, fmt.Errorf("cannot reshape %d values to %v (%d values)", n, s, prod(s))
	}
	return s, nil
}
