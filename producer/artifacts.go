package producer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/compressq/compressq/internal/artifact"
	"github.com/compressq/compressq/tasks"
)

// artifactFields are the top-level payload fields that name an artifact
// (a model) a worker will read from the store.
var artifactFields = []string{"model", "teacher"}

// StoreChecker returns a Producer.CheckArtifact that opens uri in st (which
// confines it to the configured roots and finds the artifact) without
// reading it.
func StoreChecker(st *artifact.Store) func(ctx context.Context, uri string) error {
	return func(ctx context.Context, uri string) error {
		r, _, err := st.Open(ctx, uri)
		if err != nil {
			return err
		}
		return r.Close()
	}
}

// checkArtifacts runs p.CheckArtifact on every artifact URI of a normalized
// spec, except the "@prev" placeholder, and reports each bad one as a
// FieldError naming its field. Errors that are not about the URI (the store
// did not answer) are returned as they are.
func (p *Producer) checkArtifacts(ctx context.Context, spec *tasks.JobSpec) error {
	if p.CheckArtifact == nil {
		return nil
	}
	var errs []error
	for i, s := range spec.Steps {
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(s.Payload, &fields); err != nil {
			continue // Normalize has accepted it; nothing to check
		}
		for _, name := range artifactFields {
			var uri string
			if json.Unmarshal(fields[name], &uri) != nil || uri == "" || uri == tasks.PrevArtifact {
				continue
			}
			field := "steps[" + strconv.Itoa(i) + "].payload." + name
			err := p.CheckArtifact(ctx, uri)
			if err == nil {
				continue
			}
			reason, ok := artifact.Problem(uri, err)
			if !ok {
				return fmt.Errorf("%s: check artifact: %w", field, err)
			}
			errs = append(errs, &tasks.FieldError{Field: field, Reason: reason})
		}
	}
	return errors.Join(errs...)
}
