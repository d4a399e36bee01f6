package runtime

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/compressq/compressq/compress/kernels"
	"github.com/compressq/compressq/compress/nn"
	"github.com/compressq/compressq/compress/safetensors"
)

// TestChunkedSchedules runs networks through every kind of chunked
// schedule — chunks in turn with layers split across threads, lanes of
// chunks on one thread each, a last chunk holding the rest, more lanes
// than whole chunks — and compares with nn.Network.Forward; on the
// assembly kernels without -race, Run must not allocate.
func TestChunkedSchedules(t *testing.T) {
	m, err := Load(resnetFixture(t), safetensors.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	nets := []namedNet{
		{"lenet-5", lenet(t, "lenet-5", 0, false)},
		{"lenet-300-100 90%", lenet(t, "lenet-300-100", 0.9, false)},
		{"resnet", m.Net},
	}
	for _, c := range nets {
		for _, s := range []struct{ batch, threads, chunk, lanes int }{
			{7, 1, 2, 1}, {7, 2, 3, 1}, {8, 2, 4, 2}, {7, 2, 2, 2}, {5, 3, 1, 3}, {3, 3, 2, 2}, {9, 3, 4, 3},
		} {
			t.Run(fmt.Sprintf("%s/batch=%d/threads=%d/chunk=%d/lanes=%d", c.name, s.batch, s.threads, s.chunk, s.lanes), func(t *testing.T) {
				p := newPlan(t, c.net, Options{Batch: s.batch, Threads: s.threads})
				folded, err := c.net.FoldBatchNorm()
				if err != nil {
					t.Fatal(err)
				}
				ch, err := newChunks(context.Background(), folded, Options{Batch: s.batch, Threads: s.threads, Kernels: Kernels, MinTime: 1e6}, p.w, s.batch, s.chunk, s.lanes)
				if err != nil {
					t.Fatal(err)
				}
				if len(ch.lanes) != s.lanes {
					t.Fatalf("%d lanes, want %d", len(ch.lanes), s.lanes)
				}
				p.adopt(ch, make([]float32, s.batch*prod(folded.OutputShape())))
				if got := p.Schedule(); got.Chunk != s.chunk || got.Lanes != s.lanes {
					t.Fatalf("schedule %+v, want chunk %d lanes %d", got, s.chunk, s.lanes)
				}
				for seed := range uint64(2) {
					x := randInput(s.batch, c.net.InputShape(), 10+seed)
					got, err := p.Run(x)
					if err != nil {
						t.Fatal(err)
					}
					checkClose(t, got, forward(t, c.net, x, s.batch))
				}
				if _, err := p.Run(make([]float32, 3)); err == nil {
					t.Fatal("Run took an input of the wrong length")
				}
				if raceEnabled || kernels.Impl() == "go" {
					return
				}
				x := randInput(s.batch, c.net.InputShape(), 1)
				if a := testing.AllocsPerRun(5, func() { p.Run(x) }); a != 0 {
					t.Errorf("%v allocations per Run", a)
				}
			})
		}
	}
}

// TestScheduleMeasured checks that a plan times the whole batch against
// the chunked schedules its batch and threads allow, runs the fastest,
// and that a batch of one is never chunked.
func TestScheduleMeasured(t *testing.T) {
	m, err := Load(resnetFixture(t), safetensors.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for _, s := range []struct {
		net            *nn.Network
		batch, threads int
		want           []string
	}{
		{m.Net, 8, 2, []string{"batch", "chunks of 1", "chunks of 1 in 2 lanes", "chunks of 4 in 2 lanes"}},
		{m.Net, 1, 2, nil},
		{lenet(t, "lenet-5", 0, false), 64, 1, []string{"batch", "chunks of %d"}},
		{lenet(t, "lenet-5", 0, false), 6, 4, []string{"batch", "chunks of %d", "chunks of %d in 3 lanes"}},
	} {
		p := newPlan(t, s.net, Options{Batch: s.batch, Threads: s.threads})
		// LeNet-5's chunk follows from its activations' size (2 on the
		// reference architecture), the ResNet's is 1.
		for i, w := range s.want {
			if strings.Contains(w, "%d") {
				s.want[i] = fmt.Sprintf(w, chunkSize(p.perImage))
			}
		}
		sc := p.Schedule()
		if len(sc.Nanos) != len(s.want) {
			t.Fatalf("batch %d threads %d: measured %v, want %v", s.batch, s.threads, sc.Nanos, s.want)
		}
		best, bestNs := "", 0.0
		for _, name := range s.want {
			ns, ok := sc.Nanos[name]
			if !ok || ns <= 0 {
				t.Fatalf("batch %d threads %d: %q not measured: %v", s.batch, s.threads, name, sc.Nanos)
			}
			if best == "" || ns < bestNs {
				best, bestNs = name, ns
			}
		}
		if got := ScheduleName(s.batch, sc.Chunk, sc.Lanes); s.want != nil && got != best {
			t.Errorf("batch %d threads %d: runs %q, the fastest measured was %q (%v)", s.batch, s.threads, got, best, sc.Nanos)
		}
		if s.want == nil && (sc.Chunk != s.batch || sc.Lanes != 1) {
			t.Errorf("batch %d threads %d: schedule %+v, want the whole batch", s.batch, s.threads, sc)
		}
	}
}
