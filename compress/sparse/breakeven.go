package sparse

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"time"

	"github.com/compressq/compressq/compress/fixed"
	"github.com/compressq/compressq/compress/kernels"
	"golang.org/x/sys/cpu"
)

// Formats and dtypes of break-even measurements.
const (
	FormatDense = "dense"
	FormatCSR   = "csr"
	FormatBSR   = "bsr"
	FormatNM24  = "nm24"
	DtypeF32    = "f32"
	DtypeInt8   = "int8"
)

// BenchConfig configures MeasureBreakEven. The zero value measures a
// 1024×1024 layer at batches 1 and 64 and sparsities 50–98%.
type BenchConfig struct {
	// Rows and Cols are the weight shape [out, in] (0 means 1024 each).
	Rows, Cols int
	// Batches are the batch sizes (nil means 1 and 64).
	Batches []int
	// Sparsities are the unstructured sparsities (nil means 0.5, 0.7, 0.8,
	// 0.9, 0.95, 0.98); 2:4 is measured at 0.5 only.
	Sparsities []float64
	// BlockR and BlockC are the BSR block shape (0 means 1×8, one AVX2
	// register of float32). BSR is measured on block-sparse weights (whole
	// blocks zero), the pattern it is for.
	BlockR, BlockC int
	// MinTime is the least time each measurement repeats for (0 means
	// 200 ms); the fastest single call is kept.
	MinTime time.Duration
	// Seed fixes the random weights and activations.
	Seed uint64
	// ThreadCPU times each call by the CPU time of its thread instead of
	// wall time, so that time spent descheduled on a shared machine is not
	// counted. The kernels must then run on the calling goroutine:
	// MeasureBreakEven fails unless GOMAXPROCS is 1 (Linux only).
	ThreadCPU bool
}

// Sample is one timing: ns per multiply of the whole layer.
type Sample struct {
	Format, Dtype string
	Batch         int
	Sparsity      float64
	Nanos         float64
	// GFLOPS is the effective rate, 2·Rows·Cols·Batch dense-equivalent
	// operations per ns.
	GFLOPS float64
	// Speedup is the dense time of the same dtype and batch over this one.
	Speedup float64
}

// BreakEven is a measured table of sparse against dense kernel times on one
// machine.
type BreakEven struct {
	// Machine identifies the CPU features and kernel paths the table was
	// measured with; LoadOrMeasureBreakEven re-measures when it differs.
	Machine string
	// Rows, Cols are the measured layer shape.
	Rows, Cols int
	// Clock is "wall" or "thread-cpu" (see BenchConfig.ThreadCPU).
	Clock   string
	Samples []Sample
}

// Machine returns the identity of this process's kernel configuration: the
// architecture, the CPU features the kernels use, the dispatch choices and
// GOMAXPROCS.
func Machine() string {
	return fmt.Sprintf("%s/avx2=%t/fma=%t/avx512=%t/vnni=%t/sparse=%s/spmv-int8=%s/int8=%s/procs=%d/v3",
		runtime.GOARCH, cpu.X86.HasAVX2, cpu.X86.HasFMA, cpu.X86.HasAVX512F, cpu.X86.HasAVX512VNNI,
		Impl(), SpMVInt8Impl(), fixed.Impl(), runtime.GOMAXPROCS(0))
}

// timeIt returns the fastest single call of fn over calls repeated for at
// least minTime (and at least 5 calls). The minimum, not the mean, is kept:
// on a shared machine it is the estimate least disturbed by other load, and
// every format is measured the same way.
func timeIt(ctx context.Context, minTime time.Duration, threadCPU bool, fn func()) (float64, error) {
	best := time.Duration(math.MaxInt64)
	var total time.Duration
	for calls := 0; calls < 5 || total < minTime; calls++ {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		start := time.Now()
		var el time.Duration
		if threadCPU {
			ns, err := threadCPUTime(fn)
			if err != nil {
				return 0, err
			}
			el = time.Duration(ns)
		} else {
			fn()
			el = time.Since(start)
		}
		best = min(best, el)
		total += time.Since(start)
	}
	return float64(best.Nanoseconds()), nil
}

