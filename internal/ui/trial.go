package ui

import (
	"errors"
	"fmt"
	"html/template"
	"maps"
	"net/http"
	"path"
	"regexp"
	"slices"

	"github.com/compressq/compressq/compress/nas"
	"github.com/compressq/compressq/internal/artifact"
	"github.com/compressq/compressq/internal/rdb"
	"github.com/compressq/compressq/internal/sweep"
)

// trialData is what a trial page shows, served as
// /sweeps/<id>/trials/<trial>/data.json.
type trialData struct {
	Sweep  string `json:"sweep"`
	ID     string `json:"id"`
	Status string `json:"status"`
	// Final says the trial is done or failed, or its sweep ended: the page
	// stops polling.
	Final   bool   `json:"final"`
	Attempt int    `json:"attempt"`
	Epochs  int    `json:"epochs"`
	Hash    string `json:"hash"`
	Genome  string `json:"genome"`
	// Values are the trial's parameters (a built-in space's as its typed
	// twin's).
	Values     nas.Values      `json:"values"`
	Objectives *nas.Objectives `json:"objectives,omitempty"`
	Errors     []string        `json:"errors,omitempty"`
	// Runs are the attempts' records, oldest first; the last one's curve
	// is drawn.
	Runs []sweep.Run `json:"runs"`
	// Checkpoints are the trial's training checkpoints in the artifact
	// store (kept only while it trains); nil when the pages have no store.
	Checkpoints []checkpointLink `json:"checkpoints"`
}

// checkpointLink is one stored checkpoint and the page's link to it.
type checkpointLink struct {
	Epoch int    `json:"epoch"`
	Key   string `json:"key"`
	URL   string `json:"url"`
}

var trialIDPattern = regexp.MustCompile(`^t[0-9]+$`)

// errNoTrial is returned for a trial id the sweep has not asked.
var errNoTrial = errors.New("no such trial")

func (h *sweepPages) trialData(r *http.Request, id, trial string) (*trialData, error) {
	n, err := nas.TrialIndex(trial)
	if err != nil || !trialIDPattern.MatchString(trial) {
		return nil, fmt.Errorf("trial %q: %w", trial, errNoTrial)
	}
	st, err := h.ctl.Status(r.Context(), id)
	if err != nil {
		return nil, err
	}
	recs := st.Progress.Records
	if n < 0 || n >= len(recs) || recs[n].Trial.ID != trial {
		return nil, fmt.Errorf("sweep %s: trial %q: %w", id, trial, errNoTrial)
	}
	rec := recs[n]
	c := rec.Trial.Candidate
	v := c.Values
	if v == nil {
		v = nas.GenomeValues(c.Genome)
	}
	d := &trialData{Sweep: id, ID: trial, Status: rec.Status, Attempt: rec.Trial.Attempt, Epochs: rec.Trial.Epochs,
		Hash: c.Hash, Genome: c.Describe(), Values: v, Objectives: rec.Objectives, Errors: rec.Errors,
		Final: rec.Status == nas.StatusDone || rec.Status == nas.StatusFailed || rdb.SweepEnded(st.Status)}
	if d.Runs, err = h.ctl.Runs(r.Context(), id, trial, rec.Trial.Attempt); err != nil {
		return nil, err
	}
	if d.Runs == nil {
		d.Runs = []sweep.Run{}
	}
	if h.artifacts != nil {
		d.Checkpoints = []checkpointLink{}
		keys, err := h.artifacts.ListNamed(r.Context(), sweep.TrialCheckpointDir(id, trial))
		if err != nil {
			return nil, err
		}
		for _, k := range keys {
			if e, ok := sweep.CheckpointEpoch(k); ok {
				d.Checkpoints = append(d.Checkpoints, checkpointLink{Epoch: e, Key: k,
					URL: h.prefix + "/" + id + "/trials/" + trial + "/checkpoints/" + path.Base(k)})
			}
		}
		slices.SortFunc(d.Checkpoints, func(a, b checkpointLink) int { return a.Epoch - b.Epoch })
	}
	return d, nil
}

func (h *sweepPages) trial(w http.ResponseWriter, r *http.Request, id, trial string) {
	d, err := h.trialData(r, id, trial)
	if err != nil {
		httpError(w, err)
		return
	}
	var last *sweep.Run
	if len(d.Runs) > 0 {
		last = &d.Runs[len(d.Runs)-1]
	}
	render(w, trialPage, map[string]any{"Prefix": h.prefix, "D": d, "Last": last, "Store": h.artifacts != nil,
		"Values": valueRows(d.Values), "Script": script, "Period": pollPeriod.Milliseconds()})
}

func (h *sweepPages) trialJSON(w http.ResponseWriter, r *http.Request, id, trial string) {
	d, err := h.trialData(r, id, trial)
	if err != nil {
		httpError(w, err)
		return
	}
	writeJSON(w, d)
}

