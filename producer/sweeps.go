package producer

// The sweep routes of the HTTP API: start a sweep from its spec, list and
// inspect sweeps, page through their trials, read the Pareto front, export,
// and pause, resume or cancel. They call the sweep controller the API was
// given (APIOptions.Sweeps); the front and the export are compress/nas's,
// the same code as `compressq sweep pareto` and `sweep export`.

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/compressq/compressq/compress/nas"
	"github.com/compressq/compressq/internal/rdb"
	"github.com/compressq/compressq/internal/sweep"
)

// sweepRoutes registers the sweep routes on mux.
func (a *api) sweepRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/sweeps", a.startSweep)
	mux.HandleFunc("GET /v1/sweeps", a.listSweeps)
	mux.HandleFunc("GET /v1/sweeps/{id}", a.sweepStatus)
	mux.HandleFunc("GET /v1/sweeps/{id}/trials", a.sweepTrials)
	mux.HandleFunc("GET /v1/sweeps/{id}/front", a.sweepFront)
	mux.HandleFunc("GET /v1/sweeps/{id}/export", a.sweepExport)
	for _, action := range []string{"pause", "resume", "cancel"} {
		mux.HandleFunc("POST /v1/sweeps/{id}/"+action, func(w http.ResponseWriter, r *http.Request) { a.setSweep(w, r, action) })
	}
}

// yamlTypes are the Content-Types that mark a sweep spec as YAML; any other
// body must be JSON.
var yamlTypes = []string{"application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml"}

