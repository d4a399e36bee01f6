package prune

import (
	"context"
	"fmt"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/compress/nn"
)

// AGPSparsity returns the sparsity of the gradual schedule of Zhu & Gupta
// (2017) at step t:
//
//	s_t = s_f + (s_i − s_f)·(1 − (t − t0)/(n·Δt))³
//
// for t0 ≤ t ≤ t0 + n·Δt, s_i before t0 and s_f after the end.
func AGPSparsity(t, t0, dt, n int, si, sf float64) float64 {
	if t <= t0 {
		return si
	}
	span := n * dt
	if span <= 0 || t >= t0+span {
		return sf
	}
	f := 1 - float64(t-t0)/float64(span)
	return sf + (si-sf)*f*f*f
}

// AGP configures gradual pruning during training.
type AGP struct {
	// Initial and Final are s_i and s_f.
	Initial, Final float64
	// Start is t0, the batch at which pruning starts.
	Start int
	// Every is Δt, the batches between pruning steps (0 means 1).
	Every int
	// Steps is n, the number of pruning steps.
	Steps int
}

// Pruner applies a target sparsity to a network (one call of Global,
// Magnitude or a per-layer split of it).
type Pruner func(net *nn.Network, sparsity float64) error

// GlobalPruner prunes all prunable weights with one threshold.
func GlobalPruner(net *nn.Network, s float64) error { return Global(net, s) }

// UniformPruner prunes every prunable weight to the same sparsity.
func UniformPruner(net *nn.Network, s float64) error {
	m := map[string]float64{}
	for _, w := range Weights(net) {
		m[w] = s
	}
	return Magnitude(net, m)
}

// ScaledPruner prunes each parameter to its share of a per-layer target:
// at schedule sparsity s of final f, parameter p gets target[p]·s/f.
func ScaledPruner(target map[string]float64) Pruner {
	final := 0.0
	for _, v := range target {
		final = max(final, v)
	}
	return func(net *nn.Network, s float64) error {
		m := map[string]float64{}
		for k, v := range target {
			if final > 0 {
				m[k] = v * s / final
			}
		}
		return Magnitude(net, m)
	}
}

// TrainAGP trains net with cfg while pruning it with prune along the AGP
// schedule a: after batch t (counted from 0 over the whole run) with
// Start ≤ t < Start + Steps·Every and (t − Start) a multiple of Every, it
// prunes to AGPSparsity(t+Every, …), so the Steps-th step reaches Final. Masks are set through the
// nn mask API, so weights pruned at one step stay zero at the next. It
// returns the training history.
func TrainAGP(ctx context.Context, net *nn.Network, train *data.Dataset, cfg nn.TrainConfig, a AGP, prune Pruner) (nn.History, error) {
	every := max(a.Every, 1)
	if err := checkSparsity("AGP final", a.Final); err != nil {
		return nn.History{}, err
	}
	step := 0
	var perr error
	var cancel context.CancelFunc
	ctx, cancel = context.WithCancel(ctx)
	defer cancel()
	if a.Initial > 0 {
		if err := prune(net, a.Initial); err != nil {
			return nn.History{}, err
		}
	}
	h, err := nn.Train(ctx, net, train, cfg, func(p nn.Progress) {
		if p.Done != nil || perr != nil {
			return
		}
		t := step
		step++
		if t < a.Start || t >= a.Start+a.Steps*every || (t-a.Start)%every != 0 {
			return
		}
		if perr = prune(net, AGPSparsity(t+every, a.Start, every, a.Steps, a.Initial, a.Final)); perr != nil {
			cancel()
		}
	})
	if perr != nil {
		return h, fmt.Errorf("prune: AGP step %d: %w", step, perr)
	}
	return h, err
}

// Iterative prunes net in steps to final (sparsities final·(1 − (1 −
// k/steps)³) for k = 1…steps, the AGP curve sampled per round) and fine-tunes
// after each step with cfg. It returns the last round's history.
func Iterative(ctx context.Context, net *nn.Network, train *data.Dataset, cfg nn.TrainConfig, final float64, steps int, prune Pruner) (nn.History, error) {
	var h nn.History
	steps = max(steps, 1)
	for k := 1; k <= steps; k++ {
		s := AGPSparsity(k, 0, 1, steps, 0, final)
		if err := prune(net, s); err != nil {
			return h, err
		}
		c := cfg
		c.Seed = cfg.Seed + int64(k)
		var err error
		if h, err = nn.Train(ctx, net, train, c, nil); err != nil {
			return h, err
		}
	}
	return h, nil
}
