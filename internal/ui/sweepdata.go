package ui

import (
	"cmp"
	"maps"
	"math"
	"slices"

	"github.com/compressq/compressq/compress/nas"
	"github.com/compressq/compressq/internal/rdb"
	"github.com/compressq/compressq/internal/sweep"
)

// sweepData is what a sweep page draws, served as /sweeps/<id>/data.json
// and polled by the page while the sweep runs.
type sweepData struct {
	ID     string `json:"id"`
	Name   string `json:"name,omitempty"`
	Status string `json:"status"`
	// Final says the sweep is done or cancelled: nothing will change but
	// late results of a cancelled sweep, and the page stops polling.
	Final  bool       `json:"final"`
	Counts nas.Counts `json:"counts"`
	Inbox  int        `json:"results_waiting"`
	// Axes are the search parameters, one per parallel-coordinates axis.
	Axes []axis `json:"axes"`
	// Trials are the completed trials in the order they were asked, each
	// with the best accuracy so far.
	Trials []trialPoint `json:"trials"`
	// Front lists the trials on the Pareto front of accuracy against
	// stored bytes, fewest bytes first.
	Front      []string   `json:"front"`
	Importance importance `json:"importance"`
}

// axis is one search parameter: numeric (int, float, log) over [Low,
// High], or categorical over Choices.
type axis struct {
	Name    string  `json:"name"`
	Type    string  `json:"type"`
	Low     float64 `json:"low"`
	High    float64 `json:"high"`
	Choices []any   `json:"choices,omitempty"`
}

// trialPoint is one completed trial.
type trialPoint struct {
	ID string `json:"id"`
	// Index is the trial's number, its position in the order asked.
	Index  int    `json:"index"`
	Epochs int    `json:"epochs"`
	Genome string `json:"genome"`
	// Values are the trial's parameters by axis name; an inactive
	// parameter has none.
	Values      nas.Values `json:"values"`
	Accuracy    float64    `json:"accuracy"`
	Bytes       int        `json:"bytes"`
	Params      int        `json:"params"`
	LatencyFP32 float64    `json:"latency_fp32"`
	LatencyInt8 float64    `json:"latency_int8"`
	// BestSoFar is the best accuracy of this and every earlier completed
	// trial.
	BestSoFar float64 `json:"best_so_far"`
	Front     bool    `json:"front"`
}

// epochsAxis names the extra axis of a sweep whose trials train for
// different epochs without an epochs parameter (asha's rungs).
const epochsAxis = "epochs"

// buildSweepData turns a sweep's status into what its page draws.
func buildSweepData(st *sweep.Status) (*sweepData, error) {
	p := st.Progress
	d := &sweepData{ID: st.ID, Name: st.Name, Status: st.Status, Inbox: st.Inbox,
		Final:  rdb.SweepEnded(st.Status),
		Counts: nas.Counts{Done: p.Done, Trials: len(p.Records), Pending: p.Pending, Completed: p.Completed, Failed: p.Failed},
		Trials: []trialPoint{}, Front: []string{}}
	space := st.Spec.Config.Space
	typed := space.Params != nil
	if !typed {
		space = space.ParamSpace()
	}
	var done []nas.Record
	best := math.Inf(-1)
	for _, r := range p.Records {
		if r.Status != nas.StatusDone || r.Objectives == nil {
			continue
		}
		done = append(done, r)
		idx, _ := nas.TrialIndex(r.Trial.ID)
		o := r.Objectives
		best = max(best, o.Accuracy)
		v := r.Trial.Candidate.Values
		if !typed || v == nil {
			v = nas.GenomeValues(r.Trial.Candidate.Genome)
		}
		d.Trials = append(d.Trials, trialPoint{ID: r.Trial.ID, Index: idx, Epochs: r.Trial.Epochs, Genome: r.Trial.Candidate.Describe(),
			Values: v, Accuracy: o.Accuracy, Bytes: o.Bytes, Params: o.Params, LatencyFP32: o.LatencyFP32, LatencyInt8: o.LatencyInt8,
			BestSoFar: best})
	}
	front, err := nas.ParetoFront(done, []string{nas.ObjectiveAccuracy, nas.ObjectiveBytes})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(front, func(a, b nas.Record) int {
		return cmp.Or(cmp.Compare(a.Objectives.Bytes, b.Objectives.Bytes), cmp.Compare(b.Objectives.Accuracy, a.Objectives.Accuracy))
	})
	on := map[string]bool{}
	for _, r := range front {
		d.Front = append(d.Front, r.Trial.ID)
		on[r.Trial.ID] = true
	}
	for i := range d.Trials {
		d.Trials[i].Front = on[d.Trials[i].ID]
	}
	d.Axes = axes(space.Params)
	if _, ok := space.Params[epochsAxis]; !ok {
		lo, hi := math.MaxInt, 0
		for _, t := range d.Trials {
			lo, hi = min(lo, t.Epochs), max(hi, t.Epochs)
		}
		if lo < hi {
			d.Axes = append(d.Axes, axis{Name: epochsAxis, Type: nas.ParamInt, Low: float64(lo), High: float64(hi)})
			for i := range d.Trials {
				v := make(nas.Values, len(d.Trials[i].Values)+1)
				for k, x := range d.Trials[i].Values {
					v[k] = x
				}
				v[epochsAxis] = float64(d.Trials[i].Epochs)
				d.Trials[i].Values = v
			}
		}
	}
	d.Importance = parameterImportance(d.Axes, d.Trials)
	return d, nil
}

// axes lists a space's parameters that can take more than one value, by
// name.
func axes(ps nas.ParamSpace) []axis {
	var out []axis
	for _, name := range slices.Sorted(maps.Keys(ps)) {
		p := ps[name]
		switch {
		case p.Type == nas.ParamCategorical && len(p.Choices) > 1:
			out = append(out, axis{Name: name, Type: p.Type, Choices: p.Choices})
		case p.Type != nas.ParamCategorical && p.High > p.Low:
			out = append(out, axis{Name: name, Type: p.Type, Low: p.Low, High: p.High})
		}
	}
	return out
}
