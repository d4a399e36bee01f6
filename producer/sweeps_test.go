package producer_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"go.uber.org/goleak"

	"github.com/compressq/compressq/compress/nas"
	"github.com/compressq/compressq/configs"
	"github.com/compressq/compressq/internal/artifact"
	"github.com/compressq/compressq/internal/datasets"
	"github.com/compressq/compressq/internal/rdb"
	"github.com/compressq/compressq/internal/redistest"
	"github.com/compressq/compressq/internal/sweep"
	"github.com/compressq/compressq/internal/testwait"
	"github.com/compressq/compressq/producer"
	"github.com/compressq/compressq/tasks"
)

// sweepHarness is the API with a sweep controller over a real Redis and an
// artifact store holding one table, with a submit token "w" and a read
// token "r".
type sweepHarness struct {
	t     *testing.T
	srv   *httptest.Server
	ctl   *sweep.Controller
	insp  *asynq.Inspector
	st    *artifact.Store
	root  string
	table string // the URI of a stored table
}

func newSweepHarness(t *testing.T) *sweepHarness {
	t.Helper()
	srv := redistest.Start(t)
	rc, err := rdb.Open(configs.Redis{URL: srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rc.Close() })
	ctx := context.Background()
	root := t.TempDir()
	st, err := artifact.Open(ctx, root, nil, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	table, err := st.Put(ctx, strings.NewReader("hash,accuracy,params,bytes\n"), ".csv")
	if err != nil {
		t.Fatal(err)
	}
	defaults := tasks.Defaults{Queue: "default", MaxRetry: 5, Timeout: time.Hour}
	p := producer.New(rc, rdb.NewStore(rc, time.Hour), defaults)
	ctl := sweep.New(rc, time.Hour, defaults)
	ctl.CheckArtifact = producer.StoreChecker(st)
	ctl.CheckDataSet = func(ctx context.Context, uri string) error { return datasets.Check(ctx, st, uri) }
	insp := asynq.NewInspectorFromRedisClient(rc)
	h := &sweepHarness{t: t, ctl: ctl, insp: insp, st: st, root: root, table: table,
		srv: httptest.NewServer(producer.NewAPI(p, producer.APIOptions{Token: "w", ReadToken: "r", Sweeps: ctl}))}
	t.Cleanup(func() { h.srv.Close(); insp.Close(); ctl.Close(); p.Close() })
	return h
}

// do sends a request with token (none if empty) and content type (none if
// empty) and returns the answer and its body.
func (h *sweepHarness) do(method, path, token, ctype, body string) (*http.Response, []byte) {
	h.t.Helper()
	req, err := http.NewRequest(method, h.srv.URL+path, strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp, b
}

// json is do with the read or submit token (by method) and a JSON answer
// decoded into out (if not nil); it returns the status code.
func (h *sweepHarness) json(method, path, body string, out any) int {
	h.t.Helper()
	token := "r"
	if method == http.MethodPost {
		token = "w"
	}
	resp, b := h.do(method, path, token, "", body)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			h.t.Fatalf("%s %s: %d, not JSON: %s", method, path, resp.StatusCode, b)
		}
	}
	return resp.StatusCode
}

// apiErr is the API's error answer.
type apiErr struct {
	Error  string
	Fields []struct{ Field, Reason string }
}

const sweepSpace = `"space": {"conv": {"depth": [0, 1], "channels": [4, 8], "kernels": [3, 5]},
  "dense": {"depth": [1, 2], "widths": [16, 32, 64]}, "compression": {"sparsity": [0, 0.5], "weight_bits": [8, 32]}}`

// synthetic scores a trial from its genome, as a table would.
func synthetic(tr nas.Trial) nas.Result {
	s := sha256.Sum256([]byte(tr.Candidate.Hash))
	acc := 0.5 + 0.5*float64(binary.BigEndian.Uint32(s[:4]))/float64(1<<32)
	return nas.Result{ID: tr.ID, Attempt: tr.Attempt, Objectives: nas.Objectives{Accuracy: acc, Params: int(s[4]), Bytes: int(s[5])}}
}

// report answers every pending trial of sweep id with synthetic results
// and steps it, as the workers would; it returns the sweep's status.
func (h *sweepHarness) report(id string) *sweep.Status {
	h.t.Helper()
	ctx := context.Background()
	st, err := h.ctl.Status(ctx, id)
	if err != nil {
		h.t.Fatal(err)
	}
	for _, r := range st.Progress.Records {
		if r.Status == nas.StatusPending {
			if err := h.ctl.Report(ctx, id, tasks.QueueSweep, synthetic(r.Trial)); err != nil {
				h.t.Fatal(err)
			}
		}
	}
	if _, err := h.ctl.Step(ctx, id, false); err != nil {
		h.t.Fatal(err)
	}
	if st, err = h.ctl.Status(ctx, id); err != nil {
		h.t.Fatal(err)
	}
	return st
}

