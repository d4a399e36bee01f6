package runtime

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// workers is a fixed set of goroutines that run the parts of a layer, so
// that a plan's Run neither starts goroutines nor allocates closures: the
// parts are built once, when the plan is.
//
// A worker that has finished a part keeps looking for the next one for
// spinFor before it parks, and the caller waits for the parts it handed out
// without parking: on a virtual machine an idle CPU is halted, and waking
// it for every layer (a futex wake and an interrupt to the other vCPU) cost
// as much as the part itself — two threads ran little faster than one.
type workers struct {
	slots   []slot
	pending atomic.Int64 // parts handed out and not yet finished
	done    sync.WaitGroup
}

// slot is one worker's mailbox.
type slot struct {
	job    atomic.Pointer[func()]
	parked atomic.Bool
	stop   atomic.Bool
	wake   chan struct{} // one token: a job was posted while parked
}

// spinFor is how long an idle worker looks for its next part before it
// parks: longer than the gap between two layers of a plan, short enough
// that an idle plan leaves the CPU alone.
const spinFor = 200 * time.Microsecond

// newWorkers starts n goroutines (none when n ≤ 0); stop ends them.
func newWorkers(n int) *workers {
	w := &workers{slots: make([]slot, max(n, 0))}
	for i := range w.slots {
		s := &w.slots[i]
		s.wake = make(chan struct{}, 1)
		w.done.Go(func() {
			for {
				f := s.next()
				if f == nil {
					return
				}
				(*f)()
				w.pending.Add(-1)
			}
		})
	}
	return w
}

// next returns the slot's next part, spinning for spinFor and then
// parking, or nil once the slot is stopped.
func (s *slot) next() *func() {
	for {
		t0 := time.Now()
		for i := 0; ; i++ {
			if f := s.job.Swap(nil); f != nil {
				return f
			}
			if s.stop.Load() {
				return nil
			}
			if i%64 == 63 {
				if time.Since(t0) > spinFor {
					break
				}
				runtime.Gosched() // let others run where the threads are fewer than the workers
			}
		}
		// Park, after announcing it and looking once more, so a job
		// posted meanwhile is either seen here or sends a wake token.
		s.parked.Store(true)
		if f := s.job.Swap(nil); f != nil {
			s.parked.Store(false)
			return f
		}
		if s.stop.Load() {
			return nil
		}
		<-s.wake
		s.parked.Store(false)
	}
}

// post hands f to the slot's worker.
func (s *slot) post(f *func()) {
	s.job.Store(f)
	if s.parked.Load() {
		select {
		case s.wake <- struct{}{}:
		default: // a token is already there
		}
	}
}

// run runs parts[1:] on the workers and parts[0] on the calling goroutine,
// and returns when all have finished.
func (w *workers) run(parts []func()) {
	if len(parts) == 0 {
		return
	}
	w.pending.Add(int64(len(parts) - 1))
	for i := range parts[1:] {
		w.slots[i].post(&parts[1+i])
	}
	parts[0]()
	for w.pending.Load() > 0 {
		runtime.Gosched()
	}
}

// stop ends the goroutines and waits for them to exit.
func (w *workers) stop() {
	for i := range w.slots {
		s := &w.slots[i]
		s.stop.Store(true)
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
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
