package ortpeer

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/compress/model"
	"github.com/compressq/compressq/compress/nn"
	"github.com/compressq/compressq/compress/onnx"
	"github.com/compressq/compressq/compress/packed"
	"github.com/compressq/compressq/compress/prune"
	"github.com/compressq/compressq/compress/qnn"
	"github.com/compressq/compressq/compress/quant"
	cqruntime "github.com/compressq/compressq/compress/runtime"
	"github.com/compressq/compressq/compress/safetensors"
	"github.com/compressq/compressq/internal/mnist"
)

// Environment variables of BenchmarkORTPeer.
const (
	// peerEnv must be "1" for the benchmark to run (it trains two
	// networks on MNIST and needs node with tools/ort installed).
	peerEnv = "COMPRESSQ_ORT_PEER"
	// timeEnv is how long each side runs per round (a Go duration;
	// default 250ms).
	timeEnv = "COMPRESSQ_ORT_TIME"
	// outEnv, if set, is a directory the benchmark writes its model files,
	// ONNX exports and inputs to, so that `compressq bench` and
	// `node tools/ort/bench.js` can be run on the same files.
	outEnv = "COMPRESSQ_ORT_OUT"
)

// subject is one model in one numeric form: compressq's model file and
// the ONNX exports of it that ONNX Runtime runs.
type subject struct {
	// name is the model, kind "float", "int8" or "sparse …".
	name, kind string
	// file is compressq's model file; int8 runs its integer-only model.
	file []byte
	int8 bool
	// onnx holds the exports by form (float, qdq, qoperator).
	onnx map[onnx.Form][]byte
	// input holds 64 MNIST test images normalized as the model expects.
	input []float32
}

// slug names the subject's files.
func (s *subject) slug() string {
	r := strings.NewReplacer(" ", "-", "%", "", "(", "", ")", "")
	return strings.ToLower(r.Replace(s.name + "-" + s.kind))
}

// ortResult is bench.js's answer for one setting.
type ortResult struct {
	Error  string  `json:"error"`
	Runs   int     `json:"runs"`
	P50    float64 `json:"p50_ns"`
	P99    float64 `json:"p99_ns"`
	Images float64 `json:"images_per_sec"`
}

// peer is a running `node bench.js --serve`.
type peer struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Scanner
}

// startPeer starts the node harness or fails b: the benchmark was asked
// for by its environment variable, so a missing node is an error.
func startPeer(b *testing.B) *peer {
	b.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		b.Fatalf("%s=1 but node is not on PATH: %v", peerEnv, err)
	}
	dir, err := filepath.Abs(filepath.Join("..", "..", "tools", "ort"))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "onnxruntime-node", "package.json")); err != nil {
		b.Fatalf("onnxruntime-node is not installed in tools/ort (run `npm ci --ignore-scripts` there): %v", err)
	}
	cmd := exec.Command(node, filepath.Join(dir, "bench.js"), "--serve")
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	p := &peer{cmd: cmd, in: in, out: bufio.NewScanner(out)}
	b.Cleanup(func() {
		p.in.Close()
		if err := p.cmd.Wait(); err != nil {
			b.Errorf("node bench.js --serve: %v", err)
		}
	})
	return p
}

// time asks the harness to time model at batch and threads for d.
func (p *peer) time(model, input string, batch, threads int, d time.Duration) (ortResult, error) {
	req, err := json.Marshal(map[string]any{"model": model, "input": input, "batch": batch, "threads": threads,
		"time_ms": d.Milliseconds(), "min_runs": 10})
	if err != nil {
		return ortResult{}, err
	}
	if _, err := p.in.Write(append(req, '\n')); err != nil {
		return ortResult{}, fmt.Errorf("bench.js: %w", err)
	}
	if !p.out.Scan() {
		return ortResult{}, fmt.Errorf("bench.js stopped answering: %v", p.out.Err())
	}
	var r ortResult
	if err := json.Unmarshal(p.out.Bytes(), &r); err != nil {
		return r, fmt.Errorf("bench.js answer %q: %w", p.out.Bytes(), err)
	}
	if r.Error != "" {
		return r, fmt.Errorf("bench.js: %s", r.Error)
	}
	return r, nil
}

