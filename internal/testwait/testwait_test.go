package testwait

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// recorder is a TB that records a failure instead of stopping the test.
type recorder struct{ failed string }

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
}

// counter is a fmt.Stringer whose text changes after the call.
type counter struct{ n atomic.Int64 }

func (c *counter) String() string { return fmt.Sprint(c.n.Load()) }

func TestEventuallyReturnsOnceTrue(t *testing.T) {
	calls := 0
	var r recorder
	Eventually(&r, time.Minute, func() bool { calls++; return calls == 3 }, "never true")
	if r.failed != "" {
		t.Fatalf("failed: %s", r.failed)
	}
	if calls != 3 {
		t.Fatalf("cond called %d times, want 3: polled until true, then no more", calls)
	}
}

func TestEventuallyFailsAfterTimeout(t *testing.T) {
	var r recorder
	var c counter
	start := time.Now()
	Eventually(&r, 30*time.Millisecond, func() bool { c.n.Add(1); return false }, "still %s calls, %d", &c, 7)
	if took := time.Since(start); took < 30*time.Millisecond {
		t.Fatalf("gave up after %v, before the timeout", took)
	}
	if !strings.Contains(r.failed, "after 30ms: still "+c.String()+" calls, 7") {
		t.Fatalf("message %q does not show the timeout and the Stringer's value at failure (%s)", r.failed, c.String())
	}
	if c.n.Load() < 2 {
		t.Fatalf("cond called %d times", c.n.Load())
	}
}

func TestUntilChecksOnceWithZeroTimeout(t *testing.T) {
	calls := 0
	if Until(0, func() bool { calls++; return true }) != true || calls != 1 {
		t.Fatalf("Until(0, true) called cond %d times", calls)
	}
	if Until(0, func() bool { return false }) {
		t.Fatal("Until(0, false) = true")
	}
}

func TestLazyFormatsAtFailure(t *testing.T) {
	var r recorder
	state := "before"
	Eventually(&r, 0, func() bool { state = "after"; return false }, "state %s", Lazy(func() string { return state }))
	if !strings.HasSuffix(r.failed, "state after") {
		t.Fatalf("message %q, want the state when the wait failed", r.failed)
	}
}
