package worker_test

import (
	"flag"
	"runtime"
	"strconv"
	"testing"

	"go.uber.org/goleak"
)

// minParallel is how many parallel tests run at once unless -parallel says
// otherwise. The parallel tests (SIGKILLed workers, Sentinel failovers,
// retries and a Redis restart) spend their time waiting out the queue
// library's lease, recoverer and forwarder timers, not computing, so they
// all run at once even on two cores.
const minParallel = 8

// TestMain fails the package's tests if a goroutine outlives them.
func TestMain(m *testing.M) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		if err := flag.Set("test.parallel", strconv.Itoa(max(runtime.GOMAXPROCS(0), minParallel))); err != nil {
			panic(err)
		}
	}
	goleak.VerifyTestMain(m)
}
