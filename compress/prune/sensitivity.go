package prune

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/compress/nn"
)

// Point is one evaluation of a sensitivity curve: the accuracy of the
// network with one parameter magnitude-pruned to Sparsity.
type Point struct {
	Sparsity, Accuracy float64
}

// Sensitivity returns the accuracy on eval of a copy of net with only the
// named parameter magnitude-pruned to sparsity (no fine-tuning). It is a
// pure function of its arguments — net is not changed — so one (layer,
// sparsity) pair is one independent task.
func Sensitivity(ctx context.Context, net *nn.Network, name string, sparsity float64, eval *data.Dataset) (Point, error) {
	c := net.Clone()
	if err := Magnitude(c, map[string]float64{name: sparsity}); err != nil {
		return Point{}, err
	}
	acc, _, err := nn.EvaluateContext(ctx, c, eval)
	if err != nil {
		return Point{}, fmt.Errorf("prune: sensitivity of %s at %.3f: %w", name, sparsity, err)
	}
	return Point{Sparsity: sparsity, Accuracy: acc}, nil
}

// Curves runs Sensitivity for every name and sparsity, sequentially, and
// returns the curves keyed by parameter name, points in the order of
// sparsities.
func Curves(ctx context.Context, net *nn.Network, names []string, sparsities []float64, eval *data.Dataset) (map[string][]Point, error) {
	out := map[string][]Point{}
	for _, n := range names {
		for _, s := range sparsities {
			p, err := Sensitivity(ctx, net, n, s, eval)
			if err != nil {
				return nil, err
			}
			out[n] = append(out[n], p)
		}
	}
	return out, nil
}

// Choose picks a sparsity per parameter from sensitivity curves so that the
// pruned entries of all of them reach target (a fraction of sizes' total)
// while every layer loses as little accuracy as possible: it searches the
// smallest tolerated accuracy drop δ (relative to base, the unpruned
// accuracy) such that giving each layer the largest sparsity on its curve
// whose accuracy is ≥ base − δ (curves linearly interpolated; sparsities
// capped by the largest point measured) meets the target. sizes holds each
// parameter's entry count. It fails when even the largest measured
// sparsities do not reach target.
func Choose(curves map[string][]Point, sizes map[string]int, base, target float64) (map[string]float64, error) {
	if err := checkSparsity("target", target); err != nil {
		return nil, err
	}
	total := 0
	for n := range curves {
		if sizes[n] <= 0 {
			return nil, fmt.Errorf("prune: no size for %q", n)
		}
		total += sizes[n]
	}
	alloc := func(delta float64) (map[string]float64, float64) {
		m := map[string]float64{}
		pruned := 0.0
		for n, c := range curves {
			pts := slices.Clone(c)
			slices.SortFunc(pts, func(a, b Point) int {
				switch {
				case a.Sparsity < b.Sparsity:
					return -1
				case a.Sparsity > b.Sparsity:
					return 1
				}
				return 0
			})
			best := 0.0
			floor := base - delta
			for i, p := range pts {
				if p.Accuracy >= floor {
					best = max(best, p.Sparsity)
					continue
				}
				if i > 0 && pts[i-1].Accuracy >= floor {
					q := pts[i-1]
					f := (q.Accuracy - floor) / (q.Accuracy - p.Accuracy)
					best = max(best, q.Sparsity+f*(p.Sparsity-q.Sparsity))
				}
				break
			}
			m[n] = best
			pruned += best * float64(sizes[n])
		}
		return m, pruned / float64(total)
	}
	if _, s := alloc(math.Inf(1)); s < target {
		return nil, fmt.Errorf("prune: curves reach at most %.4f sparsity, target %.4f", s, target)
	}
	lo, hi := 0.0, 1.0+math.Abs(base)
	for range 60 {
		mid := (lo + hi) / 2
		if _, s := alloc(mid); s >= target {
			hi = mid
		} else {
			lo = mid
		}
	}
	m, _ := alloc(hi)
	return m, nil
}

// Interpolate returns the accuracy a sensitivity curve predicts at sparsity:
// linear between the measured points, with (0, base) — the unpruned
// accuracy — as the point before the first, and the last point's accuracy
// beyond the last.
func Interpolate(curve []Point, base, sparsity float64) float64 {
	pts := slices.Clone(curve)
	slices.SortFunc(pts, func(a, b Point) int { return cmp.Compare(a.Sparsity, b.Sparsity) })
	prev := Point{Sparsity: 0, Accuracy: base}
	for _, p := range pts {
		if sparsity <= p.Sparsity {
			if p.Sparsity == prev.Sparsity {
				return p.Accuracy
			}
			f := (sparsity - prev.Sparsity) / (p.Sparsity - prev.Sparsity)
			return prev.Accuracy + f*(p.Accuracy-prev.Accuracy)
		}
		prev = p
	}
	return prev.Accuracy
}
