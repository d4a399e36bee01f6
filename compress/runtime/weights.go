package runtime

import (
	"errors"
	"fmt"
	"math"

	"github.com/compressq/compressq/compress/kernels"
	"github.com/compressq/compressq/compress/sparse"
)

// The kernels a plan can choose for a layer with weights.
const (
	KernelDense = "dense" // fp32 GEMM, kernels.SgemmSerial
	KernelCSR   = "csr"   // fp32 compressed sparse row SpMM/SpMV
	KernelBSR   = "bsr"   // fp32 block sparse row, 1×8 blocks
	KernelNM24  = "nm24"  // fp32 2:4 semi-structured
)

// Kernels lists every kernel a plan can choose for a layer with weights, in
// the order candidates are measured.
var Kernels = []string{KernelDense, KernelCSR, KernelBSR, KernelNM24}

// minSparsity is the fraction of zero weights below which the sparse
// formats are not measured: at lower sparsity they store about as many
// values as the dense matrix plus indices and cannot beat the dense GEMM.
const minSparsity = 0.3

// matrix is a layer's weight [rows, cols] (row-major) in one kernel's
// format, with the row-range products the plan's workers run.
type matrix struct {
	kernel     string
	rows, cols int
	dense      []float32
	csr        *sparse.CSR[float32]
	bsr        *sparse.BSR[float32]
	nm24       *sparse.NM24[float32]
}

// errNotApplicable marks a kernel the weights' pattern rules out.
var errNotApplicable = errors.New("not applicable")

// encode returns w [rows, cols] in kernel's format, or an error wrapping
// errNotApplicable when the weights' pattern rules the kernel out.
func encode(kernel string, w []float32, rows, cols int, sparsity float64) (*matrix, error) {
	m := &matrix{kernel: kernel, rows: rows, cols: cols}
	if kernel != KernelDense && sparsity < minSparsity {
		return nil, fmt.Errorf("%w: sparsity %.2f below %.2f", errNotApplicable, sparsity, minSparsity)
	}
	var err error
	switch kernel {
	case KernelDense:
		m.dense = w
	case KernelCSR:
		m.csr, err = sparse.FromDenseCSR(w, rows, cols, cols)
	case KernelBSR:
		if m.bsr, err = sparse.FromDenseBSR(w, rows, cols, cols, 1, 8); err == nil {
			if fill := float64(m.bsr.NNZ()) / float64(rows*cols); fill > 1-minSparsity {
				return nil, fmt.Errorf("%w: 1×8 blocks hold %.0f%% of the matrix", errNotApplicable, 100*fill)
			}
		}
	case KernelNM24:
		m.nm24, err = sparse.FromDenseNM24(w, rows, cols, cols)
		if errors.Is(err, sparse.ErrNot24) {
			return nil, fmt.Errorf("%w: %v", errNotApplicable, err)
		}
	default:
		return nil, fmt.Errorf("unknown kernel %q (want one of %v)", kernel, Kernels)
	}
	if err != nil {
		return nil, err
	}
	return m, nil
}

// mulRows computes rows [lo, hi) of c [rows, n] (row stride n) = W · b for
// b [cols, n] (row stride n), overwriting them, on the calling goroutine.
func (m *matrix) mulRows(b []float32, n int, c []float32, lo, hi int) {
	switch m.kernel {
	case KernelDense:
		kernels.SgemmSerial(false, false, hi-lo, n, m.cols, 1, m.dense[lo*m.cols:], m.cols, b, n, 0, c[lo*n:], n)
	case KernelCSR:
		if n == 1 {
			sparse.SpMVCSRRows(m.csr, b, c, lo, hi)
		} else {
			sparse.SpMMCSRRows(m.csr, b, n, n, c, n, lo, hi)
		}
	case KernelBSR:
		if n == 1 {
			sparse.SpMVBSRRows(m.bsr, b, c, lo, hi)
		} else {
			sparse.SpMMBSRRows(m.bsr, b, n, n, c, n, lo, hi)
		}
	case KernelNM24:
		sparse.SpMMNM24Rows(m.nm24, b, n, n, c, n, lo, hi)
	}
}

// sparsityOf returns the fraction of exact zeros in w (float weights, or
// an integer model's int8 codes).
func sparsityOf[T float32 | int8](w []T) float64 {
	if len(w) == 0 {
		return 0
	}
	z := 0
	for _, v := range w {
		if v == 0 {
			z++
		}
	}
	return float64(z) / float64(len(w))
}

// clampRange is an activation fused into a layer's epilogue: outputs are
// clamped to [lo, hi] (±Inf for none).
type clampRange struct{ lo, hi float32 }

// biasClamp writes clamp(src[i] + bias) into dst[i].
func (r clampRange) biasClamp(dst, src []float32, bias float32) {
	kernels.ScaleBiasClamp(dst, src, 1, bias, r.lo, r.hi)
}

