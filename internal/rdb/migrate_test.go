package rdb

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestMigrateRenamesLegacyKeys(t *testing.T) {
	ctx := context.Background()
	s, c := newStore(t, time.Hour)
	now := time.Now().UnixMilli()
	// A job, a sweep with an inbox, and a sensitivity run as the previous
	// version wrote them; ids with ':' in them, as user-chosen ids may be.
	c.HSet(ctx, "compressq:job:j:1", "id", "j:1", "status", "running", "steps", 2, "current", 1, "created", now, "updated", now)
	c.PExpire(ctx, "compressq:job:j:1", time.Hour)
	c.ZAdd(ctx, JobIndexKey(), redisZ(now, "j:1"))
	c.HSet(ctx, "compressq:sweep:s:1", "id", "s:1", "status", "running", "spec", "{}", "snapshot", "x",
		"version", 0, "snap_version", 0, "created", now, "updated", now, "trials", 0, "pending", 0, "completed", 0, "failed", 0)
	c.RPush(ctx, "compressq:sweep:s:1:inbox", "r1", "r2")
	c.HSet(ctx, "compressq:sensitivity:r:1", "spec", "{}", "points", 2, "job", "", "step", 0, "created", now)
	c.HSet(ctx, "compressq:sensitivity:r:1:points", "fc1@0.5", "0.9")

	rep, err := Migrate(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if rep != (MigrateReport{Jobs: 1, Sweeps: 2, Sensitivity: 2}) {
		t.Errorf("report %+v, want 1 job key, 2 sweep keys, 2 sensitivity keys", rep)
	}
	j, err := s.Get(ctx, "j:1")
	if err != nil || j.Status != StatusRunning || j.Current != 1 {
		t.Fatalf("migrated job: %+v, %v", j, err)
	}
	if ttl := c.PTTL(ctx, JobKey("j:1")).Val(); ttl <= 0 || ttl > time.Hour {
		t.Errorf("migrated job lost its expiry: PTTL %v", ttl)
	}
	sw, err := NewSweepStore(c, time.Hour).Load(ctx, "s:1")
	if err != nil || len(sw.Inbox) != 2 || sw.Status != SweepRunning {
		t.Fatalf("migrated sweep: %+v, %v", sw, err)
	}
	run, err := NewSensitivityStore(c, time.Hour).Get(ctx, "r:1")
	if err != nil || run.Points != 2 || run.Recorded[PointKey{"fc1", 0.5}] != 0.9 {
		t.Fatalf("migrated run: %+v, %v", run, err)
	}
	if n := c.Exists(ctx, "compressq:job:j:1", "compressq:sweep:s:1", "compressq:sweep:s:1:inbox",
		"compressq:sensitivity:r:1", "compressq:sensitivity:r:1:points").Val(); n != 0 {
		t.Errorf("%d legacy keys left", n)
	}
	again, err := Migrate(ctx, c)
	if err != nil || again != (MigrateReport{}) {
		t.Errorf("second Migrate: %+v, %v; want nothing renamed", again, err)
	}
}

func redisZ(score int64, member string) redis.Z {
	return redis.Z{Score: float64(score), Member: member}
}
