package packed

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/compressq/compressq/compress/quant"
	"github.com/compressq/compressq/compress/safetensors"
)

func TestQuantizeWeightsNaNNamesTensor(t *testing.T) {
	w := []float32{1, 2, 3, float32(math.NaN())}
	ts := []safetensors.Tensor{safetensors.F32Tensor("layers.0.weight", []int{2, 2}, w)}
	_, err := QuantizeWeights(ts, "", quant.Params{Bits: 8}, nil)
	if err == nil || !strings.Contains(err.Error(), `tensor "layers.0.weight": quant: index 3 ([1 1])`) || !errors.Is(err, quant.ErrNonFinite) {
		t.Fatalf("err = %v", err)
	}
}
