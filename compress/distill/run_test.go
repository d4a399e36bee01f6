package distill

import (
	"context"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/compress/nn"
	mnistfiles "github.com/compressq/compressq/internal/mnist"
)

var mnist = sync.OnceValues(func() ([2]*data.Dataset, error) {
	train, test, err := mnistfiles.Load(context.Background(), data.UnitRange())
	return [2]*data.Dataset{train, test}, err
})

func loadMNIST(tb testing.TB) (train, test *data.Dataset) {
	tb.Helper()
	sets, err := mnist()
	if err != nil {
		tb.Fatal(err)
	}
	return sets[0], sets[1]
}

func build(tb testing.TB, a nn.Arch, seed int64) *nn.Network {
	tb.Helper()
	net, err := nn.Build(a, seed)
	if err != nil {
		tb.Fatal(err)
	}
	return net
}

func lenet300(tb testing.TB) nn.Arch {
	tb.Helper()
	a, err := nn.ArchByName("lenet-300-100")
	if err != nil {
		tb.Fatal(err)
	}
	return a
}

// TestRunSmall distils a LeNet-300-100 teacher trained on 6,000 MNIST
// images into a 784-32-10 student and checks the result's bookkeeping:
// accuracies consistent with error counts, the curve's length, the teacher
// untouched, and the student above chance (≥ 80% on 2,000 test images; it
// reaches about 86%).
func TestRunSmall(t *testing.T) {
	train, test := loadMNIST(t)
	train, test = train.Subset(6000), test.Subset(2000)
	ctx := context.Background()
	teacher := build(t, lenet300(t), 1)
	if _, err := nn.Train(ctx, teacher, train, nn.TrainConfig{Epochs: 2, LR: 0.05, Seed: 1}, nil); err != nil {
		t.Fatal(err)
	}
	before, _, err := nn.Evaluate(teacher, test)
	if err != nil {
		t.Fatal(err)
	}
	student := build(t, nn.MLP([]int{1, 28, 28}, []int{32}, 10), 1)
	res, err := Run(ctx, teacher, student, train, test, Options{Epochs: 2, LR: 0.05, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", res)
	if res.TeacherAccuracy != before {
		t.Errorf("teacher accuracy changed: %v → %v", before, res.TeacherAccuracy)
	}
	if len(res.Curve) != 2 || res.Curve[1].TestAccuracy != res.StudentAccuracy {
		t.Errorf("curve %+v does not end at student accuracy %v", res.Curve, res.StudentAccuracy)
	}
	if got := test.Len() - res.Errors; float64(got) != res.StudentAccuracy*float64(test.Len()) {
		t.Errorf("errors %d inconsistent with accuracy %v", res.Errors, res.StudentAccuracy)
	}
	if res.StudentAccuracy < 0.80 {
		t.Errorf("student accuracy %v < 0.80", res.StudentAccuracy)
	}
}

// TestRunHint runs the hint stage on a conv student whose first conv output
// matches the teacher's in shape, and requires the hint loss after training
// to fall below half its value at initialisation. The teacher is untrained
// (only the mechanics are tested), so the student's accuracy is not checked.
func TestRunHint(t *testing.T) {
	train, test := loadMNIST(t)
	train, test = train.Subset(2000), test.Subset(500)
	ctx := context.Background()
	arch := nn.CNN(nn.CNNConfig{Input: []int{1, 28, 28}, Filters: []int{4}, Kernel: 3, Hidden: []int{16}, Classes: 10})
	teacher := build(t, arch, 7)
	student := build(t, arch, 8)
	h := &Hint{TeacherLayer: 0, StudentLayer: 0, Epochs: 2, LR: 0.01}
	// The hint loss of the untrained student, measured with the same
	// machinery with a negligible learning rate over one epoch.
	init, err := hintStage(ctx, teacher, student.Clone(), train, Options{LR: 1e-30, Hint: &Hint{Epochs: 1}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(ctx, teacher, student, train, test, Options{Epochs: 1, LR: 0.05, Seed: 2, Hint: h})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("hint loss at init %.4f, after hint stage %.4f; student accuracy %.3f", init, res.HintLoss, res.StudentAccuracy)
	if !(res.HintLoss < init/2) {
		t.Errorf("hint loss %v not below half its initial value %v", res.HintLoss, init)
	}
	bad := &Hint{TeacherLayer: 0, StudentLayer: 2}
	if _, err := Run(ctx, teacher, build(t, arch, 9), train, test, Options{Hint: bad}); err == nil {
		t.Error("mismatched hint shapes: no error")
	}
}

// TestRunCancel checks that a cancelled context stops Run with its error.
func TestRunCancel(t *testing.T) {
	train, test := loadMNIST(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Run(ctx, build(t, lenet300(t), 1), build(t, nn.MLP([]int{1, 28, 28}, []int{8}, 10), 1),
		train.Subset(500), test.Subset(100), Options{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
}

// TestOptionsValidate checks that every bad field is named.
func TestOptionsValidate(t *testing.T) {
	err := Options{T: -1, Alpha: 2, Epochs: -1, Hint: &Hint{TeacherLayer: -1, Epochs: -2}}.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"T:", "Alpha:", "Hint:", "Hint.Epochs:", "Epochs:"} {
		if !contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

// acceptance is the configuration of the long distillation comparison:
// one teacher, and per student architecture its learning rate, shared by
// the alone and distilled arms.
var acceptance = struct {
	teacherSeed                  int64
	teacherEpochs, studentEpochs int
	teacherLR, teacherWD         float64
	T, alpha                     float64
	seeds                        []int64
	students                     []acceptanceStudent
}{teacherSeed: 1, teacherEpochs: 8, studentEpochs: 3, teacherLR: 0.05, teacherWD: 5e-4, T: 4, alpha: 0.9,
	seeds: []int64{1, 2, 3},
	students: []acceptanceStudent{
		{name: "784-64-10", arch: nn.MLP([]int{1, 28, 28}, []int{64}, 10), lr: 0.05},
		{name: "narrow lenet", arch: narrowLeNet(), lr: 0.01},
	}}

// acceptanceStudent is a student architecture of the long comparison and
// the learning rate both of its arms train at.
type acceptanceStudent struct {
	name string
	arch nn.Arch
	lr   float64
}

// narrowLeNet is LeNet-5 with 6 and 16 conv filters and a 64-unit dense
// layer: 19,670 parameters, 1/22 of LeNet-5's 431,080.
func narrowLeNet() nn.Arch {
	return nn.Arch{Name: "narrow-lenet", Input: []int{1, 28, 28}, Layers: []nn.LayerSpec{
		{Type: nn.TypeConv2D, Filters: 6, Kernel: 5},
		{Type: nn.TypeMaxPool2D, Kernel: 2},
		{Type: nn.TypeConv2D, Filters: 16, Kernel: 5},
		{Type: nn.TypeMaxPool2D, Kernel: 2},
		{Type: nn.TypeFlatten},
		{Type: nn.TypeDense, Units: 64},
		{Type: nn.TypeReLU},
		{Type: nn.TypeDense, Units: 10},
	}}
}

// TestDistillAcceptance trains one LeNet-5 teacher (seed 1, 8 epochs of SGD
// at learning rate 0.05, weight decay 5e-4, cosine schedule; it must reach
// 99.0%) and reuses it for every student and seed. For each student
// architecture (a 784-64-10 MLP at learning rate 0.05 and a narrow LeNet at
// 0.01) and each seed it trains the same student twice from the same
// initial weights and with the same batch order — alone, and distilled from
// the teacher at T = 4, α = 0.9 — for the same 3 epochs with a cosine
// schedule, and requires strictly fewer test errors from the distilled
// student every time.
//
// The narrow LeNet trains at 0.01 because distilling it at 0.05 or 0.02
// diverges (NaN loss on some seeds): early in training the soft term's
// gradient, α·T·(q−p), is up to 3.6 times the hard term's. Alone at 0.05 it
// makes about as few errors as distilled at 0.01.
//
// It takes minutes, so it runs only with COMPRESSQ_LONG=1:
//
//	COMPRESSQ_LONG=1 go test ./compress/distill -run TestDistillAcceptance -v -timeout 1h
func TestDistillAcceptance(t *testing.T) {
	if os.Getenv("COMPRESSQ_LONG") != "1" {
		t.Skip("set COMPRESSQ_LONG=1 to run the full MNIST distillation comparison")
	}
	train, test := loadMNIST(t)
	ctx := context.Background()
	a := acceptance
	tarch, err := nn.ArchByName("lenet-5")
	if err != nil {
		t.Fatal(err)
	}
	teacher := build(t, tarch, a.teacherSeed)
	tcfg := nn.TrainConfig{Epochs: a.teacherEpochs, LR: a.teacherLR, WeightDecay: a.teacherWD,
		Schedule: nn.ScheduleCosine, Seed: a.teacherSeed}
	start := time.Now()
	if _, err := nn.Train(ctx, teacher, train, tcfg, nil); err != nil {
		t.Fatal(err)
	}
	tacc, _, err := nn.Evaluate(teacher, test)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("teacher lenet-5: %.2f%% (%d errors) after %d epochs in %v",
		100*tacc, errorsOf(tacc, test.Len()), a.teacherEpochs, time.Since(start).Round(time.Second))
	if tacc < 0.99 {
		t.Fatalf("teacher accuracy %.4f < 0.99: not a LeNet-5-grade teacher", tacc)
	}
	for _, s := range a.students {
		for _, seed := range a.seeds {
			start := time.Now()
			alone := build(t, s.arch, seed+100)
			scfg := nn.TrainConfig{Epochs: a.studentEpochs, LR: s.lr, Schedule: nn.ScheduleCosine, Seed: seed}
			if _, err := nn.Train(ctx, alone, train, scfg, nil); err != nil {
				t.Fatal(err)
			}
			aloneAcc, _, err := nn.Evaluate(alone, test)
			if err != nil {
				t.Fatal(err)
			}
			aloneErrs := errorsOf(aloneAcc, test.Len())
			res, err := Run(ctx, teacher, build(t, s.arch, seed+100), train, test, Options{
				T: a.T, Alpha: a.alpha, Epochs: a.studentEpochs, LR: s.lr, Schedule: nn.ScheduleCosine, Seed: seed})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s seed %d: teacher %d errors; student alone %d errors; distilled %d errors (%v)",
				s.name, seed, res.TeacherErrors, aloneErrs, res.Errors, time.Since(start).Round(time.Second))
			if res.Errors >= aloneErrs {
				t.Errorf("%s seed %d: distilled student %d errors, not fewer than alone %d", s.name, seed, res.Errors, aloneErrs)
			}
		}
	}
}
