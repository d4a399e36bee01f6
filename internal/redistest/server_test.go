package redistest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func call(t *testing.T, s *Server, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return do(ctx, s.Addr, args...)
}

func mustCall(t *testing.T, s *Server, args ...string) string {
	t.Helper()
	got, err := call(t, s, args...)
	if err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	return got
}

func TestStartDefaults(t *testing.T) {
	s := Start(t)
	if !strings.HasPrefix(s.Addr, "127.0.0.1:") {
		t.Fatalf("Addr = %q, want 127.0.0.1:PORT", s.Addr)
	}
	if want := "redis://" + s.Addr + "/0"; s.URL() != want {
		t.Fatalf("URL() = %q, want %q", s.URL(), want)
	}
	tests := []struct {
		param, want string
	}{
		{"appendonly", "appendonly\nno"},
		{"save", "save\n"},
		{"bind", "bind\n127.0.0.1"},
		{"port", "port\n" + strings.TrimPrefix(s.Addr, "127.0.0.1:")},
		{"dir", "dir\n" + s.Dir},
	}
	for _, tt := range tests {
		if got := mustCall(t, s, "CONFIG", "GET", tt.param); got != tt.want {
			t.Errorf("CONFIG GET %s = %q, want %q", tt.param, got, tt.want)
		}
	}
}

func TestExtraArgsOverrideDefaults(t *testing.T) {
	s := Start(t, "--appendonly", "yes", "--maxmemory", "10mb")
	if got := mustCall(t, s, "CONFIG", "GET", "appendonly"); got != "appendonly\nyes" {
		t.Errorf("appendonly = %q, want yes", got)
	}
	if got := mustCall(t, s, "CONFIG", "GET", "maxmemory"); got != "maxmemory\n10485760" {
		t.Errorf("maxmemory = %q, want 10485760", got)
	}
}

func TestTwoServersAreIndependent(t *testing.T) {
	a, b := Start(t), Start(t)
	if a.Addr == b.Addr {
		t.Fatalf("both servers on %s", a.Addr)
	}
	mustCall(t, a, "SET", "k", "a")
	if got := mustCall(t, b, "EXISTS", "k"); got != "0" {
		t.Fatalf("key set on a is visible on b: EXISTS = %s", got)
	}
}

func TestRestartKeepsAppendOnlyFile(t *testing.T) {
	s := Start(t, "--appendonly", "yes", "--appendfsync", "always")
	addr := s.Addr
	mustCall(t, s, "SET", "survivor", "42")
	s.Restart(t)
	if s.Addr != addr {
		t.Fatalf("Addr changed across Restart: %s → %s", addr, s.Addr)
	}
	if got := mustCall(t, s, "GET", "survivor"); got != "42" {
		t.Fatalf("GET survivor after Restart = %q, want 42", got)
	}
}

func TestRestartWithoutPersistenceLosesData(t *testing.T) {
	s := Start(t)
	mustCall(t, s, "SET", "k", "v")
	s.Restart(t)
	if got := mustCall(t, s, "EXISTS", "k"); got != "0" {
		t.Fatalf("EXISTS k after Restart without AOF = %s, want 0", got)
	}
}

func TestKillAndStop(t *testing.T) {
	for _, tc := range []struct {
		name string
		end  func(*Server)
	}{
		{"kill", (*Server).Kill},
		{"stop", (*Server).Stop},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := Start(t)
			mustCall(t, s, "PING")
			tc.end(s)
			if _, err := call(t, s, "PING"); err == nil {
				t.Fatalf("PING answered after %s", tc.name)
			}
			tc.end(s) // a second call must be harmless
			s.Restart(t)
			if got := mustCall(t, s, "PING"); got != "PONG" {
				t.Fatalf("PING after Restart = %q", got)
			}
		})
	}
}

func TestStopFlushesAppendOnlyFile(t *testing.T) {
	s := Start(t, "--appendonly", "yes")
	mustCall(t, s, "SET", "k", "v")
	s.Stop() // SIGTERM flushes the AOF
	s.Restart(t)
	if got := mustCall(t, s, "GET", "k"); got != "v" {
		t.Fatalf("GET k after Stop+Restart = %q, want v", got)
	}
}

