package ui

import (
	"bytes"
	"cmp"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/compressq/compressq/compress/nas"
	"github.com/compressq/compressq/internal/artifact"
	"github.com/compressq/compressq/internal/rdb"
	"github.com/compressq/compressq/internal/sweep"
)

// Mux serves the whole web UI: asynq's dashboard under /ui/ (Handler) and
// the sweep pages under /sweeps/ (Sweeps); / redirects to /ui/. artifacts
// may be nil (see Sweeps).
func Mux(rc redis.UniversalClient, ctl *sweep.Controller, artifacts *artifact.Store) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/ui/", Handler(rc, "/ui"))
	mux.Handle("/ui", Handler(rc, "/ui"))
	sw := Sweeps(ctl, artifacts, "/sweeps")
	mux.Handle("/sweeps/", sw)
	mux.Handle("/sweeps", sw)
	mux.Handle("/{$}", http.RedirectHandler("/ui/", http.StatusFound))
	return mux
}

// maxListed is the number of sweeps the list page shows, newest first.
const maxListed = 50

// topTrials is the number of best trials a sweep page lists.
const topTrials = 10

// pollPeriod is how often a sweep or trial page asks for its data while
// it can still change.
const pollPeriod = 5 * time.Second

// Sweeps returns a handler for the sweep pages under prefix (for example
// "/sweeps"):
//
//   - prefix+"/" lists the newest sweeps with their status and trial counts;
//   - prefix+"/<id>" shows one sweep: progress, the optimisation history,
//     the Pareto front of accuracy against stored bytes, parallel
//     coordinates of the parameters, parameter importance, the front and
//     the best trials; its script draws them from prefix+"/<id>/data.json"
//     and polls that every 5 s until the sweep is done or cancelled;
//   - prefix+"/<id>/pareto.svg" plots the front as a static figure;
//   - prefix+"/<id>/trials/<trial>" shows one trial: parameters, status,
//     attempts and errors, objectives, the learning curve (from
//     prefix+"/<id>/trials/<trial>/data.json") and its checkpoints, which
//     prefix+"/<id>/trials/<trial>/checkpoints/epoch-<n>" serves.
//
// Checkpoints are listed only when artifacts, the store the workers write
// them to, is not nil. The pages need no external resource. ctl and
// artifacts stay owned by the caller.
func Sweeps(ctl *sweep.Controller, artifacts *artifact.Store, prefix string) http.Handler {
	prefix = "/" + strings.Trim(prefix, "/")
	h := &sweepPages{ctl: ctl, artifacts: artifacts, prefix: prefix}
	return http.StripPrefix(prefix, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "" {
			http.Redirect(w, r, prefix+"/", http.StatusMovedPermanently)
			return
		}
		path := strings.Trim(r.URL.Path, "/")
		parts := strings.Split(path, "/")
		switch {
		case path == "":
			listSweeps(w, r, ctl, prefix)
		case len(parts) == 1:
			h.sweep(w, r, parts[0])
		case len(parts) == 2 && parts[1] == "data.json":
			h.sweepJSON(w, r, parts[0])
		case len(parts) == 2 && parts[1] == "pareto.svg":
			paretoSVG(w, r, ctl, parts[0])
		case len(parts) == 3 && parts[1] == "trials":
			h.trial(w, r, parts[0], parts[2])
		case len(parts) == 4 && parts[1] == "trials" && parts[3] == "data.json":
			h.trialJSON(w, r, parts[0], parts[2])
		case len(parts) == 5 && parts[1] == "trials" && parts[3] == "checkpoints":
			h.checkpoint(w, r, parts[0], parts[2], parts[4])
		default:
			http.NotFound(w, r)
		}
	}))
}

// sweepPages serves the pages of sweeps and their trials.
type sweepPages struct {
	ctl       *sweep.Controller
	artifacts *artifact.Store
	prefix    string
}

type listRow struct {
	*sweep.Summary
	Name string
}

