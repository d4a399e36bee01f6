package runtime

import "sync"

// workers is a fixed set of goroutines that run the parts of a layer, so
// that a plan's Run neither starts goroutines nor allocates closures: the
// parts are built once, when the plan is.
type workers struct {
	jobs chan func()
	wg   sync.WaitGroup // parts of the current run still running
	done sync.WaitGroup // live worker goroutines
}

// newWorkers starts n goroutines (none when n ≤ 0); stop ends them.
func newWorkers(n int) *workers {
	w := &workers{jobs: make(chan func(), max(n, 0))}
	for range n {
		w.done.Go(func() {
			for f := range w.jobs {
				f()
				w.wg.Done()
			}
		})
	}
	return w
}

// run runs parts[1:] on the workers and parts[0] on the calling goroutine,
// and returns when all have finished.
func (w *workers) run(parts []func()) {
	if len(parts) == 0 {
		return
	}
	if len(parts) > 1 {
		w.wg.Add(len(parts) - 1)
		for _, f := range parts[1:] {
			w.jobs <- f
		}
	}
	parts[0]()
	w.wg.Wait()
}

// stop ends the goroutines and waits for them to exit.
func (w *workers) stop() {
	close(w.jobs)
	w.done.Wait()
}

// span is a range [lo, hi) of rows, images or features.
type span struct{ lo, hi int }

// split cuts [0, n) into at most t non-empty contiguous spans whose inner
// boundaries are multiples of align (so a GEMM's column tiles stay whole).
func split(n, t, align int) []span {
	align = max(align, 1)
	units := (n + align - 1) / align
	t = max(1, min(t, units))
	s := make([]span, 0, t)
	for k := range t {
		lo, hi := min(n, units*k/t*align), min(n, units*(k+1)/t*align)
		if hi > lo {
			s = append(s, span{lo, hi})
		}
	}
	return s
}
