package redistest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// startTimeout bounds how long Start and Restart wait for the server to
// answer PING.
const startTimeout = 10 * time.Second

// stopTimeout bounds how long Stop waits after SIGTERM before it sends SIGKILL.
const stopTimeout = 10 * time.Second

// portAttempts is how often Start picks a new port when the one it chose was
// taken between probing and the server binding it.
const portAttempts = 5

// Server is a real redis-server child process on a free loopback port.
//
// A Server is safe for use by several goroutines. It is stopped by the Cleanup
// of the test that started it.
type Server struct {
	// Addr is the server's "127.0.0.1:PORT" address.
	Addr string
	// Dir is the server's working directory (its --dir), a test temporary
	// directory that survives Restart, so an append-only file does too.
	Dir string

	bin  string
	args []string // full command line after the binary, port included

	mu   sync.Mutex
	proc *process // nil when not running
}

// process is one run of the redis-server binary.
type process struct {
	cmd    *exec.Cmd
	output *tail
	done   chan struct{} // closed when cmd.Wait returned
	err    error         // cmd.Wait's result, set before done is closed
}

// Require returns the path of the redis-server binary. When it is not
// installed, Require skips the test with a clear message, unless the CI
// environment variable is set: then a missing server is a failure, so CI can
// never pass by skipping every integration test.
func Require(t testing.TB) string {
	t.Helper()
	path, err := exec.LookPath("redis-server")
	if err == nil {
		return path
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("redistest: redis-server not found on PATH and CI is set (install the redis-server package): %v", err)
		return ""
	}
	t.Skipf("redistest: redis-server not found on PATH; skipping integration test (install the redis-server package to run it): %v", err)
	return ""
}

// Start runs redis-server on a free loopback port and waits until it answers
// PING. The server starts with
//
//	--port P --bind 127.0.0.1 --save "" --appendonly no --dir <t.TempDir()>
//
// followed by args; an option in args (for example "--appendonly", "yes")
// replaces the default of the same name. Start fails the test when the server
// does not come up within 10 s, quoting the end of its output. The test's
// Cleanup stops the server.
func Start(t testing.TB, args ...string) *Server {
	t.Helper()
	bin := Require(t)
	dir := t.TempDir()
	extra, err := splitOptions(args)
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	_, fixedPort := extra["port"]

	var lastErr error
	for attempt := 0; attempt < portAttempts; attempt++ {
		port := ""
		if !fixedPort {
			port, err = freePort()
			if err != nil {
				t.Fatalf("redistest: pick a free port: %v", err)
			}
		}
		s := &Server{Dir: dir, bin: bin}
		s.args, s.Addr = commandLine(port, dir, args, extra)
		lastErr = s.start()
		if lastErr == nil {
			t.Cleanup(s.Stop)
			return s
		}
		if fixedPort || !errors.Is(lastErr, errAddrInUse) {
			break
		}
	}
	t.Fatalf("redistest: %v", lastErr)
	return nil
}

// URL returns the server's address as a Redis URL for database 0,
// "redis://127.0.0.1:PORT/0".
func (s *Server) URL() string {
	return "redis://" + s.Addr + "/0"
}

// Stop ends the server with SIGTERM, which lets it write its append-only file,
// and waits for it to exit (SIGKILL after 10 s). Stopping a stopped server
// does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked(syscall.SIGTERM)
}

// Kill ends the server with SIGKILL, as a crash would, and waits for it to
// exit. Data not yet written to disk is lost.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked(syscall.SIGKILL)
}

// Restart stops the server if it runs (SIGTERM) and starts it again on the
// same port with the same directory and arguments, so an append-only file
// written before survives. It fails the test when the server does not come
// back.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	s.stopLocked(syscall.SIGTERM)
	s.mu.Unlock()
	var err error
	// The port was ours a moment ago; a few retries cover a brief race with
	// another process grabbing it.
	for attempt := 0; attempt < portAttempts; attempt++ {
		if err = s.start(); err == nil || !errors.Is(err, errAddrInUse) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("redistest: restart: %v", err)
	}
}

// errAddrInUse marks a start that failed because the port was taken.
var errAddrInUse = errors.New("address already in use")

// start runs the binary and waits for PING. On failure the process is gone.
func (s *Server) start() error {
	cmd := exec.Command(s.bin, s.args...)
	out := newTail(4096)
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", s.bin, err)
	}
	p := &process{cmd: cmd, output: out, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()

	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := waitReady(ctx, s.Addr, p); err != nil {
		p.signal(syscall.SIGKILL)
		<-p.done
		msg := strings.TrimSpace(out.String())
		if strings.Contains(msg, "Address already in use") {
			err = fmt.Errorf("%w: %w", err, errAddrInUse)
		}
		return fmt.Errorf("redis-server on %s did not start: %w; its output ends:\n%s", s.Addr, err, msg)
	}
	s.mu.Lock()
	s.proc = p
	s.mu.Unlock()
	return nil
}