// clamp1 returns v clamped to [lo, hi].
func (r clampRange) clamp1(v float32) float32 {
	if v < r.lo {
		return r.lo
	}
	if v > r.hi {
		return r.hi
	}
	return v
}

// fcStep runs a fully connected layer y [n, out] = x [n, in] · Wᵀ + b with
// the weights in one kernel's format. For one sample every kernel computes
// W·x (the dense one as a vectorised dot product per row, which beats a
// one-row GEMM). For a batch the dense kernel multiplies the batch-major activations
// directly (W transposed); the sparse kernels
// multiply W [out, in] by the batch transposed to [in, n] and write the
// result back batch-major, adding the bias and clamping as they go.
type fcStep struct {
	m          *matrix
	n, in, out int
	x, y, b    []float32
	act        clampRange
	xt, ct     []float32 // sparse, n > 1: x transposed, W·xᵀ
	pre, parts []func()
}

func newFCStep(m *matrix, n int, x, y, b []float32, act clampRange, threads int) *fcStep {
	s := &fcStep{m: m, n: n, in: m.cols, out: m.rows, x: x, y: y, b: b, act: act}
	align := 1
	if m.kernel == KernelDense {
		align = 16
	}
	for _, sp := range split(s.out, threads, align) {
		s.parts = append(s.parts, func() { s.rows(sp.lo, sp.hi) })
	}
	if m.kernel != KernelDense && n > 1 {
		s.xt, s.ct = make([]float32, s.in*n), make([]float32, s.out*n)
		for _, sp := range split(s.in, threads, 1) {
			s.pre = append(s.pre, func() { s.transpose(sp.lo, sp.hi) })
		}
	}
	return s
}

// transpose writes features [lo, hi) of x into xt [in, n].
func (s *fcStep) transpose(lo, hi int) {
	for k := lo; k < hi; k++ {
		row := s.xt[k*s.n : (k+1)*s.n]
		for r := range row {
			row[r] = s.x[r*s.in+k]
		}
	}
}

// rows computes output features [lo, hi) of every sample.
func (s *fcStep) rows(lo, hi int) {
	n, in, out := s.n, s.in, s.out
	switch {
	case s.m.kernel == KernelDense && n > 1:
		for r := range n {
			copy(s.y[r*out+lo:r*out+hi], s.b[lo:hi])
		}
		kernels.SgemmSerial(false, true, n, hi-lo, in, 1, s.x, in, s.m.dense[lo*in:], in, 1, s.y[lo:], out)
		if !s.act.none() {
			for r := range n {
				seg := s.y[r*out+lo : r*out+hi]
				s.act.biasClamp(seg, seg, 0)
			}
		}
	case s.m.kernel == KernelDense:
		w := s.m.dense
		for o := lo; o < hi; o++ {
			s.y[o] = s.act.clamp1(kernels.DotDiff(w[o*in:(o+1)*in], s.x, 0) + s.b[o])
		}
	case n == 1:
		s.m.mulRows(s.x, 1, s.y, lo, hi)
		for o := lo; o < hi; o++ {
			s.y[o] = s.act.clamp1(s.y[o] + s.b[o])
		}
	default:
		s.m.mulRows(s.xt, n, s.ct, lo, hi)
		for o := lo; o < hi; o++ {
			bo := s.b[o]
			for r, v := range s.ct[o*n : (o+1)*n] {
				s.y[r*out+o] = s.act.clamp1(v + bo)
			}
		}
	}
}

// width is the number of goroutines the step's largest phase uses.
func (s *fcStep) width() int { return max(len(s.pre), len(s.parts)) }

func (s *fcStep) run(w *workers) error {
	w.run(s.pre)
	w.run(s.parts)
	return nil
}

// convStep runs an ungrouped convolution over NCHW images as
// W [OutC, C·KH·KW] · cols [C·KH·KW, OH·OW] per image (cols im2col rows or
// shifted windows of the padded image), with the bias and a
// fused activation applied to each output row while it is in cache. With
// at least as many images as threads each worker takes whole images;
// otherwise the images run one after another with the output channels
// split across the workers.
type convStep struct {
	m         *matrix
	g         kernels.ConvGeom
	n, np     int // images, output pixels per image
	in, out   int // values per input and output image
	pointwise bool
	x, y, b   []float32
	act       clampRange
	cols      [][]float32 // im2col (or padded-phase) scratch per image-worker, with slack
	rowOff    []int       // start of each im2col row (or window): the dense GEMM reads them in place
	// shifted: a dense conv (where its plan measured it faster) reads
	// windows of the image's padded stride phases (kernels.PadPhases)
	// instead of im2col rows, and stores through the fused bias-and-clamp
	// epilogue; a window is wide columns of which each row's first ow are
	// kept.
	shifted     bool
	wide, ow    int
	phaseStride int
	scratchLen  int
	img         int // the image the channel-split parts work on
	parts       []func()
	byImage     bool
}

