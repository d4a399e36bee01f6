package main

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/compressq/compressq/configs"
	"github.com/compressq/compressq/internal/testcert"
)

// TestServeHTTPTLS checks that with api.tls_cert_file and api.tls_key_file
// the API and UI listener serves HTTPS with that certificate and refuses
// plain HTTP, and that the configuration refuses half a pair and files
// that are not a key pair, naming the key.
func TestServeHTTPTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := testcert.Write(t, dir, "127.0.0.1")
	api := configs.API{TLSCertFile: certFile, TLSKeyFile: keyFile}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- serveHTTP(ctx, ln, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }), api)
	}()
	base := ln.Addr().String()

	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Get("https://" + base + "/healthz")
	if err != nil {
		t.Fatalf("HTTPS request: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "ok" || resp.TLS == nil {
		t.Fatalf("HTTPS: status %d, body %q, TLS %v", resp.StatusCode, body, resp.TLS != nil)
	}
	plain, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + base + "/healthz")
	if err == nil {
		plain.Body.Close()
		if plain.StatusCode == http.StatusOK {
			t.Fatal("plain HTTP was served on the TLS listener")
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serveHTTP after shutdown: %v", err)
	}

	for name, tc := range map[string]struct {
		api  configs.API
		want string
	}{
		"cert without key": {configs.API{TLSCertFile: certFile}, "api.tls_cert_file"},
		"key as cert":      {configs.API{TLSCertFile: keyFile, TLSKeyFile: keyFile}, "api.tls_cert_file"},
	} {
		cfg := configs.Default()
		cfg.API.TLSCertFile, cfg.API.TLSKeyFile = tc.api.TLSCertFile, tc.api.TLSKeyFile
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Validate() = %v, want an error naming %s", name, err, tc.want)
		}
	}
}
