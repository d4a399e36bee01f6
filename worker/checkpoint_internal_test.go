package worker

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/compressq/compressq/internal/artifact"
	"github.com/compressq/compressq/internal/sweep"
	"github.com/compressq/compressq/metrics"
)

// TestTrialCheckpointsKeepNewestTwo: Save keeps a trial's two newest
// checkpoints by epoch number (epoch 10 after 9, not by text order),
// Latest returns the newest, and dropping the sweep's folder removes every
// trial's.
func TestTrialCheckpointsKeepNewestTwo(t *testing.T) {
	ctx := context.Background()
	st, err := artifact.Open(ctx, t.TempDir(), nil, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	w := &Worker{store: st, log: slog.New(slog.NewTextHandler(io.Discard, nil)), metrics: metrics.New(prometheus.NewRegistry())}
	c := w.trialCheckpoints("s1", "t000003", "")
	if e, b, err := c.Latest(ctx); e != 0 || b != nil || err != nil {
		t.Fatalf("Latest with none = %d, %q, %v", e, b, err)
	}
	for e := 1; e <= 11; e++ {
		if err := c.Save(ctx, e, []byte("state "+strconv.Itoa(e))); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.trialCheckpoints("s1", "t000004", "").Save(ctx, 1, []byte("other")); err != nil {
		t.Fatal(err)
	}
	keys, err := st.ListNamed(ctx, sweep.TrialCheckpointDir("s1", "t000003"))
	if want := []string{"checkpoints/s1/t000003/epoch-10", "checkpoints/s1/t000003/epoch-11"}; err != nil || !slices.Equal(keys, want) {
		t.Fatalf("kept %q, %v; want %q", keys, err, want)
	}
	if e, b, err := c.Latest(ctx); e != 11 || string(b) != "state 11" || err != nil {
		t.Fatalf("Latest = %d, %q, %v; want 11", e, b, err)
	}
	// A promotion continuing t000003 reads its newest until it has its
	// own; keepFinal leaves the promoted trial only the one asked for.
	p := w.trialCheckpoints("s1", "t000009", "t000003")
	if e, b, err := p.Latest(ctx); e != 11 || string(b) != "state 11" || err != nil {
		t.Fatalf("promotion's Latest = %d, %q, %v; want t000003's 11", e, b, err)
	}
	if err := p.Save(ctx, 12, []byte("state 12")); err != nil {
		t.Fatal(err)
	}
	if e, b, err := p.Latest(ctx); e != 12 || string(b) != "state 12" || err != nil {
		t.Fatalf("promotion's Latest after its own save = %d, %q, %v; want 12", e, b, err)
	}
	c.keepFinal(ctx, 10)
	keys, err = st.ListNamed(ctx, sweep.TrialCheckpointDir("s1", "t000003"))
	if want := []string{"checkpoints/s1/t000003/epoch-10"}; err != nil || !slices.Equal(keys, want) {
		t.Fatalf("after keepFinal(10): %q, %v; want %q", keys, err, want)
	}
	w.dropCheckpoints(ctx, sweep.CheckpointDir("s1"))
	if keys, err := st.ListNamed(ctx, "checkpoints"); err != nil || len(keys) != 0 {
		t.Fatalf("after dropping the sweep's: %q, %v", keys, err)
	}
	for _, k := range []string{"epoch-0", "epoch-01", "epoch-x", "epoch-"} {
		if _, ok := sweep.CheckpointEpoch("checkpoints/s/t/" + k); ok {
			t.Errorf("%s taken for a checkpoint", k)
		}
	}
}
