package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/compressq/compressq/configs"
	"github.com/compressq/compressq/internal/artifact"
	"github.com/compressq/compressq/internal/rdb"
	"github.com/compressq/compressq/internal/redistest"
	"github.com/compressq/compressq/producer"
	"github.com/compressq/compressq/worker"
)

// requirePromtool returns the path of promtool. When it is missing the test
// is skipped, unless CI is set: then it fails, so CI cannot pass by skipping.
func requirePromtool(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err == nil {
		return path
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("promtool not found on PATH and CI is set (install the Debian package prometheus): %v", err)
	}
	t.Skipf("promtool not found on PATH; skipping (install the Debian package prometheus to run this check): %v", err)
	return ""
}

func TestPromtool(t *testing.T) {
	promtool := requirePromtool(t)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"check config", []string{"check", "config", "prometheus/prometheus.yml"}, "is valid prometheus config file"},
		{"check rules", []string{"check", "rules", "prometheus/alerts.yml"}, "SUCCESS: 7 rules found"},
		{"test rules", []string{"test", "rules", "prometheus/alerts_test.yml"}, "SUCCESS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := exec.Command(promtool, tc.args...).CombinedOutput()
			if err != nil || !strings.Contains(string(out), tc.want) {
				t.Fatalf("promtool %s: %v\n%s", strings.Join(tc.args, " "), err, out)
			}
		})
	}
}

// metricNames are the compressq_ metric names defined in metrics/.
func metricNames(t *testing.T) map[string]bool {
	t.Helper()
	files, err := filepath.Glob("../metrics/*.go")
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	re := regexp.MustCompile(`"(compressq_[a-z0-9_]+)"`)
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllSubmatch(b, -1) {
			names[string(m[1])] = true
		}
	}
	if len(names) < 10 {
		t.Fatalf("found only %d metric names in metrics/: %v", len(names), names)
	}
	return names
}

var metricRef = regexp.MustCompile(`compressq_[a-z0-9_]+`)

// unknownMetrics returns the compressq_ names in expr that metrics/ does not
// define (a histogram's _bucket, _sum and _count series count as defined),
// and how many names expr mentions.
func unknownMetrics(expr string, known map[string]bool) (unknown []string, n int) {
	for _, name := range metricRef.FindAllString(expr, -1) {
		n++
		base := name
		for _, suf := range []string{"_bucket", "_sum", "_count"} {
			if b, ok := strings.CutSuffix(name, suf); ok && known[b] {
				base = b
			}
		}
		if !known[base] {
			unknown = append(unknown, name)
		}
	}
	return unknown, n
}

func TestUnknownMetrics(t *testing.T) {
	known := map[string]bool{"compressq_a_seconds": true, "compressq_b_total": true}
	for _, tc := range []struct {
		expr    string
		unknown []string
		n       int
	}{
		{`rate(compressq_b_total[5m])`, nil, 1},
		{`histogram_quantile(0.9, rate(compressq_a_seconds_bucket[5m]))`, nil, 1},
		{`compressq_b_total / compressq_c`, []string{"compressq_c"}, 2},
		{`compressq_c_bucket`, []string{"compressq_c_bucket"}, 1}, // only known names lose a suffix
		{`up == 0`, nil, 0},
	} {
		u, n := unknownMetrics(tc.expr, known)
		if !slices.Equal(u, tc.unknown) || n != tc.n {
			t.Errorf("unknownMetrics(%q) = %v, %d; want %v, %d", tc.expr, u, n, tc.unknown, tc.n)
		}
	}
}

// headingAnchors are the GitHub anchors of the headings of a Markdown file.
func headingAnchors(t *testing.T, path string) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	drop := regexp.MustCompile(`[^a-z0-9 _-]`)
	inCode := false
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "```") {
			inCode = !inCode
		}
		if inCode || !strings.HasPrefix(line, "#") {
			continue
		}
		h := strings.TrimSpace(strings.TrimLeft(line, "#"))
		a := strings.ReplaceAll(drop.ReplaceAllString(strings.ToLower(h), ""), " ", "-")
		anchors[a] = true
	}
	return anchors
}

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