func listSweeps(w http.ResponseWriter, r *http.Request, ctl *sweep.Controller, prefix string) {
	ids, err := ctl.List(r.Context(), 0, maxListed)
	if err != nil {
		httpError(w, err)
		return
	}
	var rows []listRow
	for _, id := range ids {
		s, err := ctl.Summary(r.Context(), id)
		if errors.Is(err, rdb.ErrNoSweep) {
			continue // expired since it was listed
		}
		if err != nil {
			httpError(w, err)
			return
		}
		row := listRow{Summary: s}
		if spec, _, err := ctl.Spec(r.Context(), id); err == nil {
			row.Name = spec.Name
		}
		rows = append(rows, row)
	}
	render(w, listPage, map[string]any{"Prefix": prefix, "Rows": rows})
}

func (h *sweepPages) sweep(w http.ResponseWriter, r *http.Request, id string) {
	st, err := h.ctl.Status(r.Context(), id)
	if err != nil {
		httpError(w, err)
		return
	}
	d, err := buildSweepData(st)
	if err != nil {
		httpError(w, err)
		return
	}
	byID := map[string]trialPoint{}
	for _, t := range d.Trials {
		byID[t.ID] = t
	}
	front := make([]trialPoint, len(d.Front))
	for i, id := range d.Front {
		front[i] = byID[id]
	}
	best := slices.Clone(d.Trials)
	slices.SortStableFunc(best, func(a, b trialPoint) int { return cmp.Compare(b.Accuracy, a.Accuracy) })
	render(w, sweepPage, map[string]any{"Prefix": h.prefix, "S": st, "D": d, "Best": best[:min(len(best), topTrials)],
		"Front": front, "Method": importanceMethod, "Script": script, "Period": pollPeriod.Milliseconds()})
}

func (h *sweepPages) sweepJSON(w http.ResponseWriter, r *http.Request, id string) {
	st, err := h.ctl.Status(r.Context(), id)
	if err != nil {
		httpError(w, err)
		return
	}
	d, err := buildSweepData(st)
	if err != nil {
		httpError(w, err)
		return
	}
	writeJSON(w, d)
}

func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(b)
}

func paretoSVG(w http.ResponseWriter, r *http.Request, ctl *sweep.Controller, id string) {
	st, err := ctl.Status(r.Context(), id)
	if err != nil {
		httpError(w, err)
		return
	}
	var buf bytes.Buffer
	if err := nas.PlotPareto(&buf, st.Progress.Records, nas.ObjectiveBytes, nas.ObjectiveAccuracy, "svg"); err != nil {
		httpError(w, err)
		return
	}
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(buf.Bytes())
}

