package rdb

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/compressq/compressq/configs"
	"github.com/compressq/compressq/internal/redistest"
)

// TestScriptsOnTopologies runs the store tests — every script and every
// multi-key command in this package — against a real 3-primary Redis
// Cluster (one replica each) and a Sentinel-managed primary, through the
// clients Open builds from their URL forms. On the cluster a script whose
// keys lie in different slots fails with CROSSSLOT, so passing shows that
// every script touches one slot.
func TestScriptsOnTopologies(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Redis Cluster and a Sentinel deployment")
	}
	tests := map[string]func(*testing.T){
		"JobLifecycle":      TestJobLifecycle,
		"JobFailure":        TestJobFailure,
		"ListDropsExpired":  TestListDropsExpired,
		"IndexTrimmed":      TestIndexesTrimmedToTTL,
		"SensitivityRun":    TestSensitivityRun,
		"SweepStore":        TestSweepStore,
		"SweepLock":         TestSweepLock,
		"SweepStoreUpgrade": TestSweepStoreUpgrade,
	}
	cl := redistest.StartCluster(t, 3, 1)
	st := redistest.StartSentinel(t, 1, 3)
	topologies := []struct {
		name string
		url  string
	}{
		{"cluster", "redis-cluster://" + cl.Servers[0].Addr + "," + cl.Servers[1].Addr},
		{"sentinel", st.URL()},
	}
	orig := testClient
	t.Cleanup(func() { testClient = orig })
	for _, topo := range topologies {
		c, err := Open(configs.Redis{URL: topo.url})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		testClient = func(t *testing.T) redis.UniversalClient {
			t.Helper()
			flushAll(t, c)
			return c
		}
		for name, test := range tests {
			t.Run(topo.name+"/"+name, test)
		}
	}
}

// flushAll empties every primary behind c.
func flushAll(t *testing.T, c redis.UniversalClient) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var err error
	if cc, ok := c.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error { return m.FlushAll(ctx).Err() })
	} else {
		err = c.FlushAll(ctx).Err()
	}
	if err != nil {
		t.Fatalf("flush: %v", err)
	}
}
