package rdb

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrNotReplicated is returned by WaitReplicas when fewer replicas than
// asked acknowledged the writes in time.
var ErrNotReplicated = errors.New("not replicated in time")

// WaitKey is a marker key written in the slot of tag, so that a WAIT on the
// same connection covers every write made to that slot's primary before.
func WaitKey(tag string) string { return tagged(tag) + ":wait" }

// QueueSlotKey returns a compressq key in the same Redis Cluster slot as
// asynq's keys of queue (asynq tags them "{queue}"), for WaitReplicas.
func QueueSlotKey(queue string) string { return WaitKey(queue) }

// AsynqTaskKey is the hash asynq keeps task id of queue in while the task
// is pending, scheduled, active, retrying, archived or retained
// ("asynq:{queue}:t:id"); TestAsynqTaskKey checks it against asynq.
func AsynqTaskKey(queue, id string) string { return "asynq:{" + queue + "}:t:" + id }

// waitMarkTTL bounds the life of the marker keys WaitReplicas writes.
const waitMarkTTL = time.Minute

// WaitReplicas blocks until n replicas of each primary holding one of keys
// have received every write that primary took before the call, or timeout
// passes (then ErrNotReplicated). Redis WAIT counts the writes of its own
// connection, so on each primary it writes a marker in the key's slot and
// WAITs on the same connection: replication is in order, so the marker's
// acknowledgement covers the writes before it, whichever connection made
// them.
//
// It returns the keys that did not exist on their primary just before the
// marker was written (read on the marker's connection, in one pipeline). A
// caller that wrote a key and finds it missing knows that the primary it
// wrote to failed over before the wait: the replicas acknowledged the new
// primary's writes, not the caller's, which are gone.
func WaitReplicas(ctx context.Context, c redis.UniversalClient, n int, timeout time.Duration, keys ...string) (missing []string, err error) {
	for _, key := range keys {
		var node *redis.Client
		switch cc := c.(type) {
		case *redis.ClusterClient:
			m, err := cc.MasterForKey(ctx, key)
			if err != nil {
				return nil, fmt.Errorf("wait for replicas: primary of %s: %w", key, err)
			}
			node = m
		case *redis.Client:
			node = cc
		default:
			return nil, fmt.Errorf("wait for replicas: unsupported client %T", c)
		}
		found, err := waitOn(ctx, node, n, timeout, key, WaitKey(slotTag(key)))
		if err != nil {
			return nil, err
		}
		if !found {
			missing = append(missing, key)
		}
	}
	return missing, nil
}

// waitOn checks that key exists and writes mark in one pipeline, then
// WAITs, all on one connection of node: the three run on the same primary,
// in order (a broken connection fails the next command; it does not
// silently reconnect elsewhere).
func waitOn(ctx context.Context, node *redis.Client, n int, timeout time.Duration, key, mark string) (found bool, err error) {
	conn := node.Conn()
	defer conn.Close()
	var exists *redis.IntCmd
	if _, err := conn.Pipelined(ctx, func(p redis.Pipeliner) error {
		exists = p.Exists(ctx, key)
		p.Set(ctx, mark, time.Now().UnixMilli(), waitMarkTTL)
		return nil
	}); err != nil {
		return false, fmt.Errorf("wait for replicas: %w", err)
	}
	got, err := conn.Wait(ctx, n, timeout).Result()
	if err != nil {
		return false, fmt.Errorf("wait for replicas: %w", err)
	}
	if got < int64(n) {
		return false, fmt.Errorf("wait for replicas: %d of %d acknowledged within %v: %w", got, n, timeout, ErrNotReplicated)
	}
	return exists.Val() == 1, nil
}

// slotTag returns the hash tag of key as Redis Cluster reads it: the text
// between the first '{' and the next '}', or the whole key.
func slotTag(key string) string {
	for i := 0; i < len(key); i++ {
		if key[i] != '{' {
			continue
		}
		for j := i + 1; j < len(key); j++ {
			if key[j] == '}' {
				if j > i+1 {
					return key[i+1 : j]
				}
				return key
			}
		}
		return key
	}
	return key
}
