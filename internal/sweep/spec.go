package sweep

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/compressq/compressq/compress/nas"
	"github.com/compressq/compressq/tasks"
)

// Evaluator kinds.
const (
	EvalTrain = "train" // train each candidate on a data set
	EvalTable = "table" // look results up in a CSV artifact (control-plane tests)
)

// EvaluatorSpec says how nas:eval scores a trial.
type EvaluatorSpec struct {
	Type string `json:"type"`
	// Table is the artifact URI of the CSV for the table evaluator.
	Table string `json:"table,omitempty"`
	// Delay makes the table evaluator take this long per trial, to
	// simulate evaluation time when testing the control plane.
	Delay tasks.Duration `json:"delay,omitempty"`
	// Data (a data set URI, required), BatchSize, LR and Seed configure the
	// train evaluator. EpochImages, when set, makes each of a trial's
	// epochs a pass over that many training images, drawn afresh each
	// epoch (nas.Trainer.EpochImages): the fidelity unit of a sweep whose
	// lowest ASHA rung should see only a fraction of the training set.
	Data string `json:"data,omitempty"`
	// Model is the base model's artifact URI of a policy search
	// (space.policy; required there, refused elsewhere): every trial
	// fine-tunes a copy of it, its input transform applied to Data.
	Model       string  `json:"model,omitempty"`
	BatchSize   int     `json:"batch_size,omitempty"`
	LR          float64 `json:"lr,omitempty"`
	Seed        int64   `json:"seed,omitempty"`
	EpochImages int     `json:"epoch_images,omitempty"`
	// TestEachEpoch measures the test accuracy after every epoch for the
	// trials' learning curves (nas.Trainer.TestEachEpoch): one pass over
	// the test split per epoch. Without it the curves hold the training
	// loss and accuracy only.
	TestEachEpoch bool `json:"test_each_epoch,omitempty"`
	// RungTestImages scores trials that are cuts of a longer run (ASHA's
	// lower rungs, PBT's earlier generations) on that many test images
	// spread evenly over the test split instead of all of it
	// (nas.Trainer.RungTestImages); the top rung is scored on the whole
	// split. 0: every trial on the whole split.
	RungTestImages int `json:"rung_test_images,omitempty"`
}

// Spec is a sweep as submitted: the strategy configuration of compress/nas
// plus how it runs on the queue.
type Spec struct {
	ID   string `json:"id,omitempty"`
	Name string `json:"name,omitempty"`
	// Concurrency bounds the trials in flight (default 16).
	Concurrency int `json:"concurrency"`
	// Queue is where the sweep's tasks go (default "sweep").
	Queue     string        `json:"queue"`
	Evaluator EvaluatorSpec `json:"evaluator"`
	Config    nas.Config    `json:"config"`
}

// DefaultConcurrency is a sweep's trials in flight when unset.
const DefaultConcurrency = 16

var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// ParseSpec reads a sweep spec in YAML or JSON: the keys id, name,
// concurrency, queue and evaluator are the sweep's; every other key belongs
// to compress/nas's Config (strategy — random, grid, evolution, asha, nsga2,
// tpe, cmaes or pbt —, space, seed, max_trials, …; see compress/nas/SPACE.md). The
// space is either the built-in genome's choice lists or typed parameters
// under space.params (docs/sweeps.md). Every problem is reported, each with
// its path in the spec ("space.params.lr.low: …"); the error matches
// ErrInvalidSpec.
func ParseSpec(doc []byte) (*Spec, error) {
	s, err := parseSpec(doc)
	return s, invalid(err)
}

