package onnx

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/compressq/compressq/compress/nn"
	"github.com/compressq/compressq/internal/mnist"
)

// torchPeerEnv names the environment variable that, when set to Debian's
// python3 with torch (e.g. /usr/bin/python3), makes BenchmarkTorchResNet
// time PyTorch on the same model and data right after compressq and report
// the ratios. Set OPENBLAS_CORETYPE for it as docs/BENCHMARKS.md says.
const torchPeerEnv = "COMPRESSQ_TORCH_PEER"

// torchPeer is bench.py's answer for one thread count.
type torchPeer struct {
	Forward float64 `json:"forward_batch64_images_per_s"`
	Epoch   float64 `json:"train_epoch_s"`
}

// runTorchPeer runs bench.py at the given thread count on the fixture's
// MNIST files and returns its figures.
func runTorchPeer(b *testing.B, python string, threads int) torchPeer {
	b.Helper()
	dir, err := mnist.Dir(context.Background())
	if err != nil {
		b.Fatalf("MNIST for the PyTorch peer: %v", err)
	}
	cmd := exec.Command(python, filepath.Join("testdata", "pytorch", "bench.py"), "--mnist", dir,
		"--model", "resnet", "--threads", strconv.Itoa(threads), "--repeats", "1")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("bench.py: %v", err)
	}
	var r struct {
		Threads map[string]torchPeer `json:"threads"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		b.Fatalf("bench.py output: %v", err)
	}
	return r.Threads[strconv.Itoa(threads)]
}

// BenchmarkTorchResNet times the imported PyTorch ResNet: forward in
// inference at batch 64 over the MNIST test set (images/s) and one training
// epoch over the 60,000 training images (seconds), at the thread count of
// -cpu. With COMPRESSQ_TORCH_PEER set it then runs PyTorch on the same model
// and data and reports compressq's time over PyTorch's (below 1 is faster).
//
//	COMPRESSQ_TORCH_PEER=/usr/bin/python3 go test ./compress/onnx -run '^$' -bench TorchResNet -benchtime 1x -cpu 1,2 -timeout 1h
func BenchmarkTorchResNet(b *testing.B) {
	train, test := mnistUnitRange(b)
	net, _ := torchFixture(b, "resnet")
	threads := runtime.GOMAXPROCS(0)
	full := test.Len() / 64 * 64
	order := make([]int, full)
	for i := range order {
		order[i] = i
	}
	var fwd, epoch time.Duration
	for b.Loop() {
		t0 := time.Now()
		for x := range test.Batches(64, order) {
			if _, err := net.Forward(x, false); err != nil {
				b.Fatal(err)
			}
		}
		fwd = time.Since(t0)
		work := net.Clone()
		t0 = time.Now()
		cfg := nn.TrainConfig{Epochs: 1, BatchSize: 64, Optimizer: "adam", LR: 0.002, Schedule: "cosine", Seed: 1}
		if _, err := nn.Train(context.Background(), work, train, cfg, nil); err != nil {
			b.Fatal(err)
		}
		epoch = time.Since(t0)
	}
	fwdRate := float64(full) / fwd.Seconds()
	b.ReportMetric(fwdRate, "fwd64_images/s")
	b.ReportMetric(epoch.Seconds(), "epoch_s")
	if python := os.Getenv(torchPeerEnv); python != "" {
		p := runTorchPeer(b, python, threads)
		b.ReportMetric(p.Forward/fwdRate, "fwd_time_x_torch")
		b.ReportMetric(epoch.Seconds()/p.Epoch, "epoch_time_x_torch")
	}
}

// BenchmarkTorchResNetForward times only the forward pass of
// BenchmarkTorchResNet (batch 64, inference, the MNIST test set) in
// images/s, for quick comparisons of two builds:
//
//	go test -c -o a.test ./compress/onnx && (cd compress/onnx && ../../a.test -test.run '^$' -test.bench TorchResNetForward -test.benchtime 3x -test.cpu 1,2)
func BenchmarkTorchResNetForward(b *testing.B) {
	_, test := mnistUnitRange(b)
	net, _ := torchFixture(b, "resnet")
	full := test.Len() / 64 * 64
	order := make([]int, full)
	for i := range order {
		order[i] = i
	}
	for b.Loop() {
		for x := range test.Batches(64, order) {
			if _, err := net.Forward(x, false); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(full)*float64(b.N)/b.Elapsed().Seconds(), "fwd64_images/s")
}
