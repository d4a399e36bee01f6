// Package worker runs compressq tasks: an asynq server with weighted queues,
// a ServeMux routing task types to handlers, middleware for metrics, logging,
// panic recovery and per-type timeouts, pipeline bookkeeping (each finished
// step enqueues the next), and an HTTP server for /metrics, /healthz and
// /readyz.
//
// Handlers are small adapters: they decode the payload, fetch artifacts and
// data sets (internal/datasets), call the recipe in compress/recipe through
// internal/taskmap, store outputs and write the result; skipRetry decides in
// one place which errors are archived without retry. No computation lives
// here.
package worker