// MeasureBreakEven times dense GEMM (kernels.Sgemm for float32, fixed.GEMM
// for int8) against the CSR, BSR and 2:4 kernels on a random layer at each
// batch and sparsity of cfg, in this process. At batch 1 CSR is the SpMV:
// SpMVCSR for float32, SpMVInt8 (on a SlicedInt8 built beforehand) for
// int8.
func MeasureBreakEven(ctx context.Context, cfg BenchConfig) (*BreakEven, error) {
	m, k := cmpOr(cfg.Rows, 1024), cmpOr(cfg.Cols, 1024)
	batches := cfg.Batches
	if batches == nil {
		batches = []int{1, 64}
	}
	sps := cfg.Sparsities
	if sps == nil {
		sps = []float64{0.5, 0.7, 0.8, 0.9, 0.95, 0.98}
	}
	br, bc := cmpOr(cfg.BlockR, 1), cmpOr(cfg.BlockC, 8)
	minTime := cfg.MinTime
	if minTime == 0 {
		minTime = 200 * time.Millisecond
	}
	clock := "wall"
	if cfg.ThreadCPU {
		if !threadCPUAvailable || runtime.GOMAXPROCS(0) != 1 {
			return nil, fmt.Errorf("sparse: thread CPU timing needs linux and GOMAXPROCS=1 (have %s, %d)", runtime.GOOS, runtime.GOMAXPROCS(0))
		}
		clock = "thread-cpu"
	}
	r := rand.New(rand.NewPCG(cfg.Seed, 0x5eed))
	t := &BreakEven{Machine: Machine(), Rows: m, Cols: k, Clock: clock}
	add := func(format, dtype string, batch int, s float64, fn func()) error {
		ns, err := timeIt(ctx, minTime, cfg.ThreadCPU, fn)
		if err != nil {
			return err
		}
		t.Samples = append(t.Samples, Sample{Format: format, Dtype: dtype, Batch: batch, Sparsity: s, Nanos: ns,
			GFLOPS: 2 * float64(m) * float64(k) * float64(batch) / ns})
		return nil
	}
	wf := make([]float32, m*k)
	wi := make([]int8, m*k)
	for i := range wf {
		wf[i] = float32(2*r.Float64() - 1)
		wi[i] = int8(r.IntN(127) + 1)
		if r.IntN(2) == 0 {
			wi[i] = -wi[i]
		}
	}
	for _, n := range batches {
		bf, bu := randomB(r, k, n)
		cf := make([]float32, m*n)
		ci := make([]int32, m*n)
		if err := add(FormatDense, DtypeF32, n, 0, func() { kernels.Sgemm(false, false, m, n, k, 1, wf, k, bf, n, 0, cf, n) }); err != nil {
			return nil, err
		}
		// int8 dense: activations [n, k] as fixed.GEMM's A, weights packed
		// from their [out, in] layout.
		pw := fixed.PackBT(wi, m, k, k)
		if err := add(FormatDense, DtypeInt8, n, 0, func() { fixed.GEMM(n, bu, k, 128, pw, ci, m, fixed.Options{}) }); err != nil {
			return nil, err
		}
		for _, s := range sps {
			us := unstructured(r, wf, s)
			ui := unstructured(r, wi, s)
			csr, _ := FromDenseCSR(us, m, k, k)
			csri, _ := FromDenseCSR(ui, m, k, k)
			fcsr := func() { SpMMCSR(csr, bf, n, n, cf, n) }
			if n == 1 {
				fcsr = func() { SpMVCSR(csr, bf, cf) }
			}
			if err := add(FormatCSR, DtypeF32, n, s, fcsr); err != nil {
				return nil, err
			}
			fcsri := func() { SpMMCSRInt8(csri, bu, n, n, 128, ci, n) }
			if n == 1 {
				sliced := NewSlicedInt8(csri)
				fcsri = func() { SpMVInt8(sliced, bu, 128, ci) }
			}
			if err := add(FormatCSR, DtypeInt8, n, s, fcsri); err != nil {
				return nil, err
			}
			bs := blockSparse(r, wf, m, k, br, bc, s)
			bsi := blockSparse(r, wi, m, k, br, bc, s)
			bsr, _ := FromDenseBSR(bs, m, k, k, br, bc)
			bsri, _ := FromDenseBSR(bsi, m, k, k, br, bc)
			fbsr := func() { SpMMBSR(bsr, bf, n, n, cf, n) }
			if n == 1 {
				fbsr = func() { SpMVBSR(bsr, bf, cf) }
			}
			if err := add(FormatBSR, DtypeF32, n, s, fbsr); err != nil {
				return nil, err
			}
			if err := add(FormatBSR, DtypeInt8, n, s, func() { SpMMBSRInt8(bsri, bu, n, n, 128, ci, n) }); err != nil {
				return nil, err
			}
		}
		nf, _ := FromDenseNM24(pattern24(r, wf, m, k), m, k, k)
		ni, _ := FromDenseNM24(pattern24(r, wi, m, k), m, k, k)
		if err := add(FormatNM24, DtypeF32, n, 0.5, func() { SpMMNM24(nf, bf, n, n, cf, n) }); err != nil {
			return nil, err
		}
		if err := add(FormatNM24, DtypeInt8, n, 0.5, func() { SpMMNM24Int8(ni, bu, n, n, 128, ci, n) }); err != nil {
			return nil, err
		}
	}
	for i := range t.Samples {
		s := &t.Samples[i]
		if d, ok := t.dense(s.Dtype, s.Batch); ok {
			s.Speedup = d / s.Nanos
		}
	}
	return t, nil
}

