package ui

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/compressq/compressq/compress/nas"
	"github.com/compressq/compressq/internal/rdb"
	"github.com/compressq/compressq/internal/redistest"
	"github.com/compressq/compressq/internal/sweep"
	"github.com/compressq/compressq/tasks"
)

// finishedSweep runs a small random sweep to the end by hand — reporting
// each pending trial with an accuracy and size from its trial number and
// stepping — and returns its id and final status.
func finishedSweep(t *testing.T, ctl *sweep.Controller) (string, *sweep.Status) {
	t.Helper()
	ctx := context.Background()
	spec, err := sweep.ParseSpec([]byte(`
id: ui-test
name: page test
strategy: random
seed: 2
max_trials: 12
concurrency: 4
space:
  dense: {depth: [1, 2], widths: [16, 32, 64]}
  compression: {sparsity: [0, 0.5], weight_bits: [8, 32]}
evaluator: {type: table, table: "mem://x"}
`))
	if err != nil {
		t.Fatal(err)
	}
	id, err := ctl.Start(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ctl.Step(ctx, id, true); err != nil {
		t.Fatal(err)
	}
	for range 100 {
		st, err := ctl.Status(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if st.Status == rdb.SweepDone {
			return id, st
		}
		for i, r := range st.Progress.Records {
			if r.Status == nas.StatusPending {
				o := nas.Objectives{Accuracy: 0.9 + 0.005*float64(i), Bytes: 1000 + 100*((i*7)%12), Params: 10 * i}
				if err := ctl.Report(ctx, id, spec.Queue, nas.Result{ID: r.Trial.ID, Attempt: r.Trial.Attempt, Objectives: o}); err != nil {
					t.Fatal(err)
				}
			}
		}
		if _, err := ctl.Step(ctx, id, false); err != nil {
			t.Fatal(err)
		}
	}
	t.Fatal("the sweep did not finish")
	return "", nil
}

func TestSweepPages(t *testing.T) {
	srv := redistest.Start(t)
	rc := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer rc.Close()
	ctl := sweep.New(rc, time.Hour, tasks.Defaults{})
	defer ctl.Close()
	id, st := finishedSweep(t, ctl)
	front, err := nas.ParetoFront(st.Progress.Records, []string{nas.ObjectiveAccuracy, nas.ObjectiveBytes})
	if err != nil || len(front) == 0 {
		t.Fatalf("front %v, %v", front, err)
	}
	ts := httptest.NewServer(Mux(rc, ctl, nil))
	defer ts.Close()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	defer client.CloseIdleConnections()

	for _, tc := range []struct {
		name, path string
		code       int
		ctype      string
		wants      []string
	}{
		{"list", "/sweeps/", 200, "text/html", []string{`href="/sweeps/ui-test"`, "page test", "done", "<td>12</td>"}},
		{"list without the slash", "/sweeps", 301, "", nil},
		{"sweep", "/sweeps/" + id, 200, "text/html", []string{"12 completed, 0 failed, 0 pending", `href="/sweeps/ui-test/pareto.svg"`,
			`<svg id="history"`, `<svg id="pareto-chart"`, `<svg id="parallel"`, `<svg id="importance"`, "sweepPage(",
			`href="/sweeps/ui-test/trials/` + front[0].Trial.ID + `"`, front[0].Trial.Candidate.Genome.String()}},
		{"sweep data", "/sweeps/" + id + "/data.json", 200, "application/json", []string{`"final":true`, `"front":["`}},
		{"trial", "/sweeps/" + id + "/trials/t000003", 200, "text/html", []string{"Trial t000003", "trialPage("}},
		{"plot", "/sweeps/" + id + "/pareto.svg", 200, "image/svg+xml", []string{"<svg"}},
		{"unknown sweep", "/sweeps/nope", 404, "text/plain", []string{"no such sweep"}},
		{"unknown page", "/sweeps/" + id + "/other", 404, "text/plain", nil},
		{"root", "/", 302, "", nil},
		{"dashboard", "/ui/", 200, "text/html", []string{"<title>Asynq"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, ctype, body := get(t, client, ts.URL+tc.path)
			if code != tc.code || !strings.HasPrefix(ctype, tc.ctype) {
				t.Fatalf("GET %s: %d %q, want %d %q", tc.path, code, ctype, tc.code, tc.ctype)
			}
			for _, w := range tc.wants {
				if !strings.Contains(body, w) {
					t.Errorf("GET %s lacks %q:\n%.2000s", tc.path, w, body)
				}
			}
		})
	}
	// Every trial of the front is on the page, and nothing else in its table.
	_, _, page := get(t, client, ts.URL+"/sweeps/"+id)
	table := page[strings.Index(page, `<table id="front">`):]
	table = table[:strings.Index(table, "</table>")]
	if n := strings.Count(table, "<tr>") - 1; n != len(front) || len(front) < 2 {
		t.Errorf("front table has %d trials, want %d", n, len(front))
	}
}

// TestUIInBrowser loads the dashboard and a sweep page in headless
// Chromium and checks what the browser rendered: asynqmon's JavaScript
// app must list the queues it fetched from its API, and the sweep page
// must show the sweep's counts and its plot. It needs the
// chromium binary (Debian package chromium); CI installs it, elsewhere the
// test is skipped without it.
func TestUIInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser")
	}
	browser, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium is not installed; .ci/run installs it")
		}
		t.Skip("chromium not installed")
	}
	srv := redistest.Start(t)
	rc := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer rc.Close()
	ctl := sweep.New(rc, time.Hour, tasks.Defaults{})
	defer ctl.Close()
	id, _ := finishedSweep(t, ctl)
	c := asynq.NewClientFromRedisClient(rc)
	for _, q := range []string{"browserq-high", "browserq-low"} {
		if _, err := c.Enqueue(asynq.NewTask("debug:sleep", []byte(`{"v":1}`)), asynq.Queue(q)); err != nil {
			t.Fatal(err)
		}
	}
	ts := httptest.NewServer(Mux(rc, ctl, nil))
	defer ts.Close()

	dom := func(path string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
			"--user-data-dir="+t.TempDir(), "--virtual-time-budget=15000", "--dump-dom", ts.URL+path)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("chromium %s: %v", path, err)
		}
		return string(out)
	}
	page := dom("/ui/")
	for _, q := range []string{"browserq-high", "browserq-low"} {
		if !strings.Contains(page, q) {
			t.Errorf("the dashboard as rendered does not list queue %s:\n%.3000s", q, page)
		}
	}
	// The static page has no queue names: they come from the app's API calls.
	_, _, static := get(t, http.DefaultClient, ts.URL+"/ui/")
	if strings.Contains(static, "browserq-high") {
		t.Fatal("the static page already names the queue; the check proves nothing")
	}
	page = dom("/sweeps/" + id)
	if !strings.Contains(page, "12 completed, 0 failed, 0 pending") || !strings.Contains(page, `id="pareto"`) {
		t.Errorf("the sweep page as rendered:\n%.3000s", page)
	}
}