func TestStartFailureReportsOutput(t *testing.T) {
	ft := &fakeTB{TB: t}
	ft.run(func() { Start(ft, "--no-such-option", "1") })
	if !ft.fatal {
		t.Fatal("Start with a bad option did not fail the test")
	}
	if !strings.Contains(ft.msg, "no-such-option") {
		t.Fatalf("failure message does not quote the server's output:\n%s", ft.msg)
	}
}

func TestRequire(t *testing.T) {
	tests := []struct {
		name      string
		path, ci  string
		wantSkip  bool
		wantFatal bool
	}{
		{name: "present", path: os.Getenv("PATH")},
		{name: "absent, no CI", path: t.TempDir(), wantSkip: true},
		{name: "absent, CI", path: t.TempDir(), ci: "true", wantFatal: true},
	}
	Require(t) // the "present" row needs the binary
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("PATH", tt.path)
			t.Setenv("CI", tt.ci)
			ft := &fakeTB{TB: t}
			var got string
			ft.run(func() { got = Require(ft) })
			if ft.skip != tt.wantSkip || ft.fatal != tt.wantFatal {
				t.Fatalf("skip=%v fatal=%v, want skip=%v fatal=%v (%s)", ft.skip, ft.fatal, tt.wantSkip, tt.wantFatal, ft.msg)
			}
			if tt.wantSkip || tt.wantFatal {
				if !strings.Contains(ft.msg, "redis-server not found") {
					t.Errorf("message %q does not say what is missing", ft.msg)
				}
				return
			}
			if filepath.Base(got) != "redis-server" {
				t.Errorf("Require = %q, want a path to redis-server", got)
			}
		})
	}
}

func TestCommandLine(t *testing.T) {
	tests := []struct {
		args     []string
		want     []string
		wantAddr string
	}{
		{
			args:     nil,
			want:     []string{"--port", "7000", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", "/d"},
			wantAddr: "127.0.0.1:7000",
		},
		{
			args:     []string{"--appendonly", "yes", "--save", "60", "1"},
			want:     []string{"--port", "7000", "--bind", "127.0.0.1", "--dir", "/d", "--appendonly", "yes", "--save", "60", "1"},
			wantAddr: "127.0.0.1:7000",
		},
		{
			args:     []string{"--port", "7100"},
			want:     []string{"--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", "/d", "--port", "7100"},
			wantAddr: "127.0.0.1:7100",
		},
	}
	for _, tt := range tests {
		extra, err := splitOptions(tt.args)
		if err != nil {
			t.Fatal(err)
		}
		got, addr := commandLine("7000", "/d", tt.args, extra)
		if !reflect.DeepEqual(got, tt.want) || addr != tt.wantAddr {
			t.Errorf("commandLine(%q) = %q, %s; want %q, %s", tt.args, got, addr, tt.want, tt.wantAddr)
		}
	}
	if _, err := splitOptions([]string{"yes"}); err == nil {
		t.Error("splitOptions accepted a value with no option")
	}
}

func TestTailKeepsLastBytes(t *testing.T) {
	tl := newTail(5)
	for _, s := range []string{"abc", "defg", "h"} {
		fmt.Fprint(tl, s)
	}
	if got := tl.String(); got != "defgh" {
		t.Fatalf("tail = %q, want defgh", got)
	}
}

// fakeTB records Skip and Fatal instead of ending the goroutine.
type fakeTB struct {
	testing.TB
	skip, fatal bool
	msg         string
}

var errStop = errors.New("stopped")

func (f *fakeTB) Helper() {}
func (f *fakeTB) Skipf(format string, args ...any) {
	f.skip, f.msg = true, fmt.Sprintf(format, args...)
	panic(errStop)
}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.fatal, f.msg = true, fmt.Sprintf(format, args...)
	panic(errStop)
}

func (f *fakeTB) run(fn func()) {
	defer func() {
		if r := recover(); r != nil && r != errStop {
			panic(r)
		}
	}()
	fn()
}