func (t *BreakEven) dense(dtype string, batch int) (float64, bool) {
	for _, s := range t.Samples {
		if s.Format == FormatDense && s.Dtype == dtype && s.Batch == batch {
			return s.Nanos, true
		}
	}
	return 0, false
}

// BreakEvenSparsity returns the lowest measured sparsity at which format
// beats dense for dtype and batch (every higher measured sparsity too);
// ok is false if it never does.
func (t *BreakEven) BreakEvenSparsity(format, dtype string, batch int) (s float64, ok bool) {
	var pts []Sample
	for _, x := range t.Samples {
		if x.Format == format && x.Dtype == dtype && x.Batch == batch {
			pts = append(pts, x)
		}
	}
	slices.SortFunc(pts, func(a, b Sample) int {
		switch {
		case a.Sparsity < b.Sparsity:
			return -1
		case a.Sparsity > b.Sparsity:
			return 1
		}
		return 0
	})
	for i := len(pts) - 1; i >= 0 && pts[i].Speedup > 1; i-- {
		s, ok = pts[i].Sparsity, true
	}
	return s, ok
}

// Choose returns the fastest format for a layer of the given dtype, batch
// size and weight sparsity among dense and the candidate formats the
// layer's weights allow (FormatCSR always; FormatBSR if block-sparse;
// FormatNM24 if 2:4): a sparse format is chosen only when the table shows it
// faster than dense at the nearest measured batch and at a measured
// sparsity no higher than the layer's.
func (t *BreakEven) Choose(dtype string, batch int, sparsity float64, candidates ...string) string {
	nb, best := 0, -1
	for _, s := range t.Samples {
		if d := abs(s.Batch - batch); best < 0 || d < best {
			nb, best = s.Batch, d
		}
	}
	choice, speed := FormatDense, 1.0
	for _, s := range t.Samples {
		if s.Dtype != dtype || s.Batch != nb || !slices.Contains(candidates, s.Format) || s.Sparsity > sparsity+1e-9 {
			continue
		}
		if s.Speedup > speed {
			choice, speed = s.Format, s.Speedup
		}
	}
	return choice
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func cmpOr(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// CachePath returns the file LoadOrMeasureBreakEven uses: a JSON file in
// the user cache directory (os.UserCacheDir) named for the layer shape.
func CachePath(cfg BenchConfig) (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "compressq", fmt.Sprintf("sparse-breakeven-%dx%d.json", cmpOr(cfg.Rows, 1024), cmpOr(cfg.Cols, 1024))), nil
}

// LoadOrMeasureBreakEven returns the break-even table cached in the user
// cache directory when it exists and was measured on this Machine();
// otherwise it measures one with cfg and tries to cache it. Without a
// usable cache directory it still measures and returns the table; the
// error then reports only measurement failures. cached says whether the
// table came from the cache.
func LoadOrMeasureBreakEven(ctx context.Context, cfg BenchConfig) (t *BreakEven, cached bool, err error) {
	path, perr := CachePath(cfg)
	if perr == nil {
		if b, err := os.ReadFile(path); err == nil {
			var c BreakEven
			if json.Unmarshal(b, &c) == nil && c.Machine == Machine() && len(c.Samples) > 0 {
				return &c, true, nil
			}
		}
	}
	if t, err = MeasureBreakEven(ctx, cfg); err != nil {
		return nil, false, err
	}
	if perr == nil {
		if b, err := json.MarshalIndent(t, "", " "); err == nil {
			if os.MkdirAll(filepath.Dir(path), 0o755) == nil {
				tmp := path + ".tmp"
				if os.WriteFile(tmp, b, 0o644) == nil {
					_ = os.Rename(tmp, path)
				}
			}
		}
	}
	return t, false, nil
}

// unstructured returns a copy of w with a random fraction s of entries
// zeroed (exactly round(s·len) of them; w has no zeros).
func unstructured[T Elem](r *rand.Rand, w []T, s float64) []T {
	out := slices.Clone(w)
	perm := r.Perm(len(w))
	for _, i := range perm[:int(s*float64(len(w))+0.5)] {
		out[i] = 0
	}
	return out
}

// blockSparse returns a copy of w [m, k] with a random fraction s of its
// br×bc blocks zeroed.
func blockSparse[T Elem](r *rand.Rand, w []T, m, k, br, bc int, s float64) []T {
	out := slices.Clone(w)
	gr, gc := (m+br-1)/br, (k+bc-1)/bc
	perm := r.Perm(gr * gc)
	for _, b := range perm[:int(s*float64(gr*gc)+0.5)] {
		bi, bj := b/gc, b%gc
		for i := bi * br; i < min(m, bi*br+br); i++ {
			for j := bj * bc; j < min(k, bj*bc+bc); j++ {
				out[i*k+j] = 0
			}
		}
	}
	return out
}

// pattern24 returns a copy of w [m, k] keeping two random entries of every
// group of four (the positions differ from group to group and row to row,
// as in a pruned layer).
func pattern24[T Elem](r *rand.Rand, w []T, m, k int) []T {
	out := slices.Clone(w)
	for i := range m {
		for q := 0; q < k; q += 4 {
			p0 := r.IntN(4)
			p1 := (p0 + 1 + r.IntN(3)) % 4
			for t := q; t < min(k, q+4); t++ {
				if t-q != p0 && t-q != p1 {
					out[i*k+t] = 0
				}
			}
		}
	}
	return out
}

// randomB returns the same random dense operand B [k, n] as float32 values
// in [−1, 1) and as uint8 codes.
func randomB(r *rand.Rand, k, n int) ([]float32, []uint8) {
	bf := make([]float32, k*n)
	bu := make([]uint8, k*n)
	for i := range bf {
		bf[i] = float32(2*r.Float64() - 1)
		bu[i] = uint8(r.IntN(256))
	}
	return bf, bu
}
