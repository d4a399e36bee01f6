package nn

import (
	"math"

	"gorgonia.org/tensor"
)

// Optimizer updates parameters from their gradients.
type Optimizer interface {
	// Step updates every trainable parameter (Grad != nil) from its
	// gradient, honouring masks: masked gradient entries are zeroed first
	// and the mask is re-applied to the value afterwards.
	Step(params []Param)
	// SetLR sets the learning rate for following steps.
	SetLR(lr float64)
	// LR returns the current learning rate.
	LR() float64
}

// SGD is stochastic gradient descent with momentum and L2 weight decay, in
// PyTorch's formulation: g' = g + WeightDecay·w; v = Momentum·v + g';
// w -= LearningRate·v (or w -= LearningRate·(g' + Momentum·v) with
// Nesterov). The zero value is plain SGD with learning rate 0; set
// LearningRate.
type SGD struct {
	LearningRate, Momentum, WeightDecay float64
	Nesterov                            bool
	velocity                            map[*tensor.Dense][]float32
}

// SetLR implements Optimizer.
func (o *SGD) SetLR(lr float64) { o.LearningRate = lr }

// LR implements Optimizer.
func (o *SGD) LR() float64 { return o.LearningRate }

// Step implements Optimizer.
func (o *SGD) Step(params []Param) {
	if o.velocity == nil {
		o.velocity = make(map[*tensor.Dense][]float32)
	}
	lr, mu, wd := float32(o.LearningRate), float32(o.Momentum), float32(o.WeightDecay)
	for _, p := range params {
		if p.Grad == nil {
			continue
		}
		w := p.Value.Float32s()
		g := p.Grad.Float32s()[:len(w)]
		maskGrad(p, g)
		switch {
		case mu == 0:
			for i, gi := range g {
				w[i] -= lr * (gi + wd*w[i])
			}
		case o.Nesterov:
			v := o.state(p.Value, len(w))
			for i, gi := range g {
				gi += wd * w[i]
				v[i] = mu*v[i] + gi
				w[i] -= lr * (gi + mu*v[i])
			}
		default:
			v := o.state(p.Value, len(w))
			for i, gi := range g {
				vi := mu*v[i] + (gi + wd*w[i])
				v[i] = vi
				w[i] -= lr * vi
			}
		}
		if p.Mask != nil {
			applyMask(w, p.Mask.Float32s())
		}
	}
}

func (o *SGD) state(key *tensor.Dense, n int) []float32 {
	v := o.velocity[key]
	if v == nil {
		v = make([]float32, n)
		o.velocity[key] = v
	}
	return v[:n]
}

// maskGrad zeroes the gradient entries that p's mask prunes.
func maskGrad(p Param, g []float32) {
	if p.Mask != nil {
		applyMask(g, p.Mask.Float32s())
	}
}

// Adam is the Adam optimizer (Kingma & Ba 2015) with bias correction and L2
// weight decay added to the gradient (as torch.optim.Adam). Zero Beta1, Beta2
// and Eps select 0.9, 0.999 and 1e-8.
type Adam struct {
	LearningRate, Beta1, Beta2, Eps, WeightDecay float64
	t                                            int
	m, v                                         map[*tensor.Dense][]float32
}

// SetLR implements Optimizer.
func (o *Adam) SetLR(lr float64) { o.LearningRate = lr }

// LR implements Optimizer.
func (o *Adam) LR() float64 { return o.LearningRate }

// Step implements Optimizer.
func (o *Adam) Step(params []Param) {
	if o.m == nil {
		o.m, o.v = make(map[*tensor.Dense][]float32), make(map[*tensor.Dense][]float32)
	}
	b1, b2, eps := o.Beta1, o.Beta2, o.Eps
	if b1 == 0 {
		b1 = 0.9
	}
	if b2 == 0 {
		b2 = 0.999
	}
	if eps == 0 {
		eps = 1e-8
	}
	o.t++
	c1 := 1 - math.Pow(b1, float64(o.t))
	c2 := 1 - math.Pow(b2, float64(o.t))
	step := float32(o.LearningRate / c1)
	sqrtC2 := float32(math.Sqrt(c2))
	fb1, fb2, feps, wd := float32(b1), float32(b2), float32(eps), float32(o.WeightDecay)
	for _, p := range params {
		if p.Grad == nil {
			continue
		}
		w, g := p.Value.Float32s(), p.Grad.Float32s()
		m, v := o.m[p.Value], o.v[p.Value]
		if m == nil {
			m, v = make([]float32, len(w)), make([]float32, len(w))
			o.m[p.Value], o.v[p.Value] = m, v
		}
		g = g[:len(w)]
		m, v = m[:len(w)], v[:len(w)]
		maskGrad(p, g)
		for i, gi := range g {
			gi += wd * w[i]
			mi := fb1*m[i] + (1-fb1)*gi
			vi := fb2*v[i] + (1-fb2)*gi*gi
			m[i], v[i] = mi, vi
			w[i] -= step * mi / (float32(math.Sqrt(float64(vi)))/sqrtC2 + feps)
		}
		if p.Mask != nil {
			applyMask(w, p.Mask.Float32s())
		}
	}
}
