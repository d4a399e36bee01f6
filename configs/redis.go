package configs

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// RedisSentinel names a Sentinel-managed primary.
type RedisSentinel struct {
	// MasterName is the name the sentinels monitor the primary under.
	MasterName string `koanf:"master_name"`
	// Addrs are the sentinels' host:port addresses.
	Addrs []string `koanf:"addrs"`
	// Username and Password authenticate to the sentinels (their own
	// requirepass/ACL, distinct from the data nodes').
	Username string `koanf:"username"`
	Password string `koanf:"password"`
}

// RedisCluster names a Redis Cluster by seed addresses.
type RedisCluster struct {
	// Addrs are host:port addresses of some cluster nodes; the client learns
	// the rest from them.
	Addrs []string `koanf:"addrs"`
}

// Redis topologies, as Target.Mode.
const (
	RedisStandalone   = "standalone"
	RedisSentinelMode = "sentinel"
	RedisClusterMode  = "cluster"
)

// Target is where Redis is, resolved from the URL or the sentinel and
// cluster keys: what a client needs besides timeouts and TLS files.
type Target struct {
	// Mode is RedisStandalone, RedisSentinelMode or RedisClusterMode.
	Mode string
	// Addrs are the server's address (standalone), the sentinels' or the
	// cluster's seed addresses.
	Addrs []string
	// MasterName is the Sentinel master name (sentinel mode only).
	MasterName string
	// DB is the database number (not in cluster mode).
	DB int
	// Username and Password authenticate to the data nodes.
	Username, Password string
	// SentinelUsername and SentinelPassword authenticate to the sentinels.
	SentinelUsername, SentinelPassword string
	// TLS reports that connections use TLS (a rediss scheme, redis.tls or a
	// certificate file).
	TLS bool
}

// Configured reports whether r names a Redis deployment; when it does not,
// only `compressq local` can run, with an embedded Redis.
func (r Redis) Configured() bool {
	return r.URL != "" || len(r.Sentinel.Addrs) > 0 || r.Sentinel.MasterName != "" || len(r.Cluster.Addrs) > 0
}

// Target resolves the deployment r names. URL forms:
//
//	redis://[user:password@]host:port[/db]            one server (rediss:// for TLS)
//	redis-sentinel://[user:password@]h1:26379,h2:26379/master[/db]
//	redis-cluster://[user:password@]h1:7000,h2:7001
//
// with rediss-sentinel:// and rediss-cluster:// turning TLS on. The URL's
// user and password are the data nodes'; redis.username and redis.password
// override them. Without a URL, redis.sentinel.master_name with
// redis.sentinel.addrs selects Sentinel and redis.cluster.addrs selects
// Cluster. Errors name the key.
func (r Redis) Target() (Target, error) {
	var t Target
	keysSentinel := len(r.Sentinel.Addrs) > 0 || r.Sentinel.MasterName != ""
	keysCluster := len(r.Cluster.Addrs) > 0
	switch {
	case r.URL != "" && keysCluster:
		return t, fmt.Errorf("redis.cluster.addrs: set together with redis.url; name the deployment once")
	case r.URL != "" && len(r.Sentinel.Addrs) > 0:
		return t, fmt.Errorf("redis.sentinel.addrs: set together with redis.url; name the deployment once")
	case r.URL != "" && r.Sentinel.MasterName != "":
		return t, fmt.Errorf("redis.sentinel.master_name: set together with redis.url; name the deployment once")
	case keysSentinel && keysCluster:
		return t, fmt.Errorf("redis.cluster.addrs: set together with redis.sentinel; choose one topology")
	case r.URL != "":
		var err error
		if t, err = parseRedisURL(r.URL); err != nil {
			return t, fmt.Errorf("redis.url: %w", err)
		}
	case keysSentinel:
		t.Mode, t.MasterName, t.Addrs = RedisSentinelMode, r.Sentinel.MasterName, r.Sentinel.Addrs
		if t.MasterName == "" {
			return t, fmt.Errorf("redis.sentinel.master_name: empty; it is needed with redis.sentinel.addrs")
		}
		if len(t.Addrs) == 0 {
			return t, fmt.Errorf("redis.sentinel.addrs: empty; it is needed with redis.sentinel.master_name")
		}
		if err := checkAddrs(t.Addrs); err != nil {
			return t, fmt.Errorf("redis.sentinel.addrs: %w", err)
		}
	case keysCluster:
		t.Mode, t.Addrs = RedisClusterMode, r.Cluster.Addrs
		if err := checkAddrs(t.Addrs); err != nil {
			return t, fmt.Errorf("redis.cluster.addrs: %w", err)
		}
	default:
		return t, fmt.Errorf("redis.url: empty (set redis.url, redis.sentinel or redis.cluster; only `compressq local` runs an embedded Redis)")
	}
	if r.Username != "" {
		t.Username = r.Username
	}
	if r.Password != "" {
		t.Password = r.Password
	}
	t.SentinelUsername, t.SentinelPassword = r.Sentinel.Username, r.Sentinel.Password
	t.TLS = t.TLS || r.TLS || r.CAFile != "" || r.CertFile != "" || r.KeyFile != ""
	return t, nil
}

