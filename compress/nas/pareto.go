package nas

import (
	"fmt"
	"math"
	"slices"
)

// Objective names for Config.Objectives and ObjectiveVector. Accuracy is
// maximised, the others minimised.
const (
	ObjectiveAccuracy    = "accuracy"
	ObjectiveParams      = "params"
	ObjectiveBytes       = "bytes"
	ObjectiveLatencyFP32 = "latency_fp32"
	ObjectiveLatencyInt8 = "latency_int8"
	ObjectiveMACs        = "macs"
)

// ObjectiveNames lists the known objectives.
var ObjectiveNames = []string{ObjectiveAccuracy, ObjectiveParams, ObjectiveBytes, ObjectiveLatencyFP32, ObjectiveLatencyInt8, ObjectiveMACs}

// ObjectiveVector returns o's values for names, oriented for minimisation
// (accuracy negated). A trial over a measured constraint (Violation > 0)
// scores its Violation as accuracy, worse than every feasible trial.
func ObjectiveVector(o Objectives, names []string) ([]float64, error) {
	v := make([]float64, len(names))
	for i, n := range names {
		switch n {
		case ObjectiveAccuracy:
			v[i] = -o.Accuracy
			if o.Violation > 0 {
				v[i] = o.Violation
			}
		case ObjectiveMACs:
			v[i] = float64(o.MACs)
		case ObjectiveParams:
			v[i] = float64(o.Params)
		case ObjectiveBytes:
			v[i] = float64(o.Bytes)
		case ObjectiveLatencyFP32:
			v[i] = o.LatencyFP32
		case ObjectiveLatencyInt8:
			v[i] = o.LatencyInt8
		default:
			return nil, fmt.Errorf("objective %q, want one of %v", n, ObjectiveNames)
		}
	}
	return v, nil
}

// Dominates reports whether a Pareto-dominates b under minimisation: no
// worse in every objective and better in at least one.
func Dominates(a, b []float64) bool {
	better := false
	for i := range a {
		if a[i] > b[i] {
			return false
		}
		if a[i] < b[i] {
			better = true
		}
	}
	return better
}

// NonDominatedSort splits points (all minimised) into fronts, Deb et al.
// 2002's fast non-dominated sort: fronts[0] holds the indices of the points
// no other point dominates, fronts[1] those dominated only by fronts[0], and
// so on. Indices within a front are ascending.
func NonDominatedSort(points [][]float64) [][]int {
	n := len(points)
	dominated := make([][]int, n) // dominated[p]: the points p dominates
	count := make([]int, n)       // how many points dominate p
	var front []int
	for p := range n {
		for q := range n {
			if Dominates(points[p], points[q]) {
				dominated[p] = append(dominated[p], q)
			} else if Dominates(points[q], points[p]) {
				count[p]++
			}
		}
		if count[p] == 0 {
			front = append(front, p)
		}
	}
	var fronts [][]int
	for len(front) > 0 {
		fronts = append(fronts, front)
		var next []int
		for _, p := range front {
			for _, q := range dominated[p] {
				if count[q]--; count[q] == 0 {
					next = append(next, q)
				}
			}
		}
		slices.Sort(next)
		front = next
	}
	return fronts
}

// CrowdingDistance returns the NSGA-II crowding distance of each point of
// front (indices into points): per objective, the boundary points get +Inf
// and the others the normalised gap between their neighbours, summed over
// objectives.
func CrowdingDistance(points [][]float64, front []int) []float64 {
	d := make([]float64, len(front))
	if len(front) == 0 {
		return d
	}
	order := make([]int, len(front))
	for m := range points[front[0]] {
		for i := range order {
			order[i] = i
		}
		slices.SortStableFunc(order, func(a, b int) int {
			x, y := points[front[a]][m], points[front[b]][m]
			switch {
			case x < y:
				return -1
			case x > y:
				return 1
			}
			return 0
		})
		lo, hi := points[front[order[0]]][m], points[front[order[len(order)-1]]][m]
		d[order[0]], d[order[len(order)-1]] = math.Inf(1), math.Inf(1)
		if hi == lo {
			continue
		}
		for k := 1; k < len(order)-1; k++ {
			d[order[k]] += (points[front[order[k+1]]][m] - points[front[order[k-1]]][m]) / (hi - lo)
		}
	}
	return d
}

// ParetoFront returns the completed records within the measured
// constraints that no other such record dominates under objectives, in
// record order.
func ParetoFront(records []Record, objectives []string) ([]Record, error) {
	var done []Record
	var pts [][]float64
	for _, r := range records {
		if r.Status != StatusDone || r.Objectives == nil || r.Objectives.Violation > 0 {
			continue
		}
		v, err := ObjectiveVector(*r.Objectives, objectives)
		if err != nil {
			return nil, err
		}
		done = append(done, r)
		pts = append(pts, v)
	}
	fronts := NonDominatedSort(pts)
	if len(fronts) == 0 {
		return nil, nil
	}
	out := make([]Record, len(fronts[0]))
	for i, j := range fronts[0] {
		out[i] = done[j]
	}
	return out, nil
}
