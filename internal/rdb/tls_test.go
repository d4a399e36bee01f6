package rdb

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/compressq/compressq/configs"
	"github.com/compressq/compressq/internal/redistest"
)

// writePEM writes one PEM block to dir/name and returns the path.
func writePEM(t *testing.T, dir, name, typ string, der []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// issue makes a key and a certificate for cn signed by parent (self-signed
// when parent is nil) and writes both; it returns the certificate, its key
// and their paths.
func issue(t *testing.T, dir, cn string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, ca bool) (*x509.Certificate, *ecdsa.PrivateKey, string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IsCA:         ca, BasicConstraintsValid: true,
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key, writePEM(t, dir, cn+".crt", "CERTIFICATE", der), writePEM(t, dir, cn+".key", "EC PRIVATE KEY", kder)
}

// TestOpenTLS runs redis-server with TLS (a throwaway CA, client
// certificates required) and connects through rediss:// with the CA and a
// client certificate; without the client certificate, or trusting another
// CA, the connection fails.
func TestOpenTLS(t *testing.T) {
	dir := t.TempDir()
	ca, caKey, caFile, _ := issue(t, dir, "test-ca", nil, nil, true)
	_, _, srvCert, srvKey := issue(t, dir, "server", ca, caKey, false)
	_, _, cliCert, cliKey := issue(t, dir, "client", ca, caKey, false)
	_, _, otherCA, _ := issue(t, dir, "other-ca", nil, nil, true)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tlsPort := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	redistest.Start(t, "--tls-port", fmt.Sprint(tlsPort), "--tls-cert-file", srvCert, "--tls-key-file", srvKey,
		"--tls-ca-cert-file", caFile, "--tls-auth-clients", "yes")
	url := fmt.Sprintf("rediss://127.0.0.1:%d/0", tlsPort)
	ctx := context.Background()

	good, err := Open(configs.Redis{URL: url, CAFile: caFile, CertFile: cliCert, KeyFile: cliKey})
	if err != nil {
		t.Fatal(err)
	}
	defer good.Close()
	if err := good.Set(ctx, "k", "over tls", 0).Err(); err != nil {
		t.Fatalf("TLS with CA and client certificate: %v", err)
	}
	for name, cfg := range map[string]configs.Redis{
		"no client certificate": {URL: url, CAFile: caFile},
		"untrusted server":      {URL: url, CAFile: otherCA, CertFile: cliCert, KeyFile: cliKey},
	} {
		c, err := Open(cfg)
		if err != nil {
			t.Fatal(err)
		}
		err = c.Ping(ctx).Err()
		c.Close()
		if err == nil {
			t.Errorf("%s: connected", name)
		} else if name == "untrusted server" && !strings.Contains(err.Error(), "certificate") {
			t.Errorf("%s: %v", name, err)
		}
	}
}
