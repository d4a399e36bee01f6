// Package producer submits compressq jobs (one task or a pipeline of steps)
// to Redis, enqueues large batches of tasks concurrently, answers job status
// queries, and serves the same operations as a JSON HTTP API — with the
// sweep routes, which drive a sweep controller its caller passes in.
//
// It never runs tasks: that is package worker's job.
package producer
