package distill

import (
	"fmt"
	"math"
	"slices"

	"github.com/compressq/compressq/compress/nn"
	"gorgonia.org/tensor"
)

// Loss returns the Hinton distillation loss of student logits [N, K] against
// teacher logits [N, K] and integer labels, and its gradient with respect to
// the student logits:
//
//	L = alpha · T² · KL(softmax(teacher/T) ‖ softmax(student/T))
//	    + (1−alpha) · CE(softmax(student), labels),
//
// both terms averaged over the N rows. T must be > 0 and alpha in [0, 1].
// Sums are done in float64 after subtracting each row's maximum.
func Loss(student, teacher *tensor.Dense, labels []int, T, alpha float64) (loss float64, grad *tensor.Dense, err error) {
	if !(T > 0) || math.IsInf(T, 0) {
		return 0, nil, fmt.Errorf("distill loss: temperature %g, want finite and > 0", T)
	}
	if !(alpha >= 0 && alpha <= 1) {
		return 0, nil, fmt.Errorf("distill loss: alpha %g, want in [0, 1]", alpha)
	}
	ss, err := floats(student, "student logits")
	if err != nil {
		return 0, nil, err
	}
	ts, err := floats(teacher, "teacher logits")
	if err != nil {
		return 0, nil, err
	}
	if !slices.Equal(student.Shape(), teacher.Shape()) || len(student.Shape()) != 2 {
		return 0, nil, fmt.Errorf("distill loss: student logits %v and teacher logits %v, want equal [N K] shapes",
			[]int(student.Shape()), []int(teacher.Shape()))
	}
	hard, hg, err := nn.SoftmaxCrossEntropy(student, labels)
	if err != nil {
		return 0, nil, fmt.Errorf("distill loss: %w", err)
	}
	n, k := student.Shape()[0], student.Shape()[1]
	g := make([]float32, n*k)
	hgs := hg.Float32s()
	q := make([]float64, k) // student soft probabilities
	p := make([]float64, k) // teacher soft probabilities
	var soft float64
	for i := range n {
		lq := softmaxT(ss[i*k:(i+1)*k], T, q)
		lp := softmaxT(ts[i*k:(i+1)*k], T, p)
		for j := range k {
			if p[j] > 0 {
				// p·(log p − log q), with log p = v/T − lse_p.
				logp := float64(ts[i*k+j])/T - lp
				logq := float64(ss[i*k+j])/T - lq
				soft += p[j] * (logp - logq)
			}
			g[i*k+j] = float32(alpha*T*(q[j]-p[j])/float64(n) + (1-alpha)*float64(hgs[i*k+j]))
		}
	}
	soft /= float64(n)
	return alpha*T*T*soft + (1-alpha)*hard, tensor.New(tensor.WithShape(n, k), tensor.WithBacking(g)), nil
}

// softmaxT writes softmax(row/T) into out and returns log Σ exp(row/T).
func softmaxT(row []float32, T float64, out []float64) float64 {
	m := math.Inf(-1)
	for _, v := range row {
		m = max(m, float64(v)/T)
	}
	var s float64
	for j, v := range row {
		out[j] = math.Exp(float64(v)/T - m)
		s += out[j]
	}
	for j := range out {
		out[j] /= s
	}
	return m + math.Log(s)
}

// HintLoss returns the feature (hint) loss between a student layer output
// and a teacher layer output of the same shape [N, ...] holding M values in
// all:
//
//	L = (1/M) · Σ ½ (student − teacher)²,
//
// and its gradient (student − teacher)/M with respect to the student output.
// Averaging over every value, not only over the batch, keeps the gradient's
// scale independent of the layer's size.
func HintLoss(student, teacher *tensor.Dense) (loss float64, grad *tensor.Dense, err error) {
	ss, err := floats(student, "student features")
	if err != nil {
		return 0, nil, err
	}
	ts, err := floats(teacher, "teacher features")
	if err != nil {
		return 0, nil, err
	}
	if !slices.Equal(student.Shape(), teacher.Shape()) || len(student.Shape()) < 2 {
		return 0, nil, fmt.Errorf("hint loss: student output %v and teacher output %v, want equal [N ...] shapes",
			[]int(student.Shape()), []int(teacher.Shape()))
	}
	n := float64(len(ss))
	g := make([]float32, len(ss))
	for i, s := range ss {
		d := float64(s) - float64(ts[i])
		loss += 0.5 * d * d
		g[i] = float32(d / n)
	}
	return loss / n, tensor.New(tensor.WithShape(student.Shape().Clone()...), tensor.WithBacking(g)), nil
}

func floats(t *tensor.Dense, what string) ([]float32, error) {
	if t == nil {
		return nil, fmt.Errorf("%s: nil tensor", what)
	}
	s, ok := t.Data().([]float32)
	if !ok {
		return nil, fmt.Errorf("%s: dtype %v, want float32", what, t.Dtype())
	}
	return s, nil
}
