package nn

import (
	"fmt"
	"slices"

	"github.com/compressq/compressq/compress/kernels"

	"gorgonia.org/tensor"
)

// MergeBackward maps the loss gradient with respect to a merging layer's
// output to the gradients with respect to each of its inputs, in input order.
// The returned tensors may share dy's data; callers must not modify them.
type MergeBackward func(dy *tensor.Dense) ([]*tensor.Dense, error)

// Merger is a layer with two or more inputs (Add, Concat). A Network calls
// Merge instead of Forward for it; Forward, which has one input, fails.
type Merger interface {
	Layer
	// Merge computes the output for the batches xs (each [N, sample...]).
	// When p.Train is set it also returns the backward closure; otherwise
	// it returns nil and mutates nothing.
	Merge(xs []*tensor.Dense, p Pass) (*tensor.Dense, MergeBackward, error)
}

// Add sums its inputs element-wise; all have one shape. It is the join of a
// residual connection.
type Add struct{}

// sum checks xs and returns their element-wise sum in a buffer from
// alloc, the work split across workers.
func (*Add) sum(xs []*tensor.Dense, alloc func(int) []float32) (*tensor.Dense, error) {
	if len(xs) < 2 {
		return nil, fmt.Errorf("add: %d inputs, want two or more", len(xs))
	}
	shape := []int(xs[0].Shape().Clone())
	first, err := f32(xs[0], "add input 0")
	if err != nil {
		return nil, err
	}
	rest := make([][]float32, len(xs)-1)
	for k, x := range xs[1:] {
		if !slices.Equal(x.Shape(), shape) {
			return nil, fmt.Errorf("add: input %d shape %v, input 0 %v", k+1, []int(x.Shape()), shape)
		}
		if rest[k], err = f32(x, fmt.Sprintf("add input %d", k+1)); err != nil {
			return nil, err
		}
	}
	ys := alloc(len(first))
	forRange(len(ys), func(lo, hi int) {
		kernels.Add(ys[lo:hi], first[lo:hi], rest[0][lo:hi])
		for _, s := range rest[1:] {
			kernels.Add(ys[lo:hi], ys[lo:hi], s[lo:hi])
		}
	})
	return newTensor(ys, shape...), nil
}

// Concat joins its inputs along the channel axis (the first per-sample
// axis); the other axes must agree.
type Concat struct{}

// Spec implements Layer.
func (*Add) Spec() LayerSpec { return LayerSpec{Type: TypeAdd} }

// Params implements Layer: none.
func (*Add) Params() []Param { return nil }

// Forward implements Layer; it fails because Add needs several inputs.
func (*Add) Forward(*tensor.Dense, Pass) (*tensor.Dense, Backward, error) {
	return nil, nil, fmt.Errorf("add: takes two or more inputs; call Merge")
}

// Merge implements Merger: y = Σ xs[k].
func (a *Add) Merge(xs []*tensor.Dense, p Pass) (*tensor.Dense, MergeBackward, error) {
	y, err := a.sum(xs, newFloats)
	if err != nil {
		return nil, nil, err
	}
	shape := []int(y.Shape().Clone())
	if !p.Train {
		return y, nil, nil
	}
	n := len(xs)
	return y, func(dy *tensor.Dense) ([]*tensor.Dense, error) {
		if _, err := checkGrad(dy, "add", shape); err != nil {
			return nil, err
		}
		dxs := make([]*tensor.Dense, n)
		for k := range dxs {
			dxs[k] = dy
		}
		return dxs, nil
	}, nil
}

// Spec implements Layer.
func (*Concat) Spec() LayerSpec { return LayerSpec{Type: TypeConcat} }

// Params implements Layer: none.
func (*Concat) Params() []Param { return nil }

// Forward implements Layer; it fails because Concat needs several inputs.
func (*Concat) Forward(*tensor.Dense, Pass) (*tensor.Dense, Backward, error) {
	return nil, nil, fmt.Errorf("concat: takes two or more inputs; call Merge")
}

// Merge implements Merger: the inputs [N, C_k, rest...] joined into
// [N, ΣC_k, rest...].
func (*Concat) Merge(xs []*tensor.Dense, p Pass) (*tensor.Dense, MergeBackward, error) {
	if len(xs) < 2 {
		return nil, nil, fmt.Errorf("concat: %d inputs, want two or more", len(xs))
	}
	first := xs[0].Shape()
	if len(first) < 2 {
		return nil, nil, fmt.Errorf("concat: input shape %v has no channel axis", []int(first))
	}
	n, rest := first[0], prod(first[2:])
	srcs := make([][]float32, len(xs))
	chans := make([]int, len(xs))
	total := 0
	for k, x := range xs {
		sh := x.Shape()
		if len(sh) != len(first) || sh[0] != n || !slices.Equal(sh[2:], first[2:]) {
			return nil, nil, fmt.Errorf("concat: input %d shape %v does not match input 0 %v outside the channel axis", k, []int(sh), []int(first))
		}
		s, err := f32(x, fmt.Sprintf("concat input %d", k))
		if err != nil {
			return nil, nil, err
		}
		srcs[k], chans[k] = s, sh[1]
		total += sh[1]
	}
	shape := append([]int{n, total}, first[2:]...)
	ys := make([]float32, n*total*rest)
	for b := range n {
		off := b * total * rest
		for k, s := range srcs {
			m := chans[k] * rest
			copy(ys[off:off+m], s[b*m:(b+1)*m])
			off += m
		}
	}
	y := newTensor(ys, shape...)
	if !p.Train {
		return y, nil, nil
	}
	return y, func(dy *tensor.Dense) ([]*tensor.Dense, error) {
		ds, err := checkGrad(dy, "concat", shape)
		if err != nil {
			return nil, err
		}
		dxs := make([]*tensor.Dense, len(chans))
		for k, c := range chans {
			dxs[k] = zeros(append([]int{n, c}, first[2:]...)...)
		}
		for b := range n {
			off := b * total * rest
			for k, c := range chans {
				m := c * rest
				copy(dxs[k].Float32s()[b*m:(b+1)*m], ds[off:off+m])
				off += m
			}
		}
		return dxs, nil
	}, nil
}
