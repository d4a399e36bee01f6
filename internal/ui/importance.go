package ui

import (
	"cmp"
	"fmt"
	"slices"
	"sort"

	"github.com/compressq/compressq/compress/nas"
)

// Parameter importance on a sweep page: for each search parameter, the
// share of the variance of accuracy over the completed trials that the
// parameter explains on its own — a one-way analysis of variance of
// accuracy on the parameter's bins (its values; a numeric parameter with
// more than maxBins distinct values cut into maxBins bins of equal counts;
// trials where it is inactive one more bin). The variance explained is
// epsilon squared, (SS_between − (k−1)·MS_within) / SS_total over k bins,
// clipped at 0: unlike the plain ratio SS_between / SS_total it does not
// credit a parameter for the spread that k bins of noise would explain by
// chance. Shares are those values normalised to sum to 1. Interactions
// between parameters are not modelled, and with few trials the figures are
// noisy: no importance is given below minImportanceTrials trials.

// importanceMethod describes the method on the page and in data.json.
const importanceMethod = "one-way ANOVA of accuracy on each parameter's bins: epsilon squared " +
	"(variance explained by the parameter alone, corrected for the number of bins), normalised to sum to 1; " +
	"interactions are not modelled"

const (
	// maxBins is the most bins a numeric parameter is cut into.
	maxBins = 5
	// minImportanceTrials is the fewest completed trials importance is
	// computed from.
	minImportanceTrials = 8
)

// importance ranks the search parameters; Params is empty with fewer than
// minImportanceTrials trials.
type importance struct {
	Method string            `json:"method"`
	Trials int               `json:"trials"`
	Params []paramImportance `json:"params"`
}

// paramImportance is one parameter's importance.
type paramImportance struct {
	Name string `json:"name"`
	// Bins is the number of non-empty bins the trials fell into.
	Bins int `json:"bins"`
	// VarianceExplained is epsilon squared, in [0, 1).
	VarianceExplained float64 `json:"variance_explained"`
	// Share is VarianceExplained over the sum of all parameters'.
	Share float64 `json:"share"`
}

// parameterImportance computes the importance of each axis over trials,
// most important first (ties by name).
func parameterImportance(axes []axis, trials []trialPoint) importance {
	imp := importance{Method: importanceMethod, Trials: len(trials), Params: []paramImportance{}}
	if len(trials) < minImportanceTrials {
		return imp
	}
	acc := make([]float64, len(trials))
	for i, t := range trials {
		acc[i] = t.Accuracy
	}
	total := 0.0
	for _, a := range axes {
		bins := binTrials(a, trials)
		e, k := epsilonSquared(acc, bins)
		imp.Params = append(imp.Params, paramImportance{Name: a.Name, Bins: k, VarianceExplained: e})
		total += e
	}
	if total > 0 {
		for i := range imp.Params {
			imp.Params[i].Share = imp.Params[i].VarianceExplained / total
		}
	}
	slices.SortStableFunc(imp.Params, func(a, b paramImportance) int {
		return cmp.Or(cmp.Compare(b.VarianceExplained, a.VarianceExplained), cmp.Compare(a.Name, b.Name))
	})
	return imp
}

// binTrials returns each trial's bin for axis a.
func binTrials(a axis, trials []trialPoint) []string {
	out := make([]string, len(trials))
	var nums []float64
	for _, t := range trials {
		if f, ok := t.Values[a.Name].(float64); ok && a.Type != nas.ParamCategorical {
			nums = append(nums, f)
		}
	}
	slices.Sort(nums)
	distinct := len(slices.Compact(slices.Clone(nums)))
	// Cut points at the quantiles j/maxBins: a value's bin is the number
	// of cut points at or below it, so equal values share a bin.
	var cuts []float64
	if distinct > maxBins {
		for j := 1; j < maxBins; j++ {
			cuts = append(cuts, nums[j*len(nums)/maxBins])
		}
	}
	for i, t := range trials {
		x, ok := t.Values[a.Name]
		f, isNum := x.(float64)
		switch {
		case !ok:
			out[i] = "inactive"
		case a.Type != nas.ParamCategorical && isNum && cuts != nil:
			out[i] = fmt.Sprintf("bin %d", sort.Search(len(cuts), func(j int) bool { return cuts[j] > f }))
		default:
			out[i] = fmt.Sprintf("%T %v", x, x)
		}
	}
	return out
}

// epsilonSquared returns epsilon squared of ys grouped by bins, clipped at
// 0, and the number of groups; 0 when there is one group, no spread, or no
// degree of freedom left within the groups.
func epsilonSquared(ys []float64, bins []string) (float64, int) {
	groups := map[string][]float64{}
	mean := 0.0
	for i, y := range ys {
		groups[bins[i]] = append(groups[bins[i]], y)
		mean += y
	}
	n, k := len(ys), len(groups)
	mean /= float64(n)
	var ssTotal, ssWithin float64
	for _, g := range groups {
		m := 0.0
		for _, y := range g {
			m += y
		}
		m /= float64(len(g))
		for _, y := range g {
			ssWithin += (y - m) * (y - m)
			ssTotal += (y - mean) * (y - mean)
		}
	}
	if k < 2 || n <= k || ssTotal <= 0 {
		return 0, k
	}
	msWithin := ssWithin / float64(n-k)
	e := (ssTotal - ssWithin - float64(k-1)*msWithin) / ssTotal
	return max(e, 0), k
}
