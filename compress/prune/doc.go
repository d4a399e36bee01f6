// Package prune removes weights from compress/nn networks: unstructured
// magnitude pruning per layer or with one global threshold, N:M
// semi-structured masks (2:4), and structured pruning of conv filters and
// dense neurons by L1 or L2 norm that physically removes them and rewires
// every layer that reads them, returning a smaller network with a smaller
// Arch. Structured pruning works on graphs: channels tied through a residual
// add are removed together, and depthwise convs, concat and flatten carry the
// removal to the layers downstream.
//
// Unstructured and N:M pruning set masks through the nn mask API
// (Network.SetMask); nn's optimizers zero masked gradients and re-apply the
// masks after every step, so pruned weights stay exactly zero while the
// network is fine-tuned. Schedules (one-shot, iterative, and the gradual
// AGP schedule of Zhu & Gupta 2017 applied during training) and per-layer
// sensitivity analysis build on these, and Run ties them together for the
// worker.
//
// The package is pure computation: it prints nothing, keeps no global state,
// and takes a context for everything that trains or evaluates.
package prune
