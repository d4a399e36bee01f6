package configs

import (
	"crypto/tls"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Validate reports every problem in c at once, joined with errors.Join. Each
// problem names the key path and the offending value, e.g.
// `worker.concurrency: -3 must be >= 0`. It returns nil for a usable Config.
// It does not touch the network or the file system.
func (c Config) Validate() error {
	var v validator
	c.Redis.validate(&v)
	c.Worker.validate(&v)
	c.Artifacts.validate(&v)
	c.Jobs.validate(&v, c.Worker.Queues)
	c.API.validate(&v)
	c.Log.validate(&v)
	return errors.Join(v.errs...)
}

// validator collects problems.
type validator struct{ errs []error }

func (v *validator) addf(key, format string, args ...any) {
	v.errs = append(v.errs, fmt.Errorf("%s: "+format, append([]any{key}, args...)...))
}

func (v *validator) nonNegativeDuration(key string, d time.Duration) {
	if d < 0 {
		v.addf(key, "%v must be >= 0", d)
	}
}

func (v *validator) nonNegative(key string, n int64) {
	if n < 0 {
		v.addf(key, "%d must be >= 0", n)
	}
}

func (v *validator) positive(key string, n int64) {
	if n <= 0 {
		v.addf(key, "%d must be > 0", n)
	}
}

// listenAddr checks a host:port listen address; empty is allowed (disabled).
func (v *validator) listenAddr(key, addr string) {
	if addr == "" {
		return
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		v.addf(key, "%q is not host:port: %w", addr, err)
		return
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		v.addf(key, "%q has port %q, want a number 0-65535", addr, port)
	}
}

func (r Redis) validate(v *validator) {
	if r.Configured() {
		if _, err := r.Target(); err != nil {
			v.errs = append(v.errs, err)
		}
	}
	if (r.CertFile == "") != (r.KeyFile == "") {
		v.addf("redis.cert_file", "%q and redis.key_file %q must be set together", r.CertFile, r.KeyFile)
	}
	if r.InsecureSkipVerify && !r.usesTLS() {
		v.addf("redis.insecure_skip_verify", "true has no effect without TLS (rediss URL, redis.tls or ca_file/cert_file)")
	}
	v.nonNegativeDuration("redis.dial_timeout", r.DialTimeout)
	v.nonNegativeDuration("redis.read_timeout", r.ReadTimeout)
	v.nonNegativeDuration("redis.write_timeout", r.WriteTimeout)
	v.nonNegative("redis.pool_size", int64(r.PoolSize))
	v.nonNegative("redis.wait_replicas", int64(r.WaitReplicas))
	if r.WaitReplicas > 0 && r.WaitTimeout <= 0 {
		v.addf("redis.wait_timeout", "%v must be > 0 when redis.wait_replicas is set (0 would wait forever)", r.WaitTimeout)
	}
}

func (w Worker) validate(v *validator) {
	v.nonNegative("worker.concurrency", int64(w.Concurrency))
	if len(w.Queues) == 0 {
		v.addf("worker.queues", "empty: at least one queue with a weight > 0 is needed")
	}
	for _, name := range slices.Sorted(maps.Keys(w.Queues)) {
		switch weight := w.Queues[name]; {
		case name == "":
			v.addf("worker.queues", "a queue name is empty")
		case strings.Contains(name, "."):
			v.addf("worker.queues."+name, "queue names must not contain '.'")
		case weight <= 0:
			v.addf("worker.queues."+name, "weight %d must be > 0", weight)
		}
	}
	v.nonNegativeDuration("worker.shutdown_timeout", w.ShutdownTimeout)
	v.listenAddr("worker.http_addr", w.HTTPAddr)
	v.nonNegativeDuration("worker.task_timeout", w.TaskTimeout)
	for _, typ := range slices.Sorted(maps.Keys(w.TaskTimeouts)) {
		if typ == "" {
			v.addf("worker.task_timeouts", "a task type is empty")
			continue
		}
		v.nonNegativeDuration("worker.task_timeouts."+typ, w.TaskTimeouts[typ])
	}
	v.nonNegativeDuration("worker.lease_retry_delay", w.LeaseRetryDelay)
	v.nonNegativeDuration("worker.retry_delay_max", w.RetryDelayMax)
	v.nonNegativeDuration("worker.task_check_interval", w.TaskCheckInterval)
}

func (a Artifacts) validate(v *validator) {
	validateRoot(v, "artifacts.root", a.Root)
	for i, r := range a.ReadRoots {
		validateRoot(v, fmt.Sprintf("artifacts.read_roots[%d]", i), r)
	}
	v.positive("artifacts.max_bytes", a.MaxBytes)
}

func validateRoot(v *validator, key, root string) {
	if root == "" {
		v.addf(key, "empty: want a directory or a bucket URL")
		return
	}
	if !strings.Contains(root, "://") {
		return
	}
	u, err := url.Parse(root)
	if err != nil {
		v.addf(key, "%q does not parse as a URL: %w", root, err)
		return
	}
	if u.Scheme == "" {
		v.addf(key, "%q has no scheme", root)
	}
}

func (j Jobs) validate(v *validator, queues map[string]int) {
	v.nonNegativeDuration("jobs.state_ttl", j.StateTTL)
	v.nonNegativeDuration("jobs.submit_retry", j.SubmitRetry)
	v.nonNegativeDuration("jobs.retention", j.Retention)
	v.nonNegative("jobs.max_retry", int64(j.MaxRetry))
	switch _, ok := queues[j.Queue]; {
	case j.Queue == "":
		v.addf("jobs.queue", "empty: want one of worker.queues")
	case !ok && len(queues) > 0:
		v.addf("jobs.queue", "%q is not one of worker.queues (%s)", j.Queue, strings.Join(slices.Sorted(maps.Keys(queues)), ", "))
	}
}

func (a API) validate(v *validator) {
	v.listenAddr("api.addr", a.Addr)
	v.positive("api.max_body_bytes", a.MaxBodyBytes)
	switch {
	case (a.TLSCertFile == "") != (a.TLSKeyFile == ""):
		v.addf("api.tls_cert_file", "%q and api.tls_key_file %q must be set together", a.TLSCertFile, a.TLSKeyFile)
	case a.TLSCertFile != "":
		if _, err := tls.LoadX509KeyPair(a.TLSCertFile, a.TLSKeyFile); err != nil {
			v.addf("api.tls_cert_file", "%q with api.tls_key_file %q: %v", a.TLSCertFile, a.TLSKeyFile, err)
		}
	}
}

func (l Log) validate(v *validator) {
	switch strings.ToLower(l.Level) {
	case "debug", "info", "warn", "error":
	default:
		v.addf("log.level", "%q unknown (want debug, info, warn or error)", l.Level)
	}
	switch strings.ToLower(l.Format) {
	case "text", "json":
	default:
		v.addf("log.format", "%q unknown (want text or json)", l.Format)
	}
}
