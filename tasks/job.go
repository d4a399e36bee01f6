package tasks

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"
)

// Queue names. Workers weight them in configuration.
const (
	QueueCritical = "critical"
	QueueDefault  = "default"
	QueueSweep    = "sweep"
	QueueLow      = "low"
)

// Task headers that tie a task to its job.
const (
	HeaderJob  = "compressq-job"
	HeaderStep = "compressq-step"
	// HeaderDue is when the task became due, in Unix milliseconds: when it
	// was built (New and StepTask are called just before enqueueing), or its
	// process_at. Workers measure queue wait from it.
	HeaderDue = "compressq-due"
)

// PrevArtifact, as the value of a top-level payload field of a pipeline
// step, stands for the artifact URI produced by the step before it.
const PrevArtifact = "@prev"

// MaxSteps bounds the length of a pipeline.
const MaxSteps = 32

var jobIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)

// Duration is a time.Duration written as a Go duration string ("90s") in
// JSON and YAML job specs.
type Duration time.Duration

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON implements json.Unmarshaler; it accepts "90s" strings and
// plain numbers of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var secs float64
		if err2 := json.Unmarshal(b, &secs); err2 != nil {
			return fmt.Errorf("want a duration such as \"90s\", got %s", b)
		}
		*d = Duration(secs * float64(time.Second))
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("want a duration such as \"90s\", got %q", s)
	}
	*d = Duration(v)
	return nil
}

// Options are the queueing options of a job or of one step.
type Options struct {
	// Queue is critical, default, sweep or low. Priority is an alias:
	// high → critical, normal → default, low → low.
	Queue    string `json:"queue,omitempty"`
	Priority string `json:"priority,omitempty"`
	// MaxRetry is the number of retries after a failure; nil means the
	// worker's configured default.
	MaxRetry *int `json:"max_retry,omitempty"`
	// Timeout bounds one attempt; Deadline bounds all attempts.
	Timeout  Duration   `json:"timeout,omitempty"`
	Deadline *time.Time `json:"deadline,omitempty"`
	// Unique rejects an identical task (same type and payload in the same
	// queue) for this long.
	Unique Duration `json:"unique,omitempty"`
	// ProcessAt and ProcessIn delay the first step.
	ProcessAt *time.Time `json:"process_at,omitempty"`
	ProcessIn Duration   `json:"process_in,omitempty"`
	// Retention keeps a finished task and its result in Redis this long.
	Retention Duration `json:"retention,omitempty"`
}

// Step is one task of a pipeline.
type Step struct {
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload"`
	// Options override the job's options for this step.
	Options *Options `json:"options,omitempty"`
}

// JobSpec is what a user submits: either one task (Type and Payload) or a
// pipeline (Steps), each step run after the one before it succeeded.
type JobSpec struct {
	// ID makes submission idempotent when set; otherwise one is generated.
	ID      string          `json:"id,omitempty"`
	Name    string          `json:"name,omitempty"`
	Type    string          `json:"type,omitempty"`
	Payload json.RawMessage `json:"payload,omitempty"`
	Steps   []Step          `json:"steps,omitempty"`
	Options Options         `json:"options"`
}

// Normalize turns the single-task form into a one-step pipeline and checks
// the whole spec, reporting every problem with its field path.
func (j *JobSpec) Normalize() error {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, fieldErr(field, format, args...))
	}
	if j.ID != "" && !jobIDPattern.MatchString(j.ID) {
		add("id", "%q must match %s", j.ID, jobIDPattern)
	}
	switch {
	case j.Type != "" && len(j.Steps) > 0:
		add("type", "give either type+payload or steps, not both")
	case j.Type != "":
		j.Steps = []Step{{Type: j.Type, Payload: j.Payload}}
		j.Type, j.Payload = "", nil
	case len(j.Payload) > 0:
		add("type", "required with payload")
	case len(j.Steps) == 0:
		add("steps", "a job needs a type+payload or at least one step")
	}
	if len(j.Steps) > MaxSteps {
		add("steps", "%d steps exceed the limit of %d", len(j.Steps), MaxSteps)
	}
	if err := j.Options.validate("options"); err != nil {
		errs = append(errs, err)
	}
	for i, s := range j.Steps {
		path := "steps[" + strconv.Itoa(i) + "]"
		if s.Options != nil {
			if err := s.Options.validate(path + ".options"); err != nil {
				errs = append(errs, err)
			}
		}
		if _, err := newPayload(s.Type); err != nil {
			errs = append(errs, fieldErr(path+".type", "%q is unknown (want one of %s)", s.Type, strings.Join(Types, ", ")))
			continue
		}
		payload, err := substitutePrev(s.Payload, "prev://artifact")
		if err != nil {
			errs = append(errs, fieldErr(path+".payload", "%v", err))
			continue
		}
		if i == 0 && string(payload) != string(s.Payload) {
			errs = append(errs, fieldErr(path+".payload", "%s: the first step has no previous step", PrevArtifact))
			continue
		}
		if _, err := Decode(s.Type, payload); err != nil {
			errs = append(errs, prefixFields(path+".payload", err))
		}
	}
	return errors.Join(errs...)
}

