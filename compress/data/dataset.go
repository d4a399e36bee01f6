package data

import (
	"fmt"
	"iter"
	"math/rand/v2"

	"gorgonia.org/tensor"
)

// Normalization maps a raw pixel byte p (0..255) to the float32 value
// p*Scale + Shift. The zero value means UnitRange.
type Normalization struct {
	Scale, Shift float32
}

// UnitRange maps pixels to [0, 1] (p/255). It is the default.
func UnitRange() Normalization { return Normalization{Scale: 1.0 / 255} }

// RawPixels keeps pixel values as they are (0..255), the input the ONNX
// model-zoo MNIST model expects.
func RawPixels() Normalization { return Normalization{Scale: 1} }

func (n Normalization) orDefault() Normalization {
	if n == (Normalization{}) {
		return UnitRange()
	}
	return n
}

// Dataset is an in-memory labelled image set. Images holds N samples of shape
// [C, H, W], row-major (NCHW for the whole set), already normalized; Labels
// holds N class indices in [0, Classes).
//
// A Dataset is read-only after construction and safe for concurrent use;
// Subset and Split share the backing arrays.
type Dataset struct {
	// Name identifies the set in messages, e.g. "mnist/train".
	Name string
	// Images holds N*C*H*W normalized values.
	Images []float32
	// Labels holds N class indices.
	Labels []int
	// N, C, H, W are the number of samples and the per-sample shape.
	N, C, H, W int
	// Classes is the number of classes (10 for MNIST).
	Classes int
	// ClassNames, if known (image folders, classes.txt), names each class.
	ClassNames []string `json:",omitempty"`
	// Transform is the normalization Images carry: the zero value means
	// [0, 1] pixels (see Normalize).
	Transform Transform
}

// NewDataset builds a Dataset from an IDX image file with dims [n, h, w] (one
// channel) or [n, c, h, w] and an IDX label file with dims [n], normalizing
// pixels with norm. classes is the number of classes; every label must be
// below it.
func NewDataset(name string, images, labels *IDX, norm Normalization, classes int) (*Dataset, error) {
	norm = norm.orDefault()
	d := &Dataset{Name: name, C: 1, Classes: classes}
	switch len(images.Dims) {
	case 3:
		d.N, d.H, d.W = images.Dims[0], images.Dims[1], images.Dims[2]
	case 4:
		d.N, d.C, d.H, d.W = images.Dims[0], images.Dims[1], images.Dims[2], images.Dims[3]
	default:
		return nil, fmt.Errorf("%s: images have dims %v, want [n h w] or [n c h w]", name, images.Dims)
	}
	if len(labels.Dims) != 1 {
		return nil, fmt.Errorf("%s: labels have dims %v, want [n]", name, labels.Dims)
	}
	if labels.Dims[0] != d.N {
		return nil, fmt.Errorf("%s: %d images but %d labels", name, d.N, labels.Dims[0])
	}
	if classes <= 0 || classes > 256 {
		return nil, fmt.Errorf("%s: classes %d out of range 1..256", name, classes)
	}
	d.Labels = make([]int, d.N)
	for i, l := range labels.Data {
		if int(l) >= classes {
			return nil, fmt.Errorf("%s: label %d of sample %d is not below classes=%d", name, l, i, classes)
		}
		d.Labels[i] = int(l)
	}
	var lut [256]float32
	for p := range lut {
		lut[p] = float32(p)*norm.Scale + norm.Shift
	}
	d.Images = make([]float32, len(images.Data))
	for i, p := range images.Data {
		d.Images[i] = lut[p]
	}
	d.Transform = norm.Transform()
	return d, nil
}

// Len returns the number of samples.
func (d *Dataset) Len() int { return d.N }

// SampleShape returns the per-sample shape [C, H, W].
func (d *Dataset) SampleShape() []int { return []int{d.C, d.H, d.W} }

func (d *Dataset) sampleSize() int { return d.C * d.H * d.W }

