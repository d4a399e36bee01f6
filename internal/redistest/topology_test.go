package redistest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/compressq/compressq/internal/testwait"
)

func TestStartCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts six redis-server processes")
	}
	c := StartCluster(t, 3, 1)
	primaries, replicas := 0, 0
	for _, n := range c.Nodes(t) {
		if n.Primary {
			primaries++
			if len(n.Slots) == 0 {
				t.Errorf("primary %s serves no slots", n.Addr)
			}
		} else if n.PrimaryID != "" {
			replicas++
		}
	}
	if primaries != 3 || replicas != 3 {
		t.Fatalf("%d primaries and %d replicas, want 3 and 3", primaries, replicas)
	}
	// Slot 0 lies in the first range redis-cli assigns.
	if addr := c.PrimaryForSlot(t, 0); c.Server(addr) == nil {
		t.Fatalf("slot 0 served by %q, not one of ours", addr)
	}
}

func TestStartSentinelFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts six processes and waits for a failover")
	}
	st := StartSentinel(t, 2, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	old := st.Primary(ctx)
	if old != st.Data[0] {
		t.Fatalf("primary %v, want the first data node %s", old, st.Data[0].Addr)
	}
	if !strings.HasPrefix(st.URL(), "redis-sentinel://127.0.0.1:") {
		t.Errorf("URL() = %q", st.URL())
	}
	old.Kill()
	testwait.Eventually(t, 30*time.Second, func() bool {
		p := st.Primary(ctx)
		if p == nil || p == old {
			return false
		}
		role, err := p.Do(ctx, "ROLE")
		return err == nil && strings.HasPrefix(role, "master")
	}, "no replica promoted after killing the primary")
}
