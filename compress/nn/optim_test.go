package nn

import (
	"math"
	"testing"
)

// TestOptimizers runs three steps with fixed gradients on a two-element
// parameter and compares with the update rules evaluated in float64.
func TestOptimizers(t *testing.T) {
	grads := [][2]float64{{0.5, -1}, {0.25, 2}, {-0.75, 0.1}}
	start := [2]float64{1, -2}
	sgdRef := func(lr, mu, wd float64, nesterov bool) [2]float64 {
		w, v := start, [2]float64{}
		for _, g := range grads {
			for i := range w {
				gi := g[i] + wd*w[i]
				v[i] = mu*v[i] + gi
				if nesterov {
					w[i] -= lr * (gi + mu*v[i])
				} else {
					w[i] -= lr * v[i]
				}
			}
		}
		return w
	}
	adamRef := func(lr, wd float64) [2]float64 {
		const b1, b2, eps = 0.9, 0.999, 1e-8
		w, m, v := start, [2]float64{}, [2]float64{}
		for t, g := range grads {
			for i := range w {
				gi := g[i] + wd*w[i]
				m[i] = b1*m[i] + (1-b1)*gi
				v[i] = b2*v[i] + (1-b2)*gi*gi
				mh := m[i] / (1 - math.Pow(b1, float64(t+1)))
				vh := v[i] / (1 - math.Pow(b2, float64(t+1)))
				w[i] -= lr * mh / (math.Sqrt(vh) + eps)
			}
		}
		return w
	}
	tests := []struct {
		name string
		opt  Optimizer
		want [2]float64
	}{
		{"sgd", &SGD{LearningRate: 0.1}, sgdRef(0.1, 0, 0, false)},
		{"sgd weight decay", &SGD{LearningRate: 0.1, WeightDecay: 0.01}, sgdRef(0.1, 0, 0.01, false)},
		{"sgd momentum", &SGD{LearningRate: 0.1, Momentum: 0.9, WeightDecay: 0.01}, sgdRef(0.1, 0.9, 0.01, false)},
		{"sgd nesterov", &SGD{LearningRate: 0.1, Momentum: 0.9, Nesterov: true}, sgdRef(0.1, 0.9, 0, true)},
		{"adam", &Adam{LearningRate: 0.01}, adamRef(0.01, 0)},
		{"adam weight decay", &Adam{LearningRate: 0.01, WeightDecay: 0.1}, adamRef(0.01, 0.1)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := Param{Name: "w", Value: newTensor([]float32{float32(start[0]), float32(start[1])}, 2), Grad: zeros(2)}
			for _, g := range grads {
				p.Grad.Float32s()[0], p.Grad.Float32s()[1] = float32(g[0]), float32(g[1])
				tc.opt.Step([]Param{p})
			}
			for i, w := range p.Value.Float32s() {
				if math.Abs(float64(w)-tc.want[i]) > 1e-6 {
					t.Errorf("w[%d] = %.7f, want %.7f", i, w, tc.want[i])
				}
			}
		})
	}
}
