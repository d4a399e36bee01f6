package redistest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// topologyTimeout bounds how long StartCluster and StartSentinel wait for
// the topology to settle.
const topologyTimeout = 30 * time.Second

// RequireCLI returns the path of redis-cli, skipping the test when it is not
// installed (failing it when CI is set), like Require.
func RequireCLI(t testing.TB) string {
	t.Helper()
	path, err := exec.LookPath("redis-cli")
	if err == nil {
		return path
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("redistest: redis-cli not found on PATH and CI is set (install the redis-tools package): %v", err)
		return ""
	}
	t.Skipf("redistest: redis-cli not found on PATH; skipping (install the redis-tools package to run it): %v", err)
	return ""
}

// Cluster is a Redis Cluster of redis-server processes on loopback ports,
// built with `redis-cli --cluster create`.
type Cluster struct {
	// Servers are the cluster's nodes in the order they were started; which
	// are primaries is in Nodes.
	Servers []*Server
}

// ClusterNode is one line of CLUSTER NODES.
type ClusterNode struct {
	ID, Addr string
	Primary  bool
	// PrimaryID is the id of a replica's primary ("" for a primary).
	PrimaryID string
	// Slots are the slot ranges a primary serves, as CLUSTER NODES writes
	// them ("0-5460").
	Slots []string
	// Failed marks a node others consider failed.
	Failed bool
}

// StartCluster starts primaries*(1+replicas) cluster-enabled servers (node
// timeout 1 s, bus ports chosen free), joins them with `redis-cli --cluster
// create … --cluster-replicas replicas`, and waits until it is healthy (see
// WaitHealthy). The test's Cleanup stops them.
func StartCluster(t testing.TB, primaries, replicas int) *Cluster {
	t.Helper()
	cli := RequireCLI(t)
	c := &Cluster{}
	var addrs []string
	for i := 0; i < primaries*(1+replicas); i++ {
		bus, err := freePort()
		if err != nil {
			t.Fatalf("redistest: pick a bus port: %v", err)
		}
		s := Start(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "1000", "--cluster-port", bus, "--appendonly", "yes",
			"--repl-diskless-sync-delay", "0")
		c.Servers = append(c.Servers, s)
		addrs = append(addrs, s.Addr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), topologyTimeout)
	defer cancel()
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", strconv.Itoa(replicas), "--cluster-yes")
	if out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redistest: redis-cli --cluster create: %v\n%s", err, out)
	}
	if err := c.WaitHealthy(ctx); err != nil {
		t.Fatalf("redistest: cluster: %v", err)
	}
	return c
}

// Addrs returns the addresses of every node.
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.Servers))
	for i, s := range c.Servers {
		out[i] = s.Addr
	}
	return out
}

// Server returns the node listening on addr, or nil.
func (c *Cluster) Server(addr string) *Server {
	for _, s := range c.Servers {
		if s.Addr == addr {
			return s
		}
	}
	return nil
}

