package metrics

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/compressq/compressq/internal/redistest"
)

// scrape GETs url with the given Authorization header ("" for none) and
// returns the status and, for 200, the parsed families.
func scrape(t *testing.T, client *http.Client, url, auth string) (int, http.Header, map[string]*dto.MetricFamily) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Ask for the text format explicitly.
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, resp.Header, nil
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse text exposition: %v", err)
	}
	return resp.StatusCode, resp.Header, mfs
}

func familyList(mfs map[string]*dto.MetricFamily) []*dto.MetricFamily {
	out := make([]*dto.MetricFamily, 0, len(mfs))
	for _, mf := range mfs {
		out = append(out, mf)
	}
	return out
}

func TestHandler(t *testing.T) {
	srv := redistest.Start(t)
	insp := fillQueues(t, srv.Addr)
	reg := prometheus.NewRegistry()
	m := New(reg)
	reg.MustRegister(NewQueueCollector(insp, quiet))
	for range 2 {
		m.TaskStarted("train")
		m.TaskFinished("train", "default", OutcomeSuccess, 1500*time.Millisecond)
	}
	m.TaskStarted("compress:quantize")

	hs := httptest.NewServer(Handler(reg, "s3cret"))
	defer hs.Close()
	client := hs.Client()

	for _, auth := range []string{"", "Bearer wrong", "Basic s3cret", "Bearer s3cret2", "s3cret"} {
		code, hdr, _ := scrape(t, client, hs.URL, auth)
		if code != http.StatusUnauthorized {
			t.Errorf("Authorization %q: status %d, want 401", auth, code)
		}
		if hdr.Get("WWW-Authenticate") == "" {
			t.Errorf("Authorization %q: no WWW-Authenticate header", auth)
		}
	}

	code, hdr, mfs := scrape(t, client, hs.URL, "Bearer s3cret")
	if code != http.StatusOK {
		t.Fatalf("status %d with the right token", code)
	}
	if ct := hdr.Get("Content-Type"); ct == "" || ct[:10] != "text/plain" {
		t.Errorf("Content-Type = %q, want text/plain", ct)
	}
	fams := familyList(mfs)
	checks := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"compressq_tasks_total", map[string]string{"type": "train", "queue": "default", "outcome": "success"}, 2},
		{"compressq_tasks_in_flight", map[string]string{"type": "compress:quantize"}, 1},
		{"compressq_tasks_in_flight", map[string]string{"type": "train"}, 0},
		{"compressq_build_info", nil, 1},
		{"compressq_queue_tasks", map[string]string{"queue": "critical", "state": "pending"}, 3},
		{"compressq_queue_tasks", map[string]string{"queue": "default", "state": "scheduled"}, 2},
		{"compressq_queue_tasks", map[string]string{"queue": "default", "state": "archived"}, 1},
		{"compressq_queue_paused", map[string]string{"queue": "default"}, 1},
		{"compressq_queue_inspector_up", nil, 1},
	}
	for _, c := range checks {
		if got := value(t, fams, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	h := mfs["compressq_task_duration_seconds"]
	if h == nil || len(h.GetMetric()) != 1 || h.GetMetric()[0].GetHistogram().GetSampleCount() != 2 ||
		h.GetMetric()[0].GetHistogram().GetSampleSum() != 3 {
		t.Errorf("compressq_task_duration_seconds = %v, want one series with 2 samples summing to 3 s", h)
	}

	// With Redis gone the scrape still succeeds: the task metrics are served
	// and the queue collector reports itself down.
	srv.Kill()
	code, _, mfs = scrape(t, client, hs.URL, "Bearer s3cret")
	if code != http.StatusOK {
		t.Fatalf("status %d with Redis down, want 200", code)
	}
	fams = familyList(mfs)
	if got := value(t, fams, "compressq_queue_inspector_up", nil); got != 0 {
		t.Errorf("compressq_queue_inspector_up = %v with Redis down, want 0", got)
	}
	if got := value(t, fams, "compressq_tasks_total", map[string]string{"type": "train"}); got != 2 {
		t.Errorf("compressq_tasks_total with Redis down = %v, want 2", got)
	}
}

func TestHandlerWithoutToken(t *testing.T) {
	reg := prometheus.NewRegistry()
	New(reg)
	hs := httptest.NewServer(Handler(reg, ""))
	defer hs.Close()
	code, _, mfs := scrape(t, hs.Client(), hs.URL, "")
	if code != http.StatusOK {
		t.Fatalf("status %d without a token configured, want 200", code)
	}
	if got := value(t, familyList(mfs), "compressq_build_info", nil); got != 1 {
		t.Fatalf("compressq_build_info = %v", got)
	}
}
