package worker_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/compress/model"
	"github.com/compressq/compressq/compress/nn"
	mnistfiles "github.com/compressq/compressq/internal/mnist"
)

// TestPolicySweep runs a compression-policy search through the worker: a
// 784-128-10 network trained for one epoch on MNIST is the base model in
// the artifact store; four policies within a 40 kB budget (the float
// model stores 407 kB) are fine-tuned for an epoch of 4,000 images and
// keep most of its accuracy, each with the policy's size and its layers'
// sparsity in the measured MACs.
func TestPolicySweep(t *testing.T) {
	h, _, ctl, dataURI := trainedSweepWorker(t)
	ctx := context.Background()
	train, test, err := mnistfiles.Load(ctx, data.UnitRange())
	if err != nil {
		t.Fatal(err)
	}
	net, err := nn.Build(nn.Arch{Input: []int{1, 28, 28}, Layers: []nn.LayerSpec{{Type: nn.TypeFlatten}, {Type: nn.TypeDense, Units: 128},
		{Type: nn.TypeReLU}, {Type: nn.TypeDense, Units: 10}}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nn.Train(ctx, net, train, nn.TrainConfig{Epochs: 1, LR: 0.05, Seed: 1}, nil); err != nil {
		t.Fatal(err)
	}
	baseAcc, _, err := nn.EvaluateContext(ctx, net, test)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := model.Save(&buf, net); err != nil {
		t.Fatal(err)
	}
	modelURI, err := h.store.Put(ctx, &buf, ".safetensors")
	if err != nil {
		t.Fatal(err)
	}
	ctl.ReadArtifact = h.store.Get
	_, s := runTrainedSweep(t, ctl, `id: policy
strategy: random
max_trials: 4
epochs: 1
space:
  policy: {sparsity: {type: float, low: 0.5, high: 0.95}, weight_bits: {type: categorical, choices: [4, 8]}}
  constraints: {max_bytes: 40000}
evaluator: {type: train, data: "`+dataURI+`", model: "`+modelURI+`", batch_size: 64, lr: 0.01, epoch_images: 4000}
`, 3*time.Minute)
	if len(s.Progress.Records) != 4 {
		t.Fatalf("%d trials, want 4", len(s.Progress.Records))
	}
	t.Logf("base accuracy %.4f", baseAcc)
	for _, r := range s.Progress.Records {
		o := r.Objectives
		if o == nil {
			t.Fatalf("trial %s: %s %v", r.Trial.ID, r.Status, r.Errors)
		}
		t.Logf("trial %s: %+v %v", r.Trial.ID, *o, r.Trial.Candidate.Values)
		if o.Bytes != r.Trial.Candidate.Bytes || o.Bytes > 40000 || o.Params != net.NumParams() {
			t.Errorf("trial %s: bytes %d (candidate %d, max 40000), params %d (base %d)", r.Trial.ID, o.Bytes, r.Trial.Candidate.Bytes, o.Params, net.NumParams())
		}
		if o.Accuracy < baseAcc-0.08 {
			t.Errorf("trial %s: accuracy %.4f, base %.4f", r.Trial.ID, o.Accuracy, baseAcc)
		}
		// At least half of the big layer's weights are pruned.
		if o.MACs > 784*128/2+1280 {
			t.Errorf("trial %s: %d MACs, want at most %d", r.Trial.ID, o.MACs, 784*128/2+1280)
		}
	}
}