// TestSweepAPI starts a sweep over HTTP, pauses and resumes it, runs it to
// completion (the results reported to the controller as the workers would),
// and checks status, trials paging, the Pareto front and the export
// against the controller's own records.
func TestSweepAPI(t *testing.T) {
	h := newSweepHarness(t)
	ctx := context.Background()
	spec := `{"id": "api-sweep", "name": "demo", "strategy": "random", "seed": 2, "max_trials": 12, "concurrency": 4,
  "evaluator": {"type": "table", "table": "` + h.table + `"}, ` + sweepSpace + `}`

	if resp, _ := h.do("POST", "/v1/sweeps", "", "", spec); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("start without a token: %d, want 401", resp.StatusCode)
	}
	if resp, _ := h.do("POST", "/v1/sweeps", "r", "", spec); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("start with the read token: %d, want 403", resp.StatusCode)
	}
	if resp, _ := h.do("GET", "/v1/sweeps", "", "", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("list without a token: %d, want 401", resp.StatusCode)
	}
	resp, b := h.do("POST", "/v1/sweeps", "w", "application/json", spec)
	var started struct{ ID string }
	if err := json.Unmarshal(b, &started); err != nil || resp.StatusCode != http.StatusCreated || started.ID != "api-sweep" {
		t.Fatalf("start: %d %s", resp.StatusCode, b)
	}
	if loc := resp.Header.Get("Location"); loc != "/v1/sweeps/api-sweep" {
		t.Fatalf("Location %q", loc)
	}
	// The first step was queued: a worker would run it.
	if info, err := h.insp.GetQueueInfo(tasks.QueueSweep); err != nil || info.Size != 1 {
		t.Fatalf("sweep queue after start: %+v, %v; want the first step", info, err)
	}

	type view struct {
		ID, Name, Status, Strategy string
		Counts                     nas.Counts
		Spec                       *sweep.Spec
	}
	var v view
	if code := h.json("GET", "/v1/sweeps/api-sweep", "", &v); code != http.StatusOK || v.Status != "running" ||
		v.Strategy != "random" || v.Name != "demo" || v.Spec == nil || v.Spec.Config.MaxTrials != 12 {
		t.Fatalf("status: %d %+v", code, v)
	}
	var list struct{ Sweeps []view }
	if code := h.json("GET", "/v1/sweeps?limit=10", "", &list); code != http.StatusOK || len(list.Sweeps) != 1 || list.Sweeps[0].ID != "api-sweep" {
		t.Fatalf("list: %d %+v", code, list)
	}

	// The first step asks for 4 trials; paused, the sweep records results
	// but asks for no more.
	if _, err := h.ctl.Step(ctx, "api-sweep", true); err != nil {
		t.Fatal(err)
	}
	var set struct{ ID, Status string }
	if code := h.json("POST", "/v1/sweeps/api-sweep/pause", "", &set); code != http.StatusOK || set.Status != "paused" {
		t.Fatalf("pause: %d %+v", code, set)
	}
	if st := h.report("api-sweep"); st.Status != "paused" || st.Progress.Completed != 4 || st.Progress.Pending != 0 || len(st.Progress.Records) != 4 {
		t.Fatalf("paused sweep after its results: %s, %d completed, %d pending, %d trials", st.Status, st.Progress.Completed, st.Progress.Pending, len(st.Progress.Records))
	}
	if code := h.json("GET", "/v1/sweeps/api-sweep", "", &v); code != http.StatusOK || v.Status != "paused" || v.Counts.Completed != 4 {
		t.Fatalf("status while paused: %d %+v", code, v)
	}
	if code := h.json("POST", "/v1/sweeps/api-sweep/resume", "", &set); code != http.StatusOK || set.Status != "running" {
		t.Fatalf("resume: %d %+v", code, set)
	}
	// Resume queued a step; run it here, then keep answering trials.
	if _, err := h.ctl.Step(ctx, "api-sweep", true); err != nil {
		t.Fatal(err)
	}
	var st *sweep.Status
	for range 20 {
		if st = h.report("api-sweep"); st.Status == rdb.SweepDone {
			break
		}
	}
	if st.Status != rdb.SweepDone || st.Progress.Completed != 12 {
		t.Fatalf("sweep not done: %s, %d completed", st.Status, st.Progress.Completed)
	}
	recs := st.Progress.Records

	// Trials, paged by number, with the total.
	type trialsPage struct {
		Total, Offset, Limit int
		Trials               []nas.Record
	}
	var seen []nas.Record
	for _, q := range []struct{ offset, limit, want int }{{0, 5, 5}, {5, 5, 5}, {10, 5, 2}, {15, 5, 0}} {
		var pg trialsPage
		path := "/v1/sweeps/api-sweep/trials?offset=" + strconv.Itoa(q.offset) + "&limit=" + strconv.Itoa(q.limit)
		if code := h.json("GET", path, "", &pg); code != http.StatusOK || pg.Total != 12 || len(pg.Trials) != q.want || pg.Offset != q.offset || pg.Limit != q.limit {
			t.Fatalf("%s: %d, total %d, %d trials; want 200, 12, %d", path, code, pg.Total, len(pg.Trials), q.want)
		}
		seen = append(seen, pg.Trials...)
	}
	for i, r := range seen {
		if r.Trial.ID != recs[i].Trial.ID || r.Objectives == nil || *r.Objectives != *recs[i].Objectives {
			t.Fatalf("trial %d over the API: %+v, the controller has %+v", i, r, recs[i])
		}
	}
	for _, q := range []string{"limit=0", "limit=1001", "offset=-1", "limit=x"} {
		var e apiErr
		if code := h.json("GET", "/v1/sweeps/api-sweep/trials?"+q, "", &e); code != http.StatusBadRequest || len(e.Fields) != 1 ||
			e.Fields[0].Field != strings.Split(q, "=")[0] {
			t.Errorf("trials?%s: %d %+v, want 400 naming the parameter", q, code, e)
		}
	}

	// The front is compress/nas's, as the CLI's.
	want, err := nas.ParetoFront(recs, []string{nas.ObjectiveAccuracy, nas.ObjectiveParams})
	if err != nil {
		t.Fatal(err)
	}
	var front struct {
		Objectives []string
		Front      []nas.Record
	}
	if code := h.json("GET", "/v1/sweeps/api-sweep/front?objectives=accuracy,params", "", &front); code != http.StatusOK || len(front.Front) != len(want) || len(want) == 0 {
		t.Fatalf("front: %d, %d records; want %d", code, len(front.Front), len(want))
	}
	for i := range want {
		if front.Front[i].Trial.ID != want[i].Trial.ID {
			t.Fatalf("front[%d] = %s, want %s", i, front.Front[i].Trial.ID, want[i].Trial.ID)
		}
	}
	var e apiErr
	if code := h.json("GET", "/v1/sweeps/api-sweep/front?objectives=accuracy,speed", "", &e); code != http.StatusBadRequest || len(e.Fields) != 1 || e.Fields[0].Field != "objectives" {
		t.Fatalf("front with an unknown objective: %d %+v", code, e)
	}

	// The export is byte for byte what the CLI writes.
	for _, f := range []struct {
		format string
		write  func(io.Writer, []nas.Record) error
	}{{"csv", nas.WriteCSV}, {"json", nas.WriteJSON}} {
		var wantBuf bytes.Buffer
		if err := f.write(&wantBuf, recs); err != nil {
			t.Fatal(err)
		}
		resp, b := h.do("GET", "/v1/sweeps/api-sweep/export?format="+f.format, "r", "", "")
		if resp.StatusCode != http.StatusOK || !bytes.Equal(b, wantBuf.Bytes()) {
			t.Fatalf("export %s: %d\n%s\nwant\n%s", f.format, resp.StatusCode, b, wantBuf.Bytes())
		}
	}
	if code := h.json("GET", "/v1/sweeps/api-sweep/export?format=xml", "", &e); code != http.StatusBadRequest || e.Fields[0].Field != "format" {
		t.Fatalf("export as xml: %d %+v", code, e)
	}

	// A finished sweep's status no longer changes.
	for _, action := range []string{"resume", "pause", "cancel"} {
		if code := h.json("POST", "/v1/sweeps/api-sweep/"+action, "", &e); code != http.StatusConflict || !strings.Contains(e.Error, "is done") {
			t.Errorf("%s a done sweep: %d %+v, want 409", action, code, e)
		}
	}
	// Unknown sweeps are 404 on every route.
	for _, r := range []struct{ method, path string }{
		{"GET", "/v1/sweeps/nope"}, {"GET", "/v1/sweeps/nope/trials"}, {"GET", "/v1/sweeps/nope/front"},
		{"GET", "/v1/sweeps/nope/export"}, {"POST", "/v1/sweeps/nope/pause"}, {"POST", "/v1/sweeps/nope/resume"},
		{"POST", "/v1/sweeps/nope/cancel"},
	} {
		if code := h.json(r.method, r.path, "", &e); code != http.StatusNotFound || !strings.Contains(e.Error, `"nope"`) {
			t.Errorf("%s %s: %d %+v, want 404", r.method, r.path, code, e)
		}
	}
}