type ruleTests struct {
	Tests []struct {
		AlertRuleTest []struct {
			EvalTime  string           `yaml:"eval_time"`
			Alertname string           `yaml:"alertname"`
			ExpAlerts []map[string]any `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// TestAlertRules checks what promtool does not: every alert has its
// annotations, a runbook that is a real section of docs/operations.md, only
// metrics that exist, and a firing and a silent unit-test case.
func TestAlertRules(t *testing.T) {
	var rules ruleFile
	readYAML(t, "prometheus/alerts.yml", &rules)
	var tests ruleTests
	readYAML(t, "prometheus/alerts_test.yml", &tests)
	anchors := headingAnchors(t, "../docs/operations.md")
	known := metricNames(t)

	firing, silent := map[string]int{}, map[string]int{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				firing[a.Alertname]++
			} else {
				silent[a.Alertname]++
			}
		}
	}
	want := []string{"CompressqQueueBacklogGrowing", "CompressqOldestPendingTooOld", "CompressqTaskErrorRate",
		"CompressqWorkerDown", "CompressqWorkersAbsent", "CompressqRedisDown", "CompressqArchivedTasksRising"}
	var got []string
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			got = append(got, r.Alert)
			t.Run(r.Alert, func(t *testing.T) {
				for _, k := range []string{"summary", "description", "runbook"} {
					if strings.TrimSpace(r.Annotations[k]) == "" {
						t.Errorf("annotation %s is missing", k)
					}
				}
				if s := r.Labels["severity"]; s != "warning" && s != "critical" {
					t.Errorf("severity %q, want warning or critical", s)
				}
				anchor, ok := strings.CutPrefix(r.Annotations["runbook"], "docs/operations.md#")
				if !ok || !anchors[anchor] {
					t.Errorf("runbook %q is not a section of docs/operations.md", r.Annotations["runbook"])
				}
				if u, _ := unknownMetrics(r.Expr, known); len(u) > 0 {
					t.Errorf("expr uses metrics that metrics/ does not define: %v", u)
				}
				if firing[r.Alert] == 0 || silent[r.Alert] == 0 {
					t.Errorf("alerts_test.yml has %d firing and %d silent cases, want at least one of each", firing[r.Alert], silent[r.Alert])
				}
			})
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("alerts %v, want %v", got, want)
	}
}

type dashboard struct {
	Title      string `json:"title"`
	UID        string `json:"uid"`
	Templating struct {
		List []struct {
			Name       string `json:"name"`
			Definition string `json:"definition"`
		} `json:"list"`
	} `json:"templating"`
	Panels []struct {
		ID      int    `json:"id"`
		Title   string `json:"title"`
		Type    string `json:"type"`
		GridPos struct {
			X, Y, W, H int
		} `json:"gridPos"`
		FieldConfig struct {
			Defaults struct {
				Unit string `json:"unit"`
			} `json:"defaults"`
		} `json:"fieldConfig"`
		Targets []struct {
			Expr  string `json:"expr"`
			RefID string `json:"refId"`
		} `json:"targets"`
	} `json:"panels"`
}

func TestDashboard(t *testing.T) {
	b, err := os.ReadFile("grafana/compressq.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("grafana/compressq.json: %v", err)
	}
	if d.Title == "" || d.UID == "" || len(d.Panels) == 0 {
		t.Fatalf("title %q, uid %q, %d panels", d.Title, d.UID, len(d.Panels))
	}
	known := metricNames(t)
	used := map[string]bool{}
	ids := map[int]bool{}
	for _, p := range d.Panels {
		t.Run(p.Title, func(t *testing.T) {
			if ids[p.ID] {
				t.Errorf("panel id %d is used twice", p.ID)
			}
			ids[p.ID] = true
			if p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X+p.GridPos.W > 24 {
				t.Errorf("gridPos %+v does not fit the 24-column grid", p.GridPos)
			}
			if len(p.Targets) == 0 {
				t.Fatal("no targets")
			}
			for _, tg := range p.Targets {
				u, n := unknownMetrics(tg.Expr, known)
				if n == 0 {
					t.Errorf("target %s: expr %q mentions no compressq_ metric", tg.RefID, tg.Expr)
				}
				if len(u) > 0 {
					t.Errorf("target %s: metrics/ defines none of %v", tg.RefID, u)
				}
				if strings.Count(tg.Expr, "(") != strings.Count(tg.Expr, ")") {
					t.Errorf("target %s: unbalanced parentheses in %q", tg.RefID, tg.Expr)
				}
				for _, m := range metricRef.FindAllString(tg.Expr, -1) {
					used[strings.TrimSuffix(m, "_bucket")] = true
				}
			}
		})
	}
	// The panels the dashboard promises: depth, throughput, latency,
	// failures, in flight, oldest pending, Redis memory.
	for _, m := range []string{"compressq_queue_tasks", "compressq_tasks_total", "compressq_task_duration_seconds",
		"compressq_tasks_in_flight", "compressq_queue_latency_seconds", "compressq_queue_memory_bytes"} {
		if !used[m] {
			t.Errorf("no panel shows %s", m)
		}
	}
	for _, q := range []string{"histogram_quantile(0.5,", "histogram_quantile(0.9,", "histogram_quantile(0.99,"} {
		if !bytes.Contains(b, []byte(q)) {
			t.Errorf("no panel computes %s…)", q)
		}
	}
	for _, v := range d.Templating.List {
		if u, _ := unknownMetrics(v.Definition, known); len(u) > 0 {
			t.Errorf("variable %s: unknown metrics %v", v.Name, u)
		}
	}

	// promtool parses the expressions: as recording rules, with Grafana's
	// variables replaced by values.
	var exprs []string
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			exprs = append(exprs, strings.NewReplacer("$__rate_interval", "5m", "$queue", ".*").Replace(tg.Expr))
		}
	}
	checkExprs(t, exprs)
}

// checkExprs has promtool parse each PromQL expression, as the expression
// of a recording rule.
func checkExprs(t *testing.T, exprs []string) {
	t.Helper()
	promtool := requirePromtool(t)
	type rule struct {
		Record string `yaml:"record"`
		Expr   string `yaml:"expr"`
	}
	var rules []rule
	for i, e := range exprs {
		rules = append(rules, rule{Record: fmt.Sprintf("check:expr_%d", i), Expr: e})
	}
	b, err := yaml.Marshal(map[string]any{"groups": []any{map[string]any{"name": "check", "rules": rules}}})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "exprs.yml")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool, "check", "rules", path).CombinedOutput(); err != nil {
		t.Errorf("promtool does not parse the expressions: %v\n%s", err, out)
	}
}

// manifests reads every YAML document of the files in deploy/kubernetes,
// keyed by "Kind/name".
func manifests(t *testing.T) map[string]map[string]any {
	t.Helper()
	files, err := filepath.Glob("kubernetes/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	docs := map[string]map[string]any{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for {
			var doc map[string]any
			if err := dec.Decode(&doc); err == io.EOF {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			kind, _ := doc["kind"].(string)
			name, _ := dig(doc, "metadata", "name").(string)
			if kind == "" || name == "" || doc["apiVersion"] == nil {
				t.Fatalf("%s: document without apiVersion, kind or metadata.name", f)
			}
			docs[kind+"/"+name] = doc
		}
	}
	return docs
}

// dig follows keys (string for maps, int for lists) through decoded YAML.
func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func TestKubernetes(t *testing.T) {
	docs := manifests(t)
	for _, want := range []string{"Deployment/compressq-worker", "Service/compressq-worker", "Deployment/compressq-api",
		"Service/compressq-api", "ConfigMap/compressq", "Secret/compressq", "ScaledObject/compressq-worker"} {
		if docs[want] == nil {
			t.Errorf("no %s in deploy/kubernetes", want)
		}
	}
	// The worker's configuration as the ConfigMap gives it.
	var cfg struct {
		Worker struct {
			ShutdownTimeout string `yaml:"shutdown_timeout"`
			HTTPAddr        string `yaml:"http_addr"`
			Concurrency     int    `yaml:"concurrency"`
		} `yaml:"worker"`
	}
	raw, _ := dig(docs["ConfigMap/compressq"], "data", "config.yaml").(string)
	if err := yaml.Unmarshal([]byte(raw), &cfg); err != nil {
		t.Fatalf("ConfigMap config.yaml: %v", err)
	}
	shutdown, err := time.ParseDuration(cfg.Worker.ShutdownTimeout)
	if err != nil {
		t.Fatalf("ConfigMap worker.shutdown_timeout: %v", err)
	}

	w := docs["Deployment/compressq-worker"]
	spec := dig(w, "spec", "template", "spec")
	c := dig(spec, "containers", 0)
	grace, _ := dig(spec, "terminationGracePeriodSeconds").(int)
	if time.Duration(grace)*time.Second <= shutdown+5*time.Second {
		t.Errorf("terminationGracePeriodSeconds %d does not exceed shutdown_timeout %v + 5s of HTTP shutdown", grace, shutdown)
	}
	for _, tc := range []struct {
		what string
		path []any
		want any
	}{
		{"readiness path", []any{"readinessProbe", "httpGet", "path"}, "/readyz"},
		{"liveness path", []any{"livenessProbe", "httpGet", "path"}, "/healthz"},
		{"probe port", []any{"readinessProbe", "httpGet", "port"}, "metrics"},
		{"metrics port", []any{"ports", 0, "containerPort"}, portOf(t, cfg.Worker.HTTPAddr)},
		{"command", []any{"args", 0}, "worker"},
		{"CPU request", []any{"resources", "requests", "cpu"}, strconv.Itoa(cfg.Worker.Concurrency)},
	} {
		if got := dig(c, tc.path...); got != tc.want {
			t.Errorf("worker %s: %v, want %v", tc.what, got, tc.want)
		}
	}
	if dig(c, "resources", "limits", "memory") == nil {
		t.Error("worker has no memory limit")
	}
	env := map[string]any{}
	envList, _ := dig(c, "env").([]any)
	for _, e := range envList {
		env[dig(e, "name").(string)] = e
	}
	if dig(env["COMPRESSQ_REDIS_URL"], "valueFrom", "secretKeyRef", "name") != "compressq" {
		t.Errorf("COMPRESSQ_REDIS_URL does not come from the compressq Secret: %v", env["COMPRESSQ_REDIS_URL"])
	}
	if dig(env["COMPRESSQ_CONFIG"], "value") != dig(c, "volumeMounts", 0, "mountPath").(string)+"/config.yaml" {
		t.Errorf("COMPRESSQ_CONFIG %v is not the mounted ConfigMap", env["COMPRESSQ_CONFIG"])
	}

	svc := docs["Service/compressq-worker"]
	if dig(svc, "spec", "ports", 0, "name") != "metrics" || dig(svc, "spec", "selector", "app.kubernetes.io/name") != "compressq-worker" {
		t.Errorf("worker Service does not select the workers' metrics port: %v", dig(svc, "spec"))
	}

	so := docs["ScaledObject/compressq-worker"]
	if dig(so, "spec", "scaleTargetRef", "name") != "compressq-worker" {
		t.Error("ScaledObject does not target the worker Deployment")
	}
	query, _ := dig(so, "spec", "triggers", 0, "metadata", "query").(string)
	if u, n := unknownMetrics(query, metricNames(t)); n == 0 || len(u) > 0 || !strings.Contains(query, "pending|active") {
		t.Errorf("KEDA query %q: want pending+active from compressq_queue_tasks (unknown %v)", query, u)
	}
	checkExprs(t, []string{query})
	if th := dig(so, "spec", "triggers", 0, "metadata", "threshold"); th != strconv.Itoa(cfg.Worker.Concurrency) {
		t.Errorf("KEDA threshold %v, want worker.concurrency %d", th, cfg.Worker.Concurrency)
	}
	if min, _ := dig(so, "spec", "minReplicaCount").(int); min < 1 {
		t.Errorf("minReplicaCount %d: the Prometheus trigger needs a worker to export queue metrics", min)
	}

	api := dig(docs["Deployment/compressq-api"], "spec", "template", "spec", "containers", 0)
	if dig(api, "args", 0) != "api" || dig(api, "readinessProbe") == nil || dig(api, "livenessProbe") == nil {
		t.Errorf("API container: args %v, probes %v/%v", dig(api, "args"), dig(api, "readinessProbe"), dig(api, "livenessProbe"))
	}
}

func portOf(t *testing.T, addr string) int {
	t.Helper()
	i := strings.LastIndex(addr, ":")
	p, err := strconv.Atoi(addr[i+1:])
	if err != nil {
		t.Fatalf("http_addr %q: %v", addr, err)
	}
	return p
}

func TestSystemdUnit(t *testing.T) {
	b, err := os.ReadFile("systemd/compressq-worker.service")
	if err != nil {
		t.Fatal(err)
	}
	kv := map[string][]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			kv[k] = append(kv[k], v)
		}
	}
	for _, tc := range []struct{ key, want string }{
		{"Restart", "on-failure"}, {"KillSignal", "SIGTERM"}, {"NoNewPrivileges", "yes"},
		{"ProtectSystem", "strict"}, {"ProtectHome", "yes"}, {"PrivateTmp", "yes"}, {"DynamicUser", "yes"},
		{"CapabilityBoundingSet", ""}, {"RestartPreventExitStatus", "2"},
	} {
		if got := kv[tc.key]; len(got) != 1 || got[0] != tc.want {
			t.Errorf("%s=%v, want %q", tc.key, got, tc.want)
		}
	}
	stop, err := strconv.Atoi(strings.Join(kv["TimeoutStopSec"], ""))
	if err != nil {
		t.Fatalf("TimeoutStopSec: %v", err)
	}
	if time.Duration(stop)*time.Second <= configs.DefaultShutdownTimeout+5*time.Second {
		t.Errorf("TimeoutStopSec=%d does not exceed the default shutdown_timeout %v + 5s", stop, configs.DefaultShutdownTimeout)
	}
	if exec := strings.Join(kv["ExecStart"], ""); !strings.Contains(exec, "compressq worker") {
		t.Errorf("ExecStart=%s does not run the worker", exec)
	}
}

// TestMetricsLint scrapes a real worker after it ran tasks (so every label
// combination a run creates exists) and lints the exposition with promtool.
func TestMetricsLint(t *testing.T) {
	if testing.Short() {
		t.Skip("starts redis-server and a worker")
	}
	promtool := requirePromtool(t)
	srv := redistest.Start(t)
	cfg := configs.Default()
	cfg.Redis.URL = srv.URL()
	cfg.Artifacts.Root = t.TempDir()
	cfg.Worker.Concurrency = 2
	cfg.Worker.HTTPAddr = "127.0.0.1:0"
	cfg.Worker.ShutdownTimeout = 5 * time.Second
	cfg.Log.Level = "warn"
	rc, err := rdb.Open(cfg.Redis)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	ctx := context.Background()
	store, err := artifact.Open(ctx, cfg.Artifacts.Root, nil, cfg.Artifacts.MaxBytes)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	w, err := worker.New(worker.Options{Config: cfg, Redis: rc, Store: store})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	p := producer.New(rc, rdb.NewStore(rc, cfg.Jobs.StateTTL), worker.Defaults(cfg))
	defer p.Close()
	runCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := w.Run(runCtx); err != nil {
			t.Errorf("worker.Run: %v", err)
		}
	})
	defer wg.Wait()
	defer cancel()

	specs := []string{
		`{"type":"debug:sleep","payload":{"v":1}}`,
		`{"type":"debug:sleep","payload":{"v":1}}`,
		`{"type":"debug:sleep","options":{"max_retry":0},"payload":{"v":1,"fail":"deliberate"}}`,
	}
	var ids []string
	for _, s := range specs {
		spec, err := producer.ParseSpec([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		id, err := p.Submit(ctx, spec)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	deadline := time.Now().Add(30 * time.Second)
	for i, id := range ids {
		for {
			st, err := p.Status(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			want := rdb.StatusSucceeded
			if i == 2 {
				want = rdb.StatusFailed
			}
			if st.Status == want {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("job %d (%s) is %s, want %s", i, id, st.Status, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	client := &http.Client{Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	resp, err := client.Get(fmt.Sprintf("http://%s/metrics", w.HTTPAddr()))
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d, %v", resp.StatusCode, err)
	}
	for _, want := range []string{
		`compressq_tasks_total{outcome="success",queue="default",type="debug:sleep"} 2`,
		`compressq_tasks_total{outcome="archived",queue="default",type="debug:sleep"} 1`,
		`compressq_task_duration_seconds_count{type="debug:sleep"} 3`,
		`compressq_task_wait_seconds_count{type="debug:sleep"} 3`,
		`compressq_queue_inspector_up 1`,
		`compressq_queue_tasks{queue="default",state="archived"} 1`,
	} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("scrape lacks %q", want)
		}
	}

	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}
