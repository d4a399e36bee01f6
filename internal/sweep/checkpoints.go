package sweep

import (
	"path"
	"strconv"
	"strings"
)

// Trial checkpoints live in the artifact store as named records,
// checkpoints/<sweep>/<trial>/epoch-<n> (docs/sweeps.md, "Trial
// checkpoints"): the workers write them, the sweep pages list them.

// CheckpointDir is the named-record folder of a sweep's checkpoints.
func CheckpointDir(sweep string) string { return "checkpoints/" + sweep }

// TrialCheckpointDir is the folder of one trial's checkpoints.
func TrialCheckpointDir(sweep, trial string) string { return CheckpointDir(sweep) + "/" + trial }

// TrialCheckpointKey is the key of a trial's checkpoint after epoch, in
// the folder dir.
func TrialCheckpointKey(dir string, epoch int) string { return dir + "/epoch-" + strconv.Itoa(epoch) }

// CheckpointEpoch returns the epoch of a checkpoint key (or name), false
// for keys that are not checkpoints.
func CheckpointEpoch(key string) (int, bool) {
	n, ok := strings.CutPrefix(path.Base(key), "epoch-")
	if !ok {
		return 0, false
	}
	e, err := strconv.Atoi(n)
	return e, err == nil && e > 0 && strconv.Itoa(e) == n
}
