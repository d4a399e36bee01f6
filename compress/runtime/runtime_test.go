package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"gorgonia.org/tensor"

	"github.com/compressq/compressq/compress/kernels"
	"github.com/compressq/compressq/compress/model"
	"github.com/compressq/compressq/compress/nn"
	"github.com/compressq/compressq/compress/packed"
	"github.com/compressq/compressq/compress/quant"
	"github.com/compressq/compressq/compress/safetensors"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// lenet builds a named reference architecture with random weights and
// zeroes a fraction sparsity of every weight matrix at random (biases
// kept); with nm24 it zeroes two of every four consecutive weights instead.
func lenet(t testing.TB, name string, sparsity float64, nm24 bool) *nn.Network {
	t.Helper()
	a, err := nn.ArchByName(name)
	if err != nil {
		t.Fatal(err)
	}
	net, err := nn.Build(a, 7)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 4))
	for _, p := range net.Params() {
		if !strings.HasSuffix(p.Name, ".weight") {
			continue
		}
		w := p.Value.Float32s()
		switch {
		case nm24:
			cols := len(w) / p.Value.Shape()[0]
			for row := 0; row < len(w); row += cols {
				for g := row; g < row+cols; g += 4 {
					perm := r.Perm(min(4, row+cols-g))
					for _, k := range perm[:min(2, len(perm))] {
						w[g+k] = 0
					}
				}
			}
		case sparsity > 0:
			for i := range w {
				if r.Float64() < sparsity {
					w[i] = 0
				}
			}
		}
	}
	return net
}

// randInput returns n samples of shape in, uniform in [0, 1).
func randInput(n int, in []int, seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, 9))
	x := make([]float32, n*prod(in))
	for i := range x {
		x[i] = r.Float32()
	}
	return x
}

// forward runs the network's own Forward, the reference.
func forward(t testing.TB, net *nn.Network, x []float32, n int) []float32 {
	t.Helper()
	xt := tensor.New(tensor.WithShape(append([]int{n}, net.InputShape()...)...), tensor.WithBacking(append([]float32(nil), x...)))
	y, err := net.Forward(xt, false)
	if err != nil {
		t.Fatal(err)
	}
	return y.Float32s()
}

// checkClose fails unless |got − want| ≤ 1e-4·(1 + |want|) everywhere: the
// plan sums in another order (sparse kernels, folded batch norms).
func checkClose(t *testing.T, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d outputs, want %d", len(got), len(want))
	}
	for i := range got {
		if d := math.Abs(float64(got[i] - want[i])); d > 1e-4*(1+math.Abs(float64(want[i]))) || math.IsNaN(float64(got[i])) {
			t.Fatalf("output %d: %g, want %g (|diff| %g)", i, got[i], want[i], d)
		}
	}
}