// Subset returns the first n samples (all of them if n <= 0 or n >= Len),
// sharing the backing arrays. Use it for calibration sets and short runs.
func (d *Dataset) Subset(n int) *Dataset {
	if n <= 0 || n >= d.N {
		return d
	}
	s := *d
	s.N = n
	s.Images = d.Images[:n*d.sampleSize()]
	s.Labels = d.Labels[:n]
	s.Name = fmt.Sprintf("%s[:%d]", d.Name, n)
	return &s
}

// Spread returns n samples taken evenly across d (sample i·N/n for i < n),
// copied, or d itself when n <= 0 or n >= N. Unlike Subset's first n, a
// spread subset samples every part of a set whose order is not random
// (MNIST's test set puts its two writer populations in two halves).
func (d *Dataset) Spread(n int) *Dataset {
	if n <= 0 || n >= d.N {
		return d
	}
	s := *d
	size := d.sampleSize()
	s.N = n
	s.Images = make([]float32, 0, n*size)
	s.Labels = make([]int, 0, n)
	for i := range n {
		j := int(int64(i) * int64(d.N) / int64(n))
		s.Images = append(s.Images, d.Images[j*size:(j+1)*size]...)
		s.Labels = append(s.Labels, d.Labels[j])
	}
	s.Name = fmt.Sprintf("%s[spread %d]", d.Name, n)
	return &s
}

// Split returns the first n samples and the rest, sharing the backing arrays
// (e.g. a validation hold-out from the end of a training set). n is clamped to
// [0, Len].
func (d *Dataset) Split(n int) (head, tail *Dataset) {
	n = max(0, min(n, d.N))
	sz := d.sampleSize()
	h, t := *d, *d
	h.N, h.Images, h.Labels = n, d.Images[:n*sz], d.Labels[:n]
	t.N, t.Images, t.Labels = d.N-n, d.Images[n*sz:], d.Labels[n:]
	h.Name = fmt.Sprintf("%s[:%d]", d.Name, n)
	t.Name = fmt.Sprintf("%s[%d:]", d.Name, n)
	return &h, &t
}

// Perm returns a permutation of the sample indices 0..Len-1 that depends only
// on seed (PCG generator, Fisher–Yates shuffle).
func (d *Dataset) Perm(seed int64) []int {
	r := rand.New(rand.NewPCG(uint64(seed), 0x6d6e697374)) // second word: fixed stream constant
	return r.Perm(d.N)
}

// Batch gathers the samples at idx into a new tensor of shape
// [len(idx), C, H, W] and returns it with their labels.
func (d *Dataset) Batch(idx []int) (*tensor.Dense, []int) {
	sz := d.sampleSize()
	x := make([]float32, len(idx)*sz)
	y := make([]int, len(idx))
	for i, j := range idx {
		copy(x[i*sz:(i+1)*sz], d.Images[j*sz:(j+1)*sz])
		y[i] = d.Labels[j]
	}
	return tensor.New(tensor.WithShape(len(idx), d.C, d.H, d.W), tensor.WithBacking(x)), y
}

// Batches yields mini-batches of at most size samples in the given order
// (a permutation from Perm, or nil for 0..Len-1). The last batch may be
// smaller. Each batch is freshly allocated, so callers may keep it.
func (d *Dataset) Batches(size int, order []int) iter.Seq2[*tensor.Dense, []int] {
	if size <= 0 {
		size = 1
	}
	return func(yield func(*tensor.Dense, []int) bool) {
		n := d.N
		if order != nil {
			n = len(order)
		}
		idx := make([]int, 0, size)
		for start := 0; start < n; start += size {
			end := min(start+size, n)
			idx = idx[:0]
			for i := start; i < end; i++ {
				if order != nil {
					idx = append(idx, order[i])
				} else {
					idx = append(idx, i)
				}
			}
			x, y := d.Batch(idx)
			if !yield(x, y) {
				return
			}
		}
	}
}