// runner is a compressq plan: float or int8.
type runner interface {
	Run(x []float32) ([]float32, error)
	Layers() []cqruntime.LayerChoice
	Schedule() cqruntime.Schedule
}

// timeRunner runs r on x for at least d and 10 runs after one warm-up run
// and returns the median latency.
func timeRunner(r runner, x []float32, d time.Duration) (time.Duration, error) {
	if _, err := r.Run(x); err != nil {
		return 0, err
	}
	var lat []time.Duration
	var total time.Duration
	for len(lat) < 10 || total < d {
		t0 := time.Now()
		if _, err := r.Run(x); err != nil {
			return 0, err
		}
		el := time.Since(t0)
		lat = append(lat, el)
		total += el
	}
	slices.Sort(lat)
	return lat[len(lat)/2], nil
}

// median returns the median of v (the lower middle for an even count).
func median(v []float64) float64 {
	s := slices.Sorted(slices.Values(v))
	return s[(len(s)-1)/2]
}

// BenchmarkORTPeer times compressq's runtime and ONNX Runtime on the same
// models — the ONNX zoo MNIST CNN, LeNet-5 (one epoch on 20,000 MNIST
// images), the PyTorch ResNet fixture — in float32 and integer-only int8
// (min/max calibration on 1,000 training images), and a LeNet-300-100 (one
// epoch, then 90% of every weight matrix magnitude-pruned) in float32 and
// int8, at batch 1 and 64 with 1 and 2 threads. compressq runs its model
// file through compress/runtime (Plan; Int8Plan for the int8 artifact);
// ONNX Runtime runs the file's ONNX export (float, and QDQ and QOperator
// for int8), on the same 64 MNIST test images.
//
// Each b.Loop iteration is one round: compressq for COMPRESSQ_ORT_TIME
// (default 250ms), then ONNX Runtime on each export for as long (the order
// flips every round, so drift on a shared machine hits both sides). A
// round's ratio is compressq's median latency over ONNX Runtime's; the
// metrics are the median ratio over rounds against the fastest export
// (cq/ort, below 1 means compressq is faster) and its range, and the
// median latencies. The log ends with a Markdown table of every setting.
//
//	COMPRESSQ_ORT_PEER=1 go test ./bench/ortpeer -run '^$' -bench ORTPeer -benchtime 7x -timeout 1h
func BenchmarkORTPeer(b *testing.B) {
	if os.Getenv(peerEnv) != "1" {
		b.Skipf("set %s=1 to compare with ONNX Runtime (needs node and tools/ort installed)", peerEnv)
	}
	side := 250 * time.Millisecond
	if v := os.Getenv(timeEnv); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			b.Fatalf("%s=%q: want a positive duration", timeEnv, v)
		}
		side = d
	}
	dir := os.Getenv(outEnv)
	if dir == "" {
		dir = b.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	p := startPeer(b)
	subjects := makeSubjects(b)
	type files struct {
		input string
		onnx  map[onnx.Form]string
	}
	written := map[*subject]files{}
	for _, s := range subjects {
		f := files{input: filepath.Join(dir, s.slug()+".input.bin"), onnx: map[onnx.Form]string{}}
		ext := ".safetensors"
		if s.int8 {
			ext = ".cq.safetensors"
		} else if !bytes.HasPrefix(s.file[8:], []byte("{")) {
			ext = ".onnx"
		}
		write(b, filepath.Join(dir, s.slug()+ext), s.file)
		raw := make([]byte, 4*len(s.input))
		for i, v := range s.input {
			binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
		}
		write(b, f.input, raw)
		for form, m := range s.onnx {
			f.onnx[form] = filepath.Join(dir, s.slug()+"."+string(form)+".onnx")
			write(b, f.onnx[form], m)
		}
		written[s] = f
	}
	var rows []string
	for _, s := range subjects {
		m, err := cqruntime.Load(s.file, safetensors.Limits{})
		if err != nil {
			b.Fatalf("%s %s: %v", s.name, s.kind, err)
		}
		b.Cleanup(m.Close)
		forms := slices.Sorted(func(yield func(onnx.Form) bool) {
			for f := range s.onnx {
				if !yield(f) {
					return
				}
			}
		})
		for _, batch := range []int{1, 64} {
			for _, threads := range []int{1, 2} {
				o := cqruntime.Options{Batch: batch, Threads: threads, MinTime: 20 * time.Millisecond}
				var r runner
				if s.int8 {
					r, err = m.Int8Plan(o)
				} else {
					r, err = m.Plan(context.Background(), o)
				}
				if err != nil {
					b.Fatalf("%s %s: %v", s.name, s.kind, err)
				}
				x := s.input[:batch*len(s.input)/64]
				name := fmt.Sprintf("%s/batch=%d/threads=%d", s.slug(), batch, threads)
				var kernels []string
				for _, l := range r.Layers() {
					if l.Rows > 0 {
						k := l.Kernel
						if l.Layout != "" {
							k += "/" + l.Layout
						}
						kernels = append(kernels, fmt.Sprintf("%d:%s×%d", l.Index, k, l.Threads))
					}
				}
				sc := r.Schedule()
				b.Logf("%s: layer:kernel×threads %s; schedule %s", name, strings.Join(kernels, " "), cqruntime.ScheduleName(batch, sc.Chunk, sc.Lanes))
				b.Run(name, func(b *testing.B) {
					var cq []float64
					ort := map[onnx.Form][]float64{}
					round := 0
					for b.Loop() {
						runCQ := func() {
							d, err := timeRunner(r, x, side)
							if err != nil {
								b.Fatal(err)
							}
							cq = append(cq, float64(d.Nanoseconds()))
						}
						if round%2 == 0 {
							runCQ()
						}
						for _, form := range forms {
							res, err := p.time(written[s].onnx[form], written[s].input, batch, threads, side)
							if err != nil {
								b.Fatal(err)
							}
							ort[form] = append(ort[form], res.P50)
						}
						if round%2 == 1 {
							runCQ()
						}
						round++
					}
					best := forms[0]
					for _, f := range forms {
						if median(ort[f]) < median(ort[best]) {
							best = f
						}
					}
					ratios := make([]float64, len(cq))
					for i := range cq {
						ratios[i] = cq[i] / ort[best][i]
					}
					b.ReportMetric(median(cq)/1e3, "cq-µs")
					b.ReportMetric(median(ort[best])/1e3, "ort-µs")
					b.ReportMetric(median(ratios), "cq/ort")
					b.ReportMetric(slices.Min(ratios), "cq/ort-min")
					b.ReportMetric(slices.Max(ratios), "cq/ort-max")
					var others []string
					for _, f := range forms {
						others = append(others, fmt.Sprintf("%s %.1f µs", f, median(ort[f])/1e3))
					}
					rows = append(rows, fmt.Sprintf("| %s | %s | %d | %d | %.1f | %.1f (%s) | **%.2f×** (%.2f–%.2f) | %d | %s |",
						s.name, s.kind, batch, threads, median(cq)/1e3, median(ort[best])/1e3, best,
						median(ratios), slices.Min(ratios), slices.Max(ratios), len(cq), strings.Join(others, ", ")))
				})
			}
		}
	}
	b.Logf("%v per side per round; latencies are medians over rounds of each round's median of one batch\n"+
		"| model | form | batch | threads | compressq µs | ONNX Runtime µs (export) | compressq / ORT (range) | rounds | ORT per export |\n"+
		"|---|---|---|---|---|---|---|---|---|\n%s", side, strings.Join(rows, "\n"))
}