// TestSweepAPICancel starts a sweep from YAML and cancels it: it cannot be
// resumed or paused afterwards.
func TestSweepAPICancel(t *testing.T) {
	h := newSweepHarness(t)
	spec := "id: yaml-sweep\nstrategy: tpe\nmax_trials: 8\nevaluator: {type: table, table: \"" + h.table + "\"}\n" +
		"space:\n  params:\n    dense_width: {type: int, low: 16, high: 64, step: 16}\n    lr: {type: log, low: 1.0e-3, high: 0.3}\n"
	resp, b := h.do("POST", "/v1/sweeps", "w", "application/yaml", spec)
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("Location") != "/v1/sweeps/yaml-sweep" {
		t.Fatalf("start from YAML: %d %s", resp.StatusCode, b)
	}
	// The same YAML sent as JSON is refused before it is parsed.
	var e apiErr
	if resp, b = h.do("POST", "/v1/sweeps", "w", "application/json", spec); resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "not JSON") {
		t.Fatalf("YAML as JSON: %d %s", resp.StatusCode, b)
	}
	var set struct{ ID, Status string }
	if code := h.json("POST", "/v1/sweeps/yaml-sweep/pause", "", &set); code != http.StatusOK || set.Status != "paused" {
		t.Fatalf("pause: %d %+v", code, set)
	}
	if code := h.json("POST", "/v1/sweeps/yaml-sweep/cancel", "", &set); code != http.StatusOK || set.Status != "cancelled" {
		t.Fatalf("cancel: %d %+v", code, set)
	}
	for _, action := range []string{"resume", "pause", "cancel"} {
		if code := h.json("POST", "/v1/sweeps/yaml-sweep/"+action, "", &e); code != http.StatusConflict || !strings.Contains(e.Error, "is cancelled") {
			t.Errorf("%s a cancelled sweep: %d %+v, want 409", action, code, e)
		}
	}
	var v struct{ Status string }
	if code := h.json("GET", "/v1/sweeps/yaml-sweep", "", &v); code != http.StatusOK || v.Status != "cancelled" {
		t.Fatalf("status: %d %+v", code, v)
	}
}