// parseRedisURL parses the three URL forms Target documents.
func parseRedisURL(raw string) (Target, error) {
	var t Target
	u, err := url.Parse(raw)
	if err != nil {
		// Do not echo the URL: it may carry a password.
		return t, fmt.Errorf("%q does not parse as a URL", redactURL(raw))
	}
	shown := u.Redacted()
	scheme := strings.ToLower(u.Scheme)
	switch scheme {
	case "redis", "rediss":
		t.Mode = RedisStandalone
	case "redis-sentinel", "rediss-sentinel":
		t.Mode = RedisSentinelMode
	case "redis-cluster", "rediss-cluster":
		t.Mode = RedisClusterMode
	default:
		return t, fmt.Errorf("scheme %q not supported (want redis, rediss, redis-sentinel, rediss-sentinel, redis-cluster or rediss-cluster)", u.Scheme)
	}
	t.TLS = strings.HasPrefix(scheme, "rediss")
	if u.User != nil {
		t.Username = u.User.Username()
		t.Password, _ = u.User.Password()
	}
	if u.Host == "" {
		return t, fmt.Errorf("%q has no host", shown)
	}
	t.Addrs = strings.Split(u.Host, ",")
	if t.Mode == RedisStandalone && len(t.Addrs) > 1 {
		return t, fmt.Errorf("%q names several hosts: use redis-sentinel:// or redis-cluster://", shown)
	}
	for i, a := range t.Addrs {
		if _, _, err := net.SplitHostPort(a); err != nil && t.Mode == RedisStandalone {
			// redis://host means the default port, as in go-redis.
			t.Addrs[i] = net.JoinHostPort(a, "6379")
		}
	}
	if err := checkAddrs(t.Addrs); err != nil {
		return t, fmt.Errorf("%q: %w", shown, err)
	}
	if u.RawQuery != "" {
		return t, fmt.Errorf("%q has query parameters: set timeouts, pool size and TLS with the redis.* keys instead", shown)
	}
	path := strings.Trim(u.Path, "/")
	var db string
	switch t.Mode {
	case RedisSentinelMode:
		master, rest, _ := strings.Cut(path, "/")
		if master == "" {
			return t, fmt.Errorf("%q has no master name: want redis-sentinel://h1:26379,h2:26379/MASTER[/DB]", shown)
		}
		t.MasterName, db = master, rest
	case RedisClusterMode:
		if path != "" {
			return t, fmt.Errorf("%q has a path %q: a cluster has only database 0, want redis-cluster://h1:7000,h2:7001", shown, path)
		}
	default:
		db = path
	}
	if db != "" {
		n, err := strconv.Atoi(db)
		if err != nil || n < 0 {
			return t, fmt.Errorf("%q has database %q, want a number >= 0", shown, db)
		}
		t.DB = n
	}
	return t, nil
}

// checkAddrs checks host:port addresses.
func checkAddrs(addrs []string) error {
	for _, a := range addrs {
		host, port, err := net.SplitHostPort(a)
		if err != nil {
			return fmt.Errorf("address %q is not host:port", a)
		}
		if host == "" {
			return fmt.Errorf("address %q has no host", a)
		}
		if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			return fmt.Errorf("address %q has port %q, want a number 0-65535", a, port)
		}
	}
	return nil
}
