package nn

import (
	"fmt"
	"math"

	"gorgonia.org/tensor"
)

// BatchNorm normalizes each channel of [N, C, H, W] input (or each feature of
// [N, C] input) to zero mean and unit variance and applies a learned scale
// Gamma and shift Beta:
//
//	y = Gamma·(x − mean)/√(var + Eps) + Beta
//
// In training mean and var are the batch statistics (biased variance) and the
// running estimates are updated as running = (1−Momentum)·running +
// Momentum·batch (unbiased variance), as in PyTorch; at inference the running
// estimates are used.
type BatchNorm struct {
	// Features is C, the number of channels or features.
	Features int
	// Eps is added to the variance; Momentum weights the running update.
	Eps, Momentum float64
	// Gamma, Beta, RunningMean and RunningVar have shape [Features].
	Gamma, Beta, RunningMean, RunningVar *tensor.Dense
	// DGamma and DBeta accumulate the gradients of Gamma and Beta.
	DGamma, DBeta *tensor.Dense
}

// NewBatchNorm returns a BatchNorm with Gamma 1, Beta 0, running mean 0 and
// running variance 1. Zero eps or momentum select the defaults.
func NewBatchNorm(features int, eps, momentum float64) *BatchNorm {
	if eps <= 0 {
		eps = DefaultBatchNormEps
	}
	if momentum <= 0 {
		momentum = DefaultBatchNormMomentum
	}
	b := &BatchNorm{Features: features, Eps: eps, Momentum: momentum,
		Gamma: zeros(features), Beta: zeros(features), RunningMean: zeros(features), RunningVar: zeros(features),
		DGamma: zeros(features), DBeta: zeros(features)}
	for i := range features {
		b.Gamma.Float32s()[i] = 1
		b.RunningVar.Float32s()[i] = 1
	}
	return b
}

// Spec implements Layer.
func (b *BatchNorm) Spec() LayerSpec {
	s := LayerSpec{Type: TypeBatchNorm}
	if b.Eps != DefaultBatchNormEps {
		s.Eps = b.Eps
	}
	if b.Momentum != DefaultBatchNormMomentum {
		s.Momentum = b.Momentum
	}
	return s
}

// Params implements Layer: gamma, beta, running_mean, running_var (the
// running statistics have no gradient).
func (b *BatchNorm) Params() []Param {
	return []Param{
		{Name: "gamma", Value: b.Gamma, Grad: b.DGamma},
		{Name: "beta", Value: b.Beta, Grad: b.DBeta},
		{Name: "running_mean", Value: b.RunningMean},
		{Name: "running_var", Value: b.RunningVar},
	}
}

// scaleShift returns the per-channel affine map y = a·x + c that inference
// applies: a = Gamma/√(RunningVar+Eps), c = Beta − a·RunningMean.
func (b *BatchNorm) scaleShift() (a, c []float64) {
	g, be := b.Gamma.Float32s(), b.Beta.Float32s()
	rm, rv := b.RunningMean.Float32s(), b.RunningVar.Float32s()
	a, c = make([]float64, b.Features), make([]float64, b.Features)
	for i := range a {
		a[i] = float64(g[i]) / math.Sqrt(float64(rv[i])+b.Eps)
		c[i] = float64(be[i]) - a[i]*float64(rm[i])
	}
	return a, c
}

