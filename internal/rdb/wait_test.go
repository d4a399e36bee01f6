package rdb

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/compressq/compressq/configs"
	"github.com/compressq/compressq/internal/redistest"
)

// TestAsynqTaskKey: AsynqTaskKey names the hash asynq stores an enqueued
// task in, and loses it when the task is deleted.
func TestAsynqTaskKey(t *testing.T) {
	c := testClient(t)
	ctx := context.Background()
	cl := asynq.NewClientFromRedisClient(c)
	if _, err := cl.Enqueue(asynq.NewTask("t", nil), asynq.TaskID("job/step-0"), asynq.Queue("q-1")); err != nil {
		t.Fatal(err)
	}
	key := AsynqTaskKey("q-1", "job/step-0")
	if n := c.Exists(ctx, key).Val(); n != 1 {
		keys, _ := c.Keys(ctx, "asynq:*").Result()
		t.Fatalf("%s not found; asynq's keys: %v", key, keys)
	}
	insp := asynq.NewInspectorFromRedisClient(c)
	if err := insp.DeleteTask("q-1", "job/step-0"); err != nil {
		t.Fatal(err)
	}
	if n := c.Exists(ctx, key).Val(); n != 0 {
		t.Fatalf("%s still there after the task was deleted", key)
	}
}

// TestWaitReplicasReportsMissing: WaitReplicas waits for the replica and
// names the keys that are not on the primary.
func TestWaitReplicasReportsMissing(t *testing.T) {
	primary := redistest.Start(t)
	_, port, _ := strings.Cut(primary.Addr, ":")
	redistest.Start(t, "--replicaof", "127.0.0.1", port)
	c, err := Open(configs.Redis{URL: primary.URL()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	c.Set(ctx, "{a}:here", 1, time.Minute)
	missing, err := WaitReplicas(ctx, c, 1, 10*time.Second, "{a}:here", "{b}:gone")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(missing, []string{"{b}:gone"}) {
		t.Errorf("missing %q, want [{b}:gone]", missing)
	}
	if _, err := WaitReplicas(ctx, c, 2, 200*time.Millisecond, "{a}:here"); err == nil || !strings.Contains(err.Error(), "1 of 2") {
		t.Errorf("waiting for 2 replicas of 1: %v", err)
	}
}
