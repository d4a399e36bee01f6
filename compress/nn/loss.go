package nn

import (
	"fmt"
	"math"

	"gorgonia.org/tensor"
)

// SoftmaxCrossEntropy returns the mean cross-entropy of softmax(logits)
// against integer labels, and its gradient with respect to the logits,
// (softmax − onehot)/N. logits has shape [N, K]; every label must be in
// [0, K). It subtracts each row's maximum before exponentiating and sums in
// float64, so large logits neither overflow nor lose the loss.
func SoftmaxCrossEntropy(logits *tensor.Dense, labels []int) (loss float64, grad *tensor.Dense, err error) {
	return crossEntropy(logits, labels, true)
}

// crossEntropy computes the mean loss and, if withGrad, its gradient.
func crossEntropy(logits *tensor.Dense, labels []int, withGrad bool) (float64, *tensor.Dense, error) {
	ls, n, k, err := logitsData(logits)
	if err != nil {
		return 0, nil, err
	}
	if len(labels) != n {
		return 0, nil, fmt.Errorf("softmax cross-entropy: %d labels for %d rows", len(labels), n)
	}
	var g []float32
	if withGrad {
		g = make([]float32, n*k)
	}
	var loss float64
	for i := 0; i < n; i++ {
		y := labels[i]
		if y < 0 || y >= k {
			return 0, nil, fmt.Errorf("softmax cross-entropy: label %d of row %d outside [0, %d)", y, i, k)
		}
		row := ls[i*k : (i+1)*k]
		lse := logSumExp(row)
		loss += lse - float64(row[y])
		if !withGrad {
			continue
		}
		gr := g[i*k : (i+1)*k]
		for j, v := range row {
			gr[j] = float32(math.Exp(float64(v)-lse) / float64(n))
		}
		gr[y] -= float32(1 / float64(n))
	}
	if !withGrad {
		return loss / float64(n), nil, nil
	}
	return loss / float64(n), newTensor(g, n, k), nil
}

// Softmax returns the row-wise softmax of logits [N, K] as a new tensor.
func Softmax(logits *tensor.Dense) (*tensor.Dense, error) {
	ls, n, k, err := logitsData(logits)
	if err != nil {
		return nil, err
	}
	out := make([]float32, n*k)
	for i := 0; i < n; i++ {
		row := ls[i*k : (i+1)*k]
		lse := logSumExp(row)
		for j, v := range row {
			out[i*k+j] = float32(math.Exp(float64(v) - lse))
		}
	}
	return newTensor(out, n, k), nil
}

// Argmax returns the index of the largest logit of each row of logits
// [N, K] (the first on ties).
func Argmax(logits *tensor.Dense) ([]int, error) {
	ls, n, k, err := logitsData(logits)
	if err != nil {
		return nil, err
	}
	out := make([]int, n)
	for i := 0; i < n; i++ {
		row := ls[i*k : (i+1)*k]
		best := 0
		for j, v := range row {
			if v > row[best] {
				best = j
			}
		}
		out[i] = best
	}
	return out, nil
}

func logitsData(logits *tensor.Dense) ([]float32, int, int, error) {
	ls, err := f32(logits, "logits")
	if err != nil {
		return nil, 0, 0, err
	}
	sh := logits.Shape()
	if len(sh) != 2 || sh[1] == 0 {
		return nil, 0, 0, fmt.Errorf("logits: shape %v, want [N K] with K > 0", []int(sh))
	}
	return ls, sh[0], sh[1], nil
}

// logSumExp returns log Σ exp(row) computed stably in float64.
func logSumExp(row []float32) float64 {
	m := math.Inf(-1)
	for _, v := range row {
		m = math.Max(m, float64(v))
	}
	var s float64
	for _, v := range row {
		s += math.Exp(float64(v) - m)
	}
	return m + math.Log(s)
}