// Forward implements Layer.
func (b *BatchNorm) Forward(x *tensor.Dense, p Pass) (*tensor.Dense, Backward, error) {
	sh := []int(x.Shape().Clone())
	if (len(sh) != 2 && len(sh) != 4) || sh[1] != b.Features {
		return nil, nil, fmt.Errorf("batchnorm: input shape %v, want [N %d] or [N %d H W]", sh, b.Features, b.Features)
	}
	xs, err := f32(x, "batchnorm input")
	if err != nil {
		return nil, nil, err
	}
	n, c := sh[0], sh[1]
	sp := 1
	if len(sh) == 4 {
		sp = sh[2] * sh[3]
	}
	ys := make([]float32, len(xs))
	if !p.Train {
		a, sh2 := b.scaleShift()
		for i := 0; i < n; i++ {
			for ch := 0; ch < c; ch++ {
				off := (i*c + ch) * sp
				ai, ci := a[ch], sh2[ch]
				for j, v := range xs[off : off+sp] {
					ys[off+j] = float32(ai*float64(v) + ci)
				}
			}
		}
		return newTensor(ys, sh...), nil, nil
	}
	m := float64(n * sp)
	mean, invStd := make([]float64, c), make([]float64, c)
	rm, rv := b.RunningMean.Float32s(), b.RunningVar.Float32s()
	g, be := b.Gamma.Float32s(), b.Beta.Float32s()
	for ch := 0; ch < c; ch++ {
		var s float64
		for i := 0; i < n; i++ {
			for _, v := range xs[(i*c+ch)*sp : (i*c+ch+1)*sp] {
				s += float64(v)
			}
		}
		mu := s / m
		var ss float64
		for i := 0; i < n; i++ {
			for _, v := range xs[(i*c+ch)*sp : (i*c+ch+1)*sp] {
				d := float64(v) - mu
				ss += d * d
			}
		}
		v := ss / m
		mean[ch], invStd[ch] = mu, 1/math.Sqrt(v+b.Eps)
		unbiased := v
		if m > 1 {
			unbiased = ss / (m - 1)
		}
		rm[ch] = float32((1-b.Momentum)*float64(rm[ch]) + b.Momentum*mu)
		rv[ch] = float32((1-b.Momentum)*float64(rv[ch]) + b.Momentum*unbiased)
		a := float64(g[ch]) * invStd[ch]
		for i := 0; i < n; i++ {
			off := (i*c + ch) * sp
			for j, v := range xs[off : off+sp] {
				ys[off+j] = float32(a*(float64(v)-mu) + float64(be[ch]))
			}
		}
	}
	return newTensor(ys, sh...), func(dy *tensor.Dense, _ bool) (*tensor.Dense, error) {
		ds, err := checkGrad(dy, "batchnorm", sh)
		if err != nil {
			return nil, err
		}
		dx := make([]float32, len(ds))
		dg, db := b.DGamma.Float32s(), b.DBeta.Float32s()
		for ch := 0; ch < c; ch++ {
			mu, is := mean[ch], invStd[ch]
			var sumDy, sumDyXhat float64
			for i := 0; i < n; i++ {
				off := (i*c + ch) * sp
				for j, gr := range ds[off : off+sp] {
					sumDy += float64(gr)
					sumDyXhat += float64(gr) * (float64(xs[off+j]) - mu) * is
				}
			}
			dg[ch] += float32(sumDyXhat)
			db[ch] += float32(sumDy)
			k := float64(g[ch]) * is / m
			for i := 0; i < n; i++ {
				off := (i*c + ch) * sp
				for j, gr := range ds[off : off+sp] {
					xhat := (float64(xs[off+j]) - mu) * is
					dx[off+j] = float32(k * (m*float64(gr) - sumDy - xhat*sumDyXhat))
				}
			}
		}
		return newTensor(dx, sh...), nil
	}, nil
}

// FoldInto folds the inference transform of b into prev, the Dense or
// Conv2D layer whose output b normalizes, so that prev alone computes
// b(prev(x)) at inference: each output channel o of the weight is scaled by
// a_o = Gamma_o/√(RunningVar_o+Eps) and the bias becomes a_o·(bias_o −
// RunningMean_o) + Beta_o. prev is modified in place.
func (b *BatchNorm) FoldInto(prev Layer) error {
	var w, bias []float32
	var out int
	switch l := prev.(type) {
	case *Dense:
		w, bias, out = l.W.Float32s(), l.B.Float32s(), l.Out
	case *Conv2D:
		w, bias, out = l.W.Float32s(), l.B.Float32s(), l.OutC
	default:
		return fmt.Errorf("batchnorm: cannot fold into %T, only into dense or conv2d", prev)
	}
	if out != b.Features {
		return fmt.Errorf("batchnorm: %d features but the preceding layer has %d outputs", b.Features, out)
	}
	a, c := b.scaleShift()
	per := len(w) / out
	for o := 0; o < out; o++ {
		for j := range w[o*per : (o+1)*per] {
			w[o*per+j] = float32(float64(w[o*per+j]) * a[o])
		}
		bias[o] = float32(a[o]*float64(bias[o]) + c[o])
	}
	return nil
}
