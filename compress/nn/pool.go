package nn

import (
	"fmt"

	"github.com/compressq/compressq/compress/kernels"
	"gorgonia.org/tensor"
)

// poolWindow holds the window of a pooling layer.
type poolWindow struct {
	kernel, stride, pad int
	pads                Pads
	ceil                bool
}

// effPads returns the effective padding [top, left, bottom, right].
func (w poolWindow) effPads() Pads {
	if w.pads != (Pads{}) {
		return w.pads
	}
	return Pads{w.pad, w.pad, w.pad, w.pad}
}

// plain reports whether the window is unpadded and floor-rounded, the case
// the fast unpadded kernels cover.
func (w poolWindow) plain() bool { return w.effPads() == (Pads{}) && !w.ceil }

// extensions names the features beyond the plain window.
func (w poolWindow) extensions() []string {
	var e []string
	if w.effPads() != (Pads{}) {
		e = append(e, "padded")
	}
	if w.ceil {
		e = append(e, "ceil-mode")
	}
	return e
}

// spec fills the window fields of a pooling LayerSpec.
func (w poolWindow) spec(typ string) LayerSpec {
	s := LayerSpec{Type: typ, Kernel: w.kernel, Stride: w.stride, CeilMode: w.ceil}
	s.Pad, s.Pads = splitPads(w.effPads())
	return s
}

// MaxPool2D takes the maximum over Kernel×Kernel windows of NCHW input,
// moving by Stride. Padding (Pad on every side, or Pads [top, left, bottom,
// right] when set) never wins: the maximum is over the window's taps inside
// the image. CeilMode rounds the output size up (see LayerSpec).
type MaxPool2D struct {
	Kernel, Stride, Pad int
	Pads                Pads
	CeilMode            bool
}

func (m *MaxPool2D) window() poolWindow {
	return poolWindow{m.Kernel, m.Stride, m.Pad, m.Pads, m.CeilMode}
}

// Spec implements Layer.
func (m *MaxPool2D) Spec() LayerSpec { return m.window().spec(TypeMaxPool2D) }

// Extensions names the features m uses beyond unpadded, floor-rounded
// pooling ("padded", "ceil-mode"), for packages that handle only that form.
func (m *MaxPool2D) Extensions() []string { return m.window().extensions() }

// Params implements Layer; MaxPool2D has none.
func (m *MaxPool2D) Params() []Param { return nil }

// Forward implements Layer.
func (m *MaxPool2D) Forward(x *tensor.Dense, p Pass) (*tensor.Dense, Backward, error) {
	xs, n, g, oh, ow, err := poolInput(x, "maxpool2d", m.window())
	if err != nil {
		return nil, nil, err
	}
	c, h, w := g.C, g.H, g.W
	ys := make([]float32, n*c*oh*ow)
	var argmax []int32
	if p.Train {
		argmax = make([]int32, len(ys))
	}
	if m.window().plain() {
		kernels.MaxPool2D(xs, n, c, h, w, m.Kernel, m.Stride, ys, argmax)
	} else {
		kernels.MaxPool2DGeom(xs, n, g, ys, argmax)
	}
	y := newTensor(ys, n, c, oh, ow)
	if !p.Train {
		return y, nil, nil
	}
	return y, func(dy *tensor.Dense, _ bool) (*tensor.Dense, error) {
		ds, err := checkGrad(dy, "maxpool2d", []int{n, c, oh, ow})
		if err != nil {
			return nil, err
		}
		dx := make([]float32, len(xs))
		kernels.MaxPool2DBackward(ds, argmax, dx)
		return newTensor(dx, n, c, h, w), nil
	}, nil
}

// AvgPool2D averages over Kernel×Kernel windows of NCHW input, moving by
// Stride, with optional padding (Pad, or Pads [top, left, bottom, right])
// and CeilMode as MaxPool2D. Each window's sum over its taps inside the
// image is divided by the number of those taps, or with CountIncludePad by
// the number of taps inside the image and its padding.
type AvgPool2D struct {
	Kernel, Stride, Pad int
	Pads                Pads
	CeilMode            bool
	CountIncludePad     bool
}

func (a *AvgPool2D) window() poolWindow {
	return poolWindow{a.Kernel, a.Stride, a.Pad, a.Pads, a.CeilMode}
}

// Spec implements Layer.
func (a *AvgPool2D) Spec() LayerSpec {
	s := a.window().spec(TypeAvgPool2D)
	s.CountIncludePad = a.CountIncludePad
	return s
}

// Params implements Layer; AvgPool2D has none.
func (a *AvgPool2D) Params() []Param { return nil }

// Forward implements Layer.
func (a *AvgPool2D) Forward(x *tensor.Dense, p Pass) (*tensor.Dense, Backward, error) {
	xs, n, g, oh, ow, err := poolInput(x, "avgpool2d", a.window())
	if err != nil {
		return nil, nil, err
	}
	c, h, w := g.C, g.H, g.W
	plain := a.window().plain()
	ys := make([]float32, n*c*oh*ow)
	if plain {
		kernels.AvgPool2D(xs, n, c, h, w, a.Kernel, a.Stride, ys)
	} else {
		kernels.AvgPool2DGeom(xs, n, g, a.CountIncludePad, ys)
	}
	y := newTensor(ys, n, c, oh, ow)
	if !p.Train {
		return y, nil, nil
	}
	return y, func(dy *tensor.Dense, _ bool) (*tensor.Dense, error) {
		ds, err := checkGrad(dy, "avgpool2d", []int{n, c, oh, ow})
		if err != nil {
			return nil, err
		}
		dx := make([]float32, len(xs))
		if plain {
			kernels.AvgPool2DBackward(ds, n, c, h, w, a.Kernel, a.Stride, dx)
		} else {
			kernels.AvgPool2DGeomBackward(ds, n, g, a.CountIncludePad, dx)
		}
		return newTensor(dx, n, c, h, w), nil
	}, nil
}

// poolInput checks x, [N C H W], against the window and returns its data,
// batch size, per-image geometry and output size.
func poolInput(x *tensor.Dense, layer string, win poolWindow) (xs []float32, n int, g kernels.ConvGeom, oh, ow int, err error) {
	sh := x.Shape()
	if len(sh) != 4 {
		return nil, 0, g, 0, 0, fmt.Errorf("%s: input shape %v, want [N C H W]", layer, []int(sh))
	}
	if xs, err = f32(x, layer+" input"); err != nil {
		return nil, 0, g, 0, 0, err
	}
	p := win.effPads()
	g = kernels.ConvGeom{C: sh[1], H: sh[2], W: sh[3], KH: win.kernel, KW: win.kernel, Stride: win.stride, Dilation: 1,
		PadTop: p[0], PadLeft: p[1], PadBottom: p[2], PadRight: p[3], CeilMode: win.ceil}
	bad := win.kernel <= 0 || win.stride <= 0 || g.C <= 0 || g.H <= 0 || g.W <= 0
	for _, v := range p {
		bad = bad || v < 0 || v >= win.kernel
	}
	if !bad {
		oh, ow = g.Out()
	}
	if bad || oh <= 0 || ow <= 0 {
		return nil, 0, g, 0, 0, fmt.Errorf("%s: window %d stride %d pads %v does not fit input %dx%d (each pad must be smaller than the window)",
			layer, win.kernel, win.stride, p, g.H, g.W)
	}
	return xs, sh[0], g, oh, ow, nil
}
