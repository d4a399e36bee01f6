package main

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/compressq/compressq/configs"
)

// listsFlag reports whether help text lists --name.
func listsFlag(help, name string) bool {
	return regexp.MustCompile(`(?m)^\s+(-\w, )?--` + regexp.QuoteMeta(name) + `\b`).MatchString(help)
}

// TestConfigFlagsOnTheirCommands checks each group of configuration flags
// against `compressq <cmd> --help`: listed by the commands that read the
// keys, absent from the others.
func TestConfigFlagsOnTheirCommands(t *testing.T) {
	groups := []struct {
		name    string
		flags   []string
		on, off []string // command paths
	}{
		{"global", []string{"config", "log-level", "log-format"},
			[]string{"worker", "train", "quantize", "model inspect", "jobs", "sweep start", "tasks ls", "artifact put"}, nil},
		{"worker", []string{"concurrency", "http-addr"},
			[]string{"worker", "local"},
			[]string{"api", "submit", "train", "quantize", "queues", "sweep start", "ui", "migrate", "sensitivity"}},
		{"api", []string{"api-addr"},
			[]string{"api", "local"},
			[]string{"worker", "submit", "jobs", "train", "ui", "queues"}},
		{"redis", []string{"redis-url"},
			[]string{"worker", "local", "api", "submit", "status", "result", "jobs", "sensitivity", "sweep start", "sweep status",
				"ui", "migrate", "queues", "tasks ls", "tasks retry", "pause", "unpause", "workers"},
			[]string{"train", "quantize", "prune", "distill", "export", "eval", "model inspect", "artifact put", "artifact get",
				"data put", "data inspect", "data mnist"}},
		{"artifacts", []string{"artifacts"},
			[]string{"worker", "local", "api", "submit", "sweep start", "sensitivity", "artifact put", "artifact get", "data put", "data inspect",
				"train", "eval", "quantize", "prune", "distill", "export"},
			[]string{"status", "result", "jobs", "queues", "tasks ls", "sweep status", "ui", "migrate", "model inspect", "data mnist"}},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for _, list := range []struct {
				cmds []string
				want bool
			}{{g.on, true}, {g.off, false}} {
				for _, path := range list.cmds {
					help, err := run(t, append(strings.Fields(path), "--help")...)
					if err != nil {
						t.Fatalf("%s --help: %v", path, err)
					}
					for _, f := range g.flags {
						if got := listsFlag(help, f); got != list.want {
							t.Errorf("compressq %s --help lists --%s: %v, want %v", path, f, got, list.want)
						}
					}
				}
			}
		})
	}
}

