package producer_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/compressq/compressq/configs"
	"github.com/compressq/compressq/internal/artifact"
	"github.com/compressq/compressq/internal/rdb"
	"github.com/compressq/compressq/internal/redistest"
	"github.com/compressq/compressq/producer"
	"github.com/compressq/compressq/tasks"
)

// call sends one request to the API and decodes its JSON answer.
func call(t *testing.T, h http.Handler, method, path, body string) (*http.Response, map[string]any) {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
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
	return resp, m
}

// TestAPIRedisDown: with Redis gone every route that needs it answers 503
// with Retry-After and a sentence for people, not the dial error.
func TestAPIRedisDown(t *testing.T) {
	srv := redistest.Start(t)
	rc, err := rdb.Open(configs.Redis{URL: srv.URL(), DialTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	p := producer.New(rc, rdb.NewStore(rc, time.Hour), tasks.Defaults{Queue: "default", MaxRetry: 1, Timeout: time.Hour})
	defer p.Close()
	h := producer.NewAPI(p, producer.APIOptions{})
	srv.Stop()
	for _, r := range []struct{ method, path, body string }{
		{"POST", "/v1/jobs", `{"type":"debug:sleep","payload":{"v":1}}`},
		{"GET", "/v1/jobs", ""},
		{"GET", "/v1/jobs/some-id", ""},
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
}

// TestAPIChecksArtifacts: model URIs outside the artifact roots or naming no
// artifact are refused at submission with 400 naming the field.
func TestAPIChecksArtifacts(t *testing.T) {
	p, _ := newProducer(t)
	ctx := context.Background()
	root := t.TempDir()
	st, err := artifact.Open(ctx, root, nil, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	p.CheckArtifact = producer.StoreChecker(st)
	uri, err := st.Put(ctx, bytes.NewReader([]byte("model bytes")), ".safetensors")
	if err != nil {
		t.Fatal(err)
	}
	h := producer.NewAPI(p, producer.APIOptions{})
	// A well-formed content-addressed name whose bytes were never stored.
	sum := sha256.Sum256([]byte("never stored"))
	hexSum := hex.EncodeToString(sum[:])
	missing := uri[:strings.Index(uri, "/sha256/")] + "/sha256/" + hexSum[:2] + "/" + hexSum + ".safetensors"
	job := func(model string) string {
		return `{"type":"compress:quantize","payload":{"v":1,"model":` + quote(model) + `,"bits":8,"granularity":"per-channel"}}`
	}
	for _, tt := range []struct {
		name, model, reason string
	}{
		{"outside the roots", "file:///etc/passwd.safetensors", "outside the artifact roots"},
		{"escapes the root", "file://" + root + "/../x.safetensors", "outside the artifact roots"},
		{"no such artifact", missing, "no such artifact"},
	} {
		resp, m := call(t, h, "POST", "/v1/jobs", job(tt.model))
		fields, _ := m["fields"].([]any)
		if resp.StatusCode != http.StatusBadRequest || len(fields) == 0 {
			t.Errorf("%s: %d %v, want 400 with fields", tt.name, resp.StatusCode, m)
			continue
		}
		f := fields[0].(map[string]any)
		if f["field"] != "steps[0].payload.model" || !strings.Contains(f["reason"].(string), tt.reason) {
			t.Errorf("%s: field %v, want steps[0].payload.model: …%s", tt.name, f, tt.reason)
		}
	}
	resp, m := call(t, h, "POST", "/v1/jobs", `{"type":"compress:quantize","payload":{"v":1,"model":`+quote(uri)+`,"bits":8,"granularity":"per-channel"}}`)
	if resp.StatusCode != http.StatusCreated {
		t.Errorf("an existing artifact: %d %v, want 201", resp.StatusCode, m)
	}
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestAPIFailedJob: a job that failed at step 0 shows failed_step 0, and
// its reason carries none of the queue library's words.
func TestAPIFailedJob(t *testing.T) {
	srv := redistest.Start(t)
	rc, err := rdb.Open(configs.Redis{URL: srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	store := rdb.NewStore(rc, time.Hour)
	p := producer.New(rc, store, tasks.Defaults{Queue: "default", MaxRetry: 1, Timeout: time.Hour})
	defer p.Close()
	ctx := context.Background()
	id, err := p.Submit(ctx, &tasks.JobSpec{Type: tasks.TypeSleep, Payload: json.RawMessage(`{"v":1}`), Options: tasks.Options{Queue: "low"}})
	if err != nil {
		t.Fatal(err)
	}
	// What a handler reports when its input is bad: the error wraps
	// asynq.SkipRetry.
	reason := errors.Join(&tasks.FieldError{Field: "model", Reason: "bad header"})
	if err := store.Failed(ctx, id, 0, reason.Error()+": "+tasks.ErrInvalid.Error()); err != nil {
		t.Fatal(err)
	}
	resp, m := call(t, producer.NewAPI(p, producer.APIOptions{}), "GET", "/v1/jobs/"+id, "")
	if resp.StatusCode != http.StatusOK || m["status"] != "failed" {
		t.Fatalf("status %d %v", resp.StatusCode, m)
	}
	if fs, ok := m["failed_step"]; !ok || fs != 0.0 {
		t.Errorf("failed_step = %v (present %v), want 0", fs, ok)
	}
	if msg := m["error"].(string); strings.Contains(msg, "skip retry") || !strings.Contains(msg, "bad header") {
		t.Errorf("error %q, want the reason without asynq's words", msg)
	}
	// A job that did not fail has no failed_step.
	id2, _ := p.Submit(ctx, &tasks.JobSpec{Type: tasks.TypeSleep, Payload: json.RawMessage(`{"v":1}`)})
	if _, m := call(t, producer.NewAPI(p, producer.APIOptions{}), "GET", "/v1/jobs/"+id2, ""); m["failed_step"] != nil {
		t.Errorf("a pending job shows failed_step %v", m["failed_step"])
	}
}

// TestSubmitWaitReplicas: with WaitReplicas set, a submission succeeds once
// a replica holds it and fails (as unavailable) when no replica answers.
func TestSubmitWaitReplicas(t *testing.T) {
	primary := redistest.Start(t)
	_, port, _ := strings.Cut(primary.Addr, ":")
	replica := redistest.Start(t, "--replicaof", "127.0.0.1", port)
	ctx := context.Background()
	rc, err := rdb.Open(configs.Redis{URL: primary.URL()})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	p := producer.New(rc, rdb.NewStore(rc, time.Hour), tasks.Defaults{Queue: "default", MaxRetry: 1, Timeout: time.Hour})
	defer p.Close()
	p.WaitReplicas, p.WaitTimeout = 1, 10*time.Second
	spec := func() *tasks.JobSpec {
		return &tasks.JobSpec{Type: tasks.TypeSleep, Payload: json.RawMessage(`{"v":1}`)}
	}
	id, err := p.Submit(ctx, spec())
	if err != nil {
		t.Fatalf("submit with a replica: %v", err)
	}
	// The replica holds the job (and, written before it, its task).
	rr, _ := rdb.Open(configs.Redis{URL: replica.URL()})
	defer rr.Close()
	if n := rr.Exists(ctx, rdb.JobKey(id)).Val(); n != 1 {
		t.Fatalf("replica lacks the acknowledged job")
	}
	replica.Stop()
	p.WaitTimeout = 300 * time.Millisecond
	unacked := spec()
	unacked.ID = "unacked"
	if _, err := p.Submit(ctx, unacked); !errors.Is(err, rdb.ErrNotReplicated) || !producer.Unavailable(err) {
		t.Fatalf("submit without a replica: %v, want ErrNotReplicated", err)
	}
	// The job is queued on the primary, not failed: if the primary keeps
	// it, it runs. A resubmission under its id is acknowledged only once
	// a replica holds it.
	st, err := p.Status(ctx, "unacked")
	if err != nil || st.Status != rdb.StatusPending || st.Task == nil {
		t.Fatalf("job whose wait for replicas failed: %+v, %v; want pending with its task queued", st, err)
	}
	again := spec()
	again.ID = "unacked"
	if _, err := p.Submit(ctx, again); !errors.Is(err, rdb.ErrNotReplicated) {
		t.Fatalf("resubmit without a replica: %v, want ErrNotReplicated", err)
	}
	replica.Restart(t)
	p.WaitTimeout = 10 * time.Second
	again = spec()
	again.ID = "unacked"
	if id, err := p.Submit(ctx, again); err != nil || id != "unacked" {
		t.Fatalf("resubmit with the replica back: %q, %v", id, err)
	}
}

// lossHook runs lose, once, before the first pipeline that checks key
// (the check WaitReplicas makes before it waits): it stands for a primary
// that failed over between a submission's writes and its wait.
type lossHook struct {
	key  string
	lose func()
	done bool
}

func (h *lossHook) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (h *lossHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (h *lossHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, c := range cmds {
			if args := c.Args(); !h.done && len(args) == 2 && c.Name() == "exists" && args[1] == h.key {
				h.done = true
				h.lose()
			}
		}
		return next(ctx, cmds)
	}
}

// TestSubmitRewritesLostWrites: a submission whose job or task is gone from
// the primary when it waits for replicas (a failover took them) writes
// them again before it is acknowledged; a task gone because a worker ran
// it is not queued again.
func TestSubmitRewritesLostWrites(t *testing.T) {
	primary := redistest.Start(t)
	_, port, _ := strings.Cut(primary.Addr, ":")
	redistest.Start(t, "--replicaof", "127.0.0.1", port)
	ctx := context.Background()
	plain, err := rdb.Open(configs.Redis{URL: primary.URL()})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	store := rdb.NewStore(plain, time.Hour)
	taskKey := func(id string) string { return rdb.AsynqTaskKey("default", tasks.StepTaskID(id, 0)) }
	for _, tc := range []struct {
		name string
		lose func(id string)
		// requeued: Submit must have queued the task again.
		requeued bool
	}{
		{"job and task lost", func(id string) { plain.Del(ctx, rdb.JobKey(id), taskKey(id)) }, true},
		{"task lost", func(id string) { plain.Del(ctx, taskKey(id)) }, true},
		{"task ran", func(id string) {
			if _, err := store.StepStarted(ctx, id, 0); err != nil {
				t.Error(err)
			}
			plain.Del(ctx, taskKey(id))
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := strings.ReplaceAll(tc.name, " ", "-")
			rc, err := rdb.Open(configs.Redis{URL: primary.URL()})
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			rc.AddHook(&lossHook{key: rdb.JobKey(id), lose: func() { tc.lose(id) }})
			p := producer.New(rc, rdb.NewStore(rc, time.Hour), tasks.Defaults{Queue: "default", MaxRetry: 1, Timeout: time.Hour})
			defer p.Close()
			p.WaitReplicas, p.WaitTimeout, p.SubmitRetry = 1, 10*time.Second, time.Minute
			if _, err := p.Submit(ctx, &tasks.JobSpec{ID: id, Type: tasks.TypeSleep, Payload: json.RawMessage(`{"v":1}`)}); err != nil {
				t.Fatalf("submit: %v", err)
			}
			st, err := p.Status(ctx, id)
			if err != nil {
				t.Fatalf("status of the acknowledged job: %v", err)
			}
			if queued := plain.Exists(ctx, taskKey(id)).Val() == 1; queued != tc.requeued || (st.Task != nil) != tc.requeued {
				t.Errorf("task queued after the loss: %v (status %s, task %+v); want %v", queued, st.Status, st.Task, tc.requeued)
			}
			if tc.requeued && st.Status != rdb.StatusPending {
				t.Errorf("rewritten job is %s, want pending", st.Status)
			}
		})
	}
}

// TestAPIRoles: the read-only token reads, the submit token submits.
func TestAPIRoles(t *testing.T) {
	p, _ := newProducer(t)
	h := producer.NewAPI(p, producer.APIOptions{Token: "sub", ReadToken: "ro"})
	srv := httptest.NewServer(h)
	defer srv.Close()
	do := func(method, path, token, body string) int {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	job := `{"type":"debug:sleep","payload":{"v":1}}`
	for _, c := range []struct {
		method, path, token, body string
		want                      int
	}{
		{"GET", "/v1/jobs", "ro", "", http.StatusOK},
		{"POST", "/v1/jobs", "ro", job, http.StatusForbidden},
		{"POST", "/v1/jobs", "sub", job, http.StatusCreated},
		{"GET", "/v1/jobs", "sub", "", http.StatusOK},
		{"GET", "/v1/jobs", "", "", http.StatusUnauthorized},
		{"GET", "/healthz", "", "", http.StatusOK},
	} {
		if got := do(c.method, c.path, c.token, c.body); got != c.want {
			t.Errorf("%s %s with token %q: %d, want %d", c.method, c.path, c.token, got, c.want)
		}
	}
}

// The ACL users docs/operations.md recommends per role.
const (
	aclWriter   = "~asynq:* ~compressq:* &* +@all -@admin -@dangerous +info +eval +evalsha +script|load"
	aclReadOnly = "~asynq:* ~compressq:* &* -@all +@read +@connection +info +eval +evalsha +script|load"
)

// TestACLUsers: the producer user submits; the read-only user lists jobs,
// reads their status and the queues, and cannot submit.
func TestACLUsers(t *testing.T) {
	args := []string{"--user", "producer", "on", ">p-secret"}
	args = append(args, strings.Fields(aclWriter)...)
	args = append(args, "--user", "viewer", "on", ">v-secret")
	args = append(args, strings.Fields(aclReadOnly)...)
	srv := redistest.Start(t, args...)
	ctx := context.Background()
	open := func(user, pass string) *producer.Producer {
		rc, err := rdb.Open(configs.Redis{URL: srv.URL(), Username: user, Password: pass})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rc.Close() })
		p := producer.New(rc, rdb.NewStore(rc, time.Hour), tasks.Defaults{Queue: "default", MaxRetry: 1, Timeout: time.Hour})
		t.Cleanup(func() { p.Close() })
		return p
	}
	writer, viewer := open("producer", "p-secret"), open("viewer", "v-secret")
	id, err := writer.Submit(ctx, &tasks.JobSpec{Type: tasks.TypeSleep, Payload: json.RawMessage(`{"v":1}`)})
	if err != nil {
		t.Fatalf("producer user: %v", err)
	}
	if st, err := viewer.Status(ctx, id); err != nil || st.Task == nil || st.Task.State != "pending" {
		t.Fatalf("read-only user: status %+v, %v", st, err)
	}
	if jobs, err := viewer.List(ctx, 0, 10); err != nil || len(jobs) != 1 {
		t.Fatalf("read-only user: list %v, %v", jobs, err)
	}
	_, err = viewer.Submit(ctx, &tasks.JobSpec{Type: tasks.TypeSleep, Payload: json.RawMessage(`{"v":1}`)})
	if err == nil || !strings.Contains(err.Error(), "NOPERM") && !strings.Contains(err.Error(), "can't run this command") {
		t.Fatalf("read-only user submitted: %v", err)
	}
}