func (a *api) startSweep(w http.ResponseWriter, r *http.Request) {
	body, ok := a.readBody(w, r)
	if !ok {
		return
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if !slices.Contains(yamlTypes, mt) && !json.Valid(body) {
		writeJSON(w, http.StatusBadRequest, apiError{Error: "sweep spec: the body is not JSON (send YAML with Content-Type: application/yaml)"})
		return
	}
	spec, err := sweep.ParseSpec(body)
	if err == nil {
		var id string
		if id, err = a.o.Sweeps.Start(r.Context(), spec); err == nil {
			w.Header().Set("Location", "/v1/sweeps/"+url.PathEscape(id))
			writeJSON(w, http.StatusCreated, map[string]string{"id": id})
			return
		}
	}
	if errors.Is(err, sweep.ErrInvalidSpec) {
		writeJSON(w, http.StatusBadRequest, apiError{Error: specReason(err), Fields: fieldErrors(err)})
		return
	}
	a.fail(w, "start sweep", err)
}

// specReason is a spec error on one line: its problems, one per line in
// err, joined by "; ".
func specReason(err error) string {
	return rdb.PlainReason(strings.ReplaceAll(err.Error(), "\n", "; "))
}

// sweepView is a sweep's summary as the API shows it: status and counts as
// of its last step, with its name and strategy.
type sweepView struct {
	*sweep.Summary
	Name     string      `json:"name,omitempty"`
	Strategy string      `json:"strategy"`
	Spec     *sweep.Spec `json:"spec,omitempty"`
}

// view loads a sweep's summary and spec; withSpec includes the spec.
func (a *api) view(r *http.Request, id string, withSpec bool) (*sweepView, error) {
	sum, err := a.o.Sweeps.Summary(r.Context(), id)
	if err != nil {
		return nil, err
	}
	spec, _, err := a.o.Sweeps.Spec(r.Context(), id)
	if err != nil {
		return nil, err
	}
	v := &sweepView{Summary: sum, Name: spec.Name, Strategy: spec.Config.Strategy}
	if withSpec {
		v.Spec = spec
	}
	return v, nil
}

// noSweep answers 404 for an unknown sweep and reports true, or reports
// false for any other error.
func noSweep(w http.ResponseWriter, id string, err error) bool {
	if !errors.Is(err, rdb.ErrNoSweep) {
		return false
	}
	writeJSON(w, http.StatusNotFound, apiError{Error: fmt.Sprintf("no sweep %q (never started, or its state expired)", id)})
	return true
}

func (a *api) listSweeps(w http.ResponseWriter, r *http.Request) {
	offset, limit, ok := page(w, r)
	if !ok {
		return
	}
	ids, err := a.o.Sweeps.List(r.Context(), offset, limit)
	if err != nil {
		a.fail(w, "list sweeps", err)
		return
	}
	out := make([]*sweepView, 0, len(ids))
	for _, id := range ids {
		v, err := a.view(r, id, false)
		if errors.Is(err, rdb.ErrNoSweep) {
			continue // expired between the listing and now
		}
		if err != nil {
			a.fail(w, "list sweeps", err)
			return
		}
		out = append(out, v)
	}
	writeJSON(w, http.StatusOK, map[string]any{"sweeps": out})
}

func (a *api) sweepStatus(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	v, err := a.view(r, id, true)
	if noSweep(w, id, err) {
		return
	}
	if err != nil {
		a.fail(w, "sweep status", err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// records loads every trial record of the sweep named in the path; on
// failure it answers the request and returns false.
func (a *api) records(w http.ResponseWriter, r *http.Request) (*sweep.Status, bool) {
	id := r.PathValue("id")
	st, err := a.o.Sweeps.Status(r.Context(), id)
	if noSweep(w, id, err) {
		return nil, false
	}
	if err != nil {
		a.fail(w, "sweep trials", err)
		return nil, false
	}
	return st, true
}

// trialsPage is one page of a sweep's trials, in trial number order.
type trialsPage struct {
	ID     string       `json:"id"`
	Status string       `json:"status"`
	Total  int          `json:"total"`
	Offset int          `json:"offset"`
	Limit  int          `json:"limit"`
	Trials []nas.Record `json:"trials"`
}

func (a *api) sweepTrials(w http.ResponseWriter, r *http.Request) {
	offset, limit, ok := page(w, r)
	if !ok {
		return
	}
	st, ok := a.records(w, r)
	if !ok {
		return
	}
	// Records are kept in the order trials were first asked: by trial
	// number (t000000, t000001, …).
	rs := st.Progress.Records
	lo := min(offset, len(rs))
	hi := min(lo+limit, len(rs))
	writeJSON(w, http.StatusOK, trialsPage{ID: st.ID, Status: st.Status, Total: len(rs), Offset: offset, Limit: limit,
		Trials: append([]nas.Record{}, rs[lo:hi]...)})
}

func (a *api) sweepFront(w http.ResponseWriter, r *http.Request) {
	objectives := []string{nas.ObjectiveAccuracy, nas.ObjectiveBytes}
	if s := r.URL.Query().Get("objectives"); s != "" {
		objectives = strings.Split(s, ",")
	}
	st, ok := a.records(w, r)
	if !ok {
		return
	}
	front, err := nas.ParetoFront(st.Progress.Records, objectives)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{Error: "bad query parameters", Fields: []fieldReason{{Field: "objectives", Reason: err.Error()}}})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": st.ID, "status": st.Status, "objectives": objectives,
		"front": append([]nas.Record{}, front...)})
}

func (a *api) sweepExport(w http.ResponseWriter, r *http.Request) {
	format := r.URL.Query().Get("format")
	write, ctype := nas.WriteCSV, "text/csv; charset=utf-8"
	switch format {
	case "", "csv":
		format = "csv"
	case "json":
		write, ctype = nas.WriteJSON, "application/json"
	default:
		writeJSON(w, http.StatusBadRequest, apiError{Error: "bad query parameters",
			Fields: []fieldReason{{Field: "format", Reason: fmt.Sprintf("%q, want csv or json", format)}}})
		return
	}
	st, ok := a.records(w, r)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", st.ID+"."+format))
	if err := write(w, st.Progress.Records); err != nil {
		a.o.Logger.Warn("sweep export", "sweep", st.ID, "error", err)
	}
}

// setSweep pauses, resumes or cancels the sweep named in the path and
// answers its new status: 404 for an unknown sweep, 409 for one that has
// finished (done or cancelled), whose status no longer changes. Pausing a
// paused sweep or resuming a running one changes nothing and succeeds.
func (a *api) setSweep(w http.ResponseWriter, r *http.Request, action string) {
	id := r.PathValue("id")
	ctx, c := r.Context(), a.o.Sweeps
	var err error
	status := rdb.SweepPaused
	switch action {
	case "pause":
		err = c.Pause(ctx, id)
	case "resume":
		err, status = c.Resume(ctx, id), rdb.SweepRunning
	case "cancel":
		err, status = c.Cancel(ctx, id), rdb.SweepCancelled
	}
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, map[string]string{"id": id, "status": status})
	case noSweep(w, id, err):
	case errors.Is(err, sweep.ErrFinished):
		now := "finished"
		if sum, serr := c.Summary(ctx, id); serr == nil {
			now = sum.Status
		}
		writeJSON(w, http.StatusConflict, apiError{Error: fmt.Sprintf("sweep %q is %s: it cannot be %s", id, now, pastTense[action])})
	default:
		a.fail(w, action+" sweep", err)
	}
}

var pastTense = map[string]string{"pause": "paused", "resume": "resumed", "cancel": "cancelled"}
