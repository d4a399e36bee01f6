package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/compress/safetensors"
	"github.com/compressq/compressq/tasks"
)

// modelTask is a local run of a task that turns a model file into another,
// as `compressq quantize` and `compressq prune` do: the same recipe the
// worker calls (through internal/taskmap), with files instead of artifacts.
type modelTask[R any] struct {
	payload tasks.Payload
	// model points at the payload's model field; it holds the input path.
	model *string
	// data points at the payload's data field (a directory, archive or
	// URI); needData says whether to load it. pre is the payload's
	// transform fields, flags their --mean/--std.
	data     *string
	needData bool
	pre      *tasks.Preprocess
	flags    preprocessFlags
	run      func(ctx context.Context, raw []byte, limits safetensors.Limits, splits *data.Splits) ([]byte, R, error)
	// done sets the result's artifact to the output path and prints it.
	done func(w io.Writer, res R, out string, asJSON bool) error
}

// exec validates the payload, reads the model, loads the data if needed,
// runs the task, and writes and prints what it produced.
func (t modelTask[R]) exec(cmd *cobra.Command, out string, asJSON bool) error {
	if out == "" {
		return usageError{fmt.Errorf("--out: required")}
	}
	in := *t.model
	*t.model = "file://" + in // the payload wants a URI; validation only
	if err := t.flags.apply(t.pre); err != nil {
		return err
	}
	if err := t.payload.Validate(); err != nil {
		return usageError{err}
	}
	return withEnv(cmd, 0, func(e *env) error {
		raw, err := readLimited(in, e.cfg.Artifacts.MaxBytes)
		if err != nil {
			return err
		}
		var splits *data.Splits
		if t.needData {
			if splits, err = loadData(cmd.Context(), e, *t.data); err != nil {
				return err
			}
		}
		b, res, err := t.run(cmd.Context(), raw, e.limits(), splits)
		if err != nil {
			return fmt.Errorf("%s: %w", in, err)
		}
		if err := os.WriteFile(out, b, 0o644); err != nil {
			return err
		}
		return t.done(cmd.OutOrStdout(), res, out, asJSON)
	})
}

// readLimited reads a file of at most max bytes.
func readLimited(name string, max int64) ([]byte, error) {
	fi, err := os.Stat(name)
	if err != nil {
		return nil, usageError{err}
	}
	if max > 0 && fi.Size() > max {
		return nil, usageError{fmt.Errorf("%s: %d bytes exceeds artifacts.max_bytes (%d)", name, fi.Size(), max)}
	}
	return os.ReadFile(name)
}

// limits bounds the model files commands read.
func (e *env) limits() safetensors.Limits {
	return safetensors.Limits{MaxFileBytes: e.cfg.Artifacts.MaxBytes}
}
