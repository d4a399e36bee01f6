package nn

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"gorgonia.org/tensor"
)

// layerByLayer runs an inference pass the plain way, each layer's own
// Forward or Merge on its sources' outputs, without planInference's fusion.
func layerByLayer(t *testing.T, net *Network, x *tensor.Dense) *tensor.Dense {
	t.Helper()
	outs := []*tensor.Dense{x}
	for i, l := range net.Layers() {
		var xs []*tensor.Dense
		for _, s := range net.arch.Sources(i) {
			xs = append(xs, outs[s+1])
		}
		var y *tensor.Dense
		var err error
		if m, ok := l.(Merger); ok {
			y, _, err = m.Merge(xs, Pass{})
		} else {
			y, _, err = l.Forward(xs[0], Pass{})
		}
		if err != nil {
			t.Fatalf("layers[%d]: %v", i, err)
		}
		outs = append(outs, y)
	}
	return outs[len(outs)-1]
}

// TestInferencePlan checks which layers the inference pass fuses: a batch
// norm and an activation reading only a conv, an activation after an Add or
// an unfolded batch norm — and nothing read by a second consumer.
func TestInferencePlan(t *testing.T) {
	a := Arch{Name: "fuse", Input: []int{3, 9, 9}, Layers: []LayerSpec{
		{Type: TypeConv2D, Filters: 4, Kernel: 3, Pad: 1},                            // 0
		{Type: TypeBatchNorm},                                                        // 1: folded into 0
		{Type: TypeReLU},                                                             // 2: 0's epilogue; read by 3 and 5
		{Type: TypeConv2D, Filters: 4, Kernel: 3, Pad: 1, Groups: 4},                 // 3: depthwise
		{Type: TypeClip, Min: 0, Max: 6},                                             // 4: 3's epilogue
		{Type: TypeConv2D, Filters: 4, Kernel: 1, Inputs: []int{2}},                  // 5: pointwise, read by 6 and 7
		{Type: TypeBatchNorm},                                                        // 6: not folded (5 has two readers)
		{Type: TypeReLU, Inputs: []int{5}},                                           // 7: reads 5, not fused
		{Type: TypeAdd, Inputs: []int{4, 6, 7}},                                      // 8
		{Type: TypeReLU},                                                             // 9: in place after the Add
		{Type: TypeConv2D, Filters: 6, Kernel: 3, Stride: 2, Pads: Pads{0, 1, 1, 0}}, // 10: output read by the BN and the concat
		{Type: TypeBatchNorm},                                                        // 11: not folded
		{Type: TypeReLU},                                                             // 12: in place after the BN
		{Type: TypeConcat, Inputs: []int{12, 10}},                                    // 13
		{Type: TypeGlobalAvgPool},                                                    // 14
		{Type: TypeFlatten},                                                          // 15
		{Type: TypeDense, Units: 5},                                                  // 16
	}}
	net, err := Build(a, 3)
	if err != nil {
		t.Fatal(err)
	}
	type want struct{ bn, act int }
	fused := map[int]want{0: {1, 2}, 3: {-1, 4}, 8: {-1, 9}, 11: {-1, 12}}
	absorbed := map[int]bool{1: true, 2: true, 4: true, 9: true, 12: true}
	for i, st := range net.infer {
		w, ok := fused[i]
		if !ok {
			w = want{-1, -1}
		}
		if st.bn != w.bn || st.act != w.act || st.absorbed != absorbed[i] {
			t.Errorf("layers[%d] %s: plan %+v, want bn %d act %d absorbed %v", i, a.Layers[i].Type, st, w.bn, w.act, absorbed[i])
		}
	}
	r := rand.New(rand.NewPCG(3, 4))
	randomBatchNorms(net, r)
	for _, n := range []int{1, 3, 17} { // 17: more than one chunk of images
		x := randTensor(r, n, 3, 9, 9)
		want := layerByLayer(t, net, x)
		got, err := net.Forward(x, false)
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range want.Float32s() {
			if g := got.Float32s()[i]; math.Abs(float64(g-v)) > 1e-5*(1+math.Abs(float64(v))) {
				t.Fatalf("batch %d, output %d: fused %v, layer by layer %v", n, i, g, v)
			}
		}
	}
}

// TestInferenceWideConv checks the per-image GEMM path (at least convWide
// output pixels) of a fused conv + batch norm + ReLU6, grouped, against the
// layer-by-layer pass, and that the pass leaves the weights unchanged.
func TestInferenceWideConv(t *testing.T) {
	a := Arch{Name: "wide", Input: []int{4, 16, 16}, Layers: []LayerSpec{
		{Type: TypeConv2D, Filters: 6, Kernel: 3, Pad: 1, Groups: 2},
		{Type: TypeBatchNorm},
		{Type: TypeClip, Min: 0, Max: 6},
		{Type: TypeConv2D, Filters: 5, Kernel: 1},
		{Type: TypeReLU},
		{Type: TypeFlatten},
	}}
	net, err := Build(a, 5)
	if err != nil {
		t.Fatal(err)
	}
	if 16*16 < convWide {
		t.Fatalf("the test image is narrower than convWide %d", convWide)
	}
	r := rand.New(rand.NewPCG(5, 6))
	randomBatchNorms(net, r)
	before := append([]float32(nil), net.layers[0].(*Conv2D).W.Float32s()...)
	x := randTensor(r, 3, 4, 16, 16)
	want := layerByLayer(t, net, x)
	got, err := net.Forward(x, false)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range want.Float32s() {
		if g := got.Float32s()[i]; math.Abs(float64(g-v)) > 1e-5*(1+math.Abs(float64(v))) {
			t.Fatalf("output %d: fused %v, layer by layer %v", i, g, v)
		}
	}
	for i, v := range net.layers[0].(*Conv2D).W.Float32s() {
		if v != before[i] {
			t.Fatalf("inference changed weight %d", i)
		}
	}
}

