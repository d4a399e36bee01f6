package ui

import (
	"context"
	"image"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
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

// TestUIInBrowser loads the dashboard, a sweep page and a trial page in
// headless Chromium and checks what the browser rendered: asynqmon's
// JavaScript app must list the queues it fetched from its API; the sweep
// page's script must have drawn, from data.json, a point per completed
// trial in the history with its best-so-far line, the front's points in
// the Pareto chart, a line per trial in the parallel coordinates and a bar
// per parameter; a running sweep's page keeps polling; the trial page must
// show its learning curve, a point per epoch. Screenshots of the sweep and
// trial pages must hold the charts' colours. They are written to
// $COMPRESSQ_SCREENSHOTS when set (a directory), else to a temporary one.
// It needs the chromium binary (Debian package chromium); CI installs it,
// elsewhere the test is skipped without it.
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
	shots := os.Getenv("COMPRESSQ_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	}
	srv := redistest.Start(t)
	rc := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer rc.Close()
	ctl := sweep.New(rc, time.Hour, tasks.Defaults{})
	defer ctl.Close()
	id, st := finishedSweep(t, ctl)
	typed := runSweep(t, ctl, typedSweep, typedScore)
	trained, _ := trainedTrials(t, ctl)
	running := runningSweep(t, ctl)
	c := asynq.NewClientFromRedisClient(rc)
	for _, q := range []string{"browserq-high", "browserq-low"} {
		if _, err := c.Enqueue(asynq.NewTask("debug:sleep", []byte(`{"v":1}`)), asynq.Queue(q)); err != nil {
			t.Fatal(err)
		}
	}
	// The running sweep's page polls data.json; the second poll finds the
	// sweep finished.
	var polls atomic.Int32
	mux := Mux(rc, ctl, nil)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/sweeps/"+running+"/data.json" && polls.Add(1) == 2 {
			if err := finishSweep(r.Context(), ctl, running, typedScore); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
		}
		mux.ServeHTTP(w, r)
	}))
	defer ts.Close()

	chrome := func(path string, args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		args = append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
			"--user-data-dir=" + t.TempDir(), "--virtual-time-budget=15000"}, append(args, ts.URL+path)...)
		out, err := exec.CommandContext(ctx, browser, args...).Output()
		if err != nil {
			t.Fatalf("chromium %s: %v", path, err)
		}
		return string(out)
	}
	dom := func(path string) string { return chrome(path, "--dump-dom") }
	screenshot := func(path, name, size string) image.Image {
		t.Helper()
		file := filepath.Join(shots, name)
		chrome(path, "--screenshot="+file, "--window-size="+size)
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		img, err := png.Decode(f)
		if err != nil {
			t.Fatal(err)
		}
		return img
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

	front, err := nas.ParetoFront(st.Progress.Records, []string{nas.ObjectiveAccuracy, nas.ObjectiveBytes})
	if err != nil {
		t.Fatal(err)
	}
	_, _, static = get(t, http.DefaultClient, ts.URL+"/sweeps/"+id)
	if strings.Contains(static, "<circle") || strings.Contains(static, "<polyline") {
		t.Fatal("the static sweep page already holds chart elements; the checks prove nothing")
	}
	page = dom("/sweeps/" + id)
	if strings.Contains(page, "NaN") {
		t.Errorf("sweep page: a chart has NaN coordinates")
	}
	// The built-in space's twin varies dense_depth, dense_width_1,
	// dense_width_2, sparsity and weight_bits.
	for _, c := range []struct {
		chart, what string
		want        int
	}{
		{"history", `class="pt"`, 12},
		{"pareto-chart", `class="pt front"`, len(front)},
		{"pareto-chart", `class="pt"`, 12 - len(front)},
		{"parallel", `class="pc-line"`, 12},
		{"importance", `class="imp-bar"`, 5},
	} {
		if n := strings.Count(svgOf(t, page, c.chart), c.what); n != c.want {
			t.Errorf("%s: %d %s drawn, want %d", c.chart, n, c.what, c.want)
		}
	}
	if n := len(strings.Fields(attr(t, svgOf(t, page, "history"), "polyline", "points"))); n != 2*12-1 {
		t.Errorf("best-so-far line has %d points, want %d (a step per trial)", n, 2*12-1)
	}
	if !strings.Contains(page, "12 completed, 0 failed, 0 pending") || !strings.Contains(page, "sweep done: not updating.") {
		t.Errorf("the sweep page as rendered:\n%.3000s", page)
	}
	if !strings.Contains(svgOf(t, page, "pareto-chart"), "<title>"+front[0].Trial.ID+" (") {
		t.Errorf("the front's points have no hover text naming the trial")
	}
	page = dom("/sweeps/" + typed.ID)
	if strings.Contains(page, "NaN") {
		t.Errorf("typed sweep: a chart has NaN coordinates:\n%.3000s", svgOf(t, page, "parallel"))
	}
	if n := strings.Count(svgOf(t, page, "parallel"), `class="pc-line"`); n != 40 || !strings.Contains(page, "lr (log)") {
		t.Errorf("typed sweep: %d parallel-coordinate lines, want 40; a log axis labelled: %v", n, strings.Contains(page, "lr (log)"))
	}
	if !strings.Contains(page, "live") {
		t.Errorf("typed sweep page:\n%.2000s", page)
	}
	// Live: the page drew the 5 trials completed when it loaded, polled,
	// redrew the finished sweep's 40 and stopped polling.
	_, _, static = get(t, http.DefaultClient, ts.URL+"/sweeps/"+running)
	if !strings.Contains(static, "5 completed, 0 failed, 5 pending") {
		t.Fatalf("the running sweep's page as served:\n%.2000s", static)
	}
	page = dom("/sweeps/" + running)
	if n := strings.Count(svgOf(t, page, "history"), `class="pt"`); n != 40 || !strings.Contains(page, "40 completed, 0 failed, 0 pending") ||
		!strings.Contains(page, "sweep done: not updating.") {
		t.Errorf("the running sweep's page, once it finished: %d points in the history, want 40:\n%.3000s", n, page)
	}
	if n := polls.Load(); n != 2 {
		t.Errorf("the page read data.json %d times, want 2 (then the sweep was done)", n)
	}

	page = dom("/sweeps/" + trained.ID + "/trials/t000001")
	if strings.Contains(page, "NaN") {
		t.Errorf("trial page: a chart has NaN coordinates")
	}
	for _, line := range []string{"loss-line", "train-acc-line", "test-acc-line"} {
		i := strings.Index(page, `id="`+line+`"`)
		if i < 0 {
			t.Errorf("trial page: no %s drawn", line)
			continue
		}
		if n := len(strings.Fields(attr(t, page[strings.LastIndex(page[:i], "<polyline"):], "polyline", "points"))); n != 3 {
			t.Errorf("trial page: %s has %d points, want 3 (one per epoch)", line, n)
		}
	}
	if !strings.Contains(page, `class="phase"`) || !strings.Contains(page, "trial done: not updating.") {
		t.Errorf("trial page as rendered:\n%.3000s", page)
	}

	// The screenshots hold the charts: the front's and the loss curve's red.
	for _, s := range []struct{ path, name, size string }{
		{"/sweeps/" + typed.ID, "sweep.png", "1280,2600"},
		{"/sweeps/" + id, "sweep-builtin.png", "1280,2000"},
		{"/sweeps/" + trained.ID + "/trials/t000001", "trial.png", "1400,1400"},
	} {
		img := screenshot(s.path, s.name, s.size)
		if n := countColor(img, 0xc0, 0x39, 0x2b); n < 200 {
			t.Errorf("%s: %d pixels of the charts' red, want at least 200", s.name, n)
		}
		t.Logf("screenshot %s", filepath.Join(shots, s.name))
	}
}

