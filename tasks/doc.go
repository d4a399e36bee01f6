// Package tasks is compressq's task contract: the task type names, the
// versioned JSON payload of each type, constructors that build asynq tasks
// from payloads, and decoders that validate a payload and name the offending
// field when it is wrong.
//
// Decoding errors wrap asynq.SkipRetry: a malformed payload is archived at once
// with its reason instead of being retried. This package holds no Redis access
// and no computation; docs/tasks.md documents every type and field.
package tasks
