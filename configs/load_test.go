package configs

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/v2"
	"github.com/spf13/pflag"
)

func TestExampleFileMatchesDefault(t *testing.T) {
	b, err := os.ReadFile("example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got, err := load(source{fileName: "example.yaml", file: b})
	if err != nil {
		t.Fatalf("load example.yaml: %v", err)
	}
	want := Default()
	// The documented differences: the example names a Redis server and
	// shows per-type timeouts; its empty read_roots list decodes as empty.
	want.Redis.URL = "redis://127.0.0.1:6379/0"
	want.Worker.TaskTimeouts = map[string]time.Duration{"train": 2 * time.Hour, "nas:eval": 30 * time.Minute}
	if got.Artifacts.ReadRoots == nil || len(got.Artifacts.ReadRoots) != 0 {
		t.Errorf("read_roots = %#v, want an empty list", got.Artifacts.ReadRoots)
	}
	got.Artifacts.ReadRoots = nil
	if len(got.Redis.Sentinel.Addrs) != 0 || len(got.Redis.Cluster.Addrs) != 0 {
		t.Errorf("sentinel/cluster addrs = %q / %q, want empty lists", got.Redis.Sentinel.Addrs, got.Redis.Cluster.Addrs)
	}
	got.Redis.Sentinel.Addrs, got.Redis.Cluster.Addrs = nil, nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("example.yaml differs from Default() beyond the documented differences:\n got %+v\nwant %+v", got, want)
	}
}