func write(b *testing.B, path string, content []byte) {
	b.Helper()
	if err := os.WriteFile(path, content, 0o644); err != nil {
		b.Fatal(err)
	}
}

// makeSubjects builds the models the benchmark compares.
func makeSubjects(b *testing.B) []*subject {
	b.Helper()
	ctx := context.Background()
	unitTrain, unitTest, err := mnist.Load(ctx, data.UnitRange())
	if err != nil {
		b.Fatalf("MNIST: %v", err)
	}
	rawTrain, rawTest, err := mnist.Load(ctx, data.RawPixels())
	if err != nil {
		b.Fatalf("MNIST: %v", err)
	}
	unitIn := unitTest.Subset(64).Images
	rawIn := rawTest.Subset(64).Images
	unit, raw := data.UnitRange(), data.RawPixels()

	var out []*subject
	// add appends the float subject of a model file and, unless
	// floatOnly, the int8 subject of its integer-only model.
	add := func(name, kind string, file []byte, net *nn.Network, calib *data.Dataset, norm data.Normalization, in []float32) {
		fl, err := onnx.Export(ctx, file, onnx.Request{Form: onnx.FormFloat})
		if err != nil {
			b.Fatalf("%s: export float: %v", name, err)
		}
		out = append(out, &subject{name: name, kind: kind, file: file, onnx: map[onnx.Form][]byte{onnx.FormFloat: fl.ONNX}, input: in})
		art := int8Artifact(b, net, calib, norm)
		s := &subject{name: name, kind: strings.Replace(kind, "float", "int8", 1), file: art, int8: true, onnx: map[onnx.Form][]byte{}, input: in}
		for _, form := range []onnx.Form{onnx.FormQDQ, onnx.FormQOperator} {
			r, err := onnx.Export(ctx, art, onnx.Request{Form: form})
			if err != nil {
				b.Fatalf("%s: export %s: %v", name, form, err)
			}
			s.onnx[form] = r.ONNX
		}
		out = append(out, s)
	}

	zoo := readFile(b, filepath.Join("..", "..", "compress", "onnx", "testdata", "mnist-8", "model.onnx"))
	add("MNIST CNN (zoo)", "float", zoo, importNet(b, zoo), rawTrain, raw, rawIn)

	lenet5 := train(b, "lenet-5", unitTrain.Subset(20000))
	add("LeNet-5", "float", saveNet(b, lenet5), lenet5, unitTrain, unit, unitIn)

	resnet := readFile(b, filepath.Join("..", "..", "compress", "onnx", "testdata", "pytorch", "resnet.onnx"))
	add("ResNet (PyTorch)", "float", resnet, importNet(b, resnet), unitTrain, unit, unitIn)

	lenet300 := train(b, "lenet-300-100", unitTrain)
	sp := map[string]float64{}
	for _, w := range prune.Weights(lenet300) {
		sp[w] = 0.9
	}
	if err := prune.Magnitude(lenet300, sp); err != nil {
		b.Fatal(err)
	}
	add("LeNet-300-100 90% sparse", "float", saveNet(b, lenet300), lenet300, unitTrain, unit, unitIn)
	return out
}

