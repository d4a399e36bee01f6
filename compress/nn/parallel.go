package nn

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// forChunks splits [0, n) into consecutive chunks of size chunk and runs
// fn(c, lo, hi) for each chunk c on up to GOMAXPROCS goroutines, returning
// when all are done. The split does not depend on GOMAXPROCS, so results
// reduced per chunk in chunk order are deterministic.
func forChunks(n, chunk int, fn func(c, lo, hi int)) {
	chunks := (n + chunk - 1) / chunk
	workers := min(runtime.GOMAXPROCS(0), chunks)
	run := func(c int) { fn(c, c*chunk, min(n, (c+1)*chunk)) }
	if workers <= 1 {
		for c := 0; c < chunks; c++ {
			run(c)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				c := int(next.Add(1) - 1)
				if c >= chunks {
					return
				}
				run(c)
			}
		})
	}
	wg.Wait()
}
