package configs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/compressq/compressq/internal/testcert"
)

// writeCert writes a self-signed certificate for redis.test and its key as
// PEM files.
func writeCert(t *testing.T, dir string) (certFile, keyFile string) {
	certFile, keyFile, _ = testcert.Write(t, dir, "redis.test")
	return certFile, keyFile
}

func TestTLSConfig(t *testing.T) {
	dir := t.TempDir()
	cert, key := writeCert(t, dir)
	junk := filepath.Join(dir, "junk.pem")
	if err := os.WriteFile(junk, []byte("not pem"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		r          Redis
		wantNil    bool
		wantErr    string
		serverName string
		roots      bool
		certs      int
		insecure   bool
	}{
		{name: "plain", r: Redis{URL: "redis://h:6379/0"}, wantNil: true},
		{name: "embedded", r: Redis{}, wantNil: true},
		{name: "rediss", r: Redis{URL: "rediss://u:p@redis.example:6380/0"}, serverName: "redis.example"},
		{name: "REDISS upper case", r: Redis{URL: "REDISS://redis.example:6380"}, serverName: "redis.example"},
		{name: "server name override", r: Redis{URL: "rediss://10.0.0.1:6380", ServerName: "redis.test"}, serverName: "redis.test"},
		{name: "ca file turns TLS on", r: Redis{URL: "redis://redis.test:6379", CAFile: cert}, serverName: "redis.test", roots: true},
		{name: "client cert", r: Redis{URL: "rediss://redis.test:6380", CAFile: cert, CertFile: cert, KeyFile: key}, serverName: "redis.test", roots: true, certs: 1},
		{name: "insecure", r: Redis{URL: "rediss://h:1", InsecureSkipVerify: true}, serverName: "h", insecure: true},
		{name: "missing ca", r: Redis{URL: "rediss://h:1", CAFile: filepath.Join(dir, "none.pem")}, wantErr: "redis.ca_file"},
		{name: "junk ca", r: Redis{URL: "rediss://h:1", CAFile: junk}, wantErr: "no PEM certificate"},
		{name: "cert without key", r: Redis{URL: "rediss://h:1", CertFile: cert}, wantErr: "must be set together"},
		{name: "key is not a key", r: Redis{URL: "rediss://h:1", CertFile: cert, KeyFile: junk}, wantErr: "redis.cert_file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := tt.r.TLSConfig()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("TLSConfig() error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantNil {
				if cfg != nil {
					t.Fatalf("TLSConfig() = %+v, want nil", cfg)
				}
				return
			}
			if cfg == nil {
				t.Fatal("TLSConfig() = nil, want a config")
			}
			if cfg.ServerName != tt.serverName {
				t.Errorf("ServerName = %q, want %q", cfg.ServerName, tt.serverName)
			}
			if (cfg.RootCAs != nil) != tt.roots {
				t.Errorf("RootCAs set = %v, want %v", cfg.RootCAs != nil, tt.roots)
			}
			if len(cfg.Certificates) != tt.certs {
				t.Errorf("%d client certificates, want %d", len(cfg.Certificates), tt.certs)
			}
			if cfg.InsecureSkipVerify != tt.insecure {
				t.Errorf("InsecureSkipVerify = %v, want %v", cfg.InsecureSkipVerify, tt.insecure)
			}
		})
	}
}
