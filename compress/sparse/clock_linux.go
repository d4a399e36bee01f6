package sparse

import (
	"runtime"

	"golang.org/x/sys/unix"
)

// threadCPUAvailable reports whether threadCPUTime can measure.
const threadCPUAvailable = true

// threadCPUTime runs fn on a locked OS thread and returns the CPU time that
// thread spent in it (CLOCK_THREAD_CPUTIME_ID), which excludes time the
// thread waited while other processes ran.
func threadCPUTime(fn func()) (int64, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var a, b unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &a); err != nil {
		return 0, err
	}
	fn()
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &b); err != nil {
		return 0, err
	}
	return b.Nano() - a.Nano(), nil
}
