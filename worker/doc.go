// Package worker runs compressq tasks: an asynq server with weighted queues,
// a ServeMux routing task types to handlers, middleware for metrics, logging,
// panic recovery and per-type timeouts, pipeline bookkeeping (each finished
// step enqueues the next), and an HTTP server for /metrics, /healthz and
// /readyz.
//
// Handlers are small adapters: they decode the payload, fetch artifacts,
// call into package compress for the work, store outputs and write the
// result. No computation lives here.
package worker
