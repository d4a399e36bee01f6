package qnn

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/compress/fixed"
	"github.com/compressq/compressq/compress/nn"
)

// chunkImages is how many images one worker of Forward carries through
// the whole network at a time.
const chunkImages = 8

// Forward runs the model in integers on x, uint8 input codes of shape
// [N, input...] flattened (N whole samples), and returns the int32 logits
// [N, Classes]; real logits are LogitScale times them. It equals
// ForwardRef bit for bit.
//
// Chunks of chunkImages images run on up to Options.Threads goroutines,
// each chunk through every layer before the next, with activations kept
// as [H, W, C] per image (see layout.go) in a reused workspace: each
// Conv2D is one GEMM per few images reading its windows in place
// (convwin.go), its int32 results max-pooled (when a MaxPool2D follows) and
// requantized into the next layer's input; each Dense is one GEMM over the
// chunk. Weights are packed once at Quantize.
func (m *Model) Forward(x []uint8) ([]int32, error) {
	return m.ForwardThreads(x, m.threads)
}

// ForwardThreads is Forward on up to threads goroutines (0: GOMAXPROCS)
// instead of Options.Threads.
func (m *Model) ForwardThreads(x []uint8, threads int) ([]int32, error) {
	n, err := m.checkInput(x)
	if err != nil {
		return nil, err
	}
	logits := make([]int32, n*m.Classes)
	return logits, m.ForwardThreadsTo(logits, x, threads)
}

// ForwardThreadsTo is ForwardThreads writing the logits into logits, which
// must hold [N, classes].
func (m *Model) ForwardThreadsTo(logits []int32, x []uint8, threads int) error {
	return m.ForwardWith(logits, x, threads, nil)
}

// ForwardWith is ForwardThreadsTo with the GEMM of layer i replaced by
// mm[i] wherever mm[i] is not nil (see Matmul; only Dense and Conv2D
// layers, not depthwise ones, have a GEMM to replace). mm is nil or holds
// one entry per layer. On one goroutine it allocates nothing unless an
// mm[i] does.
func (m *Model) ForwardWith(logits []int32, x []uint8, threads int, mm []Matmul) error {
	if err := m.checkMatmuls(mm); err != nil {
		return err
	}
	n, err := m.checkInput(x)
	if err != nil {
		return err
	}
	if len(logits) < n*m.Classes {
		return fmt.Errorf("qnn: %d logits for %d samples of %d classes", len(logits), n, m.Classes)
	}
	logits = logits[:n*m.Classes]
	chunks := (n + chunkImages - 1) / chunkImages
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	workers := min(threads, chunks)
	if workers <= 1 {
		// One chunk (or one thread): a large GEMM may still use threads.
		ws := m.work.Get().(*workspace)
		for c := range chunks {
			m.chunk(ws, x, c*chunkImages, min(n, (c+1)*chunkImages), logits, fixed.Options{Threads: threads}, mm)
		}
		m.work.Put(ws)
		return nil
	}
	m.forwardChunks(logits, x, n, chunks, workers, mm)
	return nil
}

// forwardChunks runs the chunks of ForwardThreadsTo on workers goroutines,
// each with its own workspace and one-thread GEMMs. (Apart from it, so
// that the one-goroutine path captures nothing in a closure and allocates
// nothing.)
func (m *Model) forwardChunks(logits []int32, x []uint8, n, chunks, workers int, mm []Matmul) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			ws := m.work.Get().(*workspace)
			defer m.work.Put(ws)
			for {
				c := int(next.Add(1) - 1)
				if c >= chunks {
					return
				}
				m.chunk(ws, x, c*chunkImages, min(n, (c+1)*chunkImages), logits, fixed.Options{Threads: 1}, mm)
			}
		})
	}
	wg.Wait()
}

// workspace is one Forward worker's scratch memory, reused across calls
// through Model.work.
type workspace struct {
	act  [2][]uint8 // ping-pong activations, chunkImages images
	cols []uint8    // im2row rows of one Conv2D GEMM call, plus 8 bytes
	pads [][]uint8  // padded input images of each windowed Conv2D (convWin.slot)
	acc  []int32    // int32 results of one GEMM call
	tmp  []int32    // one pooled row of channels
	// nodes are a graph model's per-layer outputs for chunkImages images
	// (nil where a layer shares its input's buffer or writes logits), outs
	// the current chunk's views of them.
	nodes, outs [][]uint8
}

