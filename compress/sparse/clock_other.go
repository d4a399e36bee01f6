//go:build !linux

package sparse

import "errors"

// threadCPUAvailable reports whether threadCPUTime can measure.
const threadCPUAvailable = false

// threadCPUTime is only implemented on Linux.
func threadCPUTime(fn func()) (int64, error) {
	return 0, errors.New("sparse: thread CPU time is only measured on linux")
}
