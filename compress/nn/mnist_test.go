package nn

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/compressq/compressq/compress/data"
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

// TestMNISTShortRun trains LeNet-300-100 for one epoch (SGD with momentum,
// cosine schedule) on the MNIST training set and requires at least 95%
// accuracy on the 10,000-image test set (it reaches about 96.4%).
func TestMNISTShortRun(t *testing.T) {
	train, test := loadMNIST(t)
	net, err := Build(mustArch(t, "lenet-300-100"), 1)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	h, err := Train(context.Background(), net, train, TrainConfig{Epochs: 1, BatchSize: 64, LR: 0.05, Schedule: ScheduleCosine, Seed: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	acc, loss, err := Evaluate(net, test)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("lenet-300-100, 1 epoch: train loss %.4f, test accuracy %.4f loss %.4f (%v)", h.Epochs[0].TrainLoss, acc, loss, time.Since(start))
	if acc < 0.95 {
		t.Fatalf("test accuracy %.4f < 0.95", acc)
	}
}

// longRun is the configuration of the acceptance runs behind COMPRESSQ_LONG.
type longRun struct {
	arch   string
	cfg    TrainConfig
	target float64
}

func longRuns() []longRun {
	return []longRun{
		{"lenet-300-100", TrainConfig{Epochs: 30, BatchSize: 64, LR: 0.05, Momentum: 0.9, WeightDecay: 1e-4, Schedule: ScheduleCosine, Seed: 1}, 0.982},
		{"lenet-5", TrainConfig{Epochs: 15, BatchSize: 64, LR: 0.05, Momentum: 0.9, WeightDecay: 5e-4, Schedule: ScheduleCosine, Seed: 1}, 0.990},
	}
}

// TestMNISTAcceptance trains the reference networks to the published
// accuracy. It takes minutes, so it runs only with COMPRESSQ_LONG=1:
//
//	COMPRESSQ_LONG=1 go test ./compress/nn -run TestMNISTAcceptance -v -timeout 1h
func TestMNISTAcceptance(t *testing.T) {
	if os.Getenv("COMPRESSQ_LONG") != "1" {
		t.Skip("set COMPRESSQ_LONG=1 to run the full MNIST training runs")
	}
	train, test := loadMNIST(t)
	for _, r := range longRuns() {
		t.Run(r.arch, func(t *testing.T) {
			net, err := Build(mustArch(t, r.arch), r.cfg.Seed)
			if err != nil {
				t.Fatal(err)
			}
			cfg := r.cfg
			cfg.Val = test
			start := time.Now()
			h, err := Train(context.Background(), net, train, cfg, func(p Progress) {
				if p.Done != nil {
					t.Logf("epoch %2d lr %.4f train loss %.4f acc %.4f  test loss %.4f acc %.4f  %v",
						p.Done.Epoch, p.Done.LR, p.Done.TrainLoss, p.Done.TrainAcc, p.Done.ValLoss, p.Done.ValAcc, p.Done.Duration.Round(time.Millisecond))
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			acc, _, err := Evaluate(net, test)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s seed %d: final test accuracy %.4f after %d epochs in %v", r.arch, cfg.Seed, acc, len(h.Epochs), time.Since(start).Round(time.Second))
			if acc < r.target {
				t.Errorf("test accuracy %.4f < %.4f", acc, r.target)
			}
		})
	}
}

func benchmarkEpoch(b *testing.B, arch string) {
	train, _ := loadMNIST(b)
	a, err := ArchByName(arch)
	if err != nil {
		b.Fatal(err)
	}
	net, err := Build(a, 1)
	if err != nil {
		b.Fatal(err)
	}
	cpu0 := processCPU()
	for i := 0; b.Loop(); i++ {
		if _, err := Train(context.Background(), net, train, TrainConfig{Epochs: 1, BatchSize: 64, LR: 0.01, Seed: int64(i)}, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(train.Len())*float64(b.N)/b.Elapsed().Seconds(), "images/s")
	if cpu := processCPU() - cpu0; cpu > 0 {
		b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
	}
}

// BenchmarkEpochLeNet300100 times one training epoch (60,000 images, batch
// 64, SGD with momentum) of LeNet-300-100. cpu-s/op is the process CPU time
// per epoch over all threads.
func BenchmarkEpochLeNet300100(b *testing.B) { benchmarkEpoch(b, "lenet-300-100") }

// BenchmarkEpochLeNet5 times one training epoch (60,000 images, batch 64,
// SGD with momentum) of LeNet-5.
func BenchmarkEpochLeNet5(b *testing.B) { benchmarkEpoch(b, "lenet-5") }
