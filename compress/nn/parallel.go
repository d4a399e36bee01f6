package nn

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// chunkWorkers returns how many goroutines forChunks uses for n items in
// chunks of size chunk.
func chunkWorkers(n, chunk int) int {
	return max(1, min(runtime.GOMAXPROCS(0), (n+chunk-1)/chunk))
}

// forChunks splits [0, n) into consecutive chunks of size chunk and runs
// fn(w, c, lo, hi) for each chunk c on chunkWorkers(n, chunk) goroutines,
// w in [0, workers) naming the goroutine (for per-worker scratch space). It
// returns when all chunks are done. The split does not depend on GOMAXPROCS,
// so results reduced per chunk in chunk order are deterministic.
func forChunks(n, chunk int, fn func(w, c, lo, hi int)) {
	chunks := (n + chunk - 1) / chunk
	workers := chunkWorkers(n, chunk)
	if workers == 1 {
		for c := 0; c < chunks; c++ {
			fn(0, c, c*chunk, min(n, (c+1)*chunk))
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for {
				c := int(next.Add(1) - 1)
				if c >= chunks {
					return
				}
				fn(w, c, c*chunk, min(n, (c+1)*chunk))
			}
		})
	}
	wg.Wait()
}

// elemChunk is the number of elements one worker takes at a time in an
// element-wise pass (an activation, a residual sum): large enough to make a
// goroutine hand-off negligible, small enough to balance two workers.
const elemChunk = 1 << 15

// forRange runs fn over consecutive sub-ranges [lo, hi) of [0, n), split as
// forChunks splits, for element-wise passes whose result does not depend on
// the split.
func forRange(n int, fn func(lo, hi int)) {
	forChunks(n, elemChunk, func(_, _, lo, hi int) { fn(lo, hi) })
}