func parseSpec(doc []byte) (*Spec, error) {
	var m map[string]any
	if err := yaml.Unmarshal(doc, &m); err != nil {
		return nil, fmt.Errorf("sweep spec: %w", err)
	}
	if m == nil {
		return nil, errors.New("sweep spec: empty")
	}
	own := map[string]any{}
	for _, k := range []string{"id", "name", "concurrency", "queue", "evaluator"} {
		if v, ok := m[k]; ok {
			own[k] = v
			delete(m, k)
		}
	}
	var s Spec
	var errs []error
	if err := strictJSON(own, &s); err != nil {
		errs = append(errs, err)
	}
	var space nas.Space
	if sp, ok := m["space"]; ok {
		b, err := yaml.Marshal(sp)
		if err == nil {
			space, err = nas.ParseSpace(b)
		}
		if err != nil {
			errs = append(errs, spaceErrors(err)...)
		}
		delete(m, "space")
	} else {
		errs = append(errs, errors.New("space: required"))
	}
	b, err := yaml.Marshal(m)
	if err == nil {
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		err = dec.Decode(&s.Config)
	}
	if err != nil {
		errs = append(errs, fmt.Errorf("sweep spec: %w", err))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	s.Config.Space = space
	if s.Concurrency == 0 {
		s.Concurrency = DefaultConcurrency
	}
	if s.Queue == "" {
		s.Queue = tasks.QueueSweep
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

// spaceErrors returns the problems nas.ParseSpace reported, each with its
// path in the spec: "space.params.lr.low: …".
func spaceErrors(err error) []error {
	inner := errors.Unwrap(err) // ParseSpace wraps one error, maybe a join
	if inner == nil {
		return []error{fmt.Errorf("space: %w", err)}
	}
	list := []error{inner}
	if j, ok := inner.(interface{ Unwrap() []error }); ok {
		list = j.Unwrap()
	}
	out := make([]error, len(list))
	for i, e := range list {
		if strings.HasPrefix(e.Error(), "yaml: ") {
			out[i] = fmt.Errorf("space: %w", e)
		} else {
			out[i] = fmt.Errorf("space.%w", e)
		}
	}
	return out
}

// strictJSON decodes v (from YAML) into dst through JSON, rejecting unknown
// fields.
func strictJSON(v any, dst any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return fmt.Errorf("sweep spec: %w", err)
	}
	return nil
}

// Validate reports every problem of a parsed spec.
func (s *Spec) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if s.ID != "" && !idPattern.MatchString(s.ID) {
		bad("id", "%q must match %s", s.ID, idPattern)
	}
	if s.Concurrency < 1 || s.Concurrency > 10000 {
		bad("concurrency", "%d out of range [1, 10000]", s.Concurrency)
	}
	switch s.Queue {
	case tasks.QueueCritical, tasks.QueueDefault, tasks.QueueSweep, tasks.QueueLow:
	default:
		bad("queue", "%q is not one of critical, default, sweep, low", s.Queue)
	}
	switch s.Evaluator.Type {
	case EvalTrain:
		if s.Evaluator.Data == "" {
			bad("evaluator.data", "required for the train evaluator: a data set URI (compressq data put)")
		}
	case EvalTable:
		if s.Evaluator.Table == "" {
			bad("evaluator.table", "required for the table evaluator")
		}
	default:
		bad("evaluator.type", "%q is not one of train, table", s.Evaluator.Type)
	}
	if s.Evaluator.Delay < 0 || time.Duration(s.Evaluator.Delay) > time.Hour {
		bad("evaluator.delay", "%v out of range [0, 1h]", time.Duration(s.Evaluator.Delay))
	}
	if s.Evaluator.BatchSize < 0 || s.Evaluator.LR < 0 {
		bad("evaluator", "batch_size and lr must be >= 0")
	}
	if pol := s.Config.Space.Policy; pol != nil {
		if s.Evaluator.Type != EvalTrain {
			bad("evaluator.type", "%q: a policy search (space.policy) needs the train evaluator", s.Evaluator.Type)
		} else if s.Evaluator.Model == "" {
			bad("evaluator.model", "required with space.policy: the artifact URI of the model whose compression policy is searched")
		}
	} else if s.Evaluator.Model != "" {
		bad("evaluator.model", "only with space.policy (a compression-policy search)")
	}
	if s.Evaluator.EpochImages < 0 {
		bad("evaluator.epoch_images", "%d must be >= 0 (0: the whole training set)", s.Evaluator.EpochImages)
	}
	if s.Evaluator.RungTestImages < 0 {
		bad("evaluator.rung_test_images", "%d must be >= 0 (0: the whole test set)", s.Evaluator.RungTestImages)
	}
	if err := s.Config.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
