package configs

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/url"
	"os"
	"strings"
)

// usesTLS reports whether the connection to Redis is to use TLS: a rediss
// URL scheme, redis.tls or any certificate file asks for it.
func (r Redis) usesTLS() bool {
	return strings.HasPrefix(strings.ToLower(r.URL), "rediss") || r.TLS ||
		r.CAFile != "" || r.CertFile != "" || r.KeyFile != ""
}

// TLSConfig returns the TLS client configuration for Redis, or nil, nil when
// TLS is off (see usesTLS). It reads CAFile and the CertFile/KeyFile pair;
// ServerName defaults to the host name of a one-server URL, and for several
// hosts (Sentinel, Cluster) to the name of each host dialled.
func (r Redis) TLSConfig() (*tls.Config, error) {
	if !r.usesTLS() {
		return nil, nil
	}
	cfg := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         r.ServerName,
		InsecureSkipVerify: r.InsecureSkipVerify,
	}
	if cfg.ServerName == "" && r.URL != "" {
		if u, err := url.Parse(r.URL); err == nil && !strings.Contains(u.Host, ",") {
			cfg.ServerName = u.Hostname()
		}
	}
	if r.CAFile != "" {
		pem, err := os.ReadFile(r.CAFile)
		if err != nil {
			return nil, fmt.Errorf("redis.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("redis.ca_file %q: no PEM certificate in it", r.CAFile)
		}
		cfg.RootCAs = pool
	}
	if r.CertFile != "" || r.KeyFile != "" {
		if r.CertFile == "" || r.KeyFile == "" {
			return nil, fmt.Errorf("redis.cert_file %q and redis.key_file %q must be set together", r.CertFile, r.KeyFile)
		}
		cert, err := tls.LoadX509KeyPair(r.CertFile, r.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("redis.cert_file %q / redis.key_file %q: %w", r.CertFile, r.KeyFile, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}