// WaitHealthy waits until every running node reports cluster_state:ok,
// every slot is served by a primary not marked failed, and every replica of
// a live primary is in sync.
func (c *Cluster) WaitHealthy(ctx context.Context) error {
	var last error
	for {
		last = c.healthy(ctx)
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not healthy in time: %w", last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (c *Cluster) healthy(ctx context.Context) error {
	var live []*Server
	for _, s := range c.Servers {
		if s.Running() {
			live = append(live, s)
		}
	}
	for _, s := range live {
		info, err := do(ctx, s.Addr, "CLUSTER", "INFO")
		if err != nil {
			return fmt.Errorf("%s: %w", s.Addr, err)
		}
		if !strings.Contains(info, "cluster_state:ok") {
			return fmt.Errorf("%s: cluster_state not ok", s.Addr)
		}
	}
	nodes, err := c.nodes(ctx, live[0].Addr)
	if err != nil {
		return err
	}
	// A replica that never synced may not take over its primary's slots.
	liveIDs := map[string]bool{}
	for _, n := range nodes {
		if n.Primary && !n.Failed {
			liveIDs[n.ID] = true
		}
	}
	for _, n := range nodes {
		if n.Primary || n.Failed || !liveIDs[n.PrimaryID] {
			continue
		}
		info, err := do(ctx, n.Addr, "INFO", "replication")
		if err != nil {
			return fmt.Errorf("%s: %w", n.Addr, err)
		}
		if !strings.Contains(info, "master_link_status:up") {
			return fmt.Errorf("replica %s not in sync", n.Addr)
		}
	}
	served := 0
	for _, n := range nodes {
		if n.Primary && !n.Failed && len(n.Slots) == 0 {
			// redis-cli turns nodes into replicas after assigning slots:
			// until every view shows that, a slotless primary remains.
			return fmt.Errorf("%s: primary without slots", n.Addr)
		}
		if n.Primary && !n.Failed {
			for _, r := range n.Slots {
				lo, hi, ok := strings.Cut(r, "-")
				if !ok {
					hi = lo
				}
				a, _ := strconv.Atoi(lo)
				b, _ := strconv.Atoi(hi)
				served += b - a + 1
			}
		}
	}
	if served != 16384 {
		return fmt.Errorf("%d of 16384 slots served by a live primary", served)
	}
	return nil
}

// Nodes returns CLUSTER NODES as seen by the first running node.
func (c *Cluster) Nodes(t testing.TB) []ClusterNode {
	t.Helper()
	for _, s := range c.Servers {
		if s.Running() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			n, err := c.nodes(ctx, s.Addr)
			if err != nil {
				t.Fatalf("redistest: %v", err)
			}
			return n
		}
	}
	t.Fatal("redistest: no cluster node runs")
	return nil
}

func (c *Cluster) nodes(ctx context.Context, addr string) ([]ClusterNode, error) {
	out, err := do(ctx, addr, "CLUSTER", "NODES")
	if err != nil {
		return nil, fmt.Errorf("CLUSTER NODES on %s: %w", addr, err)
	}
	var nodes []ClusterNode
	for line := range strings.SplitSeq(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 8 {
			continue
		}
		addr, _, _ := strings.Cut(f[1], "@")
		flags := strings.Split(f[2], ",")
		n := ClusterNode{ID: f[0], Addr: addr, Primary: slices.Contains(flags, "master"),
			Failed: slices.Contains(flags, "fail") || slices.Contains(flags, "fail?")}
		if f[3] != "-" {
			n.PrimaryID = f[3]
		}
		for _, s := range f[8:] {
			if !strings.HasPrefix(s, "[") { // skip slots being migrated
				n.Slots = append(n.Slots, s)
			}
		}
		nodes = append(nodes, n)
	}
	return nodes, nil
}

// PrimaryForSlot returns the address of the primary serving slot.
func (c *Cluster) PrimaryForSlot(t testing.TB, slot int) string {
	t.Helper()
	for _, n := range c.Nodes(t) {
		if !n.Primary || n.Failed {
			continue
		}
		for _, r := range n.Slots {
			lo, hi, ok := strings.Cut(r, "-")
			if !ok {
				hi = lo
			}
			a, _ := strconv.Atoi(lo)
			b, _ := strconv.Atoi(hi)
			if slot >= a && slot <= b {
				return n.Addr
			}
		}
	}
	t.Fatalf("redistest: no live primary serves slot %d", slot)
	return ""
}

// Sentinel is a Sentinel-managed primary: a primary, its replicas and the
// sentinels that monitor it, all on loopback ports.
type Sentinel struct {
	// MasterName is the name the sentinels monitor the primary under.
	MasterName string
	// Data holds the primary (first) and the replicas as started; after a
	// failover another of them is the primary (see Primary).
	Data []*Server
	// Sentinels are the sentinel processes.
	Sentinels []*Server
}

