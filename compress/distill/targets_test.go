package distill

import (
	"context"
	"slices"
	"testing"

	"github.com/compressq/compressq/compress/nn"
	"gorgonia.org/tensor"
)

// TestSoftTargetsExact checks that cached teacher logits equal, bit for bit,
// those of a teacher forward pass on shuffled batches of another size, for a
// conv and a dense teacher, and that a batch holding a sample from outside
// the cached set is answered by the fallback.
func TestSoftTargetsExact(t *testing.T) {
	train, test := loadMNIST(t)
	train, test = train.Subset(700), test.Subset(10)
	conv := nn.CNN(nn.CNNConfig{Input: []int{1, 28, 28}, Filters: []int{4, 8}, Kernel: 5, Hidden: []int{32}, Classes: 10})
	for _, arch := range []nn.Arch{conv, lenet300(t)} {
		t.Run(arch.Name, func(t *testing.T) {
			teacher := build(t, arch, 3)
			st, err := newSoftTargets(context.Background(), teacher, train, 256)
			if err != nil || st == nil {
				t.Fatalf("newSoftTargets: %v, %v", st, err)
			}
			forward := func(x *tensor.Dense) (*tensor.Dense, error) { return teacher.Forward(reshapeInput(teacher, x), false) }
			fallbacks := 0
			cached := st.lookup(func(x *tensor.Dense) (*tensor.Dense, error) { fallbacks++; return forward(x) })
			for x := range train.Batches(64, train.Perm(9)) {
				got, err := cached(x)
				if err != nil {
					t.Fatal(err)
				}
				want, err := forward(x)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got.Shape(), want.Shape()) || !slices.Equal(got.Float32s(), want.Float32s()) {
					t.Fatalf("cached logits differ from a forward pass")
				}
			}
			if fallbacks != 0 {
				t.Errorf("%d fallbacks on training batches, want 0", fallbacks)
			}
			x, _ := test.Batch([]int{0, 1})
			if _, err := cached(x); err != nil || fallbacks != 1 {
				t.Errorf("foreign batch: err %v, %d fallbacks, want 1", err, fallbacks)
			}
		})
	}
}

// TestRunCachedMatchesPerBatch checks that a multi-epoch Run, which caches
// the teacher's logits, leaves the student with the same weights, bit for
// bit, as nn.Train with a teacher forward pass per batch.
func TestRunCachedMatchesPerBatch(t *testing.T) {
	train, test := loadMNIST(t)
	train, test = train.Subset(1000), test.Subset(200)
	ctx := context.Background()
	teacher := build(t, nn.CNN(nn.CNNConfig{Input: []int{1, 28, 28}, Filters: []int{4}, Kernel: 5, Hidden: []int{32}, Classes: 10}), 5)
	sarch := nn.MLP([]int{1, 28, 28}, []int{16}, 10)
	opts := Options{Epochs: 2, LR: 0.05, Schedule: nn.ScheduleCosine, Seed: 4}
	if !revisits(train, opts.trainConfig()) {
		t.Fatal("two epochs do not revisit samples")
	}
	student := build(t, sarch, 6)
	if _, err := Run(ctx, teacher, student, train, test, opts); err != nil {
		t.Fatal(err)
	}
	ref := build(t, sarch, 6)
	cfg := opts.trainConfig()
	cfg.Loss = func(x, logits *tensor.Dense, labels []int) (float64, *tensor.Dense, error) {
		v, err := teacher.Forward(reshapeInput(teacher, x), false)
		if err != nil {
			return 0, nil, err
		}
		return Loss(logits, v, labels, DefaultT, DefaultAlpha)
	}
	if _, err := nn.Train(ctx, ref, train, cfg, nil); err != nil {
		t.Fatal(err)
	}
	for _, p := range ref.Params() {
		q, _ := student.Param(p.Name)
		if !slices.Equal(p.Value.Float32s(), q.Value.Float32s()) {
			t.Errorf("parameter %s differs between cached and per-batch teacher logits", p.Name)
		}
	}
}
