//go:build !unix

package qnn

import "time"

// processCPU reports that CPU time is not available on this OS.
func processCPU() (time.Duration, bool) { return 0, false }
