package ui

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/compressq/compressq/compress/nas"
	"github.com/compressq/compressq/internal/rdb"
	"github.com/compressq/compressq/internal/sweep"
)

// Mux serves the whole web UI: asynq's dashboard under /ui/ (Handler) and
// the sweep pages under /sweeps/ (Sweeps); / redirects to /ui/.
func Mux(rc redis.UniversalClient, ctl *sweep.Controller) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/ui/", Handler(rc, "/ui"))
	mux.Handle("/ui", Handler(rc, "/ui"))
	mux.Handle("/sweeps/", Sweeps(ctl, "/sweeps"))
	mux.Handle("/sweeps", Sweeps(ctl, "/sweeps"))
	mux.Handle("/{$}", http.RedirectHandler("/ui/", http.StatusFound))
	return mux
}

// maxListed is the number of sweeps the list page shows, newest first.
const maxListed = 50

// topTrials is the number of best trials a sweep page lists.
const topTrials = 10

// Sweeps returns a handler for the sweep pages under prefix (for example
// "/sweeps"): prefix+"/" lists the newest sweeps with their status and
// trial counts, prefix+"/<id>" shows one sweep — progress, the best trials
// and the trials on the Pareto front of accuracy against stored bytes —
// and prefix+"/<id>/pareto.svg" plots that front over every completed
// trial. The pages are plain HTML (no scripts) and reload every 10 s while
// a sweep runs. ctl stays owned by the caller.
func Sweeps(ctl *sweep.Controller, prefix string) http.Handler {
	prefix = "/" + strings.Trim(prefix, "/")
	return http.StripPrefix(prefix, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path := strings.Trim(r.URL.Path, "/")
		switch {
		case r.URL.Path == "":
			http.Redirect(w, r, prefix+"/", http.StatusMovedPermanently)
		case path == "":
			listSweeps(w, r, ctl, prefix)
		case strings.HasSuffix(path, "/pareto.svg"):
			paretoSVG(w, r, ctl, strings.TrimSuffix(path, "/pareto.svg"))
		case !strings.Contains(path, "/"):
			showSweep(w, r, ctl, prefix, path)
		default:
			http.NotFound(w, r)
		}
	}))
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

func showSweep(w http.ResponseWriter, r *http.Request, ctl *sweep.Controller, prefix, id string) {
	st, err := ctl.Status(r.Context(), id)
	if err != nil {
		httpError(w, err)
		return
	}
	var done []nas.Record
	for _, rec := range st.Progress.Records {
		if rec.Status == nas.StatusDone && rec.Objectives != nil {
			done = append(done, rec)
		}
	}
	front, err := nas.ParetoFront(done, []string{nas.ObjectiveAccuracy, nas.ObjectiveBytes})
	if err != nil {
		httpError(w, err)
		return
	}
	slices.SortFunc(front, func(a, b nas.Record) int { return a.Objectives.Bytes - b.Objectives.Bytes })
	best := slices.Clone(done)
	slices.SortStableFunc(best, func(a, b nas.Record) int {
		switch x, y := a.Objectives.Accuracy, b.Objectives.Accuracy; {
		case x > y:
			return -1
		case x < y:
			return 1
		}
		return 0
	})
	render(w, sweepPage, map[string]any{"Prefix": prefix, "S": st, "Best": best[:min(len(best), topTrials)],
		"Front": front, "Running": st.Status == rdb.SweepRunning, "Plot": len(done) > 0})
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
	if errors.Is(err, rdb.ErrNoSweep) {
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
}

const style = `<style>
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border-bottom:1px solid #ddd;padding:.3em .8em;text-align:left}
.muted{color:#777}
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
<html><head><meta charset="utf-8">{{if .Running}}<meta http-equiv="refresh" content="10">{{end}}<title>sweep {{.S.ID}}</title>` + style + `</head>
<body><p><a href="{{.Prefix}}/">all sweeps</a></p>
<h1>Sweep {{.S.ID}}{{with .S.Name}} — {{.}}{{end}}</h1>
{{$p := .S.Progress}}{{$total := len $p.Records}}
<p>Status <b id="status">{{.S.Status}}</b>; strategy {{.S.Spec.Config.Strategy}}, seed {{.S.Spec.Config.Seed}}, at most {{.S.Spec.Config.MaxTrials}} trials, {{.S.Spec.Concurrency}} at once.</p>
<p><span id="counts">{{$p.Completed}} completed, {{$p.Failed}} failed, {{$p.Pending}} pending</span> of {{$total}} trials asked; {{.S.Inbox}} results waiting.</p>
{{if .Plot}}<h2>Pareto front: accuracy × stored bytes</h2>
<img id="pareto" src="{{.Prefix}}/{{.S.ID}}/pareto.svg" alt="Pareto front of accuracy against stored bytes" width="567" height="378">
<table id="front"><tr><th>trial</th><th>accuracy</th><th>bytes</th><th>params</th><th>architecture</th></tr>
{{range .Front}}<tr><td>{{.Trial.ID}}</td><td>{{pct .Objectives.Accuracy}}</td><td>{{.Objectives.Bytes}}</td><td>{{.Objectives.Params}}</td><td>{{.Trial.Candidate.Genome}}</td></tr>
{{end}}</table>
<h2>Best trials</h2>
<table id="best"><tr><th>trial</th><th>epochs</th><th>accuracy</th><th>bytes</th><th>architecture</th></tr>
{{range .Best}}<tr><td>{{.Trial.ID}}</td><td>{{.Trial.Epochs}}</td><td>{{pct .Objectives.Accuracy}}</td><td>{{.Objectives.Bytes}}</td><td>{{.Trial.Candidate.Genome}}</td></tr>
{{end}}</table>{{else}}<p class="muted">No completed trial yet.</p>{{end}}
</body></html>`))
