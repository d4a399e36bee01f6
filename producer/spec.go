package producer

import (
	"bytes"
	"encoding/json"
	"fmt"

	"go.yaml.in/yaml/v3"

	"github.com/compressq/compressq/tasks"
)

// MaxSpecBytes bounds a job spec file or request body.
const MaxSpecBytes = 1 << 20

// ParseSpec reads a job spec written in YAML or JSON (JSON is YAML). Unknown
// fields are errors naming the field.
func ParseSpec(data []byte) (*tasks.JobSpec, error) {
	if len(data) > MaxSpecBytes {
		return nil, fmt.Errorf("job spec: %d bytes exceeds the %d-byte limit", len(data), MaxSpecBytes)
	}
	var doc any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("job spec: %w", err)
	}
	if _, ok := doc.(map[string]any); !ok {
		return nil, fmt.Errorf("job spec: want a mapping at the top level, got %T", doc)
	}
	js, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("job spec: %w", err)
	}
	return decodeSpecJSON(js)
}

func decodeSpecJSON(js []byte) (*tasks.JobSpec, error) {
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	var spec tasks.JobSpec
	if err := dec.Decode(&spec); err != nil {
		return nil, fmt.Errorf("job spec: %w", err)
	}
	return &spec, nil
}