// TestSweepAPIBadSpec: a spec that can never run is refused with 400
// naming what is wrong — its path in the spec, or the field of a bad
// artifact URI — and nothing is recorded or queued.
func TestSweepAPIBadSpec(t *testing.T) {
	h := newSweepHarness(t)
	// A well-formed content-addressed name whose bytes were never stored.
	missing := h.table[:strings.Index(h.table, "/sha256/")] + "/sha256/00/" + strings.Repeat("0", 64) + ".csv"
	table := `"evaluator": {"type": "table", "table": "` + h.table + `"}`
	params := func(p string) string {
		return `{"strategy": "tpe", "max_trials": 5, ` + table + `, "space": {"params": {` + p + `}}}`
	}
	for _, tc := range []struct {
		name, spec, want, field string
	}{
		{"unknown parameter type", params(`"lr": {"type": "uniform", "low": 0, "high": 1}`), `space.params.lr.type: "uniform"`, ""},
		{"empty range", params(`"lr": {"type": "float", "low": 0.1, "high": 0.1}`), "space.params.lr.high: 0.1 equals low: an empty range", ""},
		{"inverted range", params(`"lr": {"type": "float", "low": 0.5, "high": 0.1}`), "space.params.lr.high: 0.1 is below low 0.5", ""},
		{"condition on a missing parameter", params(`"momentum": {"type": "float", "low": 0.5, "high": 0.9, "when": {"optimizer": ["sgd"]}}`),
			`space.params.momentum.when.optimizer: no parameter "optimizer"`, ""},
		{"no space", `{"strategy": "random", "max_trials": 5, ` + table + `}`, "space: required", ""},
		{"constraints no candidate meets", `{"strategy": "random", "max_trials": 5, ` + table + `, "space": {"dense": {"depth": [1], "widths": [64]}, "constraints": {"max_params": 100}}}`,
			"space.constraints: the strategy finds no candidate within max_params 100", ""},
		{"constraints no candidate meets (grid)", `{"strategy": "grid", "max_trials": 5, ` + table + `, "space": {"dense": {"depth": [1, 2], "widths": [16, 64]}, "constraints": {"max_bytes": 10}}}`,
			"space.constraints: the strategy finds no candidate within max_params 0 and max_bytes 10", ""},
		{"missing table", `{"strategy": "random", "max_trials": 5, "evaluator": {"type": "table", "table": "` + missing + `"}, ` + sweepSpace + `}`,
			"no such artifact", "evaluator.table"},
		{"table outside the roots", `{"strategy": "random", "max_trials": 5, "evaluator": {"type": "table", "table": "file:///etc/passwd.csv"}, ` + sweepSpace + `}`,
			"outside the artifact roots", "evaluator.table"},
		{"missing data set", `{"strategy": "random", "max_trials": 5, "evaluator": {"type": "train", "data": "file://` + h.root + `/datasets/none"}, ` + sweepSpace + `}`,
			"no such artifact", "evaluator.data"},
	} {
		var e apiErr
		if code := h.json("POST", "/v1/sweeps", tc.spec, &e); code != http.StatusBadRequest || !strings.Contains(e.Error, tc.want) {
			t.Errorf("%s: %d %q, want 400 containing %q", tc.name, code, e.Error, tc.want)
			continue
		}
		if tc.field != "" && (len(e.Fields) != 1 || e.Fields[0].Field != tc.field || !strings.Contains(e.Fields[0].Reason, tc.want)) {
			t.Errorf("%s: fields %+v, want %s: …%s", tc.name, e.Fields, tc.field, tc.want)
		}
	}
	var list struct{ Sweeps []any }
	if code := h.json("GET", "/v1/sweeps", "", &list); code != http.StatusOK || len(list.Sweeps) != 0 {
		t.Fatalf("list after refused specs: %d %+v, want none", code, list)
	}
	if qs, err := h.insp.Queues(); err != nil || len(qs) != 0 {
		t.Fatalf("queues after refused specs: %v %v, want none", qs, err)
	}
}