// stopLocked signals the running process and waits for it; s.mu is held.
func (s *Server) stopLocked(sig syscall.Signal) {
	p := s.proc
	if p == nil {
		return
	}
	s.proc = nil
	p.signal(sig)
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		p.signal(syscall.SIGKILL)
		<-p.done
	}
}

// signal sends sig unless the process already exited.
func (p *process) signal(sig syscall.Signal) {
	select {
	case <-p.done:
	default:
		_ = p.cmd.Process.Signal(sig)
	}
}

// waitReady polls addr with PING until it answers PONG, the process exits or
// ctx ends.
func waitReady(ctx context.Context, addr string, p *process) error {
	var lastErr error
	for {
		err := ping(ctx, addr)
		if err == nil {
			return nil
		}
		lastErr = err
		select {
		case <-p.done:
			return fmt.Errorf("redis-server exited: %v", p.err)
		case <-ctx.Done():
			return fmt.Errorf("no PONG within %v: %w", startTimeout, lastErr)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// ping sends PING to addr and expects +PONG.
func ping(ctx context.Context, addr string) error {
	reply, err := do(ctx, addr, "PING")
	if err != nil {
		return err
	}
	if reply != "PONG" {
		return fmt.Errorf("PING answered %q", reply)
	}
	return nil
}

// do sends one command to addr over a fresh connection and returns the reply
// rendered as a string: simple strings, errors (as a Go error), integers and
// bulk strings; arrays are joined with "\n". It exists to probe readiness and
// to let the package's own tests look at the server without a client library.
func do(ctx context.Context, addr string, args ...string) (string, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(5 * time.Second)
	}
	if err := conn.SetDeadline(deadline); err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := conn.Write([]byte(b.String())); err != nil {
		return "", err
	}
	return readReply(bufio.NewReader(conn))
}

// readReply reads one RESP2 reply.
func readReply(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return "", errors.New("empty reply line")
	}
	switch line[0] {
	case '+', ':':
		return line[1:], nil
	case '-':
		return "", fmt.Errorf("redis: %s", line[1:])
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil {
			return "", fmt.Errorf("bad bulk length %q", line)
		}
		if n < 0 {
			return "", nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(line[1:])
		if err != nil {
			return "", fmt.Errorf("bad array length %q", line)
		}
		parts := make([]string, 0, max(n, 0))
		for i := 0; i < n; i++ {
			p, err := readReply(r)
			if err != nil {
				return "", err
			}
			parts = append(parts, p)
		}
		return strings.Join(parts, "\n"), nil
	default:
		return "", fmt.Errorf("unexpected reply %q", line)
	}
}

// freePort asks the kernel for a free loopback port by listening on :0 and
// closing the listener. Another process may take it before redis-server binds
// it; Start retries then.
func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port), nil
}

// defaultOptions are the options Start passes unless args override them, in
// order; the port and directory are filled in per server.
var defaultOptions = []string{"port", "bind", "save", "appendonly", "dir"}

// commandLine builds redis-server's arguments and the address it will listen
// on. extra is splitOptions(args).
func commandLine(port, dir string, args []string, extra map[string][]string) ([]string, string) {
	defaults := map[string][]string{
		"port":       {port},
		"bind":       {"127.0.0.1"},
		"save":       {""},
		"appendonly": {"no"},
		"dir":        {dir},
	}
	var out []string
	for _, name := range defaultOptions {
		if _, ok := extra[name]; ok {
			continue
		}
		out = append(out, "--"+name)
		out = append(out, defaults[name]...)
	}
	out = append(out, args...)
	if v, ok := extra["port"]; ok && len(v) > 0 {
		port = v[0]
	}
	return out, net.JoinHostPort("127.0.0.1", port)
}

// splitOptions groups args into options: each "--name" starts one and the
// words up to the next "--name" are its values.
func splitOptions(args []string) (map[string][]string, error) {
	opts := make(map[string][]string)
	name := ""
	for _, a := range args {
		if strings.HasPrefix(a, "--") && len(a) > 2 {
			name = strings.ToLower(a[2:])
			opts[name] = []string{}
			continue
		}
		if name == "" {
			return nil, fmt.Errorf("argument %q does not follow an --option", a)
		}
		opts[name] = append(opts[name], a)
	}
	return opts, nil
}

// tail keeps the last n bytes written to it.
type tail struct {
	mu  sync.Mutex
	n   int
	buf []byte
}

func newTail(n int) *tail { return &tail{n: n} }

// Write implements io.Writer.
func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.n; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

// String returns what was kept.
func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
