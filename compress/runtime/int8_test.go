package runtime

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/compress/nn"
	"github.com/compressq/compressq/compress/packed"
	"github.com/compressq/compressq/compress/qnn"
	"github.com/compressq/compressq/compress/quant"
	"github.com/compressq/compressq/compress/safetensors"
)

// randomImages returns n random 28×28 one-channel images as a data set in
// [0, 1], and their pixels.
func randomImages(t testing.TB, n int, seed uint64) *data.Dataset {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 5))
	px := make([]byte, n*28*28)
	for i := range px {
		px[i] = byte(r.IntN(256))
	}
	labels := make([]byte, n)
	d, err := data.NewDataset("random", &data.IDX{Dims: []int{n, 28, 28}, Data: px}, &data.IDX{Dims: []int{n}, Data: labels}, data.UnitRange(), 10)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestInt8Plan quantizes LeNet-5 and the PyTorch ResNet (a graph: residual
// Adds, batch norms, global pooling) with random calibration images and
// checks that the integer plan's logits stay near the float network's on
// other random images: max |int8 − float| ≤ 10% of the largest |logit|.
// The integer path's bit-exactness against its reference is qnn's own
// test; this checks the runtime's plumbing and that quantization error is
// that of int8, not of a wrong scale.
func TestInt8Plan(t *testing.T) {
	m, err := Load(resnetFixture(t), safetensors.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	calib, test := randomImages(t, 64, 1), randomImages(t, 8, 2)
	for name, net := range map[string]*nn.Network{"lenet-5": lenet(t, "lenet-5", 0, false), "resnet": m.Net} {
		p, err := NewInt8Plan(context.Background(), net, Int8Options{Batch: 8, Threads: 2, Calibration: calib})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		defer p.Close()
		got, err := p.Run(test.Images)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want := forward(t, net, test.Images, 8)
		var maxAbs, maxDiff float64
		for i := range want {
			maxAbs = max(maxAbs, math.Abs(float64(want[i])))
			maxDiff = max(maxDiff, math.Abs(float64(got[i]-want[i])))
		}
		t.Logf("%s: int8 logits within %.4g of float (largest |logit| %.4g)", name, maxDiff, maxAbs)
		if maxAbs == 0 || maxDiff > 0.1*maxAbs {
			t.Errorf("%s: int8 logits differ from float by up to %g (largest |logit| %g)", name, maxDiff, maxAbs)
		}
	}
	net := lenet(t, "lenet-5", 0, false)
	for _, c := range []struct {
		o    Int8Options
		want string
	}{
		{Int8Options{Batch: 0, Threads: 1, Calibration: calib}, "batch 0"},
		{Int8Options{Batch: 1, Threads: 0, Calibration: calib}, "threads 0"},
		{Int8Options{Batch: 1, Threads: 1}, "calibration: no samples"},
		{Int8Options{Batch: 1, Threads: 1, Calibration: calib, Method: "median"}, `method "median"`},
	} {
		if _, err := NewInt8Plan(context.Background(), net, c.o); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want one naming %q", c.o, err, c.want)
		}
	}
	p, err := NewInt8Plan(context.Background(), net, Int8Options{Batch: 2, Threads: 1, Calibration: calib})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Run(make([]float32, 784)); err == nil || !strings.Contains(err.Error(), "want batch 2") {
		t.Errorf("short input: error %v", err)
	}
}

// int8Artifact quantizes net with qnn (min/max ranges from calib) and
// returns the integer model and the compressed artifact that stores it.
func int8Artifact(t *testing.T, net *nn.Network, calib *data.Dataset) (*qnn.Model, []byte) {
	t.Helper()
	p, err := qnn.Prepare(net)
	if err != nil {
		t.Fatal(err)
	}
	obs, err := qnn.Calibrate(context.Background(), p, calib, 0)
	if err != nil {
		t.Fatal(err)
	}
	ranges, err := qnn.Ranges(obs, quant.CalibMinMax)
	if err != nil {
		t.Fatal(err)
	}
	m, err := qnn.Quantize(p, ranges, qnn.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := m.Compressed()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := packed.WriteCompressed(&buf, c); err != nil {
		t.Fatal(err)
	}
	return m, buf.Bytes()
}

// TestLoadInt8Artifact saves the integer models of LeNet-5 and the PyTorch
// ResNet (calibrated on random images) as compressed artifacts, loads them
// with Load — no calibration data — and requires the int8 plan's logits,
// at 1 and 2 threads, to equal the saved qnn model's integer path bit for
// bit (int32 logits times LogitScale). A weight-only artifact has no
// integer model.
func TestLoadInt8Artifact(t *testing.T) {
	rm, err := Load(resnetFixture(t), safetensors.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	defer rm.Close()
	calib, test := randomImages(t, 32, 3), randomImages(t, 5, 4)
	for name, net := range map[string]*nn.Network{"lenet-5": lenet(t, "lenet-5", 0.5, false), "resnet": rm.Net} {
		saved, raw := int8Artifact(t, net, calib)
		m, err := Load(raw, safetensors.Limits{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		defer m.Close()
		if m.Format != FormatCompressed || m.Int8 == nil {
			t.Fatalf("%s: format %q, integer model %v", name, m.Format, m.Int8 != nil)
		}
		logits, err := saved.Forward(saved.QuantizeInput(test.Images))
		if err != nil {
			t.Fatal(err)
		}
		for _, threads := range []int{1, 2} {
			p, err := m.Int8Plan(Options{Batch: 5, Threads: threads})
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			got, err := p.Run(test.Images)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			for i, v := range logits {
				if want := float32(v) * saved.LogitScale; math.Float32bits(got[i]) != math.Float32bits(want) {
					t.Fatalf("%s, %d threads: logit %d = %v, want %v", name, threads, i, got[i], want)
				}
			}
			if ls := p.Layers(); len(ls) != len(saved.Layers) || !slices.Contains(Int8Kernels, ls[0].Kernel) || ls[0].Rows == 0 {
				t.Fatalf("%s: layers %+v", name, ls)
			}
		}
		m.Close()
	}
	weightOnly, err := Load(resnetFixture(t), safetensors.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	defer weightOnly.Close()
	if _, err := weightOnly.Int8Plan(Options{Batch: 1, Threads: 1}); err == nil || !strings.Contains(err.Error(), "no integer-only model") {
		t.Fatalf("ONNX model: int8 plan error %v", err)
	}
}

// TestInt8PlanSparse runs 90%-sparse LeNet-300-100 and LeNet-5 (convs
// read as im2row rows) through int8 plans restricted to each kernel and
// with the measured choice, at batches of one, part of a chunk and several
// chunks on one and two threads, and requires the logits to equal the
// integer model's Forward bit for bit: the sparse kernel is exact. Layers
// must report the kernel each layer runs, and the refusals name the
// kernel list.
func TestInt8PlanSparse(t *testing.T) {
	calib := randomImages(t, 32, 5)
	for _, name := range []string{"lenet-300-100", "lenet-5"} {
		net := lenet(t, name, 0.9, false)
		base, err := NewInt8Plan(context.Background(), net, Int8Options{Batch: 1, Threads: 1, Calibration: calib, Kernels: []string{KernelInt8}})
		if err != nil {
			t.Fatal(err)
		}
		m := base.Model()
		for _, kernels := range [][]string{{KernelInt8}, {KernelCSRInt8}, nil} {
			for _, s := range []struct{ batch, threads int }{{1, 1}, {5, 1}, {17, 2}} {
				p, err := NewInt8PlanWith(context.Background(), m, Options{Batch: s.batch, Threads: s.threads, Kernels: kernels, MinTime: time.Millisecond})
				if err != nil {
					t.Fatalf("%s %v: %v", name, kernels, err)
				}
				defer p.Close()
				x := randomImages(t, s.batch, 6).Images
				checkInt8Logits(t, p, m, x, fmt.Sprintf("%s %v batch %d threads %d", name, kernels, s.batch, s.threads))
				weights := 0
				for _, l := range p.Layers() {
					if l.Rows == 0 {
						if l.Kernel != "native" {
							t.Errorf("%s: layer %d (%s) without weights runs %q", name, l.Index, l.Type, l.Kernel)
						}
						continue
					}
					weights++
					if len(kernels) == 1 && l.Kernel != kernels[0] {
						t.Errorf("%s %v: layer %d runs %q", name, kernels, l.Index, l.Kernel)
					}
					if kernels == nil && (len(l.Nanos) != 2 || l.Nanos[l.Kernel] == 0) {
						t.Errorf("%s: layer %d: chose %q from times %v", name, l.Index, l.Kernel, l.Nanos)
					}
				}
				if weights == 0 {
					t.Fatalf("%s: no layer with weights in %+v", name, p.Layers())
				}
			}
		}
	}
	m := lenet(t, "lenet-300-100", 0, false)
	for _, c := range []struct {
		kernels []string
		want    string
	}{
		{[]string{}, "kernels: empty list"},
		{[]string{"bsr"}, `unknown kernel "bsr"`},
		{[]string{KernelCSRInt8}, "no kernel of [csr-int8] fits"},
	} {
		_, err := NewInt8Plan(context.Background(), m, Int8Options{Batch: 1, Threads: 1, Calibration: calib, Kernels: c.kernels})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("kernels %v: error %v, want one naming %q", c.kernels, err, c.want)
		}
	}
}

// TestInt8Lanes runs int8 plans on the lanes schedule — each of the plan's
// goroutines carrying its share of the samples through the whole model —
// dense and with every layer on the sparse kernel, over batches that
// split evenly, unevenly and into fewer lanes than threads, and requires
// the integer model's logits bit for bit; on the assembly kernels without
// -race, a Run allocates nothing. The schedule the plan measured must be
// one of those it timed.
func TestInt8Lanes(t *testing.T) {
	calib := randomImages(t, 32, 5)
	for _, name := range []string{"lenet-300-100", "lenet-5"} {
		base, err := NewInt8Plan(context.Background(), lenet(t, name, 0.9, false), Int8Options{Batch: 1, Threads: 1, Calibration: calib})
		if err != nil {
			t.Fatal(err)
		}
		m := base.Model()
		for _, kernels := range [][]string{{KernelInt8}, {KernelCSRInt8}} {
			for _, s := range []struct{ batch, threads, lanes int }{{2, 2, 2}, {5, 3, 3}, {17, 2, 2}, {2, 4, 2}} {
				p, err := NewInt8PlanWith(context.Background(), m, Options{Batch: s.batch, Threads: s.threads, Kernels: kernels, MinTime: time.Millisecond})
				if err != nil {
					t.Fatal(err)
				}
				defer p.Close()
				sc := p.Schedule()
				if _, ok := sc.Nanos[ScheduleName(s.batch, sc.Chunk, sc.Lanes)]; !ok && sc.Lanes > 1 || len(sc.Nanos) != 2 {
					t.Fatalf("%s batch %d threads %d: schedule %+v", name, s.batch, s.threads, sc)
				}
				if len(p.lanes) == 0 {
					p.setLanes()
				}
				if len(p.lanes) != s.lanes {
					t.Fatalf("%d lanes, want %d", len(p.lanes), s.lanes)
				}
				x := randomImages(t, s.batch, 6).Images
				checkInt8Logits(t, p, m, x, fmt.Sprintf("%s %v batch %d threads %d", name, kernels, s.batch, s.threads))
				if raceEnabled {
					continue
				}
				if a := testing.AllocsPerRun(5, func() { p.Run(x) }); a != 0 {
					t.Errorf("%s %v batch %d threads %d: %v allocations per Run", name, kernels, s.batch, s.threads, a)
				}
			}
		}
	}
}

// checkInt8Logits requires p's logits on x to equal the integer model m's
// Forward bit for bit.
func checkInt8Logits(t *testing.T, p *Int8Plan, m *qnn.Model, x []float32, what string) {
	t.Helper()
	logits, err := m.ForwardThreads(m.QuantizeInput(x), 1)
	if err != nil {
		t.Fatal(err)
	}
	got, err := p.Run(x)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range logits {
		if want := float32(v) * m.LogitScale; math.Float32bits(got[i]) != math.Float32bits(want) {
			t.Fatalf("%s: logit %d = %v, want %v", what, i, got[i], want)
		}
	}
}
