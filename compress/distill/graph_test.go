package distill

import (
	"context"
	"os"
	"testing"

	"github.com/compressq/compressq/compress/nn"
	"github.com/compressq/compressq/compress/onnx"
)

// TestRunGraphs distills the imported PyTorch ResNet (a graph with residual
// Adds and BatchNorm, trained on pixels/255 like this package's MNIST) into
// a small residual student with a depthwise conv and a Concat, with a hint
// from the teacher's stem to the student's, and requires the student to
// learn (the teacher's accuracy is PyTorch's 98.28%).
func TestRunGraphs(t *testing.T) {
	if testing.Short() {
		t.Skip("trains on MNIST")
	}
	b, err := os.ReadFile("../onnx/testdata/pytorch/resnet.onnx")
	if err != nil {
		t.Fatal(err)
	}
	teacher, err := onnx.Import(b)
	if err != nil {
		t.Fatal(err)
	}
	student := build(t, nn.Arch{Input: []int{1, 28, 28}, Layers: []nn.LayerSpec{
		{Type: nn.TypeConv2D, Filters: 16, Kernel: 3, Pad: 1}, // 0: as the teacher's stem, for the hint
		{Type: nn.TypeReLU}, // 1
		{Type: nn.TypeConv2D, Filters: 16, Kernel: 3, Pad: 1, Groups: 16}, // 2: depthwise
		{Type: nn.TypeAdd, Inputs: []int{2, 1}},                           // 3: residual
		{Type: nn.TypeMaxPool2D, Kernel: 2},                               // 4
		{Type: nn.TypeConv2D, Filters: 8, Kernel: 1},                      // 5
		{Type: nn.TypeConcat, Inputs: []int{5, 4}},                        // 6
		{Type: nn.TypeMaxPool2D, Kernel: 2},                               // 7
		{Type: nn.TypeFlatten},                                            // 8
		{Type: nn.TypeDense, Units: 10},                                   // 9
	}}, 3)
	train, test := loadMNIST(t)
	train, test = train.Subset(6000), test.Subset(2000)
	res, err := Run(context.Background(), teacher, student, train, test, Options{Epochs: 2, LR: 0.05, Seed: 1,
		Hint: &Hint{TeacherLayer: 0, StudentLayer: 0, Epochs: 1, LR: 0.01}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("teacher %.4f, student %.4f after distillation, hint loss %.4f", res.TeacherAccuracy, res.StudentAccuracy, res.HintLoss)
	if res.TeacherAccuracy < 0.97 {
		t.Errorf("teacher accuracy %.4f on the subset, want ≥ 0.97 (PyTorch: 98.28%% on all 10,000)", res.TeacherAccuracy)
	}
	if res.StudentAccuracy < 0.9 {
		t.Errorf("student accuracy %.4f: it did not learn", res.StudentAccuracy)
	}
}
