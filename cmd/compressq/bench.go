package main

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	cqruntime "github.com/compressq/compressq/compress/runtime"
)

// benchReport is what `compressq bench --json` prints.
type benchReport struct {
	File   string `json:"file"`
	Format string `json:"format"`
	// Path is "int8" when the file's integer-only model runs (a compressed
	// artifact with activation scales), else "float32".
	Path string `json:"path"`
	// Input is the per-sample input shape; InputData says what was fed.
	Input     []int  `json:"input"`
	InputData string `json:"input_data"`
	CPU       string `json:"cpu"`
	// GOMAXPROCS is the number of OS threads Go code may run on at once.
	GOMAXPROCS int           `json:"gomaxprocs"`
	Results    []benchResult `json:"results"`
}

// benchResult is one (batch, threads) setting's measurement.
type benchResult struct {
	Batch   int `json:"batch"`
	Threads int `json:"threads"`
	// Runs is the number of timed runs; the latencies are of one run of
	// a whole batch.
	Runs         int     `json:"runs"`
	P50Nanos     int64   `json:"p50_ns"`
	P99Nanos     int64   `json:"p99_ns"`
	MeanNanos    int64   `json:"mean_ns"`
	ImagesPerSec float64 `json:"images_per_sec"`
	// PlanNanos is the time building the plan took (kernel measurements
	// included).
	PlanNanos int64 `json:"plan_ns"`
	// Schedule is how the plan carries the batch through the layers
	// (whole, in chunks, or in lanes of chunks), with the time of each
	// schedule it measured.
	Schedule *cqruntime.Schedule     `json:"schedule,omitempty"`
	Layers   []cqruntime.LayerChoice `json:"layers"`
}

