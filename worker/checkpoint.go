package worker

import (
	"context"
	"errors"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/compressq/compressq/internal/artifact"
)

// Trial checkpoints. A trained trial saves its training state as a named
// record in the artifact store after every epoch,
// checkpoints/<sweep>/<trial>/epoch-<n>, keeping the newest
// keptCheckpoints; a run of the same trial (asynq's retry, or another
// worker's after this one died) continues from the newest. A trial's
// checkpoints are deleted once its result is reported, and a sweep's once
// a step finds it done or cancelled. Losing a checkpoint costs time, never
// correctness: training from the start gives the same weights.

// keptCheckpoints is how many of a trial's newest checkpoints are kept: two,
// so that one survives while the next is being written.
const keptCheckpoints = 2

// sweepCheckpointDir is the named-record folder of a sweep's checkpoints.
func sweepCheckpointDir(sweep string) string { return "checkpoints/" + sweep }

// trialCheckpointDir is the folder of one trial's checkpoints.
func trialCheckpointDir(sweep, trial string) string { return sweepCheckpointDir(sweep) + "/" + trial }

// checkpointEpoch returns the epoch of a checkpoint key, false for keys
// that are not checkpoints.
func checkpointEpoch(key string) (int, bool) {
	n, ok := strings.CutPrefix(path.Base(key), "epoch-")
	if !ok {
		return 0, false
	}
	e, err := strconv.Atoi(n)
	return e, err == nil && e > 0 && strconv.Itoa(e) == n
}

// trialCheckpoints is one trial's nas.Checkpoints in the artifact store.
type trialCheckpoints struct {
	w   *Worker
	dir string
}

func (w *Worker) trialCheckpoints(sweep, trial string) *trialCheckpoints {
	return &trialCheckpoints{w: w, dir: trialCheckpointDir(sweep, trial)}
}

// epochs lists the trial's checkpoint epochs, oldest first.
func (c *trialCheckpoints) epochs(ctx context.Context) ([]int, error) {
	keys, err := c.w.store.ListNamed(ctx, c.dir)
	if err != nil {
		return nil, err
	}
	var out []int
	for _, k := range keys {
		if e, ok := checkpointEpoch(k); ok && path.Dir(k) == c.dir {
			out = append(out, e)
		}
	}
	slices.Sort(out) // keys sort as text, epochs as numbers
	return out, nil
}

func (c *trialCheckpoints) key(epoch int) string { return c.dir + "/epoch-" + strconv.Itoa(epoch) }

// Save implements nas.Checkpoints: it writes epoch's checkpoint, then
// deletes all but the newest keptCheckpoints. A failed write is logged and
// training goes on (it only costs a longer restart).
func (c *trialCheckpoints) Save(ctx context.Context, epoch int, b []byte) error {
	if _, err := c.w.store.PutNamed(ctx, c.key(epoch), b); err != nil {
		c.w.log.Warn("write a trial checkpoint; training goes on", "key", c.key(epoch), "error", err)
		return nil
	}
	c.w.metrics.TrialCheckpoints.Inc()
	all, err := c.epochs(ctx)
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

// Latest implements nas.Checkpoints. A checkpoint that cannot be read is
// logged and passed over for an older one, or for a start from scratch.
func (c *trialCheckpoints) Latest(ctx context.Context) (int, []byte, error) {
	all, err := c.epochs(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return 0, nil, err
		}
		c.w.log.Warn("list trial checkpoints; training from the start", "dir", c.dir, "error", err)
		return 0, nil, nil
	}
	for i := len(all) - 1; i >= 0; i-- {
		b, err := c.w.store.GetNamed(ctx, c.key(all[i]))
		if err == nil {
			return all[i], b, nil
		}
		if ctx.Err() != nil {
			return 0, nil, err
		}
		if !errors.Is(err, artifact.ErrNotFound) {
			c.w.log.Warn("read a trial checkpoint", "key", c.key(all[i]), "error", err)
		}
	}
	return 0, nil, nil
}

// dropCheckpoints deletes the named records under dir (a trial's or a
// sweep's checkpoints); failures are logged, since a leftover only takes
// space.
func (w *Worker) dropCheckpoints(ctx context.Context, dir string) {
	if err := w.store.DeleteNamedDir(context.WithoutCancel(ctx), dir); err != nil {
		w.log.Warn("delete checkpoints", "dir", dir, "error", err)
	}
}