// TestSweepAPIRedisDown: with Redis gone every sweep route answers 503 with
// Retry-After and a sentence for people, not the dial error.
func TestSweepAPIRedisDown(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	srv := redistest.Start(t)
	// A small pool fails fast once its dials have failed as often as its
	// size, and starts a re-dial goroutine that ends once the client is
	// closed (waited for below).
	rc, err := rdb.Open(configs.Redis{URL: srv.URL(), DialTimeout: 200 * time.Millisecond, PoolSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	p := producer.New(rc, rdb.NewStore(rc, time.Hour), tasks.Defaults{})
	ctl := sweep.New(rc, time.Hour, tasks.Defaults{})
	h := producer.NewAPI(p, producer.APIOptions{Sweeps: ctl})
	srv.Stop()
	for _, r := range []struct{ method, path, body string }{
		{"POST", "/v1/sweeps", `{"strategy":"random","max_trials":2,"evaluator":{"type":"table","table":"x"},"space":{"dense":{"depth":[1],"widths":[16]}}}`},
		{"GET", "/v1/sweeps", ""},
		{"GET", "/v1/sweeps/some-id", ""},
		{"GET", "/v1/sweeps/some-id/trials", ""},
		{"GET", "/v1/sweeps/some-id/front", ""},
		{"GET", "/v1/sweeps/some-id/export", ""},
		{"POST", "/v1/sweeps/some-id/pause", ""},
		{"POST", "/v1/sweeps/some-id/resume", ""},
		{"POST", "/v1/sweeps/some-id/cancel", ""},
	} {
		resp, m := call(t, h, r.method, r.path, r.body)
		msg, _ := m["error"].(string)
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
			t.Errorf("%s %s with Redis down: %d, Retry-After %q, want 503 with Retry-After", r.method, r.path, resp.StatusCode, resp.Header.Get("Retry-After"))
		}
		if !strings.Contains(msg, "unavailable") || strings.Contains(msg, "dial") || strings.Contains(msg, "127.0.0.1") {
			t.Errorf("%s %s: error %q, want a sentence without the dial error", r.method, r.path, msg)
		}
	}
	ctl.Close()
	p.Close()
	rc.Close()
	testwait.Eventually(t, 5*time.Second, func() bool { return goleak.Find(ignore) == nil }, "the Redis client's goroutines outlive it")
}