func newBenchCmd() *cobra.Command {
	var (
		file       string
		batches    []int
		threads    []int
		asJSON     bool
		runFor     time.Duration
		minKernel  time.Duration
		seed       uint64
		kernelList []string
		float      bool
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Time a model file through the runtime's plans: latency, images/s, kernel per layer",
		Long: `Bench loads a model file in any format compressq writes (safetensors, a compressed
artifact, ONNX), builds the runtime's plan for every --batch × --threads setting — timing
dense, CSR, BSR and 2:4 kernels on each layer's own weights on this CPU and keeping the
fastest — then runs the plan on random input (uniform in [0, 1), the model's input shape)
for --time and prints the latency percentiles of one batch, the images per second and the
kernel chosen for each layer. A compressed artifact that stores an integer-only model (as
'compressq quantize --calibration' writes it) runs in integers with its stored activation
scales (--float runs its dequantized float network instead). Latencies depend on the
machine's load: compare settings measured in the same run.`,
		Example: `  compressq bench --model lenet.cq.safetensors --batch 1,64 --threads 1,2
  compressq bench --model resnet.onnx --batch 8 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return usageError{fmt.Errorf("--model: required")}
			}
			for _, c := range []struct {
				flag string
				vals []int
			}{{"--batch", batches}, {"--threads", threads}} {
				if len(c.vals) == 0 {
					return usageError{fmt.Errorf("%s: empty list", c.flag)}
				}
				for _, v := range c.vals {
					if v <= 0 {
						return usageError{fmt.Errorf("%s: %d: must be at least 1", c.flag, v)}
					}
				}
			}
			if runFor <= 0 {
				return usageError{fmt.Errorf("--time: %v: must be positive", runFor)}
			}
			for _, k := range kernelList {
				if err := cqruntime.CheckKernel(k); err != nil {
					return usageError{fmt.Errorf("--kernels: %w", err)}
				}
			}
			e, err := loadEnv(cmd)
			if err != nil {
				return err
			}
			raw, err := readLimited(file, e.cfg.Artifacts.MaxBytes)
			if err != nil {
				return err
			}
			m, err := cqruntime.Load(raw, e.limits())
			if err != nil {
				return fmt.Errorf("%s: %w", file, err)
			}
			defer m.Close()
			useInt8 := m.Int8 != nil && !float
			rep := benchReport{File: file, Format: m.Format, Path: "float32", Input: m.Net.InputShape(),
				InputData: fmt.Sprintf("random, uniform in [0, 1) (seed %d)", seed), CPU: benchCPUName(), GOMAXPROCS: runtime.GOMAXPROCS(0)}
			if useInt8 {
				rep.Path = "int8"
			}
			for _, b := range batches {
				for _, t := range threads {
					o := cqruntime.Options{Batch: b, Threads: t, MinTime: minKernel, Kernels: kernelList}
					plan := func(ctx context.Context) (benchPlan, error) { return m.Plan(ctx, o) }
					if useInt8 {
						plan = func(context.Context) (benchPlan, error) { return m.Int8Plan(o) }
					}
					r, err := benchSetting(cmd.Context(), plan, o, runFor, seed)
					if err != nil {
						return err
					}
					rep.Results = append(rep.Results, *r)
				}
			}
			if asJSON {
				return writeJSONTo(cmd.OutOrStdout(), &rep)
			}
			return printBench(cmd.OutOrStdout(), &rep)
		},
	}
	f := cmd.Flags()
	f.StringVar(&file, "model", "", "model file (safetensors, compressed artifact or ONNX)")
	f.IntSliceVar(&batches, "batch", []int{1}, "batch sizes, comma-separated")
	f.IntSliceVar(&threads, "threads", []int{1}, "thread counts, comma-separated")
	f.BoolVar(&asJSON, "json", false, "print the results as JSON")
	f.DurationVar(&runFor, "time", time.Second, "how long to run each setting (at least 20 runs)")
	f.DurationVar(&minKernel, "kernel-time", 10*time.Millisecond, "how long the plan times each candidate kernel of a layer")
	f.Uint64Var(&seed, "seed", 1, "seed of the random input")
	f.StringSliceVar(&kernelList, "kernels", nil, "restrict the kernels measured for layers with weights (dense,csr,bsr,nm24; dense/shifted or dense/im2col also fixes a convolution's layout); default all")
	f.BoolVar(&float, "float", false, "run an integer-only artifact's dequantized float network instead of its integer model")
	return cmd
}

// benchPlan is what bench times: a float plan or an int8 plan.
type benchPlan interface {
	Run(x []float32) ([]float32, error)
	InputShape() []int
	Layers() []cqruntime.LayerChoice
}

// benchSetting builds a plan for o with plan and times Run on random input
// for at least d and 20 runs.
func benchSetting(ctx context.Context, plan func(context.Context) (benchPlan, error), o cqruntime.Options, d time.Duration, seed uint64) (*benchResult, error) {
	t0 := time.Now()
	p, err := plan(ctx)
	if err != nil {
		return nil, err
	}
	planNs := time.Since(t0).Nanoseconds()
	r := rand.New(rand.NewPCG(seed, 0))
	x := make([]float32, o.Batch*benchNumel(p.InputShape()))
	for i := range x {
		x[i] = r.Float32()
	}
	if _, err := p.Run(x); err != nil { // warm-up
		return nil, err
	}
	var lat []time.Duration
	var total time.Duration
	for len(lat) < 20 || total < d {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		s := time.Now()
		if _, err := p.Run(x); err != nil {
			return nil, err
		}
		el := time.Since(s)
		lat = append(lat, el)
		total += el
	}
	slices.Sort(lat)
	pct := func(q float64) int64 { return lat[min(len(lat)-1, int(q*float64(len(lat))))].Nanoseconds() }
	res := &benchResult{Batch: o.Batch, Threads: o.Threads, Runs: len(lat), P50Nanos: pct(0.50), P99Nanos: pct(0.99),
		MeanNanos: total.Nanoseconds() / int64(len(lat)), ImagesPerSec: float64(o.Batch*len(lat)) / total.Seconds(),
		PlanNanos: planNs, Layers: p.Layers()}
	if sp, ok := p.(interface{ Schedule() cqruntime.Schedule }); ok {
		s := sp.Schedule()
		res.Schedule = &s
	}
	return res, nil
}

// benchNumel returns the number of values of a shape.
func benchNumel(s []int) int {
	p := 1
	for _, v := range s {
		p *= v
	}
	return p
}

// benchCPUName returns the CPU model Linux reports, or the architecture.
func benchCPUName() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

func printBench(w io.Writer, r *benchReport) error {
	fmt.Fprintf(w, "%s: %s (%s), input [N %s] %s; CPU %s, GOMAXPROCS %d\n", r.File, r.Format, r.Path, dims(r.Input), r.InputData, r.CPU, r.GOMAXPROCS)
	for _, res := range r.Results {
		fmt.Fprintf(w, "\nbatch %d, threads %d: p50 %v  p99 %v  %.0f images/s  (%d runs; plan built in %v)\n", res.Batch, res.Threads,
			time.Duration(res.P50Nanos), time.Duration(res.P99Nanos), res.ImagesPerSec, res.Runs, time.Duration(res.PlanNanos).Round(time.Millisecond))
		if s := res.Schedule; s != nil {
			fmt.Fprintf(w, "  schedule: %s%s\n", cqruntime.ScheduleName(res.Batch, s.Chunk, s.Lanes), benchTimes(s.Nanos))
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  #\tTYPE\tKERNEL\tWEIGHTS\tSPARSITY\tMEASURED PER CALL\t")
		for _, l := range res.Layers {
			kernel, shape, sp := l.Kernel, "", ""
			if l.Layout != "" {
				kernel += "/" + l.Layout
			}
			if l.Kernel == "fused" {
				kernel = fmt.Sprintf("fused into %d", l.FusedInto)
			}
			if l.Rows > 0 && l.Threads > 0 && l.Threads < res.Threads {
				kernel += fmt.Sprintf(" (%d thread)", l.Threads)
			}
			if l.Rows > 0 {
				shape, sp = fmt.Sprintf("%d×%d", l.Rows, l.Cols), fmt.Sprintf("%.2f", l.Sparsity)
			}
			fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%s\t%s\t\n", l.Index, l.Type, kernel, shape, sp, benchMeasured(l))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// benchMeasured renders a layer's kernel timings, fastest first.
func benchMeasured(l cqruntime.LayerChoice) string {
	if len(l.Nanos) == 0 && l.Rows > 0 {
		return "not timed: only " + l.Kernel + " fits"
	}
	return strings.Join(benchSorted(l.Nanos), ", ")
}

// benchSorted renders measured times, fastest first.
func benchSorted(nanos map[string]float64) []string {
	ks := slices.Collect(maps.Keys(nanos))
	slices.SortFunc(ks, func(a, b string) int { return cmp.Compare(nanos[a], nanos[b]) })
	parts := make([]string, len(ks))
	for i, k := range ks {
		parts[i] = fmt.Sprintf("%s %v", k, time.Duration(nanos[k]))
	}
	return parts
}

// benchTimes renders a schedule's measured times after its name.
func benchTimes(nanos map[string]float64) string {
	if len(nanos) == 0 {
		return ""
	}
	return " (measured per run: " + strings.Join(benchSorted(nanos), ", ") + ")"
}