func readFile(b *testing.B, path string) []byte {
	b.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	return raw
}

func importNet(b *testing.B, raw []byte) *nn.Network {
	b.Helper()
	net, err := onnx.Import(raw)
	if err != nil {
		b.Fatal(err)
	}
	return net
}

// train trains the named architecture for one epoch on set, as
// `compressq train --epochs 1` does (SGD with momentum, batch 64).
func train(b *testing.B, name string, set *data.Dataset) *nn.Network {
	b.Helper()
	a, err := nn.ArchByName(name)
	if err != nil {
		b.Fatal(err)
	}
	net, err := nn.Build(a, 1)
	if err != nil {
		b.Fatal(err)
	}
	cfg := nn.TrainConfig{Epochs: 1, BatchSize: 64, LR: 0.05, Momentum: 0.9, Seed: 1}
	if _, err := nn.Train(context.Background(), net, set, cfg, nil); err != nil {
		b.Fatal(err)
	}
	return net
}

func saveNet(b *testing.B, net *nn.Network) []byte {
	b.Helper()
	var buf bytes.Buffer
	if err := model.Save(&buf, net); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}

// int8Artifact quantizes net as `compressq quantize --calibration minmax`
// does (1,000 calibration images; raw pixels as the input codes) and
// returns the compressed artifact storing its integer-only model.
func int8Artifact(b *testing.B, net *nn.Network, calib *data.Dataset, norm data.Normalization) []byte {
	b.Helper()
	p, err := qnn.Prepare(net)
	if err != nil {
		b.Fatal(err)
	}
	obs, err := qnn.Calibrate(context.Background(), p, calib, 1000)
	if err != nil {
		b.Fatal(err)
	}
	r, err := qnn.Ranges(obs, quant.CalibMinMax)
	if err != nil {
		b.Fatal(err)
	}
	m, err := qnn.Quantize(p, r, qnn.Options{InputNorm: &norm})
	if err != nil {
		b.Fatal(err)
	}
	c, err := m.Compressed()
	if err != nil {
		b.Fatal(err)
	}
	var buf bytes.Buffer
	if err := packed.WriteCompressed(&buf, c); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}