func TestExampleFileDocumentsEveryKey(t *testing.T) {
	b, err := os.ReadFile("example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	kf := koanf.New(".")
	if err := kf.Load(bytesProvider(b), yaml.Parser()); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	for _, key := range keys {
		if !kf.Exists(key) {
			t.Errorf("example.yaml lacks key %s", key)
			continue
		}
		// The line before the key's line must be a comment.
		leaf := key[strings.LastIndex(key, ".")+1:]
		found := false
		for i, l := range lines {
			if strings.HasPrefix(strings.TrimSpace(l), leaf+":") && i > 0 {
				prev := strings.TrimSpace(lines[i-1])
				found = strings.HasPrefix(prev, "#")
				break
			}
		}
		if !found {
			t.Errorf("example.yaml: key %s has no comment above it", key)
		}
	}
}

func TestEnvNamesCoverEveryKey(t *testing.T) {
	want := map[string]string{
		"COMPRESSQ_REDIS_URL":                  "redis.url",
		"COMPRESSQ_REDIS_INSECURE_SKIP_VERIFY": "redis.insecure_skip_verify",
		"COMPRESSQ_WORKER_SHUTDOWN_TIMEOUT":    "worker.shutdown_timeout",
		"COMPRESSQ_WORKER_QUEUES":              "worker.queues",
		"COMPRESSQ_WORKER_TASK_TIMEOUTS":       "worker.task_timeouts",
		"COMPRESSQ_ARTIFACTS_READ_ROOTS":       "artifacts.read_roots",
		"COMPRESSQ_API_MAX_BODY_BYTES":         "api.max_body_bytes",
	}
	for env, key := range want {
		if got := envKeys[env]; got != key {
			t.Errorf("env %s maps to %q, want %q", env, got, key)
		}
	}
	if len(envKeys) != len(keys) {
		t.Errorf("%d env names for %d keys", len(envKeys), len(keys))
	}
}

func TestLoadLayers(t *testing.T) {
	file := []byte(`
redis:
  url: redis://file:6379/1
worker:
  concurrency: 3
  shutdown_timeout: 45s
  queues:
    gpu: 2
    default: 1
  task_timeouts:
    train: 2h
log:
  level: warn
`)
	tests := []struct {
		name    string
		file    []byte
		environ []string
		flags   []string
		check   func(t *testing.T, c Config)
	}{
		{
			name: "defaults only",
			check: func(t *testing.T, c Config) {
				if !reflect.DeepEqual(c, Default()) {
					t.Errorf("got %+v, want Default()", c)
				}
			},
		},
		{
			name: "file over defaults; file map replaces default map",
			file: file,
			check: func(t *testing.T, c Config) {
				eq(t, "redis.url", c.Redis.URL, "redis://file:6379/1")
				eq(t, "worker.concurrency", c.Worker.Concurrency, 3)
				eq(t, "worker.shutdown_timeout", c.Worker.ShutdownTimeout, 45*time.Second)
				eq(t, "worker.queues", c.Worker.Queues, map[string]int{"gpu": 2, "default": 1})
				eq(t, "worker.task_timeouts", c.Worker.TaskTimeouts, map[string]time.Duration{"train": 2 * time.Hour})
				eq(t, "log.level", c.Log.Level, "warn")
				eq(t, "worker.task_timeout (untouched default)", c.Worker.TaskTimeout, time.Hour)
				eq(t, "jobs.queue (untouched default)", c.Jobs.Queue, "default")
			},
		},
		{
			name: "env over file; env map replaces file map",
			file: file,
			environ: []string{
				"COMPRESSQ_REDIS_URL=redis://env:6379/2",
				"COMPRESSQ_WORKER_SHUTDOWN_TIMEOUT=1m",
				"COMPRESSQ_WORKER_QUEUES=critical=6, default=3",
				"COMPRESSQ_WORKER_STRICT_PRIORITY=true",
				"COMPRESSQ_ARTIFACTS_READ_ROOTS=/zoo, s3://models?region=x",
				"COMPRESSQ_ARTIFACTS_MAX_BYTES=4096",
				"COMPRESSQ_API_TOKEN=tok",
				"COMPRESSQ_KERNELS_PUREGO=1", // someone else's variable: ignored
				"OTHER_LOG_LEVEL=debug",
			},
			check: func(t *testing.T, c Config) {
				eq(t, "redis.url", c.Redis.URL, "redis://env:6379/2")
				eq(t, "worker.concurrency (file)", c.Worker.Concurrency, 3)
				eq(t, "worker.shutdown_timeout", c.Worker.ShutdownTimeout, time.Minute)
				eq(t, "worker.queues", c.Worker.Queues, map[string]int{"critical": 6, "default": 3})
				eq(t, "worker.strict_priority", c.Worker.StrictPriority, true)
				eq(t, "artifacts.read_roots", c.Artifacts.ReadRoots, []string{"/zoo", "s3://models?region=x"})
				eq(t, "artifacts.max_bytes", c.Artifacts.MaxBytes, int64(4096))
				eq(t, "api.token", c.API.Token, "tok")
				eq(t, "log.level (file)", c.Log.Level, "warn")
			},
		},
		{
			name:    "flags over env over file",
			file:    file,
			environ: []string{"COMPRESSQ_WORKER_CONCURRENCY=5", "COMPRESSQ_LOG_LEVEL=error", "COMPRESSQ_LOG_FORMAT=json"},
			flags:   []string{"--concurrency=8", "--log-level=debug", "--redis-url=redis://flag:1/0", "--http-addr=", "--artifacts=mem://", "--api-addr=:8081"},
			check: func(t *testing.T, c Config) {
				eq(t, "worker.concurrency", c.Worker.Concurrency, 8)
				eq(t, "log.level", c.Log.Level, "debug")
				eq(t, "log.format (env)", c.Log.Format, "json")
				eq(t, "redis.url", c.Redis.URL, "redis://flag:1/0")
				eq(t, "worker.http_addr", c.Worker.HTTPAddr, "")
				eq(t, "artifacts.root", c.Artifacts.Root, "mem://")
				eq(t, "api.addr", c.API.Addr, ":8081")
				eq(t, "worker.shutdown_timeout (file)", c.Worker.ShutdownTimeout, 45*time.Second)
			},
		},
		{
			name:    "unset flags do not override",
			environ: []string{"COMPRESSQ_LOG_LEVEL=error", "COMPRESSQ_WORKER_HTTP_ADDR=0.0.0.0:9999"},
			flags:   []string{},
			check: func(t *testing.T, c Config) {
				eq(t, "log.level", c.Log.Level, "error")
				eq(t, "worker.http_addr", c.Worker.HTTPAddr, "0.0.0.0:9999")
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var fs *pflag.FlagSet
			if tt.flags != nil {
				fs = pflag.NewFlagSet("test", pflag.ContinueOnError)
				BindFlags(fs)
				BindRedisFlags(fs)
				BindArtifactFlags(fs)
				BindWorkerFlags(fs)
				BindAPIFlags(fs)
				if err := fs.Parse(tt.flags); err != nil {
					t.Fatal(err)
				}
			}
			c, err := load(source{fileName: "test.yaml", file: tt.file, environ: tt.environ, flags: fs})
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			tt.check(t, c)
		})
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		environ []string
		want    []string // substrings, all must appear
	}{
		{"unknown keys", "worker:\n  concurency: 2\nfoo: 1\n", nil,
			[]string{`config file "c.yaml": unknown key "foo"`, `config file "c.yaml": unknown key "worker.concurency"`}},
		{"section as scalar", "worker: 5\n", nil, []string{`key "worker" must be a mapping`}},
		{"not a mapping", "- a\n", nil, []string{`config file "c.yaml"`}},
		{"bad yaml", "worker: [\n", nil, []string{`config file "c.yaml"`}},
		{"wrong type", "worker:\n  concurrency: many\n", nil, []string{`worker.concurrency: value "many"`}},
		{"bare number duration", "worker:\n  shutdown_timeout: 30\n", nil, []string{`worker.shutdown_timeout: 30 is a bare number: want a duration string such as "30s"`}},
		{"bad duration", "jobs:\n  retention: 1y\n", nil, []string{"jobs.retention", `"1y"`}},
		{"dotted queue", "worker:\n  queues:\n    a.b: 1\n", nil, []string{`"worker.queues.a.b"`}},
		{"fraction for an integer", "api:\n  max_body_bytes: 1.5\n", nil, []string{`config file "c.yaml": api.max_body_bytes: 1.5 is not a whole number`}},
		{"every layer at once", "foo: 1\n", []string{"COMPRESSQ_WORKER_CONCURRENCY=x"},
			[]string{`config file "c.yaml": unknown key "foo"`, `COMPRESSQ_WORKER_CONCURRENCY (worker.concurrency): "x"`}},
		{"validation after merge", "worker:\n  concurrency: -3\n", nil, []string{"invalid configuration", "worker.concurrency: -3 must be >= 0"}},
		{"env int", "", []string{"COMPRESSQ_WORKER_CONCURRENCY=lots"}, []string{`COMPRESSQ_WORKER_CONCURRENCY (worker.concurrency): "lots"`}},
		{"env duration", "", []string{"COMPRESSQ_JOBS_STATE_TTL=7d"}, []string{`COMPRESSQ_JOBS_STATE_TTL (jobs.state_ttl): "7d"`}},
		{"env bool", "", []string{"COMPRESSQ_WORKER_STRICT_PRIORITY=sure"}, []string{"COMPRESSQ_WORKER_STRICT_PRIORITY"}},
		{"env map entry", "", []string{"COMPRESSQ_WORKER_QUEUES=critical:6"}, []string{`entry "critical:6": want name=value`}},
		{"env map value", "", []string{"COMPRESSQ_WORKER_QUEUES=critical=x"}, []string{`COMPRESSQ_WORKER_QUEUES (worker.queues)`, `entry "critical=x"`}},
		{"env several", "", []string{"COMPRESSQ_WORKER_CONCURRENCY=x", "COMPRESSQ_API_MAX_BODY_BYTES=y"},
			[]string{"COMPRESSQ_WORKER_CONCURRENCY", "COMPRESSQ_API_MAX_BODY_BYTES"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var file []byte
			if tt.file != "" {
				file = []byte(tt.file)
			}
			_, err := load(source{fileName: "c.yaml", file: file, environ: tt.environ})
			if err == nil {
				t.Fatal("load succeeded, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// TestLoadFromProcess goes through Load itself: the file named by
// COMPRESSQ_CONFIG or --config, and the real environment.
func TestLoadFromProcess(t *testing.T) {
	dir := t.TempDir()
	envFile := filepath.Join(dir, "env.yaml")
	flagFile := filepath.Join(dir, "flag.yaml")
	if err := os.WriteFile(envFile, []byte("log:\n  level: warn\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(flagFile, []byte("log:\n  level: error\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvConfig, envFile)
	t.Setenv("COMPRESSQ_LOG_FORMAT", "json")

	c, err := Load(nil)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "log.level from COMPRESSQ_CONFIG file", c.Log.Level, "warn")
	eq(t, "log.format from env", c.Log.Format, "json")

	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	BindFlags(fs)
	if err := fs.Parse([]string{"--config", flagFile}); err != nil {
		t.Fatal(err)
	}
	c, err = Load(fs)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "log.level from --config file", c.Log.Level, "error")

	t.Setenv(EnvConfig, filepath.Join(dir, "missing.yaml"))
	if _, err := Load(nil); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("Load with a missing file: %v, want an error naming it", err)
	}
}

func TestLoadWithForeignFlagSet(t *testing.T) {
	// A flag set without BindFlags, or with unrelated flags, is fine.
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	fs.Int("port", 1, "")
	if err := fs.Parse([]string{"--port=2"}); err != nil {
		t.Fatal(err)
	}
	c, err := load(source{flags: fs})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, Default()) {
		t.Errorf("an unrelated flag changed the config: %+v", c)
	}
}

func FuzzLoadYAML(f *testing.F) {
	if b, err := os.ReadFile("example.yaml"); err == nil {
		f.Add(b)
	}
	for _, s := range []string{
		"", "worker: 5\n", "worker:\n  queues:\n    a.b: 1\n", "- a\n", "redis:\n",
		"worker:\n  shutdown_timeout: 30\n", "worker:\n  task_timeouts:\n    x: [1]\n",
		"artifacts:\n  read_roots: [a, {b: c}]\n", "api: {addr: ':1', max_body_bytes: 1.5}\n",
		"log: &a {level: *a}\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := load(source{fileName: "fuzz.yaml", file: b})
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		if verr := c.Validate(); verr != nil {
			t.Fatalf("load returned a config that does not validate: %v", verr)
		}
	})
}

func eq[T any](t *testing.T, name string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s = %#v, want %#v", name, got, want)
	}
}
