package recipe

import (
	"bytes"
	"context"
	"errors"
	"math"
	"slices"
	"testing"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/compress/model"
	"github.com/compressq/compressq/compress/nn"
)

// tinySplits is a two-class set of 2x2 images: class 1 is bright.
func tinySplits(n int) *data.Splits {
	mk := func(name string) *data.Dataset {
		d := &data.Dataset{Name: name, N: n, C: 1, H: 2, W: 2, Classes: 2}
		for i := 0; i < n; i++ {
			v := float32(i%7) / 20
			if i%2 == 1 {
				v += 0.6
			}
			d.Images = append(d.Images, v, v, v, v)
			d.Labels = append(d.Labels, i%2)
		}
		return d
	}
	return &data.Splits{Train: mk("tiny/train"), Test: mk("tiny/test")}
}

func tinyModel(t *testing.T, tr data.Transform) ([]byte, *nn.Network) {
	t.Helper()
	arch := nn.Arch{Name: "tiny", Input: []int{1, 2, 2}, Layers: []nn.LayerSpec{{Type: nn.TypeFlatten}, {Type: nn.TypeDense, Units: 2}}}
	net, err := nn.Build(arch, 1)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := model.SaveWithTransform(&buf, net, tr); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), net
}

func TestEval(t *testing.T) {
	s := tinySplits(40)
	tr := data.Transform{Mean: []float64{0.5}, Std: []float64{0.25}}
	raw, net := tinyModel(t, tr)
	r, err := Eval(context.Background(), EvalOptions{Model: raw, Data: s, BatchSize: 16})
	if err != nil {
		t.Fatal(err)
	}
	// The stated transform is applied: compare with nn.Evaluate on a copy
	// normalized by hand.
	norm, err := s.Test.Normalized(tr)
	if err != nil {
		t.Fatal(err)
	}
	acc, loss, err := nn.Evaluate(net, norm)
	if err != nil {
		t.Fatal(err)
	}
	if r.Accuracy != acc || math.Abs(r.Loss-loss) > 1e-6 || !slices.Equal(r.Transform.Mean, tr.Mean) || r.Samples != 40 {
		t.Fatalf("eval %+v, want accuracy %v loss %v", r, acc, loss)
	}
	var sum float64
	for _, a := range r.PerClass {
		sum += a * 20
	}
	if math.Abs(sum/40-acc) > 1e-9 || len(r.PerClass) != 2 {
		t.Fatalf("per-class %v do not add up to %v", r.PerClass, acc)
	}
	// The cached splits are untouched.
	if s.Test.Images[0] != 0 || !s.Test.Transform.IsIdentity() {
		t.Fatalf("Eval normalized the caller's set")
	}
	// Flags override the model's transform.
	r, err = Eval(context.Background(), EvalOptions{Model: raw, Data: s, Transform: data.Transform{Mean: []float64{0}, Std: []float64{1}}})
	if err != nil || r.Transform.Mean[0] != 0 {
		t.Fatalf("override: %+v %v", r, err)
	}
	// Bad input names the field.
	var ie *InputError
	if _, err := Eval(context.Background(), EvalOptions{Model: []byte("nonsense"), Data: s}); !errors.As(err, &ie) || ie.Field != "model" {
		t.Fatalf("bad model: %v", err)
	}
	wrong := tinySplits(4)
	wrong.Test.W, wrong.Test.Images = 1, wrong.Test.Images[:8]
	if _, err := Eval(context.Background(), EvalOptions{Model: raw, Data: wrong}); !errors.As(err, &ie) || ie.Field != "data" {
		t.Fatalf("wrong shape: %v", err)
	}
}

func TestTransformDefaults(t *testing.T) {
	s := tinySplits(10)
	if got := TrainTransform(data.Transform{}, s.Train); len(got.Mean) != 1 || got.Mean[0] != data.Stats(s.Train).Mean[0] {
		t.Fatalf("train default %v", got)
	}
	plain := &Model{}
	if got := ModelTransform(data.Transform{}, plain); !got.IsIdentity() {
		t.Fatalf("model without metadata: %v, want identity", got)
	}
	flags := data.Transform{Mean: []float64{0}, Std: []float64{0.00392157}}
	if got := ModelTransform(flags, &Model{Stated: true, Transform: data.Transform{Mean: []float64{0.1}, Std: []float64{0.3}}}); got.Std[0] != 0.00392157 {
		t.Fatalf("flags do not override: %v", got)
	}
}