// TestConvWide checks convolutions with at least convWide output pixels —
// the im2col-free stride-1 path (forwardShifted) and the per-image im2col
// path of larger strides — against a direct float64 convolution: padding
// on some sides only, dilation, a 5×5 window, groups, strides 2 and 3.
func TestConvWide(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, s := range []LayerSpec{
		{Type: TypeConv2D, Filters: 5, Kernel: 3, Pad: 1},
		{Type: TypeConv2D, Filters: 4, Kernel: 3, Pads: Pads{0, 2, 1, 0}},
		{Type: TypeConv2D, Filters: 6, Kernel: 3, Pad: 2, Dilation: 2},
		{Type: TypeConv2D, Filters: 6, Kernel: 3, Pad: 1, Groups: 2},
		{Type: TypeConv2D, Filters: 3, Kernel: 5, Pad: 2},
		// Stride 2: windows of the stride phases of the padded image.
		{Type: TypeConv2D, Filters: 4, Kernel: 3, Stride: 2, Pad: 1},
		{Type: TypeConv2D, Filters: 4, Kernel: 3, Stride: 2, Pads: Pads{0, 1, 2, 0}, Groups: 2},
		{Type: TypeConv2D, Filters: 4, Kernel: 3, Stride: 2, Pad: 2, Dilation: 2},
		// 1×1 and stride 3: im2col, its rows read in place by the GEMM.
		{Type: TypeConv2D, Filters: 5, Kernel: 1, Stride: 2},
		{Type: TypeConv2D, Filters: 3, Kernel: 4, Stride: 3, Pad: 1},
	} {
		const n, inC = 3, 4
		st := max(1, s.Stride)
		h, w := 13*st+1, 12*st
		c := newConv2D(inC, s, r)
		x := randTensor(r, n, inC, h, w)
		xs, g, err := c.geometry(x)
		if err != nil {
			t.Fatal(err)
		}
		if g.np < convWide {
			t.Fatalf("%+v: %d output pixels, under convWide", s, g.np)
		}
		y, _, err := c.Forward(x, Pass{})
		if err != nil {
			t.Fatal(err)
		}
		ys, wt, bs := y.Float32s(), c.W.Float32s(), c.B.Float32s()
		p, dil, k, gr := c.pads(), c.dilation(), c.Kernel, c.groups()
		icg, ocg := inC/gr, c.OutC/gr
		for i := range n {
			for o := range c.OutC {
				for oy := range g.oh {
					for ox := range g.ow {
						sum := float64(bs[o])
						for ic := range icg {
							ci := o/ocg*icg + ic
							for ki := range k {
								for kj := range k {
									iy, ix := oy*st-p[0]+ki*dil, ox*st-p[1]+kj*dil
									if iy < 0 || iy >= h || ix < 0 || ix >= w {
										continue
									}
									sum += float64(wt[((o*icg+ic)*k+ki)*k+kj]) * float64(xs[((i*inC+ci)*h+iy)*w+ix])
								}
							}
						}
						got := ys[((i*c.OutC+o)*g.oh+oy)*g.ow+ox]
						if math.Abs(float64(got)-sum) > 1e-5*(1+math.Abs(sum)) {
							t.Fatalf("%+v: y[%d,%d,%d,%d] = %v, direct %v", s, i, o, oy, ox, got, sum)
						}
					}
				}
			}
		}
	}
}

// TestInferenceBuffersRecycled checks the recycling of a pass's buffers:
// outputs that end the network (a conv's, or a view of one) are never
// handed out again, so a later pass leaves an earlier result intact, and
// repeated passes give the same result.
func TestInferenceBuffersRecycled(t *testing.T) {
	for _, tail := range [][]LayerSpec{
		nil,                   // the last conv's own buffer is the output
		{{Type: TypeFlatten}}, // a view of it
		{{Type: TypeReLU}, {Type: TypeReshape, Shape: Dims{3, 256}}},
	} {
		a := Arch{Name: "recycle", Input: []int{2, 16, 16}, Layers: append([]LayerSpec{
			{Type: TypeConv2D, Filters: 4, Kernel: 3, Pad: 1},
			{Type: TypeReLU},
			{Type: TypeConv2D, Filters: 4, Kernel: 3, Pad: 1},
			{Type: TypeAdd, Inputs: []int{2, 1}},
			{Type: TypeConv2D, Filters: 3, Kernel: 3, Pad: 1},
		}, tail...)}
		net, err := Build(a, 4)
		if err != nil {
			t.Fatal(err)
		}
		r := rand.New(rand.NewPCG(4, 5))
		x1, x2 := randTensor(r, 5, 2, 16, 16), randTensor(r, 5, 2, 16, 16)
		y1, err := net.Forward(x1, false)
		if err != nil {
			t.Fatal(err)
		}
		kept := append([]float32(nil), y1.Float32s()...)
		for range 3 {
			if _, err := net.Forward(x2, false); err != nil {
				t.Fatal(err)
			}
		}
		if !slices.Equal(y1.Float32s(), kept) {
			t.Fatalf("tail %v: a later pass changed an earlier output", tail)
		}
		again, err := net.Forward(x1, false)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(again.Float32s(), kept) {
			t.Fatalf("tail %v: the same input gave another output on a later pass", tail)
		}
		want := layerByLayer(t, net, x1)
		for i, v := range want.Float32s() {
			if math.Abs(float64(kept[i]-v)) > 1e-5*(1+math.Abs(float64(v))) {
				t.Fatalf("tail %v: output %d = %v, layer by layer %v", tail, i, kept[i], v)
			}
		}
	}
}
