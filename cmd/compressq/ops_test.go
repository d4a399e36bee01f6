package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"

	"github.com/compressq/compressq/configs"
	"github.com/compressq/compressq/internal/redistest"
)

// opsFixture is a redis-server holding tasks in known states:
//
//	default: p1 p2 p3 pending, s1 scheduled, a1 archived
//	work:    c1 completed, r1 retry (failed with "boom"), b1 active on a running asynq server
type opsFixture struct {
	url  string
	insp *asynq.Inspector
}

func newOpsFixture(t *testing.T) *opsFixture {
	t.Helper()
	srv := redistest.Start(t)
	rc := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { rc.Close() })
	c := asynq.NewClientFromRedisClient(rc)
	insp := asynq.NewInspectorFromRedisClient(rc)
	enqueue := func(typ, id, queue string, opts ...asynq.Option) {
		t.Helper()
		opts = append(opts, asynq.TaskID(id), asynq.Queue(queue))
		if _, err := c.Enqueue(asynq.NewTask(typ, []byte(`{"v":1,"id":"`+id+`"}`)), opts...); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"p1", "p2", "p3", "a1"} {
		enqueue("debug:sleep", id, "default")
	}
	enqueue("debug:sleep", "s1", "default", asynq.ProcessIn(time.Hour))
	if err := insp.ArchiveTask("default", "a1"); err != nil {
		t.Fatal(err)
	}

	// A server on "work" only: c1 succeeds and is kept, r1 fails and waits an
	// hour for its retry, b1 runs until the test ends.
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	s := asynq.NewServerFromRedisClient(rc, asynq.Config{
		Concurrency:    3,
		Queues:         map[string]int{"work": 1},
		RetryDelayFunc: func(int, error, *asynq.Task) time.Duration { return time.Hour },
		LogLevel:       asynq.ErrorLevel,
	})
	mux := asynq.NewServeMux()
	mux.HandleFunc("ok", func(context.Context, *asynq.Task) error { return nil })
	mux.HandleFunc("fail", func(context.Context, *asynq.Task) error { return errors.New("boom") })
	mux.HandleFunc("block", func(ctx context.Context, _ *asynq.Task) error {
		started <- struct{}{}
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	})
	if err := s.Start(mux); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		close(release)
		s.Shutdown()
	})
	enqueue("ok", "c1", "work", asynq.Retention(time.Hour))
	enqueue("fail", "r1", "work", asynq.MaxRetry(3))
	enqueue("block", "b1", "work")
	<-started
	want := map[string]asynq.TaskState{"c1": asynq.TaskStateCompleted, "r1": asynq.TaskStateRetry, "b1": asynq.TaskStateActive}
	deadline := time.Now().Add(30 * time.Second)
	for id, st := range want {
		for {
			info, err := insp.GetTaskInfo("work", id)
			if err == nil && info.State == st {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("task %s: %v, %v; want state %v", id, info, err, st)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// The server publishes its active tasks with its heartbeat (every 5 s).
	for {
		servers, err := insp.Servers()
		if err == nil && len(servers) == 1 && len(servers[0].ActiveWorkers) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("servers %v, %v: want one with one active task", servers, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return &opsFixture{url: srv.URL(), insp: insp}
}

// runOps executes an ops command against url and returns its stdout.
func runOps(t *testing.T, url string, args ...string) (string, error) {
	t.Helper()
	root := &cobra.Command{Use: "compressq", SilenceUsage: true, SilenceErrors: true}
	configs.BindFlags(root.PersistentFlags())
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newOpsCmds()...)
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(append(args, "--redis-url", url, "--log-level", "warn"))
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

func TestOpsCommands(t *testing.T) {
	f := newOpsFixture(t)

	queues := func(t *testing.T) map[string]queueRow {
		t.Helper()
		out, err := runOps(t, f.url, "queues", "--json")
		if err != nil {
			t.Fatal(err)
		}
		var rows []queueRow
		if err := json.Unmarshal([]byte(out), &rows); err != nil {
			t.Fatalf("%v in %s", err, out)
		}
		m := map[string]queueRow{}
		for _, r := range rows {
			m[r.Queue] = r
		}
		return m
	}
	state := func(t *testing.T, queue, id string) string {
		t.Helper()
		info, err := f.insp.GetTaskInfo(queue, id)
		if errors.Is(err, asynq.ErrTaskNotFound) {
			return "gone"
		}
		if err != nil {
			t.Fatal(err)
		}
		return info.State.String()
	}
	taskIDs := func(t *testing.T, out string) []string {
		t.Helper()
		var rows []taskRow
		if err := json.Unmarshal([]byte(out), &rows); err != nil {
			t.Fatalf("%v in %s", err, out)
		}
		var ids []string
		for _, r := range rows {
			ids = append(ids, r.ID)
		}
		return ids
	}

	// The cases run in order: later ones see the changes of earlier ones.
	for _, tc := range []struct {
		name    string
		args    []string
		usage   bool     // want a usageError
		errHas  string   // want an error containing this
		outHas  []string // want stdout containing these
		check   func(t *testing.T, out string)
		nothing bool // want empty stdout
	}{
		{name: "queues json", args: []string{"queues", "--json"}, check: func(t *testing.T, _ string) {
			q := queues(t)
			d, w := q["default"], q["work"]
			if len(q) != 2 || d.Pending != 3 || d.Scheduled != 1 || d.Archived != 1 || d.Paused || d.Size != 5 {
				t.Errorf("default = %+v (of %d queues)", d, len(q))
			}
			// "Today" is a UTC day: near midnight a run may land on either side.
			if w.Active != 1 || w.Retry != 1 || w.Completed != 1 || w.ProcessedTotal != 2 || w.FailedTotal != 1 ||
				w.ProcessedToday < 1 || w.ProcessedToday > 2 || w.FailedToday > 1 {
				t.Errorf("work = %+v", w)
			}
			if d.LatencySeconds <= 0 || d.MemoryBytes <= 0 {
				t.Errorf("default latency %v s, memory %d B: want both > 0", d.LatencySeconds, d.MemoryBytes)
			}
		}},
		{name: "queues table", args: []string{"queues"}, outHas: []string{"QUEUE", "PENDING", "default", "running", "work"}, check: func(t *testing.T, out string) {
			if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 3 || !strings.HasPrefix(lines[1], "default ") || !strings.HasPrefix(lines[2], "work ") {
				t.Errorf("want a header and two queue rows, sorted:\n%s", out)
			}
		}},
		{name: "ls pending by default", args: []string{"tasks", "ls", "default", "--json"}, check: func(t *testing.T, out string) {
			if ids := strings.Join(taskIDs(t, out), ","); ids != "p1,p2,p3" {
				t.Errorf("pending ids %s, want p1,p2,p3", ids)
			}
		}},
		{name: "ls limit and page", args: []string{"tasks", "ls", "default", "--limit", "2", "--page", "2", "--json"}, check: func(t *testing.T, out string) {
			if ids := strings.Join(taskIDs(t, out), ","); ids != "p3" {
				t.Errorf("page 2 of 2: %s, want p3", ids)
			}
		}},
		{name: "ls retry shows the error", args: []string{"tasks", "ls", "work", "--state", "retry"}, outHas: []string{"ID", "LAST ERROR", "r1", "fail", "retry", "1/3", "boom", "runs "}},
		{name: "ls completed", args: []string{"tasks", "ls", "work", "--state", "completed", "--json"}, check: func(t *testing.T, out string) {
			if ids := strings.Join(taskIDs(t, out), ","); ids != "c1" {
				t.Errorf("completed ids %s, want c1", ids)
			}
		}},
		{name: "ls active", args: []string{"tasks", "ls", "work", "--state", "active"}, outHas: []string{"b1", "block", "active"}},
		{name: "ls bad state", args: []string{"tasks", "ls", "default", "--state", "done"}, usage: true, errHas: `"done" is not one of pending`},
		{name: "ls bad limit", args: []string{"tasks", "ls", "default", "--limit", "0"}, usage: true, errHas: "--limit"},
		{name: "ls unknown queue", args: []string{"tasks", "ls", "nosuch"}, errHas: "queue not found"},
		{name: "show json", args: []string{"tasks", "show", "work", "r1", "--json"}, check: func(t *testing.T, out string) {
			var r taskRow
			if err := json.Unmarshal([]byte(out), &r); err != nil {
				t.Fatal(err)
			}
			if r.ID != "r1" || r.State != "retry" || r.Retried != 1 || r.MaxRetry != 3 || r.LastError != "boom" || r.LastFailedAt == nil || compact(t, r.Payload) != `{"v":1,"id":"r1"}` {
				t.Errorf("show r1 = %+v", r)
			}
		}},
		{name: "show table", args: []string{"tasks", "show", "default", "s1"}, outHas: []string{"id", "s1", "scheduled", "next run", "payload", `{"v":1,"id":"s1"}`}},
		{name: "show missing", args: []string{"tasks", "show", "default", "nope"}, errHas: "task not found"},
		{name: "show needs two args", args: []string{"tasks", "show", "default"}, usage: true, errHas: "accepts 2 arg"},
		{name: "unknown tasks subcommand", args: []string{"tasks", "frob"}, usage: true, errHas: `unknown command "frob"`},
		{name: "queues takes no args", args: []string{"queues", "default"}, usage: true, errHas: "unknown command"},
		{name: "retry scheduled", args: []string{"tasks", "retry", "default", "s1"}, outHas: []string{"task s1 in queue default: pending"}, check: func(t *testing.T, _ string) {
			if s := state(t, "default", "s1"); s != "pending" {
				t.Errorf("s1 is %s after retry", s)
			}
		}},
		{name: "retry archived", args: []string{"tasks", "retry", "default", "a1"}, check: func(t *testing.T, _ string) {
			if s := state(t, "default", "a1"); s != "pending" {
				t.Errorf("a1 is %s after retry", s)
			}
		}},
		{name: "archive pending", args: []string{"tasks", "archive", "default", "p1"}, outHas: []string{"archived"}, check: func(t *testing.T, _ string) {
			if s := state(t, "default", "p1"); s != "archived" {
				t.Errorf("p1 is %s after archive", s)
			}
		}},
		{name: "delete", args: []string{"tasks", "delete", "default", "p2"}, outHas: []string{"deleted"}, check: func(t *testing.T, _ string) {
			if s := state(t, "default", "p2"); s != "gone" {
				t.Errorf("p2 is %s after delete", s)
			}
		}},
		{name: "delete missing", args: []string{"tasks", "delete", "default", "p2"}, errHas: "task not found"},
		{name: "delete running task refused", args: []string{"tasks", "delete", "work", "b1"}, errHas: "delete task b1 in queue work", check: func(t *testing.T, _ string) {
			if s := state(t, "work", "b1"); s != "active" {
				t.Errorf("b1 is %s after a refused delete", s)
			}
		}},
		{name: "pause", args: []string{"pause", "default"}, outHas: []string{"queue default: paused"}, check: func(t *testing.T, _ string) {
			if q := queues(t); !q["default"].Paused || q["work"].Paused {
				t.Errorf("after pause default: default paused %v, work paused %v", q["default"].Paused, q["work"].Paused)
			}
		}},
		{name: "paused shows in table", args: []string{"queues"}, outHas: []string{"paused"}},
		{name: "unpause", args: []string{"unpause", "default"}, outHas: []string{"queue default: running"}, check: func(t *testing.T, _ string) {
			if q := queues(t); q["default"].Paused {
				t.Error("default still paused")
			}
		}},
		{name: "workers json", args: []string{"workers", "--json"}, check: func(t *testing.T, out string) {
			var rows []workerRow
			if err := json.Unmarshal([]byte(out), &rows); err != nil {
				t.Fatalf("%v in %s", err, out)
			}
			if len(rows) != 1 || rows[0].Concurrency != 3 || rows[0].PID == 0 || rows[0].Host == "" || rows[0].Queues["work"] != 1 || rows[0].Status != "active" {
				t.Fatalf("workers = %+v", rows)
			}
			if a := rows[0].Active; len(a) != 1 || a[0].ID != "b1" || a[0].Type != "block" || a[0].Queue != "work" || a[0].Started.IsZero() {
				t.Errorf("active tasks = %+v", a)
			}
		}},
		{name: "workers table", args: []string{"workers"}, outHas: []string{"HOST", "BUSY", "1/3", "work=1"}, check: func(t *testing.T, out string) {
			servers, tasks, ok := strings.Cut(out, "\n\n")
			if !ok || strings.Count(servers, "\n") != 1 || !strings.Contains(tasks, "TASK") {
				t.Fatalf("want a table of 1 worker, a blank line and a table of active tasks:\n%s", out)
			}
			if f := strings.Fields(strings.Split(strings.TrimSpace(tasks), "\n")[1]); len(f) != 6 || f[2] != "work" || f[3] != "block" || f[4] != "b1" {
				t.Errorf("active task row %q, want HOST PID work block b1 STARTED", f)
			}
		}},
		{name: "tasks without subcommand", args: []string{"tasks"}, usage: true, errHas: "subcommand"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runOps(t, f.url, tc.args...)
			var ue usageError
			switch {
			case tc.errHas == "" && err != nil:
				t.Fatalf("error %v\n%s", err, out)
			case tc.errHas != "" && (err == nil || !strings.Contains(err.Error(), tc.errHas)):
				t.Fatalf("error %v, want one containing %q", err, tc.errHas)
			case tc.usage != errors.As(err, &ue):
				t.Fatalf("error %v: usage error %v, want %v", err, !tc.usage, tc.usage)
			}
			for _, s := range tc.outHas {
				if !strings.Contains(out, s) {
					t.Errorf("output lacks %q:\n%s", s, out)
				}
			}
			if tc.check != nil {
				tc.check(t, out)
			}
		})
	}
}

func TestOpsHelpHasExamples(t *testing.T) {
	var walk func(c *cobra.Command)
	n := 0
	walk = func(c *cobra.Command) {
		n++
		if !strings.Contains(c.Example, "compressq "+strings.Fields(c.Use)[0]) && !strings.Contains(c.Example, "compressq tasks "+strings.Fields(c.Use)[0]) {
			t.Errorf("%q: Example %q does not show the command", c.Use, c.Example)
		}
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	for _, c := range newOpsCmds() {
		walk(c)
	}
	if n != 10 {
		t.Errorf("%d commands, want 10 (queues, tasks + 5, pause, unpause, workers)", n)
	}
}

func compact(t *testing.T, b []byte) string {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		t.Fatalf("%v in %s", err, b)
	}
	return buf.String()
}

// TestOpsNamesFree checks that the operator commands do not shadow a command
// of the root: each name is either absent from newRoot or is the ops command
// itself (once the root adds newOpsCmds).
func TestOpsNamesFree(t *testing.T) {
	root := newRoot()
	for _, c := range newOpsCmds() {
		for _, rc := range root.Commands() {
			if rc.Name() == c.Name() && rc.Short != c.Short {
				t.Errorf("ops command %q collides with the root's %q (%s)", c.Name(), rc.Use, rc.Short)
			}
		}
	}
}

func TestBytesString(t *testing.T) {
	for _, tc := range []struct {
		n    int64
		want string
	}{{0, "0 B"}, {1023, "1023 B"}, {1024, "1.0 KiB"}, {1536, "1.5 KiB"}, {5 << 20, "5.0 MiB"}, {3 << 30, "3.0 GiB"}} {
		if got := bytesString(tc.n); got != tc.want {
			t.Errorf("bytesString(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}
