package configs

import (
	"bytes"
	"log/slog"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestDefaultIsValid(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v", err)
	}
}

func TestDefaultValues(t *testing.T) {
	d := Default()
	checks := []struct {
		name      string
		got, want any
	}{
		{"worker.queues.critical", d.Worker.Queues["critical"], 6},
		{"worker.queues.default", d.Worker.Queues["default"], 3},
		{"worker.queues.sweep", d.Worker.Queues["sweep"], 2},
		{"worker.queues.low", d.Worker.Queues["low"], 1},
		{"len(worker.queues)", len(d.Worker.Queues), 4},
		{"worker.shutdown_timeout", d.Worker.ShutdownTimeout, 30 * time.Second},
		{"worker.http_addr", d.Worker.HTTPAddr, "127.0.0.1:9090"},
		{"worker.task_timeout", d.Worker.TaskTimeout, time.Hour},
		{"worker.lease_retry_delay", d.Worker.LeaseRetryDelay, 5 * time.Second},
		{"worker.retry_delay_max", d.Worker.RetryDelayMax, 10 * time.Minute},
		{"worker.task_check_interval", d.Worker.TaskCheckInterval, 100 * time.Millisecond},
		{"artifacts.root", d.Artifacts.Root, "./artifacts"},
		{"artifacts.max_bytes", d.Artifacts.MaxBytes, int64(1 << 30)},
		{"jobs.state_ttl", d.Jobs.StateTTL, 168 * time.Hour},
		{"jobs.retention", d.Jobs.Retention, 24 * time.Hour},
		{"jobs.max_retry", d.Jobs.MaxRetry, 5},
		{"jobs.queue", d.Jobs.Queue, "default"},
		{"api.addr", d.API.Addr, "127.0.0.1:8080"},
		{"api.max_body_bytes", d.API.MaxBodyBytes, int64(1 << 20)},
		{"log.level", d.Log.Level, "info"},
		{"log.format", d.Log.Format, "text"},
		{"redis.url", d.Redis.URL, ""},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	// Fresh maps per call: changing one Default must not change the next.
	d.Worker.Queues["critical"] = 100
	if Default().Worker.Queues["critical"] != 6 {
		t.Error("Default() shares its queues map between calls")
	}
}

func TestEffectiveConcurrency(t *testing.T) {
	if got := (Worker{Concurrency: 7}).EffectiveConcurrency(); got != 7 {
		t.Errorf("EffectiveConcurrency(7) = %d", got)
	}
	if got, want := (Worker{}).EffectiveConcurrency(), runtime.GOMAXPROCS(0); got != want {
		t.Errorf("EffectiveConcurrency(0) = %d, want GOMAXPROCS %d", got, want)
	}
}

func TestTimeoutFor(t *testing.T) {
	w := Worker{TaskTimeout: time.Hour, TaskTimeouts: map[string]time.Duration{"train": 2 * time.Hour}}
	tests := []struct {
		typ  string
		want time.Duration
	}{
		{"train", 2 * time.Hour},
		{"compress:prune", time.Hour},
	}
	for _, tt := range tests {
		if got := w.TimeoutFor(tt.typ); got != tt.want {
			t.Errorf("TimeoutFor(%q) = %v, want %v", tt.typ, got, tt.want)
		}
	}
}

func TestRedacted(t *testing.T) {
	c := Default()
	c.Redis.URL = "rediss://app:s3cret@redis.example:6380/2"
	c.Worker.MetricsToken = "metrics-secret"
	c.API.Token = "api-secret"
	r := c.Redacted()
	if want := "rediss://app:xxxxx@redis.example:6380/2"; r.Redis.URL != want {
		t.Errorf("Redacted URL = %q, want %q", r.Redis.URL, want)
	}
	if r.Worker.MetricsToken != "xxxxx" || r.API.Token != "xxxxx" {
		t.Errorf("tokens not redacted: %q, %q", r.Worker.MetricsToken, r.API.Token)
	}
	if c.Redis.URL != "rediss://app:s3cret@redis.example:6380/2" || c.API.Token != "api-secret" {
		t.Error("Redacted changed the original")
	}
	r.Worker.Queues["critical"] = 99
	if c.Worker.Queues["critical"] != 6 {
		t.Error("Redacted shares the queues map with the original")
	}
	tests := []struct{ in, want string }{
		{"", ""},
		{"redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"},
		{"redis://:pw@h:1", "redis://:xxxxx@h:1"},
		{"redis://user@h:1", "redis://user@h:1"},
		{"redis://u:p@h:1/%zz", "xxxxx"}, // does not parse: hidden whole
	}
	for _, tt := range tests {
		if got := redactURL(tt.in); got != tt.want {
			t.Errorf("redactURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if z := (Config{}).Redacted(); z.API.Token != "" || z.Worker.MetricsToken != "" {
		t.Error("empty tokens must stay empty")
	}
}

func TestLogger(t *testing.T) {
	tests := []struct {
		log       Log
		wantLevel slog.Level
		wantJSON  bool
	}{
		{Log{Level: "debug", Format: "text"}, slog.LevelDebug, false},
		{Log{Level: "INFO", Format: "json"}, slog.LevelInfo, true},
		{Log{Level: "warn", Format: "text"}, slog.LevelWarn, false},
		{Log{Level: "error", Format: "JSON"}, slog.LevelError, true},
	}
	for _, tt := range tests {
		if got := tt.log.SlogLevel(); got != tt.wantLevel {
			t.Errorf("%+v SlogLevel = %v, want %v", tt.log, got, tt.wantLevel)
		}
		var buf bytes.Buffer
		l := tt.log.NewLogger(&buf)
		l.Log(t.Context(), tt.wantLevel-1, "below")
		l.Log(t.Context(), tt.wantLevel, "at")
		out := buf.String()
		if strings.Contains(out, "below") || !strings.Contains(out, "at") {
			t.Errorf("%+v: level filter wrong, output %q", tt.log, out)
		}
		if got := strings.HasPrefix(out, "{"); got != tt.wantJSON {
			t.Errorf("%+v: JSON output = %v, want %v: %q", tt.log, got, tt.wantJSON, out)
		}
	}
}

func TestRedisTarget(t *testing.T) {
	tests := []struct {
		name string
		r    Redis
		want Target
	}{
		{"one server", Redis{URL: "redis://u:p@h:6380/2"}, Target{Mode: RedisStandalone, Addrs: []string{"h:6380"}, DB: 2, Username: "u", Password: "p"}},
		{"default port", Redis{URL: "rediss://h"}, Target{Mode: RedisStandalone, Addrs: []string{"h:6379"}, TLS: true}},
		{"sentinel url", Redis{URL: "redis-sentinel://:p@a:26379,b:26380/mymaster/3", Sentinel: RedisSentinel{Password: "sp"}},
			Target{Mode: RedisSentinelMode, Addrs: []string{"a:26379", "b:26380"}, MasterName: "mymaster", DB: 3, Password: "p", SentinelPassword: "sp"}},
		{"sentinel keys", Redis{Password: "p", TLS: true, Sentinel: RedisSentinel{MasterName: "m", Addrs: []string{"a:1"}, Username: "su"}},
			Target{Mode: RedisSentinelMode, Addrs: []string{"a:1"}, MasterName: "m", Password: "p", SentinelUsername: "su", TLS: true}},
		{"cluster url", Redis{URL: "rediss-cluster://u:p@a:7000,b:7001", Password: "q"},
			Target{Mode: RedisClusterMode, Addrs: []string{"a:7000", "b:7001"}, Username: "u", Password: "q", TLS: true}},
		{"cluster keys", Redis{Cluster: RedisCluster{Addrs: []string{"a:7000"}}, CAFile: "ca.pem"},
			Target{Mode: RedisClusterMode, Addrs: []string{"a:7000"}, TLS: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.r.Target()
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Target() = %+v, want %+v", got, tt.want)
			}
			if !tt.r.Configured() {
				t.Error("Configured() = false")
			}
		})
	}
	if (Redis{}).Configured() {
		t.Error("empty Redis: Configured() = true")
	}
}

func TestRedactedRedisSecrets(t *testing.T) {
	c := Default()
	c.Redis.URL = "redis-sentinel://app:s3cret@a:26379,b:26379/m"
	c.Redis.Password, c.Redis.Sentinel.Password = "pw", "spw"
	r := c.Redacted()
	if r.Redis.URL != "redis-sentinel://app:xxxxx@a:26379,b:26379/m" || r.Redis.Password != "xxxxx" || r.Redis.Sentinel.Password != "xxxxx" {
		t.Errorf("Redacted Redis = %+v", r.Redis)
	}
	if c.Redis.Password != "pw" {
		t.Error("Redacted changed its receiver")
	}
}
