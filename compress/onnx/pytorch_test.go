package onnx

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/compressq/compressq/compress/nn"
	"gorgonia.org/tensor"
)

// The PyTorch fixtures (testdata/pytorch, made by gen.py there) are models
// nobody here wrote: a ResNet with residual Adds, BatchNormalization and a
// projection shortcut, and a MobileNet-style net with depthwise convs and
// ReLU6, each exported by torch.onnx.export with PyTorch's logits for a few
// test images and PyTorch's accuracy on the MNIST test set.

// torchModels are the fixtures' names.
var torchModels = []string{"resnet", "mobilenet"}

// torchReference is the part of a fixture's reference.json the tests read.
type torchReference struct {
	Parameters   int     `json:"parameters"`
	TestImages   int     `json:"test_images"`
	TestErrors   int     `json:"test_errors"`
	TestAccuracy float64 `json:"test_accuracy"`
}

func torchFixture(t testing.TB, name string) (*nn.Network, torchReference) {
	t.Helper()
	dir := filepath.Join("testdata", "pytorch")
	b, err := os.ReadFile(filepath.Join(dir, name+".onnx"))
	if err != nil {
		t.Fatal(err)
	}
	net, err := Import(b)
	if err != nil {
		t.Fatalf("import %s: %v", name, err)
	}
	var ref torchReference
	rb, err := os.ReadFile(filepath.Join(dir, name, "reference.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(rb, &ref); err != nil {
		t.Fatal(err)
	}
	return net, ref
}

// TestTorchLogits checks the imported fixtures against PyTorch's logits for
// the same inputs: |got − want| ≤ 1e-5 + 1e-4·|want|, and the parameter
// count (PyTorch's, which excludes BatchNorm's running statistics).
func TestTorchLogits(t *testing.T) {
	for _, name := range torchModels {
		t.Run(name, func(t *testing.T) {
			net, ref := torchFixture(t, name)
			trainable := 0
			for _, p := range net.Params() {
				if p.Grad != nil {
					trainable += p.Value.Len()
				}
			}
			// nn's conv2d always has a bias: PyTorch's count plus a zero
			// bias for each Conv the file gives none.
			b, err := os.ReadFile(filepath.Join("testdata", "pytorch", name+".onnx"))
			if err != nil {
				t.Fatal(err)
			}
			g, err := Decode(b, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			want := ref.Parameters
			for _, n := range g.Nodes {
				if n.OpType == "Conv" && (len(n.Inputs) < 3 || n.Inputs[2] == "") {
					want += g.Constants[n.Inputs[1]].Shape[0]
				}
			}
			if trainable != want {
				t.Errorf("%d trainable parameters, want %d (PyTorch counts %d)", trainable, want, ref.Parameters)
			}
			inputs, outputs := pytorchPairs(t, name)
			worst := 0.0
			for k, in := range inputs {
				want := outputs[k]
				y, err := net.Forward(tensor.New(tensor.WithShape(in.Shape...), tensor.WithBacking(in.Float)), false)
				if err != nil {
					t.Fatal(err)
				}
				got := y.Float32s()
				if len(got) != len(want.Float) {
					t.Fatalf("set %d: %d logits, PyTorch %d", k, len(got), len(want.Float))
				}
				for i, w := range want.Float {
					d := math.Abs(float64(got[i] - w))
					if d > 1e-5+1e-4*math.Abs(float64(w)) {
						t.Errorf("set %d: logit %d = %g, PyTorch %g", k, i, got[i], w)
					}
					worst = max(worst, d/(1e-5+math.Abs(float64(w))))
				}
			}
			t.Logf("%s: worst |Δ|/(1e-5+|want|) = %.2g", name, worst)
		})
	}
}

// TestTorchAccuracy evaluates the imported fixtures on the 10,000 MNIST test
// images, fed the pixels the exported models expect (pixels/255), and
// requires PyTorch's error count exactly.
func TestTorchAccuracy(t *testing.T) {
	if testing.Short() {
		t.Skip("evaluates the MNIST test set")
	}
	_, test := mnistUnitRange(t)
	for _, name := range torchModels {
		t.Run(name, func(t *testing.T) {
			net, ref := torchFixture(t, name)
			acc, _, err := nn.Evaluate(net, test)
			if err != nil {
				t.Fatal(err)
			}
			errs := int(math.Round((1 - acc) * float64(test.Len())))
			t.Logf("%s: accuracy %.4f (%d errors), PyTorch %.4f (%d errors)", name, acc, errs, ref.TestAccuracy, ref.TestErrors)
			if test.Len() != ref.TestImages || errs != ref.TestErrors {
				t.Errorf("%d errors on %d images, PyTorch %d on %d", errs, test.Len(), ref.TestErrors, ref.TestImages)
			}
		})
	}
}

// TestTorchFineTune fine-tunes the imported ResNet for one epoch on the MNIST
// training set (SGD, a small learning rate, BatchNorm in training mode;
// 12,000 images unless COMPRESSQ_LONG is set) and requires its test accuracy
// not to fall.
func TestTorchFineTune(t *testing.T) {
	if testing.Short() {
		t.Skip("trains an epoch on MNIST")
	}
	train, test := mnistUnitRange(t)
	net, _ := torchFixture(t, "resnet")
	before, _, err := nn.Evaluate(net, test)
	if err != nil {
		t.Fatal(err)
	}
	// A full epoch (938 batches) takes minutes; the suite trains on the
	// first 12,000 images unless COMPRESSQ_LONG is set.
	cfg := nn.TrainConfig{Epochs: 1, BatchSize: 64, LR: 0.002, Momentum: 0.9, Schedule: "cosine", Seed: 1}
	if os.Getenv("COMPRESSQ_LONG") == "" {
		cfg.MaxBatches = 12000 / cfg.BatchSize
	}
	if _, err := nn.Train(context.Background(), net, train, cfg, nil); err != nil {
		t.Fatal(err)
	}
	after, _, err := nn.Evaluate(net, test)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("resnet fine-tuned one epoch: accuracy %.4f → %.4f", before, after)
	if after < before {
		t.Errorf("accuracy fell from %.4f to %.4f", before, after)
	}
}