func httpError(w http.ResponseWriter, err error) {
	if errors.Is(err, rdb.ErrNoSweep) || errors.Is(err, errNoTrial) {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	http.Error(w, err.Error(), http.StatusInternalServerError)
}

func render(w http.ResponseWriter, t *template.Template, data any) {
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(buf.Bytes())
}

var funcs = template.FuncMap{
	"pct": func(f float64) string { return fmt.Sprintf("%.2f%%", 100*f) },
	"us":  func(s float64) string { return fmt.Sprintf("%.1f µs", 1e6*s) },
}

// script holds the pages' charts, inlined so the pages work offline.
//
//go:embed charts.js
var chartsJS string

var script = template.JS(chartsJS)

const style = `<style>
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:80em}
table{border-collapse:collapse;margin:1em 0}td,th{border-bottom:1px solid #ddd;padding:.3em .8em;text-align:left}
.muted{color:#777}svg{display:block;margin:.5em 0 1.5em;max-width:100%;height:auto}
svg a circle:hover,svg a polyline:hover{stroke:#000;stroke-width:2}
.grid{display:flex;flex-wrap:wrap;gap:0 2em}
</style>`

var listPage = template.Must(template.New("list").Funcs(funcs).Parse(`<!doctype html>
<html><head><meta charset="utf-8"><meta http-equiv="refresh" content="10"><title>compressq sweeps</title>` + style + `</head>
<body><h1>Sweeps</h1>
{{if not .Rows}}<p class="muted">No sweeps. Start one with <code>compressq sweep start SPEC</code>.</p>{{else}}
<table><tr><th>sweep</th><th>name</th><th>status</th><th>trials done</th><th>failed</th><th>pending</th><th>updated</th></tr>
{{range .Rows}}<tr><td><a href="{{$.Prefix}}/{{.ID}}">{{.ID}}</a></td><td>{{.Name}}</td><td class="status">{{.Status}}</td>
<td>{{.Counts.Completed}}</td><td>{{.Counts.Failed}}</td><td>{{.Counts.Pending}}</td><td>{{.Updated.Format "2006-01-02 15:04:05"}}</td></tr>
{{end}}</table>{{end}}
</body></html>`))

var sweepPage = template.Must(template.New("sweep").Funcs(funcs).Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>sweep {{.S.ID}}</title>` + style + `</head>
<body><p><a href="{{.Prefix}}/">all sweeps</a></p>
<h1>Sweep {{.S.ID}}{{with .S.Name}} — {{.}}{{end}}</h1>
{{$p := .S.Progress}}{{$total := len $p.Records}}
<p>Status <b id="status">{{.S.Status}}</b>; strategy {{.S.Spec.Config.Strategy}}, seed {{.S.Spec.Config.Seed}}, at most {{.S.Spec.Config.MaxTrials}} trials, {{.S.Spec.Concurrency}} at once.</p>
<p><span id="counts">{{$p.Completed}} completed, {{$p.Failed}} failed, {{$p.Pending}} pending</span> of {{$total}} trials asked; {{.S.Inbox}} results waiting.
<span id="live" class="muted">{{if .D.Final}}sweep {{.S.Status}}: not updating.{{else}}live: the charts update every 5 s (needs JavaScript).{{end}}</span></p>
<div id="charts"{{if not .D.Trials}} hidden{{end}}>
<h2>Optimisation history</h2>
<p class="muted">Each completed trial's accuracy in the order the trials were asked, and the best accuracy so far. Hover a point for the trial; click it for its page.</p>
<svg id="history" role="img" aria-label="accuracy by trial"></svg>
<h2>Pareto front: accuracy × stored bytes</h2>
<p class="muted">Every completed trial; the trials no other trial beats on both accuracy and size in red (bytes on a log scale). <a href="{{.Prefix}}/{{.S.ID}}/pareto.svg">Static figure</a>.</p>
<svg id="pareto-chart" role="img" aria-label="accuracy against stored bytes"></svg>
<h2>Parameters and accuracy</h2>
<p class="muted">Parallel coordinates: an axis per search parameter (log axes for log parameters, categorical axes with their choices) and accuracy last; a line per trial, coloured from blue (lowest accuracy) to red (highest). A parameter a trial does not use sits on the n/a row.</p>
<div style="overflow-x:auto"><svg id="parallel" role="img" aria-label="parallel coordinates"></svg></div>
<h2>Parameter importance</h2>
<p class="muted" id="importance-note">{{.Method}}.</p>
<svg id="importance" role="img" aria-label="parameter importance"></svg>
</div>
{{if not .D.Trials}}<p class="muted" id="none">No completed trial yet.</p>{{end}}
<h2>Pareto front</h2>
<table id="front"><thead><tr><th>trial</th><th>accuracy</th><th>bytes</th><th>params</th><th>architecture</th></tr></thead><tbody>
{{range .Front}}<tr><td><a href="{{$.Prefix}}/{{$.S.ID}}/trials/{{.ID}}">{{.ID}}</a></td><td>{{pct .Accuracy}}</td><td>{{.Bytes}}</td><td>{{.Params}}</td><td>{{.Genome}}</td></tr>
{{end}}</tbody></table>
<h2>Best trials</h2>
<table id="best"><thead><tr><th>trial</th><th>epochs</th><th>accuracy</th><th>bytes</th><th>architecture</th></tr></thead><tbody>
{{range .Best}}<tr><td><a href="{{$.Prefix}}/{{$.S.ID}}/trials/{{.ID}}">{{.ID}}</a></td><td>{{.Epochs}}</td><td>{{pct .Accuracy}}</td><td>{{.Bytes}}</td><td>{{.Genome}}</td></tr>
{{end}}</tbody></table>
<script>{{.Script}}
sweepPage({{.Prefix}} + "/" + {{.S.ID}} + "/data.json", {{.Prefix}} + "/" + {{.S.ID}} + "/trials", {{.Period}});
</script>
</body></html>`))
