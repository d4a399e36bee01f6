package producer_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/compressq/compressq/configs"
	"github.com/compressq/compressq/internal/rdb"
	"github.com/compressq/compressq/internal/redistest"
	"github.com/compressq/compressq/producer"
	"github.com/compressq/compressq/tasks"
)

func newProducer(t *testing.T) (*producer.Producer, *asynq.Inspector) {
	t.Helper()
	srv := redistest.Start(t)
	rc, err := rdb.Open(configs.Redis{URL: srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rc.Close() })
	p := producer.New(rc, rdb.NewStore(rc, time.Hour), tasks.Defaults{Queue: "default", MaxRetry: 5, Timeout: time.Hour})
	insp := asynq.NewInspectorFromRedisClient(rc)
	t.Cleanup(func() { p.Close(); insp.Close() })
	return p, insp
}

const yamlSpec = `
name: nightly
id: nightly-2026-11-28
options:
  priority: high
  max_retry: 2
  timeout: 45m
  process_in: 1h
steps:
  - type: compress:quantize
    payload: {v: 1, model: "file:///models/a.safetensors", bits: 8, granularity: per-channel}
  - type: compress:quantize
    payload: {v: 1, model: "@prev", bits: 4, granularity: per-tensor}
    options: {queue: low}
`

func TestParseSpec(t *testing.T) {
	s, err := producer.ParseSpec([]byte(yamlSpec))
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "nightly" || len(s.Steps) != 2 || s.Options.Priority != "high" || *s.Options.MaxRetry != 2 ||
		time.Duration(s.Options.Timeout) != 45*time.Minute || s.Steps[1].Options.Queue != "low" {
		t.Fatalf("parsed %+v", s)
	}
	for _, bad := range []struct{ spec, want string }{
		{"name: x\nstepz: []\n", `unknown field "stepz"`},
		{"- a\n- b\n", "want a mapping"},
		{"options: {timeout: soon}\ntype: train\n", "duration"},
		{strings.Repeat("#", producer.MaxSpecBytes+1), "exceeds"},
	} {
		if _, err := producer.ParseSpec([]byte(bad.spec)); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("ParseSpec(%.30q) = %v, want error mentioning %q", bad.spec, err, bad.want)
		}
	}
}

