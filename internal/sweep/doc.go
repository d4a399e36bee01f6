// Package sweep runs architecture-search sweeps over the queue. A sweep's
// strategy (package compress/nas) lives in Redis as saved state; every
// nas:eval task pushes its trial's result into the sweep's inbox and
// enqueues a nas:step, which tells the strategy the new results, asks it for
// more trials up to the sweep's concurrency, and commits the new state with
// a compare-and-set. Any process may die at any point: a lost step is
// re-run by the queue and finds the same state; trial tasks have fixed ids,
// so nothing is enqueued twice.
package sweep