func newPlan(t testing.TB, net *nn.Network, o Options) *Plan {
	t.Helper()
	if o.MinTime == 0 {
		o.MinTime = time.Millisecond
	}
	p, err := NewPlan(context.Background(), net, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// TestPlanMatchesForward runs dense, 90%-pruned and 2:4-pruned LeNets
// through plans forced onto each kernel and through the measured choice,
// at batch sizes and thread counts that take every split of the work, and
// compares with nn.Network.Forward.
func TestPlanMatchesForward(t *testing.T) {
	nets := []struct {
		name     string
		arch     string
		sparsity float64
		nm24     bool
		kernels  [][]string
	}{
		{"lenet-300-100 dense", "lenet-300-100", 0, false, [][]string{nil, {KernelDense}}},
		{"lenet-300-100 90%", "lenet-300-100", 0.9, false, [][]string{nil, {KernelCSR}, {KernelBSR}}},
		{"lenet-300-100 2:4", "lenet-300-100", 0, true, [][]string{{KernelNM24}}},
		{"lenet-5 dense", "lenet-5", 0, false, [][]string{nil, {KernelDense + "/" + LayoutShifted}, {KernelDense + "/" + LayoutIm2col}}},
		{"lenet-5 90%", "lenet-5", 0.9, false, [][]string{nil, {KernelCSR}, {KernelBSR}}},
		{"lenet-5 2:4", "lenet-5", 0, true, [][]string{{KernelNM24}}},
	}
	for _, c := range nets {
		net := lenet(t, c.arch, c.sparsity, c.nm24)
		for _, ks := range c.kernels {
			for _, s := range []struct{ batch, threads int }{{1, 1}, {1, 2}, {3, 2}, {64, 1}, {64, 3}} {
				name := c.name + "/" + strings.Join(ks, ",") + "/" + strconv.Itoa(s.batch) + "x" + strconv.Itoa(s.threads)
				t.Run(name, func(t *testing.T) {
					p := newPlan(t, net, Options{Batch: s.batch, Threads: s.threads, Kernels: ks})
					for _, l := range p.Layers() {
						if l.Rows == 0 || ks == nil {
							continue
						}
						kernel, layout, _ := strings.Cut(ks[0], "/")
						if l.Kernel != kernel {
							t.Fatalf("layer %d ran %s, forced %s", l.Index, l.Kernel, ks[0])
						}
						if l.Type == "conv2d" && layout != "" && l.Layout != layout {
							t.Fatalf("layer %d ran layout %q, forced %s", l.Index, l.Layout, ks[0])
						}
					}
					x := randInput(s.batch, net.InputShape(), uint64(s.batch))
					got, err := p.Run(x)
					if err != nil {
						t.Fatal(err)
					}
					checkClose(t, got, forward(t, net, x, s.batch))
				})
			}
		}
	}
}

// resnetFixture returns the PyTorch-exported ResNet file of compress/onnx.
func resnetFixture(t testing.TB) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "onnx", "testdata", "pytorch", "resnet.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// TestResNet plans the PyTorch ResNet fixture (batch norms, residual Adds,
// a 1×1 projection, global pooling) loaded through Load, and compares with
// its network's Forward, also with each convolution layout forced; it also
// checks that a 90%-pruned copy gets sparse kernels measured and still
// matches.
func TestResNet(t *testing.T) {
	m, err := Load(resnetFixture(t), safetensors.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Format != "onnx" {
		t.Fatalf("format %q, want onnx", m.Format)
	}
	for _, s := range []struct{ batch, threads int }{{1, 1}, {1, 2}, {8, 2}} {
		p, err := m.Plan(context.Background(), Options{Batch: s.batch, Threads: s.threads, MinTime: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if p.Allocates() {
			t.Errorf("batch %d: a layer runs through nn: %+v", s.batch, p.Layers())
		}
		x := randInput(s.batch, m.Net.InputShape(), 5)
		got, err := p.Run(x)
		if err != nil {
			t.Fatal(err)
		}
		checkClose(t, got, forward(t, m.Net, x, s.batch))
		again, err := m.Plan(context.Background(), Options{Batch: s.batch, Threads: s.threads})
		if err != nil || again != p {
			t.Fatalf("second Plan call: %p, %v; want the kept plan %p", again, err, p)
		}
	}
	// Every convolution in each forced layout, and both timed unforced.
	for _, ks := range [][]string{{KernelDense + "/" + LayoutShifted}, {KernelDense + "/" + LayoutIm2col}, {KernelDense}} {
		p := newPlan(t, m.Net, Options{Batch: 3, Threads: 2, Kernels: ks})
		_, forced, _ := strings.Cut(ks[0], "/")
		convs := 0
		for _, l := range p.Layers() {
			if l.Type != "conv2d" {
				continue
			}
			convs++
			switch {
			case forced != "" && l.Layout != forced:
				t.Errorf("%v: layer %d ran layout %q", ks, l.Index, l.Layout)
			case forced == "" && (l.Nanos[KernelDense+"/"+LayoutShifted] == 0 || l.Nanos[KernelDense+"/"+LayoutIm2col] == 0):
				t.Errorf("layer %d: not timed in both layouts: %v", l.Index, l.Nanos)
			}
		}
		if convs != 6 {
			t.Errorf("%v: %d convolutions planned, want 6", ks, convs)
		}
		x := randInput(3, m.Net.InputShape(), 7)
		got, err := p.Run(x)
		if err != nil {
			t.Fatal(err)
		}
		checkClose(t, got, forward(t, m.Net, x, 3))
	}
	pruned := m.Net.Clone()
	r := rand.New(rand.NewPCG(1, 1))
	for _, pr := range pruned.Params() {
		if strings.HasSuffix(pr.Name, ".weight") && pr.Value.Dims() > 1 {
			for i, w := range pr.Value.Float32s() {
				if r.Float64() < 0.9 {
					pr.Value.Float32s()[i] = 0 * w
				}
			}
		}
	}
	p := newPlan(t, pruned, Options{Batch: 4, Threads: 2, Kernels: []string{KernelCSR, KernelBSR}})
	x := randInput(4, pruned.InputShape(), 6)
	got, err := p.Run(x)
	if err != nil {
		t.Fatal(err)
	}
	checkClose(t, got, forward(t, pruned, x, 4))
}

// TestLoadFormats plans a dense and a pruned network saved as safetensors
// and loaded back through Load.
func TestLoadFormats(t *testing.T) {
	for _, sp := range []float64{0, 0.9} {
		net := lenet(t, "lenet-300-100", sp, false)
		var buf bytes.Buffer
		if err := model.Save(&buf, net); err != nil {
			t.Fatal(err)
		}
		m, err := Load(buf.Bytes(), safetensors.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		p, err := m.Plan(context.Background(), Options{Batch: 2, Threads: 1, MinTime: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		x := randInput(2, net.InputShape(), 8)
		got, err := p.Run(x)
		if err != nil {
			t.Fatal(err)
		}
		checkClose(t, got, forward(t, net, x, 2))
		m.Close()
		if _, err := p.Run(x); err == nil {
			t.Fatal("Run on a closed plan succeeded")
		}
	}
}

// TestRunDoesNotAllocate checks that a warmed-up plan's Run allocates
// nothing, on one thread and on three.
func TestRunDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates: allocation counts are checked without -race")
	}
	if kernels.Impl() == "go" {
		t.Skip("the pure-Go reference kernels (gonum's Sgemm) allocate: allocation counts are checked on the assembly kernels")
	}
	m, err := Load(resnetFixture(t), safetensors.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	nets := map[string]*nn.Network{
		"lenet-300-100":     lenet(t, "lenet-300-100", 0, false),
		"lenet-300-100 90%": lenet(t, "lenet-300-100", 0.9, false),
		"lenet-5 90%":       lenet(t, "lenet-5", 0.9, false),
		"resnet":            m.Net,
	}
	for name, net := range nets {
		for _, s := range []struct{ batch, threads int }{{1, 1}, {1, 3}, {16, 1}, {16, 3}} {
			p := newPlan(t, net, Options{Batch: s.batch, Threads: s.threads})
			x := randInput(s.batch, net.InputShape(), 1)
			if _, err := p.Run(x); err != nil {
				t.Fatal(err)
			}
			if a := testing.AllocsPerRun(5, func() { p.Run(x) }); a != 0 {
				t.Errorf("%s batch %d threads %d: %v allocations per Run (layers %+v)", name, s.batch, s.threads, a, p.Layers())
			}
		}
	}
	// The integer plan on one thread (its several-thread path starts
	// goroutines per call), dense and with every layer on the sparse
	// kernel.
	calib := randomImages(t, 64, 1)
	for _, name := range []string{"lenet-5", "lenet-300-100"} {
		for _, c := range []struct {
			sparsity float64
			kernels  []string
		}{{0, nil}, {0.9, []string{KernelCSRInt8}}} {
			net := lenet(t, name, c.sparsity, false)
			for _, batch := range []int{1, 16} {
				p, err := NewInt8Plan(context.Background(), net, Int8Options{Batch: batch, Threads: 1, Calibration: calib, Kernels: c.kernels})
				if err != nil {
					t.Fatal(err)
				}
				x := randInput(batch, net.InputShape(), 1)
				if _, err := p.Run(x); err != nil {
					t.Fatal(err)
				}
				if a := testing.AllocsPerRun(5, func() { p.Run(x) }); a != 0 {
					t.Errorf("int8 %s %v batch %d: %v allocations per Run", name, c.kernels, batch, a)
				}
			}
		}
	}
}

// TestBadInput checks the refusals: batch and threads below 1, an unknown
// kernel, a wrong input length and a file no loader reads.
func TestBadInput(t *testing.T) {
	net := lenet(t, "lenet-300-100", 0, false)
	for _, c := range []struct {
		o    Options
		want string
	}{
		{Options{Batch: 0, Threads: 1}, "batch 0"},
		{Options{Batch: -3, Threads: 1}, "batch -3"},
		{Options{Batch: 1, Threads: 0}, "threads 0"},
		{Options{Batch: 1, Threads: MaxThreads + 1}, "threads 1025: at most"},
		{Options{Batch: 1 << 40, Threads: 1}, "batch 1099511627776: the activations"},
		{Options{Batch: 1, Threads: 1, Kernels: []string{"coo"}}, `unknown kernel "coo"`},
		{Options{Batch: 1, Threads: 1, Kernels: []string{}}, "kernels: empty"},
		{Options{Batch: 1, Threads: 1, Kernels: []string{"csr/shifted"}}, `"csr/shifted": only dense takes a layout`},
		{Options{Batch: 1, Threads: 1, Kernels: []string{"dense/winograd"}}, `"dense/winograd": only dense takes a layout, shifted or im2col`},
	} {
		if _, err := NewPlan(context.Background(), net, c.o); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want one naming %q", c.o, err, c.want)
		}
	}
	p := newPlan(t, net, Options{Batch: 2, Threads: 1, Kernels: []string{KernelDense}})
	if _, err := p.Run(make([]float32, 784)); err == nil || !strings.Contains(err.Error(), "want batch 2") {
		t.Errorf("short input: error %v", err)
	}
	if _, err := Load([]byte("not a model"), safetensors.Limits{}); err == nil || !strings.Contains(err.Error(), "model") {
		t.Errorf("garbage file: error %v", err)
	}
	var buf bytes.Buffer
	if err := model.Save(&buf, net); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(buf.Bytes()[:buf.Len()/2], safetensors.Limits{}); err == nil {
		t.Error("truncated safetensors file loaded")
	}
	if _, err := NewPlan(context.Background(), lenet(t, "lenet-300-100", 0, false), Options{Batch: 1, Threads: 1, Kernels: []string{KernelNM24}}); err == nil || !strings.Contains(err.Error(), "no kernel") {
		t.Errorf("2:4 only on dense weights: error %v", err)
	}
}

// TestLoadCompressed plans compressed artifacts of a 90%-pruned
// LeNet-300-100 — sparse float32 weights, and sparse int8 weights that the
// reader dequantizes — loaded through Load, against the loaded network's
// Forward, and checks that the sparse kernels were measured.
func TestLoadCompressed(t *testing.T) {
	net := lenet(t, "lenet-300-100", 0.9, false)
	arch, err := json.Marshal(net.Arch())
	if err != nil {
		t.Fatal(err)
	}
	for _, int8w := range []bool{false, true} {
		c := &packed.Compressed{Arch: string(arch)}
		for _, p := range net.Params() {
			v, shape := p.Value.Float32s(), []int(p.Value.Shape())
			cp := packed.CompressedParam{Name: p.Name, Shape: shape, Values: append([]float32(nil), v...)}
			if strings.HasSuffix(p.Name, ".weight") {
				cp.Sparse = true
				if int8w {
					q, err := quant.QuantizeTensor(v, shape, quant.Params{Bits: 8, Scheme: quant.PerChannel, Symmetric: true})
					if err != nil {
						t.Fatal(err)
					}
					cp.Values, cp.Quantized = nil, q
				}
			}
			c.Params = append(c.Params, cp)
		}
		var buf bytes.Buffer
		if err := packed.WriteCompressed(&buf, c); err != nil {
			t.Fatal(err)
		}
		m, err := Load(buf.Bytes(), safetensors.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if m.Format != "compressed" {
			t.Fatalf("format %q, want compressed", m.Format)
		}
		p, err := m.Plan(context.Background(), Options{Batch: 64, Threads: 1, MinTime: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range p.Layers() {
			if l.Rows > 0 && l.Nanos[KernelCSR] == 0 {
				t.Errorf("int8 %t: layer %d (sparsity %.2f): CSR not measured: %+v", int8w, l.Index, l.Sparsity, l)
			}
		}
		x := randInput(64, m.Net.InputShape(), 2)
		got, err := p.Run(x)
		if err != nil {
			t.Fatal(err)
		}
		checkClose(t, got, forward(t, m.Net, x, 64))
		if !int8w {
			checkClose(t, got, forward(t, net, x, 64))
		}
		m.Close()
	}
}

// TestMobileNet plans the PyTorch MobileNet fixture, whose depthwise
// convolutions run through nn (so Run allocates) and whose ReLU6 (Clip)
// layers are fused, and compares with Forward.
func TestMobileNet(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "onnx", "testdata", "pytorch", "mobilenet.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := Load(raw, safetensors.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for _, s := range []struct{ batch, threads int }{{1, 2}, {5, 2}} {
		p, err := m.Plan(context.Background(), Options{Batch: s.batch, Threads: s.threads, MinTime: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		kinds := map[string]int{}
		for _, l := range p.Layers() {
			kinds[l.Kernel]++
		}
		if !p.Allocates() || kinds["nn"] == 0 || kinds["fused"] == 0 {
			t.Errorf("depthwise convs through nn and fused ReLU6 expected: %v", kinds)
		}
		x := randInput(s.batch, m.Net.InputShape(), 4)
		got, err := p.Run(x)
		if err != nil {
			t.Fatal(err)
		}
		checkClose(t, got, forward(t, m.Net, x, s.batch))
	}
}
