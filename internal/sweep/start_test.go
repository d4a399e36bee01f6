package sweep

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/compressq/compressq/internal/artifact"
	"github.com/compressq/compressq/internal/datasets"
	"github.com/compressq/compressq/internal/rdb"
	"github.com/compressq/compressq/tasks"
)

// TestStartRefuses: Start refuses a spec that can never run — a table or
// data set the store does not hold, constraints no candidate meets —
// before it records or queues anything, with an error matching
// ErrInvalidSpec that names what is wrong.
func TestStartRefuses(t *testing.T) {
	rc := newRedis(t)
	ctx := context.Background()
	root := t.TempDir()
	st, err := artifact.Open(ctx, root, nil, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	table, err := st.Put(ctx, strings.NewReader("hash,accuracy,params,bytes\n"), ".csv")
	if err != nil {
		t.Fatal(err)
	}
	c := New(rc, time.Hour, tasks.Defaults{})
	defer c.Close()
	c.CheckArtifact = func(ctx context.Context, uri string) error {
		r, _, err := st.Open(ctx, uri)
		if err == nil {
			r.Close()
		}
		return err
	}
	c.CheckDataSet = func(ctx context.Context, uri string) error { return datasets.Check(ctx, st, uri) }
	missing := table[:strings.Index(table, "/sha256/")] + "/sha256/00/" + strings.Repeat("0", 64) + ".csv"
	tableEval := "evaluator: {type: table, table: \"" + table + "\"}\n"
	for _, tc := range []struct{ name, doc, want, field string }{
		{"missing table", "strategy: random\nmax_trials: 5\nevaluator: {type: table, table: \"" + missing + "\"}\nspace: {dense: {depth: [1], widths: [16]}}\n",
			"no such artifact", "evaluator.table"},
		{"missing data set", "strategy: random\nmax_trials: 5\nevaluator: {type: train, data: \"file://" + root + "/none\"}\nspace: {dense: {depth: [1], widths: [16]}}\n",
			"no such artifact", "evaluator.data"},
		{"data set outside the roots", "strategy: random\nmax_trials: 5\nevaluator: {type: train, data: \"file:///etc\"}\nspace: {dense: {depth: [1], widths: [16]}}\n",
			"outside the artifact roots", "evaluator.data"},
		{"max_params no candidate meets", "strategy: evolution\nmax_trials: 5\n" + tableEval + "space: {dense: {depth: [1, 2], widths: [16, 32]}, constraints: {max_params: 1000}}\n",
			"space.constraints: the strategy finds no candidate within max_params 1000", ""},
		{"max_bytes no candidate meets (grid)", "strategy: grid\nmax_trials: 5\n" + tableEval + "space: {dense: {depth: [1, 2], widths: [16, 32]}, constraints: {max_bytes: 100}}\n",
			"within max_params 0 and max_bytes 100", ""},
		{"typed space, max_params", "strategy: tpe\nmax_trials: 5\n" + tableEval + "space: {params: {dense_width: {type: int, low: 16, high: 64}}, constraints: {max_params: 10}}\n",
			"space.constraints", ""},
	} {
		startRefused(t, c, tc.name, []byte(tc.doc), tc.want, tc.field)
	}
	nothingStarted(t, c)
	if n, err := rc.Exists(ctx, "asynq:{sweep}:pending").Result(); err != nil || n != 0 {
		t.Fatalf("sweep queue after refused specs: %d %v, want none", n, err)
	}

	// A grid too large to enumerate at start is not checked: Start returns
	// at once instead of walking its 10^8 encodings.
	big := "strategy: grid\nmax_trials: 5\n" + tableEval + `space:
  conv: {depth: [0, 1, 2, 3], channels: [4, 8, 16, 32, 64, 128], kernels: [1, 3, 5]}
  dense: {depth: [1, 2, 3], widths: [16, 32, 64, 128, 256, 512]}
  compression: {sparsity: [0, 0.5, 0.9], weight_bits: [4, 8, 32], kmeans_bits: [0, 4, 8]}
  constraints: {max_params: 10}
`
	spec, err := ParseSpec([]byte(big))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Start(ctx, spec); err != nil {
		t.Fatalf("large grid: %v", err)
	}
	if n, err := rc.Exists(ctx, "asynq:{sweep}:pending").Result(); err != nil || n != 1 {
		t.Fatalf("sweep queue after a start: %d %v, want its first step", n, err)
	}
}

// TestSetStatusErrors: steering an unknown sweep is rdb.ErrNoSweep; a
// finished one ErrFinished.
func TestSetStatusErrors(t *testing.T) {
	rc := newRedis(t)
	ctx := context.Background()
	c := New(rc, time.Hour, tasks.Defaults{})
	defer c.Close()
	spec, err := ParseSpec([]byte("id: s\nstrategy: random\nmax_trials: 5\n" + evalTable + "space: {dense: {depth: [1], widths: [16, 32]}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Start(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if err := c.Pause(ctx, "nope"); !errors.Is(err, rdb.ErrNoSweep) {
		t.Fatalf("pause an unknown sweep: %v, want ErrNoSweep", err)
	}
	if err := c.Pause(ctx, "s"); err != nil {
		t.Fatal(err)
	}
	if err := c.Pause(ctx, "s"); err != nil {
		t.Fatalf("pause a paused sweep: %v, want nil", err)
	}
	if err := c.Cancel(ctx, "s"); err != nil {
		t.Fatal(err)
	}
	for name, f := range map[string]func(context.Context, string) error{"pause": c.Pause, "resume": c.Resume, "cancel": c.Cancel} {
		if err := f(ctx, "s"); !errors.Is(err, ErrFinished) || !strings.Contains(err.Error(), "sweep s has finished") {
			t.Errorf("%s a cancelled sweep: %v, want ErrFinished", name, err)
		}
	}
}

// startRefused checks that Start refuses the spec doc with an error
// matching ErrInvalidSpec that contains want and, when field is set,
// names that one field.
func startRefused(t *testing.T, c *Controller, name string, doc []byte, want, field string) {
	t.Helper()
	spec, err := ParseSpec(doc)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	_, err = c.Start(context.Background(), spec)
	if !errors.Is(err, ErrInvalidSpec) || !strings.Contains(err.Error(), want) {
		t.Errorf("%s: Start = %v, want ErrInvalidSpec containing %q", name, err, want)
		return
	}
	if fs := tasks.Fields(err); field != "" && (len(fs) != 1 || fs[0].Field != field) {
		t.Errorf("%s: fields %v, want %s", name, fs, field)
	}
}

// nothingStarted checks that c recorded no sweep.
func nothingStarted(t *testing.T, c *Controller) {
	t.Helper()
	if ids, err := c.List(context.Background(), 0, 10); err != nil || len(ids) != 0 {
		t.Fatalf("sweeps after refused specs: %v %v, want none", ids, err)
	}
}
