//go:build unix

package nn

import (
	"syscall"
	"time"
)

// processCPU returns the user+system CPU time the process has used, which
// benchmarks report next to wall time because the wall time of a loaded
// shared machine says little.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
