package configs

import (
	"io"
	"log/slog"
	"maps"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Config is the whole configuration of compressq: every process (worker,
// producer, API, local mode) reads the same struct and uses its part.
type Config struct {
	Redis     Redis     `koanf:"redis"`
	Worker    Worker    `koanf:"worker"`
	Artifacts Artifacts `koanf:"artifacts"`
	Jobs      Jobs      `koanf:"jobs"`
	API       API       `koanf:"api"`
	Log       Log       `koanf:"log"`
}

// Redis says how to reach the Redis deployment that coordinates everything:
// one server, a Sentinel-managed primary, or a Redis Cluster (see Target).
type Redis struct {
	// URL is "redis://[user:password@]host:port[/db]",
	// "redis-sentinel://[user:password@]h1:26379,h2:26379/master[/db]" or
	// "redis-cluster://[user:password@]h1:7000,h2:7001", each with a
	// "rediss" variant for TLS. Empty, with Sentinel and Cluster unset, means
	// an embedded in-process Redis, which only `compressq local` supports.
	URL string `koanf:"url"`
	// Username and Password authenticate to the data nodes, overriding the
	// URL's.
	Username string `koanf:"username"`
	Password string `koanf:"password"`
	// Sentinel names a Sentinel-managed primary without a URL.
	Sentinel RedisSentinel `koanf:"sentinel"`
	// Cluster names a Redis Cluster without a URL.
	Cluster RedisCluster `koanf:"cluster"`
	// TLS turns TLS on (as a rediss scheme does) with the system's
	// certificate authorities unless CAFile is set.
	TLS bool `koanf:"tls"`
	// CAFile is a PEM file of certificate authorities that sign the server's
	// certificate; empty means the system pool. Setting it enables TLS.
	CAFile string `koanf:"ca_file"`
	// CertFile and KeyFile are the PEM client certificate and key for mutual
	// TLS; both or neither. Setting them enables TLS.
	CertFile string `koanf:"cert_file"`
	KeyFile  string `koanf:"key_file"`
	// ServerName overrides the host name checked in the server's certificate;
	// empty means the URL's host.
	ServerName string `koanf:"server_name"`
	// InsecureSkipVerify disables certificate verification. For tests only.
	InsecureSkipVerify bool `koanf:"insecure_skip_verify"`
	// DialTimeout, ReadTimeout and WriteTimeout bound network operations;
	// zero means the client library's default.
	DialTimeout  time.Duration `koanf:"dial_timeout"`
	ReadTimeout  time.Duration `koanf:"read_timeout"`
	WriteTimeout time.Duration `koanf:"write_timeout"`
	// PoolSize is the maximum number of connections per process; zero means
	// the client library's default.
	PoolSize int `koanf:"pool_size"`
	// WaitReplicas, when > 0, makes job creation wait (Redis WAIT) until
	// this many replicas hold the job and its first task, so that a failover
	// cannot lose a job the API acknowledged. Zero acknowledges on the
	// primary's write alone.
	WaitReplicas int `koanf:"wait_replicas"`
	// WaitTimeout bounds that wait; a submission whose writes did not reach
	// WaitReplicas replicas in time fails.
	WaitTimeout time.Duration `koanf:"wait_timeout"`
}

// Worker configures `compressq worker` processes.
type Worker struct {
	// Concurrency is how many tasks one process runs at once; zero means
	// runtime.GOMAXPROCS(0) at the time of use (see EffectiveConcurrency).
	Concurrency int `koanf:"concurrency"`
	// Queues maps queue names to their weights; a queue not listed here is
	// never served. Names must not contain '.'.
	Queues map[string]int `koanf:"queues"`
	// StrictPriority serves higher-weight queues first until they are empty
	// instead of sampling queues in proportion to their weights.
	StrictPriority bool `koanf:"strict_priority"`
	// ShutdownTimeout is how long a stopping worker waits for in-flight tasks
	// before handing them back to the queue.
	ShutdownTimeout time.Duration `koanf:"shutdown_timeout"`
	// HTTPAddr is where /metrics, /healthz and /readyz are served; empty
	// disables the HTTP server.
	HTTPAddr string `koanf:"http_addr"`
	// MetricsToken, when set, is the bearer token /metrics requires.
	MetricsToken string `koanf:"metrics_token"`
	// TaskTimeout bounds one run of a task whose type has no entry in
	// TaskTimeouts.
	TaskTimeout time.Duration `koanf:"task_timeout"`
	// TaskTimeouts overrides TaskTimeout per task type, e.g. "train": 2h.
	TaskTimeouts map[string]time.Duration `koanf:"task_timeouts"`
	// LeaseRetryDelay is the retry delay for a task recovered after the
	// worker running it died (its lease expired).
	LeaseRetryDelay time.Duration `koanf:"lease_retry_delay"`
	// RetryDelayMax caps the exponential backoff between retries.
	RetryDelayMax time.Duration `koanf:"retry_delay_max"`
	// TaskCheckInterval is how long an idle worker waits before it looks
	// for tasks again. Short intervals cut the latency of task chains
	// (pipelines, sweeps) at the cost of a few idle Redis calls per second.
	TaskCheckInterval time.Duration `koanf:"task_check_interval"`
}

// EffectiveConcurrency returns Concurrency, or runtime.GOMAXPROCS(0) when it
// is zero.
func (w Worker) EffectiveConcurrency() int {
	if w.Concurrency > 0 {
		return w.Concurrency
	}
	return runtime.GOMAXPROCS(0)
}

// TimeoutFor returns the timeout for one run of a task of type taskType: its
// TaskTimeouts entry if there is one, else TaskTimeout.
func (w Worker) TimeoutFor(taskType string) time.Duration {
	if d, ok := w.TaskTimeouts[taskType]; ok {
		return d
	}
	return w.TaskTimeout
}

// Artifacts configures the content-addressed store for models and reports.
type Artifacts struct {
	// Root is where artifacts are written: a directory path, or a bucket URL
	// such as "file:///abs/dir", "s3://bucket?region=eu-west-1" or "mem://".
	Root string `koanf:"root"`
	// ReadRoots are further roots that may be read but never written, e.g. a
	// shared read-only model zoo.
	ReadRoots []string `koanf:"read_roots"`
	// MaxBytes is the largest artifact that is read or written.
	MaxBytes int64 `koanf:"max_bytes"`
}

// Jobs configures job (pipeline) bookkeeping and task submission.
type Jobs struct {
	// StateTTL is how long job and sweep state stays in Redis after its last
	// change.
	StateTTL time.Duration `koanf:"state_ttl"`
	// Retention is how long a completed task and its result stay in the queue.
	Retention time.Duration `koanf:"retention"`
	// MaxRetry is how often a failed task is retried before it is archived.
	MaxRetry int `koanf:"max_retry"`
	// Queue is the queue new jobs go to unless a submission names another; it
	// must be one of worker.queues.
	Queue string `koanf:"queue"`
	// SubmitRetry is how long a submission keeps retrying, with backoff,
	// while Redis is unreachable; zero fails at once with the connection
	// error.
	SubmitRetry time.Duration `koanf:"submit_retry"`
}

// API configures the HTTP submission API.
type API struct {
	// Addr is the listen address of the API server; empty disables it.
	Addr string `koanf:"addr"`
	// MaxBodyBytes bounds a request body.
	MaxBodyBytes int64 `koanf:"max_body_bytes"`
	// Token, when set, is the bearer token of the submit role: it may
	// submit jobs and use the web UI's actions (pause, retry, archive,
	// delete).
	Token string `koanf:"token"`
	// ReadToken, when set, is the bearer token of the read-only role: job
	// status and lists, and the web UI's pages. Once either token is set,
	// every request but /healthz needs one.
	ReadToken string `koanf:"read_token"`
	// TLSCertFile and TLSKeyFile, PEM files set together, make the API and
	// the web UI serve HTTPS only.
	TLSCertFile string `koanf:"tls_cert_file"`
	TLSKeyFile  string `koanf:"tls_key_file"`
}

// Log configures structured logging.
type Log struct {
	// Level is debug, info, warn or error.
	Level string `koanf:"level"`
	// Format is text or json.
	Format string `koanf:"format"`
}

// SlogLevel returns Level as a slog.Level; an unknown level (which Validate
// rejects) gives slog.LevelInfo.
func (l Log) SlogLevel() slog.Level {
	switch strings.ToLower(l.Level) {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}

// NewLogger returns a logger writing to w in Format at Level.
func (l Log) NewLogger(w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: l.SlogLevel()}
	if strings.EqualFold(l.Format, "json") {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// Defaults that are not zero values.
const (
	DefaultShutdownTimeout   = 30 * time.Second
	DefaultHTTPAddr          = "127.0.0.1:9090"
	DefaultTaskTimeout       = time.Hour
	DefaultLeaseRetryDelay   = 5 * time.Second
	DefaultRetryDelayMax     = 10 * time.Minute
	DefaultTaskCheckInterval = 100 * time.Millisecond
	DefaultArtifactsRoot     = "./artifacts"
	DefaultMaxBytes          = 1 << 30
	DefaultStateTTL          = 168 * time.Hour
	DefaultRetention         = 24 * time.Hour
	DefaultMaxRetry          = 5
	DefaultQueue             = "default"
	DefaultAPIAddr           = "127.0.0.1:8080"
	DefaultMaxBodyBytes      = 1 << 20
	DefaultWaitTimeout       = 5 * time.Second
)

// Default returns the configuration used when nothing is set: embedded Redis,
// queues critical:6, default:3, sweep:2, low:1, artifacts under ./artifacts,
// info-level text logs. Each call returns fresh maps.
func Default() Config {
	return Config{
		Redis: Redis{WaitTimeout: DefaultWaitTimeout},
		Worker: Worker{
			Queues:            map[string]int{"critical": 6, "default": 3, "sweep": 2, "low": 1},
			ShutdownTimeout:   DefaultShutdownTimeout,
			HTTPAddr:          DefaultHTTPAddr,
			TaskTimeout:       DefaultTaskTimeout,
			LeaseRetryDelay:   DefaultLeaseRetryDelay,
			RetryDelayMax:     DefaultRetryDelayMax,
			TaskCheckInterval: DefaultTaskCheckInterval,
		},
		Artifacts: Artifacts{Root: DefaultArtifactsRoot, MaxBytes: DefaultMaxBytes},
		Jobs: Jobs{
			StateTTL:  DefaultStateTTL,
			Retention: DefaultRetention,
			MaxRetry:  DefaultMaxRetry,
			Queue:     DefaultQueue,
		},
		API: API{Addr: DefaultAPIAddr, MaxBodyBytes: DefaultMaxBodyBytes},
		Log: Log{Level: "info", Format: "text"},
	}
}

// redactedMark replaces secrets in Redacted, as url.URL.Redacted does.
const redactedMark = "xxxxx"

// Redacted returns a copy of c that is safe to log: the password in the Redis
// URL and the bearer tokens are replaced by "xxxxx". Empty secrets stay empty
// so the log still shows whether one is set.
func (c Config) Redacted() Config {
	r := c
	r.Worker.Queues = maps.Clone(c.Worker.Queues)
	r.Worker.TaskTimeouts = maps.Clone(c.Worker.TaskTimeouts)
	r.Artifacts.ReadRoots = slices.Clone(c.Artifacts.ReadRoots)
	r.Redis.URL = redactURL(c.Redis.URL)
	r.Redis.Sentinel.Addrs = slices.Clone(c.Redis.Sentinel.Addrs)
	r.Redis.Cluster.Addrs = slices.Clone(c.Redis.Cluster.Addrs)
	if r.Redis.Password != "" {
		r.Redis.Password = redactedMark
	}
	if r.Redis.Sentinel.Password != "" {
		r.Redis.Sentinel.Password = redactedMark
	}
	if r.Worker.MetricsToken != "" {
		r.Worker.MetricsToken = redactedMark
	}
	if r.API.Token != "" {
		r.API.Token = redactedMark
	}
	if r.API.ReadToken != "" {
		r.API.ReadToken = redactedMark
	}
	return r
}

// redactURL hides the password of a URL (one host or several). A URL that does not parse is
// replaced whole, since its secret cannot be located.
func redactURL(s string) string {
	if s == "" {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil {
		return redactedMark
	}
	return u.Redacted()
}