// StartSentinel starts a primary, replicas replicas of it and sentinels
// sentinels (quorum: a majority; down-after 1 s, failover timeout 5 s), and
// waits until every sentinel knows the replicas and the other sentinels.
// extra are more redis-server options for the data nodes. The test's
// Cleanup stops them all.
func StartSentinel(t testing.TB, replicas, sentinels int, extra ...string) *Sentinel {
	t.Helper()
	bin := Require(t)
	st := &Sentinel{MasterName: "compressq"}
	primary := Start(t, extra...)
	st.Data = append(st.Data, primary)
	_, pport, _ := net.SplitHostPort(primary.Addr)
	for i := 0; i < replicas; i++ {
		st.Data = append(st.Data, Start(t, append([]string{"--replicaof", "127.0.0.1", pport}, extra...)...))
	}
	quorum := sentinels/2 + 1
	for i := 0; i < sentinels; i++ {
		st.Sentinels = append(st.Sentinels, startSentinel(t, bin, st.MasterName, primary.Addr, quorum))
	}
	ctx, cancel := context.WithTimeout(context.Background(), topologyTimeout)
	defer cancel()
	for {
		err := st.settled(ctx, replicas, sentinels)
		if err == nil {
			return st
		}
		select {
		case <-ctx.Done():
			t.Fatalf("redistest: sentinel topology did not settle: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (st *Sentinel) settled(ctx context.Context, replicas, sentinels int) error {
	for _, r := range st.Data[1:] {
		info, err := do(ctx, r.Addr, "INFO", "replication")
		if err != nil {
			return err
		}
		if !strings.Contains(info, "master_link_status:up") {
			return fmt.Errorf("replica %s not in sync", r.Addr)
		}
	}
	for _, s := range st.Sentinels {
		info, err := do(ctx, s.Addr, "INFO", "sentinel")
		if err != nil {
			return err
		}
		want := fmt.Sprintf("status=ok,address=%s,slaves=%d,sentinels=%d", st.Data[0].Addr, replicas, sentinels)
		if !strings.Contains(info, want) {
			return fmt.Errorf("sentinel %s: want %q in INFO sentinel", s.Addr, want)
		}
	}
	return nil
}

// startSentinel runs `redis-server sentinel.conf --sentinel` on a free port.
func startSentinel(t testing.TB, bin, master, primary string, quorum int) *Server {
	t.Helper()
	dir := t.TempDir()
	host, port, _ := net.SplitHostPort(primary)
	var lastErr error
	for attempt := 0; attempt < portAttempts; attempt++ {
		p, err := freePort()
		if err != nil {
			t.Fatalf("redistest: pick a free port: %v", err)
		}
		conf := filepath.Join(dir, "sentinel.conf")
		text := fmt.Sprintf("port %s\nbind 127.0.0.1\ndir %s\n"+
			"sentinel monitor %s %s %s %d\n"+
			"sentinel down-after-milliseconds %[3]s 1000\n"+
			"sentinel failover-timeout %[3]s 5000\n"+
			"sentinel parallel-syncs %[3]s 1\n", p, dir, master, host, port, quorum)
		if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
			t.Fatalf("redistest: %v", err)
		}
		s := &Server{Dir: dir, bin: bin, args: []string{conf, "--sentinel"}, Addr: net.JoinHostPort("127.0.0.1", p)}
		if lastErr = s.start(); lastErr == nil {
			t.Cleanup(s.Stop)
			return s
		}
		if !errors.Is(lastErr, errAddrInUse) {
			break
		}
	}
	t.Fatalf("redistest: sentinel: %v", lastErr)
	return nil
}

// SentinelAddrs returns the sentinels' addresses.
func (st *Sentinel) SentinelAddrs() []string {
	out := make([]string, len(st.Sentinels))
	for i, s := range st.Sentinels {
		out[i] = s.Addr
	}
	return out
}

// URL returns the deployment as a redis-sentinel:// URL for database 0.
func (st *Sentinel) URL() string {
	return "redis-sentinel://" + strings.Join(st.SentinelAddrs(), ",") + "/" + st.MasterName + "/0"
}

// Primary returns the data node the first answering sentinel names as the
// primary, or nil when none does.
func (st *Sentinel) Primary(ctx context.Context) *Server {
	for _, s := range st.Sentinels {
		if !s.Running() {
			continue
		}
		out, err := do(ctx, s.Addr, "SENTINEL", "get-master-addr-by-name", st.MasterName)
		if err != nil {
			continue
		}
		host, port, ok := strings.Cut(out, "\n")
		if !ok {
			continue
		}
		addr := net.JoinHostPort(host, port)
		for _, d := range st.Data {
			if d.Addr == addr {
				return d
			}
		}
	}
	return nil
}

// Running reports whether the server's process runs.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proc != nil
}

// Do sends one command to the server over a fresh connection and returns
// the reply as text (arrays joined with "\n"), for tests that inspect a
// server without a client library.
func (s *Server) Do(ctx context.Context, args ...string) (string, error) {
	return do(ctx, s.Addr, args...)
}

// MoveSlot moves hash slot slot, with its keys, to the primary at dst, as
// an operator would with CLUSTER SETSLOT … IMPORTING/MIGRATING, MIGRATE and
// CLUSTER SETSLOT … NODE; redis-cli has no command for one chosen slot.
func (c *Cluster) MoveSlot(t testing.TB, slot int, dst string) {
	t.Helper()
	src := c.PrimaryForSlot(t, slot)
	if src == dst {
		return
	}
	ids := map[string]string{}
	var primaries []string
	for _, n := range c.Nodes(t) {
		ids[n.Addr] = n.ID
		if n.Primary && !n.Failed {
			primaries = append(primaries, n.Addr)
		}
	}
	if ids[dst] == "" {
		t.Fatalf("redistest: move slot %d: %s is not a cluster node", slot, dst)
	}
	ctx, cancel := context.WithTimeout(context.Background(), topologyTimeout)
	defer cancel()
	s := strconv.Itoa(slot)
	must := func(addr string, args ...string) string {
		out, err := do(ctx, addr, args...)
		if err != nil {
			t.Fatalf("redistest: move slot %d: %s on %s: %v", slot, strings.Join(args, " "), addr, err)
		}
		return out
	}
	must(dst, "CLUSTER", "SETSLOT", s, "IMPORTING", ids[src])
	must(src, "CLUSTER", "SETSLOT", s, "MIGRATING", ids[dst])
	host, port, _ := net.SplitHostPort(dst)
	for {
		keys := must(src, "CLUSTER", "GETKEYSINSLOT", s, "100")
		if keys == "" {
			break
		}
		for k := range strings.SplitSeq(keys, "\n") {
			must(src, "MIGRATE", host, port, k, "0", "5000")
		}
	}
	for _, p := range primaries {
		must(p, "CLUSTER", "SETSLOT", s, "NODE", ids[dst])
	}
	if err := c.WaitHealthy(ctx); err != nil {
		t.Fatalf("redistest: move slot %d: %v", slot, err)
	}
}

// Primaries returns the addresses of the live primaries, sorted.
func (c *Cluster) Primaries(t testing.TB) []string {
	t.Helper()
	var out []string
	for _, n := range c.Nodes(t) {
		if n.Primary && !n.Failed {
			out = append(out, n.Addr)
		}
	}
	slices.Sort(out)
	return out
}

// WaitFailover waits until the primary at dead serves no slot any more (a
// replica took its slots over) and the cluster is healthy again.
func (c *Cluster) WaitFailover(ctx context.Context, dead string) error {
	for {
		var live string
		for _, s := range c.Servers {
			if s.Running() && s.Addr != dead {
				live = s.Addr
				break
			}
		}
		nodes, err := c.nodes(ctx, live)
		if err == nil {
			err = fmt.Errorf("%s still serves slots", dead)
			for _, n := range nodes {
				if n.Addr == dead && (!n.Primary || len(n.Slots) == 0) {
					err = c.healthy(ctx)
				}
			}
		}
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no failover of %s in time: %w", dead, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Output returns the end of the running server's output (its log), for a
// test's failure message; "" when it does not run.
func (s *Server) Output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return ""
	}
	return s.proc.output.String()
}
