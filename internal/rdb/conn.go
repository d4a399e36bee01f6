package rdb

import (
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/compressq/compressq/configs"
)

// ClusterReloadInterval is how often a cluster client reloads the slot map
// while it is in use. go-redis reloads it at once only on MOVED and READONLY
// replies, not when a primary stops answering, so after a failover this
// interval (its default is a minute) bounds how long commands keep going
// to the dead primary.
const ClusterReloadInterval = 2 * time.Second

// Open returns the Redis client for cfg, the one every component shares
// (asynq's client, server and inspector included, through their
// NewXFromRedisClient constructors): a *redis.Client for one server, a
// failover *redis.Client that asks the sentinels for the primary, or a
// *redis.ClusterClient, with cfg's credentials, TLS files, timeouts and pool
// size. It does not contact the server.
func Open(cfg configs.Redis) (redis.UniversalClient, error) {
	t, err := cfg.Target()
	if err != nil {
		return nil, err
	}
	tlsCfg, err := cfg.TLSConfig()
	if err != nil {
		return nil, err
	}
	if t.TLS && tlsCfg == nil {
		return nil, fmt.Errorf("redis.tls: TLS requested but no TLS configuration built")
	}
	switch t.Mode {
	case configs.RedisSentinelMode:
		return redis.NewFailoverClient(&redis.FailoverOptions{
			MasterName:       t.MasterName,
			SentinelAddrs:    t.Addrs,
			SentinelUsername: t.SentinelUsername,
			SentinelPassword: t.SentinelPassword,
			Username:         t.Username,
			Password:         t.Password,
			DB:               t.DB,
			TLSConfig:        tlsCfg,
			DialTimeout:      cfg.DialTimeout,
			ReadTimeout:      cfg.ReadTimeout,
			WriteTimeout:     cfg.WriteTimeout,
			PoolSize:         cfg.PoolSize,
		}), nil
	case configs.RedisClusterMode:
		return redis.NewClusterClient(&redis.ClusterOptions{
			Addrs:                      t.Addrs,
			ClusterStateReloadInterval: ClusterReloadInterval,
			Username:                   t.Username,
			Password:                   t.Password,
			TLSConfig:                  tlsCfg,
			DialTimeout:                cfg.DialTimeout,
			ReadTimeout:                cfg.ReadTimeout,
			WriteTimeout:               cfg.WriteTimeout,
			PoolSize:                   cfg.PoolSize,
		}), nil
	default:
		return redis.NewClient(&redis.Options{
			Addr:         t.Addrs[0],
			Username:     t.Username,
			Password:     t.Password,
			DB:           t.DB,
			TLSConfig:    tlsCfg,
			DialTimeout:  cfg.DialTimeout,
			ReadTimeout:  cfg.ReadTimeout,
			WriteTimeout: cfg.WriteTimeout,
			PoolSize:     cfg.PoolSize,
		}), nil
	}
}
