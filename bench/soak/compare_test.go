package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compressq/compressq/internal/redistest"
)

// compareEnv names the number of tasks per run of TestCompareTopologies.
const compareEnv = "COMPRESSQ_SOAK_COMPARE"

// TestCompareTopologies runs the soak against one redis-server and against
// a Redis Cluster of three primaries (no replicas), alternately, twice
// each, with the same tasks, workers and queues, and logs each run's
// throughput and the cluster-to-single ratio. The queues are named so that
// each primary holds one. Both deployments keep an append-only file, as
// the cluster's nodes must. It is a measurement, not a check, and takes
// minutes: set COMPRESSQ_SOAK_COMPARE to the tasks per run to run it.
func TestCompareTopologies(t *testing.T) {
	n, err := strconv.Atoi(os.Getenv(compareEnv))
	if err != nil || n <= 0 {
		t.Skipf("set %s=<tasks per run> (e.g. 50000) to compare one Redis server with a three-shard cluster", compareEnv)
	}
	cl := redistest.StartCluster(t, 3, 0)
	clusterURL := "redis-cluster://" + strings.Join(cl.Addrs(), ",")
	queues := shardQueues(t, cl, clusterURL)
	single := redistest.Start(t, "--appendonly", "yes")
	o := options{tasks: n, workers: 2, concurrency: 20, retention: 5 * time.Second, timeout: 30 * time.Minute,
		logLevel: "info", queues: queues}
	took := map[string][]time.Duration{}
	for round := range 2 {
		for _, d := range []struct{ name, url string }{{"single", single.URL()}, {"cluster", clusterURL}} {
			o.redisURL = d.url
			report, dt, err := run(o)
			if err != nil {
				t.Fatalf("%s, round %d: %v", d.name, round+1, err)
			}
			t.Logf("%s, round %d: %d tasks in %v: %.0f tasks/s%s", d.name, round+1, n, dt.Round(time.Millisecond), float64(n)/dt.Seconds(), report)
			took[d.name] = append(took[d.name], dt)
		}
	}
	rate := func(name string) string {
		var parts []string
		for _, dt := range took[name] {
			parts = append(parts, fmt.Sprintf("%.0f", float64(n)/dt.Seconds()))
		}
		return strings.Join(parts, ", ")
	}
	var ratios []string
	for i := range took["single"] {
		ratios = append(ratios, fmt.Sprintf("%.2f", took["single"][i].Seconds()/took["cluster"][i].Seconds()))
	}
	t.Logf("tasks/s, single server: %s; three-primary cluster: %s; cluster/single per round: %s",
		rate("single"), rate("cluster"), strings.Join(ratios, ", "))
}

// shardQueues returns one queue name per primary of cl: asynq keeps a
// queue's keys in the hash slot of its name, so names are tried in turn
// until every primary holds one.
func shardQueues(t *testing.T, cl *redistest.Cluster, url string) []string {
	t.Helper()
	rc, err := openRedis(url)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	primaries := cl.Primaries(t)
	byPrimary := map[string]string{}
	var queues []string
	for i := 0; len(queues) < len(primaries); i++ {
		if i == 1000 {
			t.Fatalf("no queue names found for every primary of %v: %v", primaries, byPrimary)
		}
		q := fmt.Sprintf("soak-%d", i)
		slot, err := rc.ClusterKeySlot(context.Background(), "asynq:{"+q+"}:pending").Result()
		if err != nil {
			t.Fatal(err)
		}
		p := cl.PrimaryForSlot(t, int(slot))
		if _, ok := byPrimary[p]; !ok {
			byPrimary[p] = q
			queues = append(queues, q)
			t.Logf("queue %s: slot %d on %s", q, slot, p)
		}
	}
	return queues
}