// checkpoint serves one stored checkpoint of a trial.
func (h *sweepPages) checkpoint(w http.ResponseWriter, r *http.Request, id, trial, name string) {
	e, ok := sweep.CheckpointEpoch(name)
	if h.artifacts == nil || !ok || !trialIDPattern.MatchString(trial) {
		http.NotFound(w, r)
		return
	}
	if _, _, err := h.ctl.Spec(r.Context(), id); err != nil {
		httpError(w, err)
		return
	}
	b, err := h.artifacts.GetNamed(r.Context(), sweep.TrialCheckpointDir(id, trial)+"/"+name)
	if errors.Is(err, artifact.ErrNotFound) {
		http.Error(w, fmt.Sprintf("checkpoint of epoch %d not stored (a trial's checkpoints are deleted once it reports)", e), http.StatusNotFound)
		return
	}
	if err != nil {
		httpError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s-%s-epoch-%d.safetensors"`, id, trial, e))
	_, _ = w.Write(b)
}

type valueRow struct {
	Name  string
	Value any
}

func valueRows(v nas.Values) []valueRow {
	var out []valueRow
	for _, k := range slices.Sorted(maps.Keys(v)) {
		out = append(out, valueRow{k, v[k]})
	}
	return out
}

var trialPage = template.Must(template.New("trial").Funcs(funcs).Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>trial {{.D.ID}} of sweep {{.D.Sweep}}</title>` + style + `</head>
<body><p><a href="{{.Prefix}}/">all sweeps</a> › <a href="{{.Prefix}}/{{.D.Sweep}}">sweep {{.D.Sweep}}</a></p>
<h1>Trial {{.D.ID}}</h1>
<p>Status <b id="status">{{.D.Status}}</b>, attempt {{.D.Attempt}}, {{.D.Epochs}} epochs. <span id="live" class="muted">{{if .D.Final}}trial {{.D.Status}}: not updating.{{else}}live: updates every 5 s (needs JavaScript).{{end}}</span></p>
<p>Architecture {{.D.Genome}}; hash <code>{{.D.Hash}}</code>.</p>
<div class="grid"><div>
<h2>Parameters</h2>
<table id="params"><tr><th>parameter</th><th>value</th></tr>
{{range .Values}}<tr><td>{{.Name}}</td><td>{{.Value}}</td></tr>
{{end}}</table></div>
<div><h2>Objectives</h2>
{{with .D.Objectives}}<table id="objectives"><tr><th>objective</th><th>value</th></tr>
<tr><td>accuracy</td><td>{{pct .Accuracy}}{{with .TestImages}} <span class="muted">(on {{.}} test images)</span>{{end}}</td></tr><tr><td>stored bytes</td><td>{{.Bytes}}</td></tr><tr><td>parameters</td><td>{{.Params}}</td></tr>
<tr><td>latency fp32</td><td>{{us .LatencyFP32}}</td></tr><tr><td>latency int8</td><td>{{us .LatencyInt8}}</td></tr>
{{if .MACs}}<tr><td>MACs (kept weights)</td><td>{{.MACs}}</td></tr>{{end}}{{if .Violation}}<tr><td>over a constraint by</td><td>{{pct .Violation}}</td></tr>{{end}}</table>
{{else}}<p class="muted">None yet.</p>{{end}}</div></div>
<h2>Learning curve</h2>
<p class="muted" id="curve-note">{{with .Last}}{{if .Curve}}attempt {{.Attempt}}: {{len .Curve}} epochs.{{else}}No learning curve: the evaluator does not train.{{end}}{{else}}No attempt has finished yet.{{end}}</p>
<div class="grid"><svg id="loss" role="img" aria-label="training loss by epoch"></svg><svg id="accuracy" role="img" aria-label="accuracy by epoch"></svg></div>
{{with .Last}}{{if .Curve}}<table id="curve"><tr><th>epoch</th><th>phase</th><th>learning rate</th><th>training loss</th><th>training accuracy</th><th>test accuracy</th><th>seconds</th></tr>
{{range .Curve}}<tr><td>{{.Epoch}}</td><td>{{.Phase}}</td><td>{{printf "%.4g" .LR}}</td><td>{{printf "%.4f" .TrainLoss}}</td><td>{{pct .TrainAcc}}</td><td>{{with .TestAcc}}{{pct .}}{{else}}—{{end}}</td><td>{{printf "%.2f" .Seconds}}</td></tr>
{{end}}</table>{{end}}{{end}}
<h2>Attempts</h2>
{{if .D.Runs}}<table id="runs"><tr><th>attempt</th><th>outcome</th><th>seconds</th><th>resumed from epoch</th><th>weights (SHA-256)</th><th>finished</th></tr>
{{range .D.Runs}}<tr><td>{{.Attempt}}</td><td>{{if .Error}}failed: {{.Error}}{{else}}done{{end}}</td><td>{{printf "%.1f" .Seconds}}</td><td>{{if .ResumedFrom}}{{.ResumedFrom}}{{else}}—{{end}}</td><td><code>{{.Weights}}</code></td><td>{{.Finished.Format "2006-01-02 15:04:05"}}</td></tr>
{{end}}</table>{{else}}<p class="muted">No attempt recorded yet.</p>{{end}}
{{with .D.Errors}}<h3>Errors</h3><ol id="errors">{{range .}}<li><code>{{.}}</code></li>{{end}}</ol>{{end}}
<h2>Artifacts</h2>
{{with .D.Objectives}}{{if .Artifact}}<p id="artifact">Compressed model (the one measured above): <code>{{.Artifact}}</code></p>{{end}}{{end}}
{{if not .Store}}<p class="muted">The artifact store is not configured for these pages: checkpoints are not listed.</p>
{{else if .D.Checkpoints}}<ul id="checkpoints">{{range .D.Checkpoints}}<li><a href="{{.URL}}">epoch {{.Epoch}}</a> <code>{{.Key}}</code></li>{{end}}</ul>
{{else}}<p class="muted">No checkpoint stored: a trial keeps its newest two training checkpoints only while it trains. A trial's network is not stored; its weights digest identifies it.</p>{{end}}
<script>{{.Script}}
trialPage({{.Prefix}} + "/" + {{.D.Sweep}} + "/trials/" + {{.D.ID}} + "/data.json", {{.Period}});
</script>
</body></html>`))
