// Package nas is compressq's architecture search: a search space of
// architecture genes (conv and dense depth, channels, kernel sizes, widths,
// activation) and compression genes (sparsity, weight bits, k-means bits)
// with size constraints, given as choice lists or as typed, conditional
// parameters (ParamSpace) that may also set training hyperparameters; the
// mapping from a genome to an nn.Arch and its compression settings; search
// strategies (random, grid, regularized evolution, ASHA, NSGA-II, TPE);
// Pareto-front extraction, export and plots; and
// evaluators that score candidates by training them or by looking them up in
// a table.
//
// Strategies follow an ask/tell protocol suited to a task queue: Ask hands
// out candidates, Tell accepts results in any order, failed trials are
// retried up to a limit. Every strategy's whole state is a JSON document
// (Save, Load), random generator included, so a sweep driven from a store
// can stop after any step and resume exactly: restoring a state and
// continuing gives the same trials as never stopping.
//
// The package is pure computation: no queues, no stores, no global mutable
// state, nothing printed.
package nas