// prefixFields re-roots the field errors of a payload under prefix; any
// other error becomes a FieldError of prefix itself.
func prefixFields(prefix string, err error) error {
	fes := Fields(err)
	if len(fes) == 0 {
		return fieldErr(prefix, "%v", err)
	}
	errs := make([]error, len(fes))
	for i, fe := range fes {
		errs[i] = &FieldError{Field: prefix + "." + fe.Field, Reason: fe.Reason}
	}
	return errors.Join(errs...)
}

func (o *Options) validate(path string) error {
	var errs []error
	if o.Queue != "" {
		switch o.Queue {
		case QueueCritical, QueueDefault, QueueSweep, QueueLow:
		default:
			errs = append(errs, fieldErr(path+".queue", "%q is not one of critical, default, sweep, low", o.Queue))
		}
	}
	if o.Priority != "" {
		q, ok := priorityQueues[o.Priority]
		switch {
		case !ok:
			errs = append(errs, fieldErr(path+".priority", "%q is not one of high, normal, low", o.Priority))
		case o.Queue != "" && o.Queue != q:
			errs = append(errs, fieldErr(path+".priority", "%q conflicts with queue %q", o.Priority, o.Queue))
		}
	}
	if o.MaxRetry != nil && (*o.MaxRetry < 0 || *o.MaxRetry > 100) {
		errs = append(errs, fieldErr(path+".max_retry", "%d out of range [0, 100]", *o.MaxRetry))
	}
	for name, d := range map[string]Duration{"timeout": o.Timeout, "unique": o.Unique, "process_in": o.ProcessIn, "retention": o.Retention} {
		if d < 0 {
			errs = append(errs, fieldErr(path+"."+name, "%v must be >= 0", time.Duration(d)))
		}
	}
	if o.Timeout > 0 && time.Duration(o.Timeout) < time.Second {
		errs = append(errs, fieldErr(path+".timeout", "%v is below the queue's 1s resolution", time.Duration(o.Timeout)))
	}
	if o.ProcessAt != nil && o.ProcessIn != 0 {
		errs = append(errs, fieldErr(path+".process_at", "give process_at or process_in, not both"))
	}
	return errors.Join(errs...)
}

var priorityQueues = map[string]string{"high": QueueCritical, "normal": QueueDefault, "low": QueueLow}

// queue returns the queue the options select, or "" for the default.
func (o *Options) queue() string {
	if o.Queue != "" {
		return o.Queue
	}
	return priorityQueues[o.Priority]
}

// merged returns the job options overridden by the step's non-zero options.
func merged(job Options, step *Options) Options {
	if step == nil {
		return job
	}
	out := job
	if q := step.queue(); q != "" {
		out.Queue, out.Priority = q, ""
	}
	if step.MaxRetry != nil {
		out.MaxRetry = step.MaxRetry
	}
	if step.Timeout != 0 {
		out.Timeout = step.Timeout
	}
	if step.Deadline != nil {
		out.Deadline = step.Deadline
	}
	if step.Unique != 0 {
		out.Unique = step.Unique
	}
	if step.Retention != 0 {
		out.Retention = step.Retention
	}
	return out
}

// Defaults are what a deployment fills in for options a job leaves unset.
type Defaults struct {
	Queue     string
	MaxRetry  int
	Retention time.Duration
	// Timeout bounds one attempt of a task whose type has no entry in
	// Timeouts, when the job gives neither timeout nor deadline.
	Timeout  time.Duration
	Timeouts map[string]time.Duration
}

// ChildOptions are the options of a task that compressq itself enqueues
// (a sweep's trials and steps, a fan-out's points): a fixed id, queue
// (omitted when ""), and d's retries, retention — so that finished ids
// keep refusing duplicates — and the timeout for typ.
func (d Defaults) ChildOptions(typ, queue, id string) []asynq.Option {
	opts := []asynq.Option{asynq.TaskID(id), asynq.MaxRetry(d.MaxRetry)}
	if queue != "" {
		opts = append(opts, asynq.Queue(queue))
	}
	if d.Retention > 0 {
		opts = append(opts, asynq.Retention(d.Retention))
	}
	timeout := d.Timeout
	if t, ok := d.Timeouts[typ]; ok {
		timeout = t
	}
	if timeout > 0 {
		opts = append(opts, asynq.Timeout(timeout))
	}
	return opts
}

