package ptq

import (
	"context"
	"testing"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/compress/model"
	"github.com/compressq/compressq/compress/nn"
	"github.com/compressq/compressq/compress/packed"
	"github.com/compressq/compressq/compress/quant"
	"github.com/compressq/compressq/compress/safetensors"
	"github.com/compressq/compressq/internal/mnist"
)

// TestRunLeNet300100 trains LeNet-300-100 for one epoch on 10,000 training
// images (seed 1), then runs the recipe on the 10,000 test images: int8 PTQ
// (MSE calibration on 1,000 images), one QAT epoch capped at 50 batches,
// and 4-bit k-means with one fine-tuning epoch and Huffman coding.
// Tolerances: integer within 0.1 pt of fake-quant, int8 within 0.3 pt of
// float32, k-means within 0.5 pt (the 0.3 pt target is for a fully trained
// model, see the long test), and the artifact must read back.
func TestRunLeNet300100(t *testing.T) {
	if testing.Short() {
		t.Skip("loads MNIST and trains")
	}
	train, test, err := mnist.Load(context.Background(), data.UnitRange())
	if err != nil {
		t.Skipf("MNIST not available: %v", err)
	}
	a, _ := nn.ArchByName("lenet-300-100")
	net, err := nn.Build(a, 1)
	if err != nil {
		t.Fatal(err)
	}
	sub := train.Subset(10000)
	if _, err := nn.Train(context.Background(), net, sub, nn.TrainConfig{Epochs: 1, LR: 0.05, Schedule: nn.ScheduleCosine, Seed: 1}, nil); err != nil {
		t.Fatal(err)
	}
	norm := data.UnitRange()
	res, err := Run(context.Background(), net, sub, test, RunOptions{Calibration: quant.CalibMSE, InputNorm: &norm,
		QATEpochs: 1, QATMaxBatches: 50, KMeansBits: 4, KMeansEpochs: 1, Huffman: true, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("fp32 %.4f fake %.4f int8 %.4f kmeans4 %.4f; bytes fp32 %d artifact %d; eval time fp32 %v int8 %v",
		res.AccuracyFP32, res.AccuracyFake, res.AccuracyInt8, res.AccuracyShared, res.BytesFP32, res.BytesAfter, res.LatencyFP32, res.LatencyInt8)
	if d := res.AccuracyInt8 - res.AccuracyFake; d > 0.001 || d < -0.001 {
		t.Errorf("integer %.4f vs fake-quant %.4f", res.AccuracyInt8, res.AccuracyFake)
	}
	if res.AccuracyInt8 < res.AccuracyFP32-0.003 {
		t.Errorf("int8 %.4f more than 0.3 pt below float32 %.4f", res.AccuracyInt8, res.AccuracyFP32)
	}
	if res.AccuracyShared < res.AccuracyFP32-0.005 {
		t.Errorf("k-means 4-bit %.4f more than 0.5 pt below float32 %.4f", res.AccuracyShared, res.AccuracyFP32)
	}
	rep, err := packed.ReportSize(res.Artifact, safetensors.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", rep)
	back, err := model.Load(res.Artifact, safetensors.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	acc, _, err := nn.Evaluate(back, test)
	if err != nil {
		t.Fatal(err)
	}
	if acc != res.AccuracyShared {
		t.Errorf("reloaded artifact accuracy %.4f, want %.4f", acc, res.AccuracyShared)
	}
}
