package tasks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"
)

// Task type names. They are part of the stable contract: a worker routes on
// them and a producer writes them into Redis.
const (
	TypeQuantize = "compress:quantize"
	TypePrune    = "compress:prune"
	TypeDistill  = "compress:distill"
	TypeNASEval  = "nas:eval"
	TypeNASStep  = "nas:step"
	TypeTrain    = "train"
	TypeEval     = "compress:eval"
	// TypeSensitivity fans a per-layer sensitivity analysis out over the
	// workers as one TypeSensitivityPoint task per (parameter, sparsity) and
	// one TypeSensitivityGather task that builds the report.
	TypeSensitivity       = "compress:sensitivity"
	TypeSensitivityPoint  = "compress:sensitivity:point"
	TypeSensitivityGather = "compress:sensitivity:gather"
	// TypeSleep is a diagnostic task: it waits, then succeeds. Operators use
	// it to smoke-test a deployment and to measure the queue's own overhead.
	TypeSleep = "debug:sleep"
)

// Version is the payload version this build writes and accepts.
const Version = 1

// MaxPayloadBytes bounds every payload: tasks carry artifact URIs, never
// weights.
const MaxPayloadBytes = 64 << 10

// Types lists every task type of the contract, in documentation order.
var Types = []string{TypeQuantize, TypePrune, TypeSensitivity, TypeSensitivityPoint, TypeSensitivityGather,
	TypeDistill, TypeNASEval, TypeNASStep, TypeTrain, TypeEval, TypeSleep, TypeExport}

// ErrInvalid marks a payload that can never succeed. It wraps asynq.SkipRetry
// so that errors.Is(err, asynq.SkipRetry) holds and asynq archives the task
// at once.
var ErrInvalid = fmt.Errorf("invalid payload: %w", asynq.SkipRetry)

// FieldError names the payload field that is wrong and why.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// Unwrap makes every FieldError match ErrInvalid and asynq.SkipRetry.
func (e *FieldError) Unwrap() error { return ErrInvalid }

// Fields returns every FieldError in err's tree, in order.
func Fields(err error) []*FieldError {
	var out []*FieldError
	var walk func(error)
	walk = func(e error) {
		if fe, ok := e.(*FieldError); ok {
			out = append(out, fe)
			return
		}
		switch u := e.(type) {
		case interface{ Unwrap() []error }:
			for _, x := range u.Unwrap() {
				walk(x)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		}
	}
	if err != nil {
		walk(err)
	}
	return out
}

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// Payload is implemented by every payload struct of the contract.
type Payload interface {
	// TaskType is the task type name the payload belongs to.
	TaskType() string
	// Validate reports every problem of the payload, each naming its field.
	Validate() error
}

// Result is implemented by every task result. Artifact is the URI of the
// model the task produced, or "" when it produced none; a pipeline feeds it to
// the next step.
type Result interface {
	OutputArtifact() string
}

// New builds the asynq task for p after validating it.
func New(p Payload, opts ...asynq.Option) (*asynq.Task, error) {
	b, err := Marshal(p)
	if err != nil {
		return nil, err
	}
	return asynq.NewTaskWithHeaders(p.TaskType(), b, map[string]string{HeaderDue: due(opts)}, opts...), nil
}

// NewInJob builds the task for p like New, carrying the headers of step
// of job: when the task succeeds it finishes that step in place of the
// task that enqueued it.
func NewInJob(p Payload, job string, step int, opts ...asynq.Option) (*asynq.Task, error) {
	b, err := Marshal(p)
	if err != nil {
		return nil, err
	}
	headers := map[string]string{HeaderDue: due(opts), HeaderJob: job, HeaderStep: strconv.Itoa(step)}
	return asynq.NewTaskWithHeaders(p.TaskType(), b, headers, opts...), nil
}

// due returns the HeaderDue value for a task enqueued now with opts.
func due(opts []asynq.Option) string {
	t := time.Now()
	for _, o := range opts {
		switch v := o.Value().(type) {
		case time.Time:
			if o.Type() == asynq.ProcessAtOpt {
				t = v
			}
		case time.Duration:
			if o.Type() == asynq.ProcessInOpt {
				t = time.Now().Add(v)
			}
		}
	}
	return strconv.FormatInt(t.UnixMilli(), 10)
}

// Due returns when t became due, from its HeaderDue; false when it has
// none (a task enqueued by something other than compressq).
func Due(t *asynq.Task) (time.Time, bool) {
	ms, err := strconv.ParseInt(t.Headers()[HeaderDue], 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.UnixMilli(ms), true
}

// Marshal validates p and encodes it as JSON with the current version.
func Marshal(p Payload) ([]byte, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("%s payload: %w", p.TaskType(), err)
	}
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("%s payload: %w", p.TaskType(), err)
	}
	if len(b) > MaxPayloadBytes {
		return nil, fmt.Errorf("%s payload: %d bytes exceeds the %d-byte limit: %w", p.TaskType(), len(b), MaxPayloadBytes, ErrInvalid)
	}
	return b, nil
}

