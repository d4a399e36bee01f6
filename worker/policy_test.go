package worker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/compress/model"
	"github.com/compressq/compressq/compress/nas"
	"github.com/compressq/compressq/compress/nn"
	"github.com/compressq/compressq/compress/onnx"
	"github.com/compressq/compressq/compress/recipe"
	"github.com/compressq/compressq/compress/safetensors"
	mnistfiles "github.com/compressq/compressq/internal/mnist"
	"github.com/compressq/compressq/internal/taskmap"
	"github.com/compressq/compressq/tasks"
)

// TestPolicySweep runs a compression-policy search through the worker: a
// 784-128-10 network trained for one epoch on 10,000 MNIST images is the base model in
// the artifact store; four policies within a 40 kB budget (the float
// model stores 407 kB) are fine-tuned for an epoch of 4,000 images and
// keep most of its accuracy, each with its layers' sparsity in the
// measured MACs, and each trial's compressed model stored: the artifact
// scores what the trial reported, and its length is the trial's bytes.
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
	if _, err := nn.Train(ctx, net, train.Subset(10000), nn.TrainConfig{Epochs: 1, LR: 0.05, Seed: 1}, nil); err != nil {
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
		if o.Bytes > r.Trial.Candidate.Bytes || o.Bytes > 40000 || o.Params != net.NumParams() {
			t.Errorf("trial %s: bytes %d (estimate %d, max 40000), params %d (base %d)", r.Trial.ID, o.Bytes, r.Trial.Candidate.Bytes, o.Params, net.NumParams())
		}
		// The trial's compressed model is in the store: it is what was
		// measured.
		art, err := h.store.Get(ctx, o.Artifact)
		if err != nil || len(art) != o.Bytes {
			t.Fatalf("trial %s: artifact %q: %d bytes, %v; objectives say %d", r.Trial.ID, o.Artifact, len(art), err, o.Bytes)
		}
		m, err := model.Load(art, safetensors.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if acc, _, err := nn.EvaluateContext(ctx, m, test); err != nil || acc != o.Accuracy {
			t.Errorf("trial %s: the stored artifact scores %v (%v), the trial %v", r.Trial.ID, acc, err, o.Accuracy)
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

// TestPolicySearchResNet is the measured policy search (docs/sweeps.md):
// the PyTorch ResNet fixture (imported from ONNX, trained on MNIST) under
// a 22,000-byte budget (its int8 artifact is 35,390 bytes, 15,366 of them header, architecture and
// the tensors not searched), one fine-tuning epoch of 10,000 images per
// trial. It runs the uniform baselines (every layer at the smallest
// sparsity meeting the budget, 8 and 4 bits), then random and TPE
// searches of 20 trials each (TPE after 6 startup trials) under sweep
// seeds 1 and 2, seeded from a sensitivity analysis (its allocations are
// their first trials), and logs each one's best.
//
//	COMPRESSQ_POLICY_COMPARE=1 go test ./worker -run TestPolicySearchResNet -v -timeout 3h
func TestPolicySearchResNet(t *testing.T) {
	if os.Getenv("COMPRESSQ_POLICY_COMPARE") == "" {
		t.Skip("set COMPRESSQ_POLICY_COMPARE=1: runs about 80 fine-tuning trials")
	}
	const budget = 22000
	h, _, ctl, dataURI := trainedSweepWorker(t)
	ctl.ReadArtifact = h.store.Get
	ctx := context.Background()
	raw, err := os.ReadFile("../compress/onnx/testdata/pytorch/resnet.onnx")
	if err != nil {
		t.Fatal(err)
	}
	modelURI, err := h.store.Put(ctx, bytes.NewReader(raw), ".onnx")
	if err != nil {
		t.Fatal(err)
	}
	train, test, err := mnistfiles.Load(ctx, data.UnitRange())
	if err != nil {
		t.Fatal(err)
	}
	p := &tasks.SensitivityPayload{Model: modelURI, Split: recipe.SplitTrain, EvalSize: 5000}
	start := time.Now()
	rep, err := recipe.Sensitivity(ctx, taskmap.SensitivityOptions(p, raw, safetensors.Limits{}, &data.Splits{Train: train, Test: test}))
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(taskmap.SensitivityResult(p, rep))
	if err != nil {
		t.Fatal(err)
	}
	report, err := h.store.Put(ctx, bytes.NewReader(b), ".json")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("sensitivity: %d curves, baseline %.4f on 5,000 training images, %s", len(rep.Curves), rep.Baseline, time.Since(start).Round(time.Second))
	eval := `evaluator: {type: train, data: "` + dataURI + `", model: "` + modelURI + `", batch_size: 64, lr: 0.01, epoch_images: 10000}
concurrency: 2
epochs: 1
`
	run := func(id, rest string) {
		start := time.Now()
		spec, s := runTrainedSweep(t, ctl, "id: "+id+"\n"+eval+rest, 3*time.Hour)
		best, feasible := -1, 0
		for i, r := range s.Progress.Records {
			if r.Objectives == nil {
				continue
			}
			feasible++
			if best < 0 || r.Objectives.Accuracy > s.Progress.Records[best].Objectives.Accuracy {
				best = i
			}
		}
		if best < 0 {
			t.Fatalf("%s: no trial completed", id)
		}
		r := s.Progress.Records[best]
		t.Logf("%s: %d trials in %s; best %s: accuracy %.4f, %d bytes, %d MACs, int8 latency %.1f µs; %v",
			id, feasible, time.Since(start).Round(time.Second), r.Trial.ID, r.Objectives.Accuracy, r.Objectives.Bytes, r.Objectives.MACs,
			r.Objectives.LatencyInt8*1e6, r.Trial.Candidate.Values)
		seeds := len(spec.Config.Space.Policy.Seeds) // the first trials asked
		for _, r := range s.Progress.Records[:min(seeds, len(s.Progress.Records))] {
			if r.Objectives != nil {
				t.Logf("%s: seed %s accuracy %.4f, %d bytes", id, r.Trial.ID, r.Objectives.Accuracy, r.Objectives.Bytes)
			}
		}
	}
	// The uniform baselines: every layer at the smallest sparsity (in
	// steps of 0.01) whose policy meets the budget, at 8 and at 4 bits.
	net, err := onnx.Import(raw)
	if err != nil {
		t.Fatal(err)
	}
	for _, bits := range []float64{8, 4} {
		sp, err := nas.ParseSpace([]byte("policy: {}"))
		if err != nil {
			t.Fatal(err)
		}
		if sp, err = sp.ResolvePolicy(net); err != nil {
			t.Fatal(err)
		}
		met := false
		for s := 0.0; s < 1 && !met; s += 0.01 {
			v := nas.Values{}
			for _, l := range sp.Policy.Model {
				v[nas.PolicySparsityKey(l.Name)], v[nas.PolicyBitsKey(l.Name)] = s, bits
			}
			if b, _ := sp.Policy.Cost(sp.Policy.Assignment(v)); b > budget {
				continue
			}
			level := strconv.FormatFloat(math.Round(s*100)/100, 'f', 2, 64)
			run(fmt.Sprintf("uniform-%gbit", bits), "strategy: random\nmax_trials: 1\nspace: {policy: {sparsity: {type: categorical, choices: ["+level+
				"]}, weight_bits: {type: categorical, choices: ["+strconv.Itoa(int(bits))+"]}}, constraints: {max_bytes: "+strconv.Itoa(budget)+"}}\n")
			met = true
		}
		if !met {
			t.Logf("uniform %g-bit: no sparsity meets the budget", bits)
		}
	}
	for _, seed := range []string{"1", "2"} {
		seeded := "space: {policy: {sensitivity: \"" + report + "\"}, constraints: {max_bytes: " + strconv.Itoa(budget) + "}}\nmax_trials: 20\nseed: " + seed + "\n"
		run("random-seeded-"+seed, "strategy: random\n"+seeded)
		run("tpe-seeded-"+seed, "strategy: tpe\nstartup_trials: 6\n"+seeded)
	}
}