// StepTaskID is the asynq task ID of step n of a job. Enqueueing the same
// step twice (a retried handler) fails with asynq.ErrTaskIDConflict instead
// of running it twice.
func StepTaskID(jobID string, n int) string { return jobID + "/step-" + strconv.Itoa(n) }

// StepQueue is the queue step n of a normalized job goes to.
func (j *JobSpec) StepQueue(n int, d Defaults) string {
	o := j.Options
	if n >= 0 && n < len(j.Steps) {
		o = merged(j.Options, j.Steps[n].Options)
	}
	if q := o.queue(); q != "" {
		return q
	}
	return d.Queue
}

// StepTask builds the task of step n of a normalized job, with prev the
// artifact produced by step n-1 (substituted for "@prev" fields).
func (j *JobSpec) StepTask(jobID string, n int, prev string, d Defaults) (*asynq.Task, error) {
	if n < 0 || n >= len(j.Steps) {
		return nil, fmt.Errorf("job %s has no step %d", jobID, n)
	}
	s := j.Steps[n]
	payload, err := substitutePrev(s.Payload, prev)
	if err != nil {
		return nil, fmt.Errorf("job %s step %d: %w", jobID, n, err)
	}
	if prev == "" && string(payload) != string(s.Payload) {
		return nil, fmt.Errorf("job %s step %d: uses %s but step %d produced no artifact: %w", jobID, n, PrevArtifact, n-1, ErrInvalid)
	}
	o := merged(j.Options, s.Options)
	opts := []asynq.Option{asynq.TaskID(StepTaskID(jobID, n))}
	if q := j.StepQueue(n, d); q != "" {
		opts = append(opts, asynq.Queue(q))
	}
	retry := d.MaxRetry
	if o.MaxRetry != nil {
		retry = *o.MaxRetry
	}
	opts = append(opts, asynq.MaxRetry(retry))
	timeout := time.Duration(o.Timeout)
	if timeout == 0 && o.Deadline == nil {
		timeout = d.Timeout
		if t, ok := d.Timeouts[s.Type]; ok {
			timeout = t
		}
	}
	if timeout > 0 {
		opts = append(opts, asynq.Timeout(timeout))
	}
	if o.Deadline != nil {
		opts = append(opts, asynq.Deadline(*o.Deadline))
	}
	if o.Unique > 0 {
		opts = append(opts, asynq.Unique(time.Duration(o.Unique)))
	}
	ret := time.Duration(o.Retention)
	if ret == 0 {
		ret = d.Retention
	}
	if ret > 0 {
		opts = append(opts, asynq.Retention(ret))
	}
	if n == 0 {
		if o.ProcessAt != nil {
			opts = append(opts, asynq.ProcessAt(*o.ProcessAt))
		} else if o.ProcessIn > 0 {
			opts = append(opts, asynq.ProcessIn(time.Duration(o.ProcessIn)))
		}
	}
	headers := map[string]string{HeaderJob: jobID, HeaderStep: strconv.Itoa(n), HeaderDue: due(opts)}
	return asynq.NewTaskWithHeaders(s.Type, payload, headers, opts...), nil
}

// JobStep returns the job id and step number a task carries in its headers,
// and false for a task that is not part of a job.
func JobStep(t *asynq.Task) (job string, step int, ok bool) {
	h := t.Headers()
	job = h[HeaderJob]
	if job == "" {
		return "", 0, false
	}
	step, err := strconv.Atoi(h[HeaderStep])
	if err != nil || step < 0 {
		return "", 0, false
	}
	return job, step, true
}

// substitutePrev replaces top-level string fields equal to PrevArtifact
// with prev.
func substitutePrev(payload json.RawMessage, prev string) (json.RawMessage, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(payload, &fields); err != nil {
		return nil, fmt.Errorf("payload is not a JSON object: %v: %w", err, ErrInvalid)
	}
	marker, _ := json.Marshal(PrevArtifact)
	changed := false
	for k, v := range fields {
		if string(v) == string(marker) {
			b, _ := json.Marshal(prev)
			fields[k] = b
			changed = true
		}
	}
	if !changed {
		return payload, nil
	}
	return json.Marshal(fields)
}
