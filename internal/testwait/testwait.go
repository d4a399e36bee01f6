// Package testwait waits, in tests, for a condition to come true within a
// bound: one polling loop for every test instead of hand-written sleep
// loops. It is for tests only and must not be imported by product code.
package testwait

import (
	"fmt"
	"time"
)

// Polling backs off from minPoll to maxPoll between checks: fast enough
// that a test waits little past the event, slow enough not to hammer Redis.
const (
	minPoll = time.Millisecond
	maxPoll = 50 * time.Millisecond
)

// TB is the part of testing.TB that Eventually uses.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
}

// Until calls cond until it returns true or timeout has passed, and
// reports whether cond returned true. cond is called at least once. Unlike
// Eventually it may be called from any goroutine.
func Until(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for wait := minPoll; ; wait = min(2*wait, maxPoll) {
		if cond() {
			return true
		}
		left := time.Until(deadline)
		if left <= 0 {
			return false
		}
		time.Sleep(min(wait, left))
	}
}

// Eventually calls cond until it returns true, and fails the test if
// timeout passes first, with msg formatted with args (fmt.Sprintf). The
// args are formatted when the test fails, so a fmt.Stringer such as a log
// buffer shows its content at that moment. Call it from the test's
// goroutine; cond may fail the test itself (t.Fatal) on an error.
func Eventually(t TB, timeout time.Duration, cond func() bool, msg string, args ...any) {
	t.Helper()
	if !Until(timeout, cond) {
		t.Fatalf("after %v: %s", timeout, fmt.Sprintf(msg, args...))
	}
}

// Lazy is a message argument computed only when a wait fails, from the
// state at that moment: Eventually(t, d, cond, "job is %s", Lazy(func()
// string { return st.Status })).
type Lazy func() string

// String returns f().
func (f Lazy) String() string { return f() }