// svgOf returns the markup of the svg element with the given id.
func svgOf(t *testing.T, page, id string) string {
	t.Helper()
	i := strings.Index(page, `<svg id="`+id+`"`)
	if i < 0 {
		t.Fatalf("no svg %s in the page", id)
	}
	j := strings.Index(page[i:], "</svg>")
	return page[i : i+j]
}

// attr returns the value of attribute name of the first tag element in s.
func attr(t *testing.T, s, tag, name string) string {
	t.Helper()
	i := strings.Index(s, "<"+tag+" ")
	if i < 0 {
		t.Fatalf("no <%s> in %.300s", tag, s)
	}
	end := i + strings.Index(s[i:], ">")
	k := strings.Index(s[i:end], name+`="`)
	if k < 0 {
		t.Fatalf("<%s> has no %s", tag, name)
	}
	v := s[i+k+len(name)+2:]
	return v[:strings.Index(v, `"`)]
}

// countColor counts the pixels of img within 12 of the colour r, g, b.
func countColor(img image.Image, r, g, b uint8) int {
	n := 0
	near := func(x uint32, y uint8) bool { d := int(x>>8) - int(y); return d < 12 && d > -12 }
	bounds := img.Bounds()
	for y := bounds.Min.Y; y < bounds.Max.Y; y++ {
		for x := bounds.Min.X; x < bounds.Max.X; x++ {
			pr, pg, pb, _ := img.At(x, y).RGBA()
			if near(pr, r) && near(pg, g) && near(pb, b) {
				n++
			}
		}
	}
	return n
}
