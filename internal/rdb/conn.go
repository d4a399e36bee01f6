package rdb

import (
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/compressq/compressq/configs"
)

// Open returns a Redis client for cfg: URL (redis:// or rediss://, with ACL
// user, password and db), TLS files, timeouts and pool size. It does not
// contact the server.
func Open(cfg configs.Redis) (*redis.Client, error) {
	if cfg.URL == "" {
		return nil, fmt.Errorf("redis.url: empty (only `compressq local` runs an embedded Redis)")
	}
	opts, err := redis.ParseURL(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("redis.url: %w", err)
	}
	tlsCfg, err := cfg.TLSConfig()
	if err != nil {
		return nil, err
	}
	if tlsCfg != nil {
		if tlsCfg.ServerName == "" && opts.TLSConfig != nil {
			tlsCfg.ServerName = opts.TLSConfig.ServerName
		}
		opts.TLSConfig = tlsCfg
	}
	if cfg.DialTimeout > 0 {
		opts.DialTimeout = cfg.DialTimeout
	}
	if cfg.ReadTimeout > 0 {
		opts.ReadTimeout = cfg.ReadTimeout
	}
	if cfg.WriteTimeout > 0 {
		opts.WriteTimeout = cfg.WriteTimeout
	}
	if cfg.PoolSize > 0 {
		opts.PoolSize = cfg.PoolSize
	}
	return redis.NewClient(opts), nil
}
