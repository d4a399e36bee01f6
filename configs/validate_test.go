package configs

import (
	"strings"
	"testing"
	"time"
)

func TestValidateEachProblem(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		want   string // substring of the error; "" = valid
	}{
		{"default", func(*Config) {}, ""},
		{"redis url ok", func(c *Config) { c.Redis.URL = "rediss://u:p@redis.example:6380/3" }, ""},
		{"redis url scheme", func(c *Config) { c.Redis.URL = "http://h:1" }, `redis.url: scheme "http" not supported`},
		{"redis url no host", func(c *Config) { c.Redis.URL = "redis:///0" }, `redis.url: "redis:///0" has no host`},
		{"redis url db", func(c *Config) { c.Redis.URL = "redis://h:1/x" }, `redis.url: "redis://h:1/x" has database "x"`},
		{"redis url port", func(c *Config) { c.Redis.URL = "redis://h:99999" }, `has port "99999"`},
		{"redis url password hidden", func(c *Config) { c.Redis.URL = "redis://u:topsecret@h:1/x" }, `"redis://u:xxxxx@h:1/x"`},
		{"sentinel url ok", func(c *Config) { c.Redis.URL = "redis-sentinel://u:p@h1:26379,h2:26379/mymaster/2" }, ""},
		{"sentinel url no master", func(c *Config) { c.Redis.URL = "redis-sentinel://h1:26379,h2:26379" }, `redis.url: "redis-sentinel://h1:26379,h2:26379" has no master name`},
		{"sentinel url db", func(c *Config) { c.Redis.URL = "redis-sentinel://h1:26379/m/x" }, `has database "x"`},
		{"sentinel url bad addr", func(c *Config) { c.Redis.URL = "redis-sentinel://h2,h1:26379/m" }, `redis.url: "redis-sentinel://h2,h1:26379/m": address "h2" is not host:port`},
		{"cluster url ok", func(c *Config) { c.Redis.URL = "rediss-cluster://h1:7000,h2:7001" }, ""},
		{"cluster url db", func(c *Config) { c.Redis.URL = "redis-cluster://h1:7000/1" }, `a cluster has only database 0`},
		{"url query", func(c *Config) { c.Redis.URL = "redis://h:1/0?dial_timeout=3s" }, "has query parameters"},
		{"one server, several hosts", func(c *Config) { c.Redis.URL = "redis://h1:1,h2:2" }, `names several hosts`},
		{"sentinel keys ok", func(c *Config) {
			c.Redis.Sentinel = RedisSentinel{MasterName: "m", Addrs: []string{"h1:26379"}, Password: "s"}
		}, ""},
		{"sentinel keys no master", func(c *Config) { c.Redis.Sentinel.Addrs = []string{"h1:26379"} }, "redis.sentinel.master_name: empty"},
		{"sentinel keys no addrs", func(c *Config) { c.Redis.Sentinel.MasterName = "m" }, "redis.sentinel.addrs: empty"},
		{"sentinel keys bad addr", func(c *Config) { c.Redis.Sentinel = RedisSentinel{MasterName: "m", Addrs: []string{"h1:port"}} }, `redis.sentinel.addrs: address "h1:port" has port "port"`},
		{"cluster keys ok", func(c *Config) { c.Redis.Cluster.Addrs = []string{"[::1]:7000", "h:7001"} }, ""},
		{"cluster keys bad", func(c *Config) { c.Redis.Cluster.Addrs = []string{":7000"} }, `redis.cluster.addrs: address ":7000" has no host`},
		{"url and cluster", func(c *Config) { c.Redis.URL = "redis://h:1"; c.Redis.Cluster.Addrs = []string{"h:2"} }, "redis.cluster.addrs: set together with redis.url"},
		{"sentinel and cluster", func(c *Config) {
			c.Redis.Sentinel = RedisSentinel{MasterName: "m", Addrs: []string{"h1:26379"}}
			c.Redis.Cluster.Addrs = []string{"h:2"}
		}, "redis.cluster.addrs: set together with redis.sentinel"},
		{"tls key enables tls", func(c *Config) { c.Redis.URL = "redis://h:1"; c.Redis.TLS = true; c.Redis.InsecureSkipVerify = true }, ""},
		{"wait replicas", func(c *Config) { c.Redis.WaitReplicas = -1 }, "redis.wait_replicas: -1 must be >= 0"},
		{"wait timeout", func(c *Config) { c.Redis.WaitReplicas = 1; c.Redis.WaitTimeout = 0 }, "redis.wait_timeout: 0s must be > 0"},
		{"redis cert without key", func(c *Config) { c.Redis.CertFile = "c.pem" }, `redis.cert_file: "c.pem" and redis.key_file "" must be set together`},
		{"redis insecure without tls", func(c *Config) { c.Redis.InsecureSkipVerify = true }, "redis.insecure_skip_verify"},
		{"redis timeout", func(c *Config) { c.Redis.ReadTimeout = -time.Second }, "redis.read_timeout: -1s must be >= 0"},
		{"redis pool", func(c *Config) { c.Redis.PoolSize = -1 }, "redis.pool_size: -1 must be >= 0"},
		{"concurrency", func(c *Config) { c.Worker.Concurrency = -3 }, "worker.concurrency: -3 must be >= 0"},
		{"queues empty", func(c *Config) { c.Worker.Queues = nil }, "worker.queues: empty"},
		{"queue weight", func(c *Config) { c.Worker.Queues["low"] = 0 }, "worker.queues.low: weight 0 must be > 0"},
		{"queue name dot", func(c *Config) { c.Worker.Queues["a.b"] = 1 }, "worker.queues.a.b: queue names must not contain '.'"},
		{"queue name empty", func(c *Config) { c.Worker.Queues[""] = 1 }, "worker.queues: a queue name is empty"},
		{"shutdown", func(c *Config) { c.Worker.ShutdownTimeout = -1 }, "worker.shutdown_timeout: -1ns must be >= 0"},
		{"http addr disabled", func(c *Config) { c.Worker.HTTPAddr = "" }, ""},
		{"http addr any host", func(c *Config) { c.Worker.HTTPAddr = ":9090" }, ""},
		{"http addr bad", func(c *Config) { c.Worker.HTTPAddr = "localhost" }, `worker.http_addr: "localhost" is not host:port`},
		{"http addr port", func(c *Config) { c.Worker.HTTPAddr = "h:http" }, `worker.http_addr: "h:http" has port "http"`},
		{"task timeout", func(c *Config) { c.Worker.TaskTimeout = -time.Minute }, "worker.task_timeout: -1m0s must be >= 0"},
		{"task timeouts", func(c *Config) { c.Worker.TaskTimeouts = map[string]time.Duration{"train": -time.Hour} }, "worker.task_timeouts.train: -1h0m0s must be >= 0"},
		{"lease retry", func(c *Config) { c.Worker.LeaseRetryDelay = -1 }, "worker.lease_retry_delay"},
		{"retry max", func(c *Config) { c.Worker.RetryDelayMax = -1 }, "worker.retry_delay_max"},
		{"artifacts root empty", func(c *Config) { c.Artifacts.Root = "" }, "artifacts.root: empty"},
		{"artifacts root url", func(c *Config) { c.Artifacts.Root = "s3://bucket?region=eu-west-1" }, ""},
		{"artifacts root bad url", func(c *Config) { c.Artifacts.Root = "://x" }, "artifacts.root"},
		{"artifacts read root", func(c *Config) { c.Artifacts.ReadRoots = []string{"/zoo", ""} }, "artifacts.read_roots[1]: empty"},
		{"artifacts max", func(c *Config) { c.Artifacts.MaxBytes = 0 }, "artifacts.max_bytes: 0 must be > 0"},
		{"state ttl", func(c *Config) { c.Jobs.StateTTL = -1 }, "jobs.state_ttl"},
		{"submit retry", func(c *Config) { c.Jobs.SubmitRetry = -1 }, "jobs.submit_retry"},
		{"retention", func(c *Config) { c.Jobs.Retention = -1 }, "jobs.retention"},
		{"max retry", func(c *Config) { c.Jobs.MaxRetry = -2 }, "jobs.max_retry: -2 must be >= 0"},
		{"jobs queue empty", func(c *Config) { c.Jobs.Queue = "" }, "jobs.queue: empty"},
		{"jobs queue unknown", func(c *Config) { c.Jobs.Queue = "gpu" }, `jobs.queue: "gpu" is not one of worker.queues (critical, default, low, sweep)`},
		{"api addr", func(c *Config) { c.API.Addr = "nope" }, `api.addr: "nope" is not host:port`},
		{"api body", func(c *Config) { c.API.MaxBodyBytes = -1 }, "api.max_body_bytes: -1 must be > 0"},
		{"log level", func(c *Config) { c.Log.Level = "verbose" }, `log.level: "verbose" unknown (want debug, info, warn or error)`},
		{"log level case", func(c *Config) { c.Log.Level = "WARN" }, ""},
		{"log format", func(c *Config) { c.Log.Format = "xml" }, `log.format: "xml" unknown (want text or json)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.change(&c)
			err := c.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want an error containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %q, want it to contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "topsecret") {
				t.Fatalf("Validate() leaks the password: %q", err)
			}
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	c := Default()
	c.Redis.URL = "http://h:1"
	c.Worker.Concurrency = -3
	c.Worker.Queues["low"] = -1
	c.Artifacts.MaxBytes = 0
	c.Log.Level = "loud"
	c.Log.Format = "xml"
	err := c.Validate()
	if err == nil {
		t.Fatal("Validate() = nil for a config with six problems")
	}
	lines := strings.Split(err.Error(), "\n")
	want := []string{
		`redis.url: scheme "http" not supported (want redis, rediss, redis-sentinel, rediss-sentinel, redis-cluster or rediss-cluster)`,
		"worker.concurrency: -3 must be >= 0",
		"worker.queues.low: weight -1 must be > 0",
		"artifacts.max_bytes: 0 must be > 0",
		`log.level: "loud" unknown (want debug, info, warn or error)`,
		`log.format: "xml" unknown (want text or json)`,
	}
	if len(lines) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%s", len(lines), len(want), err)
	}
	for i := range want {
		if lines[i] != want[i] {
			t.Errorf("problem %d = %q, want %q", i, lines[i], want[i])
		}
	}
}
