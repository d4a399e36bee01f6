// Package sweep runs architecture-search sweeps over the queue. A sweep's
// strategy (package compress/nas) lives in Redis as a snapshot plus a log of
// the steps since; every nas:eval task pushes its trial's result into the
// sweep's inbox and, unless a step is already queued, enqueues a nas:step,
// which tells the strategy the new results, asks it for more trials up to
// the sweep's concurrency, and appends the step to the log with a
// compare-and-set. Strategies are deterministic, so the log replays to the
// same state, and a step's cost does not grow with the sweep (step.go).
// Any process may die at any point: a lost step is re-run by the queue and
// finds the same state; trial tasks have fixed ids, so nothing is enqueued
// twice.
package sweep
