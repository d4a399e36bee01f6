package distill

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"math"
	"slices"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/compress/nn"
	"gorgonia.org/tensor"
)

// maxCachedLogits caps the teacher logits Run keeps for a training set
// (N·K float32 values, 64 MiB); larger sets fall back to a teacher forward
// pass per batch.
const maxCachedLogits = 1 << 24

// softTargets holds a teacher's inference logits for every sample of a data
// set. nn.Train hands the loss function a batch, not its sample indices, so
// a batch's rows are found by the samples' contents: a hash of each sample's
// values indexes its first occurrence in the set, and the values are
// compared before the row is used.
type softTargets struct {
	set    *data.Dataset
	logits []float32 // [N, K] row-major
	k      int
	seed   maphash.Seed
	rows   map[uint64]int // sample hash → index of its first occurrence
	buf    []byte         // scratch for hashing; the loss function runs serially
}

// revisits reports whether training with cfg presents some samples of train
// more than once, so that caching the teacher's logits saves forward passes.
func revisits(train *data.Dataset, cfg nn.TrainConfig) bool {
	perEpoch := train.Len()
	if cfg.MaxBatches > 0 {
		perEpoch = min(perEpoch, cfg.MaxBatches*batchSize(cfg))
	}
	return max(cfg.Epochs, 1)*perEpoch > train.Len()
}

// batchSize is nn.Train's batch size for cfg.
func batchSize(cfg nn.TrainConfig) int {
	if cfg.BatchSize == 0 {
		return 64
	}
	return cfg.BatchSize
}

// newSoftTargets runs teacher in inference mode over set in batches of bs
// and indexes the logits by sample. It returns nil, nil when the logits
// would exceed maxCachedLogits.
func newSoftTargets(ctx context.Context, teacher *nn.Network, set *data.Dataset, bs int) (*softTargets, error) {
	k := 1
	for _, d := range teacher.OutputShape() {
		k *= d
	}
	if set.Len()*k > maxCachedLogits {
		return nil, nil
	}
	st := &softTargets{set: set, logits: make([]float32, 0, set.Len()*k), k: k,
		seed: maphash.MakeSeed(), rows: make(map[uint64]int, set.Len())}
	for x := range set.Batches(bs, nil) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		v, err := teacher.Forward(reshapeInput(teacher, x), false)
		if err != nil {
			return nil, fmt.Errorf("distill: teacher: %w", err)
		}
		st.logits = append(st.logits, v.Float32s()...)
	}
	sz := set.C * set.H * set.W
	for i := range set.Len() {
		h := st.hash(set.Images[i*sz : (i+1)*sz])
		if _, dup := st.rows[h]; !dup {
			st.rows[h] = i
		}
	}
	return st, nil
}

// hash returns the hash of a sample's values.
func (st *softTargets) hash(sample []float32) uint64 {
	st.buf = st.buf[:0]
	for _, v := range sample {
		st.buf = binary.LittleEndian.AppendUint32(st.buf, math.Float32bits(v))
	}
	return maphash.Bytes(st.seed, st.buf)
}

// lookup returns a teacher forward function that answers a batch [N, C, H,
// W] of the cached set's samples with their cached logits [N, K], and calls
// fallback for a batch holding any other sample.
func (st *softTargets) lookup(fallback func(*tensor.Dense) (*tensor.Dense, error)) func(*tensor.Dense) (*tensor.Dense, error) {
	sz := st.set.C * st.set.H * st.set.W
	return func(x *tensor.Dense) (*tensor.Dense, error) {
		xs, ok := x.Data().([]float32)
		if !ok || len(xs)%sz != 0 {
			return fallback(x)
		}
		n := len(xs) / sz
		out := make([]float32, n*st.k)
		for i := range n {
			sample := xs[i*sz : (i+1)*sz]
			j, ok := st.rows[st.hash(sample)]
			if !ok || !slices.Equal(sample, st.set.Images[j*sz:(j+1)*sz]) {
				return fallback(x)
			}
			copy(out[i*st.k:(i+1)*st.k], st.logits[j*st.k:(j+1)*st.k])
		}
		return tensor.New(tensor.WithShape(n, st.k), tensor.WithBacking(out)), nil
	}
}