func TestSubmit(t *testing.T) {
	p, insp := newProducer(t)
	ctx := context.Background()
	s, err := producer.ParseSpec([]byte(yamlSpec))
	if err != nil {
		t.Fatal(err)
	}
	id, err := p.Submit(ctx, s)
	if err != nil || id != "nightly-2026-11-28" {
		t.Fatalf("Submit = %q, %v", id, err)
	}
	// Step 0 waits in the critical queue (priority high) for its process_in.
	info, err := insp.GetTaskInfo("critical", tasks.StepTaskID(id, 0))
	if err != nil {
		t.Fatal(err)
	}
	if info.State != asynq.TaskStateScheduled || info.MaxRetry != 2 || info.Timeout != 45*time.Minute {
		t.Fatalf("step 0 task %+v", info)
	}
	if time.Until(info.NextProcessAt) < 59*time.Minute {
		t.Fatalf("step 0 runs at %v, want in about 1h", info.NextProcessAt)
	}
	// Resubmitting the same id is idempotent.
	s2, _ := producer.ParseSpec([]byte(yamlSpec))
	if id2, err := p.Submit(ctx, s2); err != nil || id2 != id {
		t.Fatalf("resubmit = %q, %v", id2, err)
	}
	if q, _ := insp.GetQueueInfo("critical"); q.Size != 1 {
		t.Fatalf("critical queue holds %d tasks after resubmission, want 1", q.Size)
	}
	st, err := p.Status(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != rdb.StatusPending || st.Task == nil || st.Task.State != "scheduled" || st.Task.Queue != "critical" {
		t.Fatalf("status %+v task %+v", st.Job, st.Task)
	}
	if _, err := p.Status(ctx, "missing"); !errors.Is(err, rdb.ErrNoJob) {
		t.Fatalf("Status(missing) = %v", err)
	}
}

func TestSubmitUniqueAndInvalid(t *testing.T) {
	p, _ := newProducer(t)
	ctx := context.Background()
	spec := func() *tasks.JobSpec {
		s, _ := producer.ParseSpec([]byte(`{"type":"debug:sleep","payload":{"v":1,"duration":"1s"},"options":{"unique":"1m"}}`))
		return s
	}
	if _, err := p.Submit(ctx, spec()); err != nil {
		t.Fatal(err)
	}
	id, err := p.Submit(ctx, spec())
	if err == nil || !errors.Is(err, asynq.ErrDuplicateTask) {
		t.Fatalf("duplicate unique task: %v", err)
	}
	if st, _ := p.Status(ctx, id); st == nil || st.Status != rdb.StatusFailed {
		t.Fatalf("the rejected job should be recorded as failed: %+v", st)
	}
	bad, _ := producer.ParseSpec([]byte(`{"type":"compress:quantize","payload":{"v":1,"bits":9}}`))
	if _, err := p.Submit(ctx, bad); err == nil || len(tasks.Fields(err)) != 3 {
		t.Fatalf("invalid payload: %v (fields %v)", err, tasks.Fields(err))
	}
}

func TestEnqueueBatch(t *testing.T) {
	p, insp := newProducer(t)
	ts := make([]*asynq.Task, 500)
	for i := range ts {
		ts[i], _ = tasks.New(&tasks.SleepPayload{V: tasks.Version})
	}
	ts[7] = asynq.NewTask(tasks.TypeSleep, []byte(`{"v":1}`), asynq.TaskID("fixed"))
	ts[8] = asynq.NewTask(tasks.TypeSleep, []byte(`{"v":1}`), asynq.TaskID("fixed"))
	infos, errs := p.EnqueueBatch(context.Background(), ts, 16, asynq.Queue("low"))
	if errs == nil {
		t.Fatal("a duplicate task id went unreported")
	}
	failed := 0
	for i, err := range errs {
		if err != nil {
			failed++
			if !errors.Is(err, asynq.ErrTaskIDConflict) || infos[i] != nil {
				t.Errorf("task %d: %v", i, err)
			}
		}
	}
	if failed != 1 {
		t.Fatalf("%d failures, want 1", failed)
	}
	if q, _ := insp.GetQueueInfo("low"); q.Pending != 499 {
		t.Fatalf("%d pending, want 499", q.Pending)
	}
}

func TestAPI(t *testing.T) {
	p, _ := newProducer(t)
	srv := httptest.NewServer(producer.NewAPI(p, producer.APIOptions{MaxBodyBytes: 4096, Token: "s3cret"}))
	defer srv.Close()
	do := func(method, path, body string, auth bool) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if auth {
			req.Header.Set("Authorization", "Bearer s3cret")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s %s: not JSON: %s", method, path, b)
		}
		return resp.StatusCode, m
	}
	if code, _ := do("GET", "/v1/jobs", "", false); code != http.StatusUnauthorized {
		t.Fatalf("no token: %d", code)
	}
	if resp, err := http.Get(srv.URL + "/healthz"); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz without a token: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	code, m := do("POST", "/v1/jobs", `{"type":"debug:sleep","payload":{"v":1},"options":{"queue":"low"}}`, true)
	if code != http.StatusCreated || m["id"] == "" {
		t.Fatalf("submit: %d %v", code, m)
	}
	id := m["id"].(string)
	if code, m = do("GET", "/v1/jobs/"+id, "", true); code != http.StatusOK || m["status"] != "pending" {
		t.Fatalf("status: %d %v", code, m)
	}
	if code, m = do("GET", "/v1/jobs?limit=10", "", true); code != http.StatusOK || len(m["jobs"].([]any)) != 1 {
		t.Fatalf("list: %d %v", code, m)
	}
	code, m = do("POST", "/v1/jobs", `{"type":"compress:quantize","payload":{"v":1,"model":"x","bits":8,"granularity":"per-row"}}`, true)
	fields, _ := m["fields"].([]any)
	if code != http.StatusBadRequest || len(fields) != 2 {
		t.Fatalf("bad payload: %d %v", code, m)
	}
	if f := fields[0].(map[string]any); f["field"] != "steps[0].payload.model" {
		t.Fatalf("field path %v", f)
	}
	if code, _ = do("POST", "/v1/jobs", `{"type":"debug:sleep","payload":{"v":1},"bogus":1}`, true); code != http.StatusBadRequest {
		t.Fatalf("unknown field: %d", code)
	}
	if code, _ = do("POST", "/v1/jobs", string(bytes.Repeat([]byte(" "), 5000)), true); code != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized body: %d", code)
	}
	if code, _ = do("GET", "/v1/jobs/nope", "", true); code != http.StatusNotFound {
		t.Fatalf("missing job: %d", code)
	}
	if code, m = do("GET", "/v1/jobs?limit=0&offset=x", "", true); code != http.StatusBadRequest || len(m["fields"].([]any)) != 2 {
		t.Fatalf("bad query: %d %v", code, m)
	}
}