// Decode parses data as the payload of typ, rejecting unknown fields, a
// missing or unknown version, oversized input and invalid values. Every
// error wraps ErrInvalid (and so asynq.SkipRetry).
func Decode(typ string, data []byte) (Payload, error) {
	p, err := newPayload(typ)
	if err != nil {
		return nil, err
	}
	if err := decodeInto(data, p); err != nil {
		return nil, fmt.Errorf("%s payload: %w", typ, err)
	}
	return p, nil
}

// DecodeAs decodes data into the payload type P, for handlers that know
// their type.
func DecodeAs[P Payload](typ string, data []byte) (P, error) {
	var zero P
	p, err := Decode(typ, data)
	if err != nil {
		return zero, err
	}
	v, ok := p.(P)
	if !ok {
		return zero, fmt.Errorf("task type %q does not carry a %T payload: %w", typ, zero, ErrInvalid)
	}
	return v, nil
}

func newPayload(typ string) (Payload, error) {
	switch typ {
	case TypeQuantize:
		return &QuantizePayload{}, nil
	case TypePrune:
		return &PrunePayload{}, nil
	case TypeSensitivity:
		return &SensitivityPayload{}, nil
	case TypeSensitivityPoint:
		return &SensitivityPointPayload{}, nil
	case TypeSensitivityGather:
		return &SensitivityGatherPayload{}, nil
	case TypeDistill:
		return &DistillPayload{}, nil
	case TypeNASEval:
		return &NASEvalPayload{}, nil
	case TypeNASStep:
		return &NASStepPayload{}, nil
	case TypeTrain:
		return &TrainPayload{}, nil
	case TypeEval:
		return &EvalPayload{}, nil
	case TypeSleep:
		return &SleepPayload{}, nil
	case TypeExport:
		return &ExportPayload{}, nil
	}
	return nil, fmt.Errorf("task type %q is unknown (want one of %s): %w", typ, strings.Join(Types, ", "), ErrInvalid)
}

func decodeInto(data []byte, p Payload) error {
	if len(data) > MaxPayloadBytes {
		return fmt.Errorf("%d bytes exceeds the %d-byte limit: %w", len(data), MaxPayloadBytes, ErrInvalid)
	}
	var head struct {
		V *int `json:"v"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return fmt.Errorf("not a JSON object: %v: %w", err, ErrInvalid)
	}
	if head.V == nil {
		return fieldErr("v", "missing (want %d)", Version)
	}
	if *head.V != Version {
		return fieldErr("v", "version %d not supported (want %d)", *head.V, Version)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(p); err != nil {
		return jsonFieldError(err)
	}
	return p.Validate()
}

// jsonFieldError turns encoding/json's errors into FieldErrors where the
// field is known.
func jsonFieldError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return fieldErr(te.Field, "must be %s, got JSON %s", te.Type, te.Value)
	}
	if msg, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return fieldErr(strings.Trim(msg, `"`), "unknown field")
	}
	return fmt.Errorf("%v: %w", err, ErrInvalid)
}

// validator collects field errors so Validate reports all of them at once.
type validator struct{ errs []error }

func (v *validator) check(ok bool, field, format string, args ...any) {
	if !ok {
		v.errs = append(v.errs, fieldErr(field, format, args...))
	}
}

func (v *validator) version(got int) {
	v.check(got == Version, "v", "version %d not supported (want %d)", got, Version)
}

func (v *validator) uri(field, val string, required bool) {
	if val == "" {
		v.check(!required, field, "required")
		return
	}
	v.check(strings.Contains(val, "://"), field, "%q is not an artifact URI (want scheme://…)", val)
}

func (v *validator) oneOf(field, val string, allowed ...string) {
	for _, a := range allowed {
		if val == a {
			return
		}
	}
	v.errs = append(v.errs, fieldErr(field, "%q is not one of %s", val, strings.Join(allowed, ", ")))
}

func (v *validator) preprocess(p Preprocess) {
	v.check(len(p.Mean) == len(p.Std), "std", "%d values for %d mean values (give one per channel, or one for all)", len(p.Std), len(p.Mean))
	for i, s := range p.Std {
		v.check(s > 0 && !math.IsInf(s, 0), fmt.Sprintf("std[%d]", i), "%v must be a finite number > 0", s)
	}
	for i, m := range p.Mean {
		v.check(!math.IsNaN(m) && !math.IsInf(m, 0), fmt.Sprintf("mean[%d]", i), "%v must be finite", m)
	}
}

func (v *validator) optim(o Optim) {
	if o.Optimizer != "" {
		v.oneOf("optimizer", o.Optimizer, "sgd", "adam")
	}
	if o.Schedule != "" {
		v.oneOf("lr_schedule", o.Schedule, "constant", "step", "cosine")
	}
	v.check(o.Momentum >= 0 && o.Momentum < 1, "momentum", "%v out of range [0, 1)", o.Momentum)
	v.check(o.WeightDecay >= 0, "weight_decay", "%v must be >= 0", o.WeightDecay)
}

func (v *validator) err() error { return errors.Join(v.errs...) }