// newConvStep builds the step; shifted asks for the shifted windows, which
// only the dense kernel on an ungrouped convolution ShiftedApplies to can
// take (others run on im2col rows whatever shifted says).
func newConvStep(m *matrix, g kernels.ConvGeom, n int, x, y, b []float32, act clampRange, threads int, shifted bool) *convStep {
	oh, ow := g.Out()
	s := &convStep{m: m, g: g, n: n, np: oh * ow, in: g.C * g.H * g.W, x: x, y: y, b: b, act: act}
	s.out = m.rows * s.np
	s.pointwise = g.KH == 1 && g.KW == 1 && g.Stride == 1 && g.PadTop == 0 && g.PadLeft == 0 && g.PadBottom == 0 && g.PadRight == 0
	s.shifted = shifted && m.kernel == KernelDense && m.cols == g.C*g.KH*g.KW && kernels.ShiftedApplies(g)
	if s.shifted {
		s.rowOff, s.wide, s.phaseStride, s.scratchLen = kernels.PhaseWindows(g)
		s.ow = ow
	} else {
		s.rowOff = make([]int, m.cols)
		for p := range s.rowOff {
			s.rowOff[p] = p * s.np
		}
		s.scratchLen = m.cols*s.np + 32
	}
	s.byImage = n >= threads
	if s.byImage {
		for k, sp := range split(n, threads, 1) {
			s.cols = append(s.cols, s.scratch())
			s.parts = append(s.parts, func() {
				for i := sp.lo; i < sp.hi; i++ {
					s.image(i, s.cols[k], 0, m.rows)
				}
			})
		}
		return s
	}
	s.cols = [][]float32{s.scratch()}
	for _, sp := range split(m.rows, threads, 1) {
		s.parts = append(s.parts, func() { s.channels(s.img, s.cols[0], sp.lo, sp.hi) })
	}
	return s
}

func (s *convStep) scratch() []float32 {
	if s.pointwise {
		return nil
	}
	// The slack lets the GEMM read the rows in place; the padding of the
	// phases stays zero (PadPhases writes only the pixels).
	return make([]float32, s.scratchLen)
}

// unfold returns image i's im2col matrix, built in cols.
func (s *convStep) unfold(i int, cols []float32) []float32 {
	x := s.x[i*s.in : (i+1)*s.in]
	switch {
	case s.pointwise:
		return x
	case s.shifted:
		kernels.PadPhases(x, s.g, cols)
		return cols
	}
	kernels.Im2colGeom(x, s.g, cols[:s.m.cols*s.np])
	return cols
}

// image computes output channels [lo, hi) of image i, unfolding it first.
func (s *convStep) image(i int, cols []float32, lo, hi int) {
	s.channels(i, s.unfold(i, cols), lo, hi)
}

// channels computes output channels [lo, hi) of image i from its unfolded
// columns.
func (s *convStep) channels(i int, cols []float32, lo, hi int) {
	y := s.y[i*s.out : (i+1)*s.out]
	if s.shifted {
		kernels.SgemmOffsetRowsBiasClamp(hi-lo, s.wide, s.m.cols, s.m.dense[lo*s.m.cols:], s.m.cols, cols, s.rowOff, s.phaseStride, s.ow,
			s.b[lo:hi], s.act.lo, s.act.hi, y[lo*s.np:], s.np)
		return
	}
	if s.m.kernel == KernelDense {
		// The im2col rows read in place where cols has the slack (a 1×1
		// conv's image itself may not: then they are packed as usual).
		kernels.SgemmOffsetRows(hi-lo, s.np, s.m.cols, s.m.dense[lo*s.m.cols:], s.m.cols, cols, s.rowOff, 0, y[lo*s.np:], s.np)
	} else {
		s.m.mulRows(cols, s.np, y, lo, hi)
	}
	for o := lo; o < hi; o++ {
		row := y[o*s.np : (o+1)*s.np]
		s.act.biasClamp(row, row, s.b[o])
	}
}

// width is the number of goroutines the step uses.
func (s *convStep) width() int { return len(s.parts) }

func (s *convStep) run(w *workers) error {
	if s.byImage {
		w.run(s.parts)
		return nil
	}
	for i := range s.n {
		s.img = i
		if !s.pointwise {
			s.unfold(i, s.cols[0])
		} else {
			s.cols[0] = s.x[i*s.in : (i+1)*s.in]
		}
		w.run(s.parts)
	}
	return nil
}

// noClamp is the epilogue of a layer with no fused activation.
var noClamp = clampRange{float32(math.Inf(-1)), float32(math.Inf(1))}

// none reports whether r clamps nothing.
func (r clampRange) none() bool { return r == noClamp }