// chunk runs images [lo, hi) of x through the network and writes their
// logits, with the GEMMs mm replaces (nil: none).
func (m *Model) chunk(ws *workspace, x []uint8, lo, hi int, logits []int32, opt fixed.Options, mm []Matmul) {
	if m.graph {
		m.forwardGraphChunk(ws, x, lo, hi, logits, opt, mm)
	} else {
		m.forwardChunk(ws, x, lo, hi, logits, opt, mm)
	}
}

func (m *Model) newWorkspace() *workspace {
	acc := max(m.accSize, chunkImages*m.Classes)
	for _, l := range m.Layers {
		if l.Kind == KindConv {
			acc = max(acc, l.group*prod(l.Out))
		}
		if l.Kind == KindDense {
			acc = max(acc, chunkImages*l.packed.N())
		}
	}
	ws := &workspace{
		act:  [2][]uint8{make([]uint8, chunkImages*m.actSize), make([]uint8, chunkImages*m.actSize)},
		cols: make([]uint8, m.colSize+8),
		pads: make([][]uint8, m.pads),
		acc:  make([]int32, acc),
		tmp:  make([]int32, m.accSize),
	}
	for _, l := range m.Layers {
		if l.win != nil && l.win.copied {
			ws.pads[l.win.slot] = l.newPads()
		}
	}
	if m.graph {
		ws.nodes, ws.outs = make([][]uint8, len(m.Layers)), make([][]uint8, len(m.Layers))
		for i, l := range m.Layers {
			if !l.Logits && !((l.Kind == KindFlatten || l.Kind == KindReshape) && !l.transpose) {
				ws.nodes[i] = make([]uint8, chunkImages*prod(l.Out))
			}
		}
	}
	return ws
}

// forwardChunk runs images [lo, hi) of x through the network and writes
// their logits.
func (m *Model) forwardChunk(ws *workspace, x []uint8, lo, hi int, logits []int32, opt fixed.Options, mm []Matmul) {
	nb, per := hi-lo, prod(m.Input)
	cur, buf := x[lo*per:hi*per], 0
	if m.hwcInput {
		dst := ws.act[0][:nb*per]
		for i := range nb {
			chwToHWC(dst[i*per:(i+1)*per], cur[i*per:(i+1)*per], m.Input[0], m.Input[1]*m.Input[2])
		}
		cur, buf = dst, 1
	}
	out := logits[lo*m.Classes : hi*m.Classes]
	for i := 0; i < len(m.Layers); i++ {
		l := m.Layers[i]
		next := ws.act[buf]
		switch l.Kind {
		case KindConv:
			l.conv(ws, cur, nb, next, out, opt, matmulAt(mm, i))
			if l.pool != nil {
				i++ // fused
			}
		case KindDense:
			l.dense(ws, cur, nb, next, out, opt, matmulAt(mm, i))
		case KindMaxPool:
			c, h, w := l.In[0], l.In[1], l.In[2]
			inPer, outPer := c*h*w, prod(l.Out)
			for j := range nb {
				maxPoolHWC(next[j*outPer:(j+1)*outPer], cur[j*inPer:(j+1)*inPer], c, w, l.Kernel, l.Stride, l.Out[1], l.Out[2])
			}
		case KindFlatten:
			continue
		case KindReLU:
			for j, v := range cur {
				next[j] = max(v, l.InZero)
			}
		}
		cur, buf = next[:nb*prod(m.Layers[i].Out)], 1-buf
	}
}

