// Package metrics defines compressq's Prometheus metrics: task outcomes,
// durations and in-flight counts recorded by the worker, queue depth and
// age read from Redis through asynq's Inspector on every scrape, and the
// HTTP handler that serves them.
//
// There are no globals: New registers on the Registerer it is given, and
// tests pass a fresh prometheus.NewRegistry(). The package must not run
// tasks, write to Redis, or use label values from unbounded input (task ids,
// URIs): labels are task types, queue names and fixed enumerations.
package metrics
