package worker

import (
	"context"
	"errors"
	"path"
	"slices"

	"github.com/compressq/compressq/internal/artifact"
	"github.com/compressq/compressq/internal/sweep"
)

// Trial checkpoints. A trained trial saves its training state as a named
// record in the artifact store after every epoch (sweep.TrialCheckpointKey),
// keeping the newest keptCheckpoints; a run of the same trial (asynq's
// retry, or another worker's after this one died) continues from the
// newest. A trial's checkpoints are deleted once its result is reported —
// all but the final one when a promotion may continue it (an ASHA trial
// below the top rung), which goes when the promotion has reported its
// result — and a sweep's once a step finds it done or cancelled. Losing a
// checkpoint costs time, never correctness: training from the start gives
// the same weights.

// keptCheckpoints is how many of a trial's newest checkpoints are kept: two,
// so that one survives while the next is being written.
const keptCheckpoints = 2

// trialCheckpoints is one trial's nas.Checkpoints in the artifact store.
// A promotion that continues a lower rung's trial (nas.Trial.From) reads
// that trial's checkpoints, from, until it has written its own.
type trialCheckpoints struct {
	w    *Worker
	dir  string
	from string
}

func (w *Worker) trialCheckpoints(sweepID, trial, from string) *trialCheckpoints {
	c := &trialCheckpoints{w: w, dir: sweep.TrialCheckpointDir(sweepID, trial)}
	if from != "" {
		c.from = sweep.TrialCheckpointDir(sweepID, from)
	}
	return c
}

// epochs lists the checkpoint epochs in dir, oldest first.
func (c *trialCheckpoints) epochs(ctx context.Context, dir string) ([]int, error) {
	keys, err := c.w.store.ListNamed(ctx, dir)
	if err != nil {
		return nil, err
	}
	var out []int
	for _, k := range keys {
		if e, ok := sweep.CheckpointEpoch(k); ok && path.Dir(k) == dir {
			out = append(out, e)
		}
	}
	slices.Sort(out) // keys sort as text, epochs as numbers
	return out, nil
}

func (c *trialCheckpoints) key(epoch int) string { return sweep.TrialCheckpointKey(c.dir, epoch) }

// Save implements nas.Checkpoints: it writes epoch's checkpoint, then
// deletes all but the newest keptCheckpoints. A failed write is logged and
// training goes on (it only costs a longer restart).
func (c *trialCheckpoints) Save(ctx context.Context, epoch int, b []byte) error {
	if _, err := c.w.store.PutNamed(ctx, c.key(epoch), b); err != nil {
		c.w.log.Warn("write a trial checkpoint; training goes on", "key", c.key(epoch), "error", err)
		return nil
	}
	c.w.metrics.TrialCheckpoints.Inc()
	all, err := c.epochs(ctx, c.dir)
	if err != nil {
		c.w.log.Warn("list trial checkpoints", "dir", c.dir, "error", err)
		return nil
	}
	for _, e := range all[:max(0, len(all)-keptCheckpoints)] {
		if err := c.w.store.DeleteNamed(ctx, c.key(e)); err != nil {
			c.w.log.Warn("delete an old trial checkpoint", "key", c.key(e), "error", err)
		}
	}
	return nil
}

// Latest implements nas.Checkpoints: the trial's newest checkpoint, or
// else the newest of the trial it continues. A checkpoint that cannot be
// read is logged and passed over for an older one, or for a start from
// scratch.
func (c *trialCheckpoints) Latest(ctx context.Context) (int, []byte, error) {
	for _, dir := range []string{c.dir, c.from} {
		if dir == "" {
			continue
		}
		e, b, err := c.latestIn(ctx, dir)
		if err != nil || b != nil {
			return e, b, err
		}
	}
	return 0, nil, nil
}

// latestIn returns the newest readable checkpoint in dir.
func (c *trialCheckpoints) latestIn(ctx context.Context, dir string) (int, []byte, error) {
	all, err := c.epochs(ctx, dir)
	if err != nil {
		if ctx.Err() != nil {
			return 0, nil, err
		}
		c.w.log.Warn("list trial checkpoints; training from the start", "dir", dir, "error", err)
		return 0, nil, nil
	}
	for i := len(all) - 1; i >= 0; i-- {
		key := sweep.TrialCheckpointKey(dir, all[i])
		b, err := c.w.store.GetNamed(ctx, key)
		if err == nil {
			return all[i], b, nil
		}
		if ctx.Err() != nil {
			return 0, nil, err
		}
		if !errors.Is(err, artifact.ErrNotFound) {
			c.w.log.Warn("read a trial checkpoint", "key", key, "error", err)
		}
	}
	return 0, nil, nil
}

// keepFinal deletes the trial's checkpoints except the one at epoch, which
// a promotion may continue from.
func (c *trialCheckpoints) keepFinal(ctx context.Context, epoch int) {
	all, err := c.epochs(context.WithoutCancel(ctx), c.dir)
	if err != nil {
		c.w.log.Warn("list trial checkpoints", "dir", c.dir, "error", err)
		return
	}
	for _, e := range all {
		if e == epoch {
			continue
		}
		if err := c.w.store.DeleteNamed(context.WithoutCancel(ctx), c.key(e)); err != nil {
			c.w.log.Warn("delete a trial checkpoint", "key", c.key(e), "error", err)
		}
	}
}

// dropCheckpoints deletes the named records under dir (a trial's or a
// sweep's checkpoints); failures are logged, since a leftover only takes
// space.
func (w *Worker) dropCheckpoints(ctx context.Context, dir string) {
	if err := w.store.DeleteNamedDir(context.WithoutCancel(ctx), dir); err != nil {
		w.log.Warn("delete checkpoints", "dir", dir, "error", err)
	}
}
