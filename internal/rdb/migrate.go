package rdb

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Keys as compressq named them before they carried hash tags. Migrate
// renames keys from these forms; nothing else uses them.
const (
	legacyJobPrefix         = "compressq:job:"
	legacySweepPrefix       = "compressq:sweep:"
	legacySensitivityPrefix = "compressq:sensitivity:"
)

// MigrateReport counts the keys Migrate renamed, by kind.
type MigrateReport struct {
	Jobs, Sweeps, Sensitivity int
}

// Migrate renames the keys of jobs, sweeps and sensitivity runs written by
// compressq before its keys carried hash tags ("compressq:job:<id>",
// "compressq:sweep:<id>[:inbox|:log|:lock|:wake]",
// "compressq:sensitivity:<run>[:points]") to their current names, keeping
// their values and expiry. The job and sweep indexes keep their names. It
// must run against the one server that held the old keys, before workers
// of the new version start: RENAME across slots fails on a cluster. Running
// it again renames nothing.
func Migrate(ctx context.Context, c redis.UniversalClient) (MigrateReport, error) {
	var rep MigrateReport
	if _, ok := c.(*redis.ClusterClient); ok {
		return rep, errors.New("migrate: run it against the single server that holds the old keys, before moving to Redis Cluster")
	}
	for _, prefix := range []string{legacyJobPrefix, legacySweepPrefix, legacySensitivityPrefix} {
		iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			old := iter.Val()
			to, err := newName(ctx, c, prefix, old)
			if err != nil {
				return rep, err
			}
			if to == "" {
				continue
			}
			// RENAMENX: a key already at the new name (written by a new
			// worker meanwhile) wins over the old one.
			ok, err := c.RenameNX(ctx, old, to).Result()
			if err != nil {
				if errors.Is(err, redis.Nil) || strings.Contains(err.Error(), "no such key") {
					continue // expired between SCAN and RENAME
				}
				return rep, fmt.Errorf("migrate: rename %s to %s: %w", old, to, err)
			}
			if !ok {
				continue
			}
			switch prefix {
			case legacyJobPrefix:
				rep.Jobs++
			case legacySweepPrefix:
				rep.Sweeps++
			default:
				rep.Sensitivity++
			}
		}
		if err := iter.Err(); err != nil {
			return rep, fmt.Errorf("migrate: scan %s*: %w", prefix, err)
		}
	}
	return rep, nil
}

// newName returns the current name of the legacy key old (of kind prefix),
// or "" for a key that is not compressq's. Sweep and sensitivity ids may
// hold ':', so a suffix is only taken as one when the key's type (or, for
// the two hashes of a sensitivity run, its fields) agrees.
func newName(ctx context.Context, c redis.UniversalClient, prefix, old string) (string, error) {
	rest := strings.TrimPrefix(old, prefix)
	switch prefix {
	case legacyJobPrefix:
		return JobKey(rest), nil
	case legacySweepPrefix:
		typ, err := c.Type(ctx, old).Result()
		if err != nil {
			return "", fmt.Errorf("migrate: type of %s: %w", old, err)
		}
		suffixes := map[string]func(string) string{}
		switch typ {
		case "hash":
			return SweepKey(rest), nil
		case "list":
			suffixes[":inbox"], suffixes[":log"] = SweepInboxKey, SweepLogKey
		case "string":
			suffixes[":lock"], suffixes[":wake"] = SweepLockKey, SweepWakeKey
		}
		for suf, key := range suffixes {
			if id, ok := strings.CutSuffix(rest, suf); ok {
				return key(id), nil
			}
		}
		return "", nil
	default:
		isRun, err := c.HExists(ctx, old, "spec").Result()
		if err != nil {
			return "", fmt.Errorf("migrate: %s: %w", old, err)
		}
		if isRun {
			return SensitivityKey(rest), nil
		}
		if id, ok := strings.CutSuffix(rest, ":points"); ok {
			return SensitivityPointsKey(id), nil
		}
		return "", nil
	}
}
