package nn

import (
	"fmt"
	"math"

	"github.com/compressq/compressq/compress/kernels"

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
		inf := float32(math.Inf(1))
		for i := 0; i < n; i++ {
			for ch := 0; ch < c; ch++ {
				off := (i*c + ch) * sp
				kernels.ScaleBiasClamp(ys[off:off+sp], xs[off:off+sp], float32(a[ch]), float32(sh2[ch]), -inf, inf)
			}
		}
		return newTensor(ys, sh...), nil, nil
	}
	m := float64(n * sp)
	mean, invStd := make([]float64, c), make([]float64, c)
	rm, rv := b.RunningMean.Float32s(), b.RunningVar.Float32s()
	g, be := b.Gamma.Float32s(), b.Beta.Float32s()
	inf := float32(math.Inf(1))
	// Channels are independent: each is one chunk, its sums taken plane by
	// plane in float32 and across planes in float64, in a fixed order.
	forChunks(c, 1, func(_, ch, _, _ int) {
		var s float64
		for i := 0; i < n; i++ {
			s += float64(kernels.Sum(xs[(i*c+ch)*sp : (i*c+ch+1)*sp]))
		}
		mu := s / m
		mu32 := float32(mu)
		var ss float64
		for i := 0; i < n; i++ {
			ss += float64(kernels.SumSqDiff(xs[(i*c+ch)*sp:(i*c+ch+1)*sp], mu32))
		}
		// ss is taken about mu32; Σ(x−μ)² = Σ(x−μ32)² − m·(μ−μ32)².
		d := mu - float64(mu32)
		v := max(0, ss/m-d*d)
		mean[ch], invStd[ch] = mu, 1/math.Sqrt(v+b.Eps)
		unbiased := v
		if m > 1 {
			unbiased = v * m / (m - 1)
		}
		rm[ch] = float32((1-b.Momentum)*float64(rm[ch]) + b.Momentum*mu)
		rv[ch] = float32((1-b.Momentum)*float64(rv[ch]) + b.Momentum*unbiased)
		a := float64(g[ch]) * invStd[ch]
		scale, shift := float32(a), float32(float64(be[ch])-a*mu)
		for i := 0; i < n; i++ {
			off := (i*c + ch) * sp
			kernels.ScaleBiasClamp(ys[off:off+sp], xs[off:off+sp], scale, shift, -inf, inf)
		}
	})
	return newTensor(ys, sh...), func(dy *tensor.Dense, _ bool) (*tensor.Dense, error) {
		ds, err := checkGrad(dy, "batchnorm", sh)
		if err != nil {
			return nil, err
		}
		dx := make([]float32, len(ds))
		dg, db := b.DGamma.Float32s(), b.DBeta.Float32s()
		forChunks(c, 1, func(_, ch, _, _ int) {
			mu, is := mean[ch], invStd[ch]
			mu32 := float32(mu)
			var sumDy, sumDyDev float64
			for i := 0; i < n; i++ {
				off := (i*c + ch) * sp
				sumDy += float64(kernels.Sum(ds[off : off+sp]))
				sumDyDev += float64(kernels.DotDiff(xs[off:off+sp], ds[off:off+sp], mu32))
			}
			// sumDyDev is about mu32: Σ dy·(x−μ) = Σ dy·(x−μ32) − (μ−μ32)·Σ dy.
			sumDyXhat := (sumDyDev - (mu-float64(mu32))*sumDy) * is
			dg[ch] += float32(sumDyXhat)
			db[ch] += float32(sumDy)
			// dx = k·(m·dy − Σdy − x̂·Σdy·x̂), k = γ·σ⁻¹/m, x̂ = (x−μ)·σ⁻¹.
			k := float64(g[ch]) * is / m
			a, bb, cc := float32(k*m), float32(-k*sumDyXhat*is), float32(-k*sumDy)
			for i := 0; i < n; i++ {
				off := (i*c + ch) * sp
				kernels.AffineDiff(dx[off:off+sp], ds[off:off+sp], xs[off:off+sp], a, bb, mu32, cc)
			}
		})
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
	return b.fold(w, bias, w, bias)
}

// fold writes into dw and db the weights and bias w, bias of a preceding
// Dense or Conv2D layer (one row of w per feature) with b folded in: row o
// scaled by γ/√(var+ε), the bias mapped through the same affine map. dw and
// db may be w and bias.
func (b *BatchNorm) fold(w, bias, dw, db []float32) error {
	out := len(bias)
	if out != b.Features || len(w)%out != 0 || len(dw) != len(w) || len(db) != out {
		return fmt.Errorf("batchnorm: %d features cannot fold into %d outputs with %d weights", b.Features, out, len(w))
	}
	a, c := b.scaleShift()
	per := len(w) / out
	for o := 0; o < out; o++ {
		for j, v := range w[o*per : (o+1)*per] {
			dw[o*per+j] = float32(float64(v) * a[o])
		}
		db[o] = float32(a[o]*float64(bias[o]) + c[o])
	}
	return nil
}