// TestMovedFlagsOverrideConfig checks on the real commands that each moved
// flag still sets its key over the config file and the environment.
func TestMovedFlagsOverrideConfig(t *testing.T) {
	file := filepath.Join(t.TempDir(), "c.yaml")
	yaml := `redis: {url: "redis://file:6379/0"}
worker: {concurrency: 3, http_addr: "127.0.0.1:1001"}
artifacts: {root: /file/artifacts}
api: {addr: "127.0.0.1:2001"}
log: {level: warn}
`
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(configs.EnvConfig, file)
	t.Setenv("COMPRESSQ_WORKER_CONCURRENCY", "4")
	t.Setenv("COMPRESSQ_API_ADDR", "127.0.0.1:2002")
	t.Setenv("COMPRESSQ_ARTIFACTS_ROOT", "/env/artifacts")

	tests := []struct {
		name string
		path string
		args []string
		// want reads the configured value the flag sets.
		want  func(c configs.Config) any
		value any
		// unset is the value without the flag: the file's or the env's.
		unset any
	}{
		{"worker --concurrency", "worker", []string{"--concurrency", "5"},
			func(c configs.Config) any { return c.Worker.Concurrency }, 5, 4},
		{"worker --http-addr", "worker", []string{"--http-addr", "127.0.0.1:0"},
			func(c configs.Config) any { return c.Worker.HTTPAddr }, "127.0.0.1:0", "127.0.0.1:1001"},
		{"local --http-addr", "local", []string{"--http-addr", ""},
			func(c configs.Config) any { return c.Worker.HTTPAddr }, "", "127.0.0.1:1001"},
		{"api --api-addr", "api", []string{"--api-addr", "127.0.0.1:2003"},
			func(c configs.Config) any { return c.API.Addr }, "127.0.0.1:2003", "127.0.0.1:2002"},
		{"local --api-addr", "local", []string{"--api-addr", ":0"},
			func(c configs.Config) any { return c.API.Addr }, ":0", "127.0.0.1:2002"},
		{"jobs --redis-url", "jobs", []string{"--redis-url", "redis://flag:6379/1"},
			func(c configs.Config) any { return c.Redis.URL }, "redis://flag:6379/1", "redis://file:6379/0"},
		{"tasks ls --redis-url", "tasks ls", []string{"--redis-url", "redis://flag:6379/2"},
			func(c configs.Config) any { return c.Redis.URL }, "redis://flag:6379/2", "redis://file:6379/0"},
		{"train --artifacts", "train", []string{"--artifacts", "mem://"},
			func(c configs.Config) any { return c.Artifacts.Root }, "mem://", "/env/artifacts"},
		{"artifact put --artifacts", "artifact put", []string{"--artifacts", "/flag/artifacts"},
			func(c configs.Config) any { return c.Artifacts.Root }, "/flag/artifacts", "/env/artifacts"},
		{"train --log-level (global)", "train", []string{"--log-level", "error"},
			func(c configs.Config) any { return c.Log.Level }, "error", "warn"},
	}
	load := func(t *testing.T, path string, args []string) configs.Config {
		t.Helper()
		cmd, _, err := newRoot().Find(strings.Fields(path))
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.ParseFlags(args); err != nil {
			t.Fatalf("%s %q: %v", path, args, err)
		}
		e, err := loadEnv(cmd)
		if err != nil {
			t.Fatalf("%s %q: %v", path, args, err)
		}
		return e.cfg
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.want(load(t, tt.path, tt.args)); got != tt.value {
				t.Errorf("with the flag: %#v, want %#v", got, tt.value)
			}
			if got := tt.want(load(t, tt.path, nil)); got != tt.unset {
				t.Errorf("without the flag: %#v, want %#v", got, tt.unset)
			}
		})
	}
}

// TestLocalReportsAddresses runs `compressq local --serve` on free ports:
// its log names the worker's metrics URL and the API's address with the
// ports it got, and both answer there, the API's sweep routes included.
func TestLocalReportsAddresses(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	root := newRoot()
	var out syncBuffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs([]string{"local", "--serve", "--artifacts", t.TempDir(), "--http-addr", "127.0.0.1:0", "--api-addr", "127.0.0.1:0", "--log-level", "info"})
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("local: %v\n%s", err, out.String())
		}
	}()

	line := regexp.MustCompile(`msg="local mode listening" metrics=http://(127\.0\.0\.1:\d+)/metrics api=http://(127\.0\.0\.1:\d+)`)
	serving := regexp.MustCompile(`serving the API on http://(127\.0\.0\.1:\d+)`)
	var m []string
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		if m = line.FindStringSubmatch(out.String()); m != nil && serving.MatchString(out.String()) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no address line and API after a minute:\n%s", out.String())
		}
	}
	if s := serving.FindStringSubmatch(out.String()); s[1] != m[2] {
		t.Errorf("serving on %s, logged %s", s[1], m[2])
	}
	for _, url := range []string{"http://" + m[1] + "/healthz", "http://" + m[2] + "/healthz"} {
		if strings.HasSuffix(strings.Split(url, "/")[2], ":0") {
			t.Errorf("%s: port 0 reported, not the chosen port", url)
		}
		resp, err := http.Get(url)
		if err != nil {
			t.Errorf("GET %s: %v", url, err)
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %s", url, resp.Status)
		}
	}
	resp, err := http.Get("http://" + m[2] + "/v1/sweeps")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(b)) != `{"sweeps":[]}` {
		t.Errorf("GET /v1/sweeps: %s %s", resp.Status, b)
	}
}

// TestLocalAddressInUse: a taken --http-addr fails `compressq local` with
// the address and a hint, instead of waiting for jobs no worker runs.
func TestLocalAddressInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	out, err := run(t, "local", "--artifacts", t.TempDir(), "--http-addr", ln.Addr().String(), "--log-level", "warn")
	if err == nil {
		t.Fatalf("local on a taken address succeeded:\n%s", out)
	}
	for _, want := range []string{"worker.http_addr", ln.Addr().String(), "--http-addr 127.0.0.1:0"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}
