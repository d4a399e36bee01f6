package qnn

import (
	"context"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/compress/nn"
)

// refMatmul is a Matmul of plain loops over a layer's FastWeights; it
// records the most rows one call had.
type refMatmul struct {
	w       []int8
	k, out  int
	mu      sync.Mutex
	maxRows int
}

func (r *refMatmul) Mul(x []uint8, n int, zero uint8, acc []int32) {
	r.mu.Lock()
	r.maxRows = max(r.maxRows, n)
	r.mu.Unlock()
	for i := range n {
		for o := range r.out {
			var s int32
			for j, v := range r.w[o*r.k : (o+1)*r.k] {
				s += int32(v) * (int32(x[i*r.k+j]) - int32(zero))
			}
			acc[i*r.out+o] = s
		}
	}
}

// TestForwardWith replaces the GEMM of every Dense and Conv2D layer of
// chain and graph models (convolutions read as im2row rows, a Dense layer
// after a spatial Flatten, depthwise layers left alone) by plain loops
// over FastWeights and requires ForwardWith to equal Forward bit for bit,
// on batches of one, part of a chunk and several chunks on one and two
// threads; the most rows a call saw must be GEMMCall's rows. Layer.GEMM
// as the replacement must equal Forward too.
func TestForwardWith(t *testing.T) {
	archs := graphArchs()
	archs["lenet-like"] = nn.Arch{Input: []int{3, 11, 9}, Layers: []nn.LayerSpec{
		{Type: nn.TypeConv2D, Filters: 5, Kernel: 3, Stride: 2, Pad: 1}, {Type: nn.TypeReLU},
		{Type: nn.TypeConv2D, Filters: 7, Kernel: 2}, {Type: nn.TypeMaxPool2D, Kernel: 2}, {Type: nn.TypeReLU},
		{Type: nn.TypeFlatten}, {Type: nn.TypeDense, Units: 33}, {Type: nn.TypeReLU},
		{Type: nn.TypeDense, Units: 10},
	}}
	archs["mlp"] = nn.MLP([]int{37}, []int{19}, 4)
	r := rand.New(rand.NewPCG(21, 22))
	for _, name := range slices.Sorted(maps.Keys(archs)) {
		a := archs[name]
		_, p := buildPrepared(t, a, 5, r)
		// Calibrated ranges (random ones can make a bias too large for
		// int32 accumulation).
		per := prod(a.Input)
		calib := make([]float32, 40*per)
		for i := range calib {
			calib[i] = r.Float32()*2 - 0.5
		}
		set := &data.Dataset{Images: calib, Labels: make([]int, 40), N: 40, C: 1, H: 1, W: per, Classes: 10}
		obs, err := Calibrate(context.Background(), p, set, 0)
		if err != nil {
			t.Fatal(err)
		}
		ranges, err := Ranges(obs, "minmax")
		if err != nil {
			t.Fatal(err)
		}
		m, err := Quantize(p, ranges, Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, threads := range []int{1, 2} {
			for _, n := range []int{1, 3, 17} {
				x := make([]uint8, n*prod(m.Input))
				for i := range x {
					x[i] = uint8(r.UintN(256))
				}
				want, err := m.ForwardThreads(x, threads)
				if err != nil {
					t.Fatal(err)
				}
				refs := make([]Matmul, len(m.Layers))
				own := make([]Matmul, len(m.Layers))
				gemms := 0
				for i, l := range m.Layers {
					if !l.HasGEMM() {
						if l.FastWeights() != nil || l.GEMM(1) != nil {
							t.Fatalf("%s: layers[%d] (%s) has weights for a GEMM", name, i, l.Kind)
						}
						continue
					}
					w := l.FastWeights()
					refs[i] = &refMatmul{w: w, k: len(w) / l.packed.N(), out: l.packed.N()}
					own[i] = l.GEMM(1)
					gemms++
				}
				if gemms == 0 {
					t.Fatalf("%s: no layer with a GEMM", name)
				}
				what := fmt.Sprintf("%s batch %d threads %d", name, n, threads)
				for kind, mm := range map[string][]Matmul{"loops": refs, "Layer.GEMM": own} {
					got := make([]int32, n*m.Classes)
					if err := m.ForwardWith(got, x, threads, mm); err != nil {
						t.Fatal(err)
					}
					if !slices.Equal(got, want) {
						t.Fatalf("%s, %s: ForwardWith %v\nForward %v", what, kind, got[:min(len(got), 12)], want[:min(len(want), 12)])
					}
				}
				for i, f := range refs {
					if f == nil {
						continue
					}
					rows, _ := m.GEMMCall(i, n, threads)
					if seen := f.(*refMatmul).maxRows; seen != rows {
						t.Errorf("%s: layers[%d]: calls had up to %d rows, GEMMCall says %d", what, i, seen, rows)
					}
				}
			}
		}
	}
}

// TestForwardWithRejects checks the refusals: a matmul list of the wrong
// length and a matmul for a layer without a GEMM.
func TestForwardWithRejects(t *testing.T) {
	r := rand.New(rand.NewPCG(23, 24))
	a := nn.Arch{Input: []int{1, 6, 6}, Layers: []nn.LayerSpec{conv(2, 3, 1, 0), {Type: nn.TypeMaxPool2D, Kernel: 2},
		{Type: nn.TypeFlatten}, {Type: nn.TypeDense, Units: 3}}}
	_, p := buildPrepared(t, a, 1, r)
	_, points, err := plan(p)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Quantize(p, randomRanges(r, points), Options{})
	if err != nil {
		t.Fatal(err)
	}
	x, logits := make([]uint8, 36), make([]int32, 3)
	if err := m.ForwardWith(logits, x, 1, make([]Matmul, 1)); err == nil || !strings.Contains(err.Error(), "matmuls for") {
		t.Errorf("short list: error %v", err)
	}
	mm := make([]Matmul, len(m.Layers))
	for i, l := range m.Layers {
		if !l.HasGEMM() {
			mm[i] = m.Layers[0].GEMM(1)
			if err := m.ForwardWith(logits, x, 1, mm); err == nil || !strings.Contains(err.Error(), "without a GEMM") {
				t.Errorf("matmul on layers[%d] (%s): error %v", i, l.Kind, err)
			}
			return
		}
	}
	t.Fatal("no layer without a GEMM")
}

// TestQuantizeInputTo checks the branch-light input quantization against
// quantizeValue on ties (x/scale = k + ½ for k around every code), random
// values, zeros, extremes and infinities, for several scales and zero
// points.
func TestQuantizeInputTo(t *testing.T) {
	r := rand.New(rand.NewPCG(25, 26))
	for _, c := range []struct {
		scale float32
		zero  uint8
	}{{1.0 / 255, 0}, {0.0125, 33}, {0.5, 128}, {2, 255}, {3e-5, 7}} {
		m := &Model{InScale: c.scale, InZero: c.zero}
		var x []float32
		for k := -300; k <= 300; k++ {
			x = append(x, (float32(k)+0.5)*c.scale, float32(k)*c.scale, float32(k)*c.scale*1.0000001)
		}
		for range 2000 {
			x = append(x, float32(r.NormFloat64()*300)*c.scale)
		}
		x = append(x, 0, float32(math.Copysign(0, -1)), math.MaxFloat32, -math.MaxFloat32, 1e-40, float32(math.Inf(1)), float32(math.Inf(-1)))
		got := make([]uint8, len(x))
		m.QuantizeInputTo(got, x)
		inv := 1 / float64(c.scale)
		for i, v := range x {
			if want := quantizeValue(float64(v), inv, c.zero); got[i] != want {
				t.Fatalf("scale %g zero %d: x = %g → %d, want %d", c.scale, c.zero, v, got[i], want)
			}
		}
	}
}
