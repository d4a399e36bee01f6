package prune

import (
	"errors"

	"github.com/compressq/compressq/compress/nn"
	"github.com/compressq/compressq/compress/sparse"
)

// Formats picks a storage and kernel format for every prunable weight of
// net from a measured break-even table: sparse.FormatDense, FormatCSR, or
// FormatNM24 when the weight, viewed as [out, in·kh·kw], is 2:4. BSR is not
// offered: magnitude pruning does not leave whole blocks zero. dtype is
// sparse.DtypeF32 or sparse.DtypeInt8 and batch the inference batch size.
func Formats(net *nn.Network, t *sparse.BreakEven, dtype string, batch int) map[string]string {
	out := map[string]string{}
	st := Count(net)
	for _, name := range Weights(net) {
		p, _ := net.Param(name)
		sh := p.Value.Shape()
		cands := []string{sparse.FormatCSR}
		if _, err := sparse.FromDenseNM24(p.Value.Float32s(), sh[0], p.Value.Len()/sh[0], p.Value.Len()/sh[0]); err == nil || !errors.Is(err, sparse.ErrNot24) {
			cands = append(cands, sparse.FormatNM24)
		}
		out[name] = t.Choose(dtype, batch, st.PerLayer[name], cands...)
	}
	return out
}