// conv runs a Conv2D on nb [H, W, C] images src into dst (or, for the
// logits layer, into logits as [N, C, OH, OW]), group images per GEMM
// call; mm, if not nil, replaces the GEMM.
func (l *Layer) conv(ws *workspace, src []uint8, nb int, dst []uint8, logits []int32, opt fixed.Options, mm Matmul) {
	c, h, w := l.In[0], l.In[1], l.In[2]
	oc, oh, ow := l.Out[0], l.Out[1], l.Out[2]
	np, k, inPer := oh*ow, l.packed.K(), c*h*w
	for i0 := 0; i0 < nb; i0 += l.group {
		i1 := min(nb, i0+l.group)
		acc := ws.acc[:(i1-i0)*np*oc]
		switch {
		case mm != nil:
			// A Matmul multiplies the layer's own weights (FastWeights):
			// im2row rows, not windows.
			a := ws.cols[:(i1-i0)*np*k+8]
			for i := i0; i < i1; i++ {
				if l.Inputs != nil {
					im2rowGeomHWC(a[(i-i0)*np*k:], src[i*inPer:(i+1)*inPer], l, oh, ow)
				} else {
					im2rowHWC(a[(i-i0)*np*k:], src[i*inPer:(i+1)*inPer], c, h, w, l.Kernel, l.Stride, l.Pad, oh, ow, l.InZero)
				}
			}
			mm.Mul(a, (i1-i0)*np, l.InZero, acc)
		case l.win != nil:
			var pad []uint8
			if l.win.copied {
				pad = ws.pads[l.win.slot]
			}
			l.convWindows(src, pad, i0, i1, acc, opt)
		default:
			// A grouped graph conv without windows (planWindows).
			a := ws.cols[:(i1-i0)*np*k+8]
			for i := i0; i < i1; i++ {
				im2rowGeomHWC(a[(i-i0)*np*k:], src[i*inPer:(i+1)*inPer], l, oh, ow)
			}
			fixed.GEMM((i1-i0)*np, a, k, l.InZero, l.packed, acc, oc, opt)
		}
		for i := i0; i < i1; i++ {
			ai := acc[(i-i0)*np*oc : (i-i0+1)*np*oc]
			switch {
			case l.Logits:
				img := logits[i*np*oc : (i+1)*np*oc]
				row := ws.tmp[:oc]
				for p := range np {
					l.rs.Int32(row, ai[p*oc:(p+1)*oc])
					for o, v := range row {
						img[o*np+p] = v
					}
				}
			case l.pool != nil:
				ph, pw := l.pool.Out[1], l.pool.Out[2]
				poolRescaleHWC(dst[i*ph*pw*oc:(i+1)*ph*pw*oc], ai, oc, ow, l.pool.Kernel, l.pool.Stride, ph, pw, l.rs, ws.tmp)
			default:
				l.rs.Uint8Rows(dst[i*np*oc:(i+1)*np*oc], ai[:np*oc], oc)
			}
		}
	}
}

// dense runs a Dense layer on the nb rows of src into dst (or logits); mm,
// if not nil, replaces the GEMM.
func (l *Layer) dense(ws *workspace, src []uint8, nb int, dst []uint8, logits []int32, opt fixed.Options, mm Matmul) {
	k, oc := l.packed.K(), l.packed.N()
	acc := ws.acc[:nb*oc]
	if mm != nil {
		mm.Mul(src, nb, l.InZero, acc)
	} else {
		fixed.GEMM(nb, src, k, l.InZero, l.packed, acc, oc, opt)
	}
	for i := range nb {
		if l.Logits {
			l.rs.Int32(logits[i*oc:(i+1)*oc], acc[i*oc:(i+1)*oc])
		} else {
			l.rs.Uint8(dst[i*oc:(i+1)*oc], acc[i*oc:(i+1)*oc])
		}
	}
}

// Evaluation is the accuracy of one way of running a model on a data set.
type Evaluation struct {
	Correct, Total int
}

// Accuracy returns Correct/Total.
func (e Evaluation) Accuracy() float64 {
	if e.Total == 0 {
		return 0
	}
	return float64(e.Correct) / float64(e.Total)
}

// Path selects how Evaluate runs a model.
type Path int

const (
	// PathInt is Model.Forward, the fast integer path.
	PathInt Path = iota
	// PathRef is Model.ForwardRef, the reference integer path.
	PathRef
	// PathFake is Model.FakeQuant, the float simulation.
	PathFake
)

// Evaluate returns the top-1 accuracy of m on set (normalized images,
// quantized with QuantizeInput for the integer paths), in batches of 256.
func Evaluate(ctx context.Context, m *Model, set *data.Dataset, path Path) (Evaluation, error) {
	if set == nil || set.Len() == 0 {
		return Evaluation{}, errEmpty
	}
	var ev Evaluation
	for x, y := range set.Batches(256, nil) {
		if err := ctx.Err(); err != nil {
			return Evaluation{}, err
		}
		var pred []int
		switch path {
		case PathFake:
			logits, err := m.FakeQuant(x)
			if err != nil {
				return Evaluation{}, err
			}
			if pred, err = nn.Argmax(logits); err != nil {
				return Evaluation{}, err
			}
		default:
			fwd := m.Forward
			if path == PathRef {
				fwd = m.ForwardRef
			}
			logits, err := fwd(m.QuantizeInput(x.Float32s()))
			if err != nil {
				return Evaluation{}, err
			}
			pred = Argmax(logits, m.Classes)
		}
		for i, p := range pred {
			if p == y[i] {
				ev.Correct++
			}
		}
		ev.Total += len(y)
	}
	return ev, nil
}
