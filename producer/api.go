package producer

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/compressq/compressq/internal/auth"
	"github.com/compressq/compressq/internal/rdb"
	"github.com/compressq/compressq/internal/sweep"
	"github.com/compressq/compressq/tasks"
)

// APIOptions configure the HTTP API.
type APIOptions struct {
	// MaxBodyBytes bounds a request body; 0 means MaxSpecBytes.
	MaxBodyBytes int64
	// Token is the bearer token of the submit role and ReadToken that of the
	// read-only role (GET only); once either is set, every request but
	// /healthz needs one.
	Token     string
	ReadToken string
	Logger    *slog.Logger
	// Sweeps, when set, serves the /v1/sweeps routes with this controller
	// (which the caller builds, with the deployment's task defaults and
	// artifact checks, and closes).
	Sweeps *sweep.Controller
}

// NewAPI returns the JSON HTTP API over p (documented in docs/api.md):
//
//	POST /v1/jobs              submit a job spec (JSON body) → 201 {"id": …}
//	GET  /v1/jobs?offset&limit list jobs, newest first
//	GET  /v1/jobs/{id}         a job's status, results included
//	GET  /healthz              liveness; the only route that needs no token
//
// With o.Sweeps set it also serves the sweep routes (sweeps.go):
//
//	POST /v1/sweeps                          start a sweep (JSON or YAML spec) → 201 {"id": …}
//	GET  /v1/sweeps?offset&limit             list sweeps, newest first
//	GET  /v1/sweeps/{id}                     a sweep's status, counts and spec
//	GET  /v1/sweeps/{id}/trials?offset&limit its trials by number, with the total
//	GET  /v1/sweeps/{id}/front?objectives    the Pareto front
//	GET  /v1/sweeps/{id}/export?format       every trial as CSV or JSON
//	POST /v1/sweeps/{id}/pause|resume|cancel steer it (409 once it has finished)
//
// With tokens set, GETs need the read or submit token and POST the submit
// token (401 without a valid one, 403 for a read-only token).
// Bad requests get 400 with {"error": …, "fields": [{"field", "reason"}]}
// (a model URI outside the artifact roots or naming no artifact included,
// when the producer checks artifacts); while Redis is unavailable requests
// get 503 with a Retry-After header.
func NewAPI(p *Producer, o APIOptions) http.Handler {
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = MaxSpecBytes
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	a := &api{p: p, o: o}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/jobs", a.submit)
	mux.HandleFunc("GET /v1/jobs", a.list)
	mux.HandleFunc("GET /v1/jobs/{id}", a.status)
	if o.Sweeps != nil {
		a.sweepRoutes(mux)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	return auth.Guard(mux, auth.Tokens{Submit: o.Token, Read: o.ReadToken}, false,
		func(r *http.Request) bool { return r.URL.Path == "/healthz" }) // probes carry no token
}

type api struct {
	p *Producer
	o APIOptions
}

type fieldReason struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

type apiError struct {
	Error  string        `json:"error"`
	Fields []fieldReason `json:"fields,omitempty"`
}

// readBody reads a request body of at most MaxBodyBytes; on failure it
// answers the request (413 or 400) and returns false.
func (a *api) readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, a.o.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeJSON(w, http.StatusRequestEntityTooLarge, apiError{Error: fmt.Sprintf("request body exceeds %d bytes", mbe.Limit)})
			return nil, false
		}
		writeJSON(w, http.StatusBadRequest, apiError{Error: "read body: " + err.Error()})
		return nil, false
	}
	return body, true
}

func (a *api) submit(w http.ResponseWriter, r *http.Request) {
	body, ok := a.readBody(w, r)
	if !ok {
		return
	}
	spec, err := decodeSpecJSON(body)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{Error: err.Error()})
		return
	}
	id, err := a.p.Submit(r.Context(), spec)
	if err != nil {
		var fe *tasks.FieldError
		if errors.As(err, &fe) || errors.Is(err, tasks.ErrInvalid) {
			writeJSON(w, http.StatusBadRequest, apiError{Error: rdb.PlainReason(err.Error()), Fields: fieldErrors(err)})
			return
		}
		a.fail(w, "submit job", err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"id": id})
}

// RetryAfter is the Retry-After (seconds) of a 503 answer while Redis is
// unavailable: about the time a Sentinel failover takes.
const RetryAfter = 5

// fail answers a request that failed for a reason other than its input:
// 503 with Retry-After while Redis is unavailable, else 500. The error
// itself, with the library's details, goes to the log, not to the client.
func (a *api) fail(w http.ResponseWriter, op string, err error) {
	if Unavailable(err) {
		a.o.Logger.Warn(op+": redis unavailable", "error", err)
		w.Header().Set("Retry-After", strconv.Itoa(RetryAfter))
		writeJSON(w, http.StatusServiceUnavailable, apiError{Error: fmt.Sprintf(
			"the job store (Redis) is unavailable: restarting, failing over or unreachable; retry in %d seconds", RetryAfter)})
		return
	}
	a.o.Logger.Error(op, "error", err)
	writeJSON(w, http.StatusInternalServerError, apiError{Error: op + " failed: internal error (details are in the API server's log)"})
}

func fieldErrors(err error) []fieldReason {
	var out []fieldReason
	for _, fe := range tasks.Fields(err) {
		out = append(out, fieldReason{Field: fe.Field, Reason: fe.Reason})
	}
	return out
}

func (a *api) status(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	st, err := a.p.Status(r.Context(), id)
	if errors.Is(err, rdb.ErrNoJob) {
		writeJSON(w, http.StatusNotFound, apiError{Error: fmt.Sprintf("no job %q (never submitted, or its state expired)", id)})
		return
	}
	if err != nil {
		a.fail(w, "job status", err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// Paging of the list routes: ?offset= (default 0) and ?limit= (default
// DefaultLimit, at most MaxLimit).
const (
	DefaultLimit = 50
	MaxLimit     = 1000
)

// page reads ?offset= and ?limit=; on a bad value it answers 400 naming
// the parameter and returns false.
func page(w http.ResponseWriter, r *http.Request) (offset, limit int, ok bool) {
	q := r.URL.Query()
	offset, limit = 0, DefaultLimit
	var bad []fieldReason
	for _, p := range []struct {
		name string
		dst  *int
		min  int
	}{{"offset", &offset, 0}, {"limit", &limit, 1}} {
		s := q.Get(p.name)
		if s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < p.min || (p.name == "limit" && n > MaxLimit) {
			reason := fmt.Sprintf("%q is not a valid offset: want an integer >= 0", s)
			if p.name == "limit" {
				reason = fmt.Sprintf("%q is not a valid limit: want an integer in [1, %d]", s, MaxLimit)
			}
			bad = append(bad, fieldReason{Field: p.name, Reason: reason})
			continue
		}
		*p.dst = n
	}
	if len(bad) > 0 {
		writeJSON(w, http.StatusBadRequest, apiError{Error: "bad query parameters", Fields: bad})
		return 0, 0, false
	}
	return offset, limit, true
}

func (a *api) list(w http.ResponseWriter, r *http.Request) {
	offset, limit, ok := page(w, r)
	if !ok {
		return
	}
	jobs, err := a.p.List(r.Context(), offset, limit)
	if err != nil {
		a.fail(w, "list jobs", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"jobs": jobs})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}
