package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"

	"github.com/compressq/compressq/compress/safetensors"
	"github.com/compressq/compressq/configs"
	"github.com/compressq/compressq/internal/artifact"
	"github.com/compressq/compressq/internal/datasets"
	"github.com/compressq/compressq/internal/rdb"
	"github.com/compressq/compressq/internal/sweep"
	"github.com/compressq/compressq/producer"
	"github.com/compressq/compressq/worker"
)

// env is what commands run with: the configuration, a logger, and the Redis
// client, artifact store and producer that withEnv or the command opened.
type env struct {
	cfg configs.Config
	log *slog.Logger
	rc  redis.UniversalClient
	st  *artifact.Store
	p   *producer.Producer
	// mr is the embedded Redis of local mode, closed after rc.
	mr *miniredis.Miniredis

	// checkOnce opens the store for the artifact checks on the first
	// submission; checkSt is nil when the store could not be opened.
	checkOnce sync.Once
	checkSt   *artifact.Store
}

// needs says what withEnv opens before a command runs. A command may open
// more on demand (e.store when it is given a data set URI); withEnv closes
// that too.
type needs uint8

const (
	// needRedis opens Redis into e.rc.
	needRedis needs = 1 << iota
	// needStore opens the artifact store into e.st.
	needStore
	// needProducer opens Redis and a producer into e.p.
	needProducer
)

// withEnv loads the configuration, opens what n names, runs f, and closes
// everything e holds when f returns.
func withEnv(cmd *cobra.Command, n needs, f func(e *env) error) error {
	e, err := loadEnv(cmd)
	if err != nil {
		return err
	}
	defer e.close()
	if err := e.open(cmd.Context(), n); err != nil {
		return err
	}
	return f(e)
}

func loadEnv(cmd *cobra.Command) (*env, error) {
	cfg, err := configs.Load(cmd.Flags())
	if err != nil {
		return nil, usageError{err}
	}
	log := cfg.Log.NewLogger(cmd.ErrOrStderr())
	redis.SetLogger(redisLogger{log})
	return &env{cfg: cfg, log: log}, nil
}

// redisLogger sends go-redis's internal messages (connection retries, which
// the worker reports itself) to the debug log.
type redisLogger struct{ l *slog.Logger }

func (r redisLogger) Printf(ctx context.Context, format string, v ...any) {
	r.l.DebugContext(ctx, fmt.Sprintf(format, v...), "component", "go-redis")
}

// open opens what n names and is not open yet.
func (e *env) open(ctx context.Context, n needs) error {
	if n&(needRedis|needProducer) != 0 {
		if _, err := e.redis(); err != nil {
			return err
		}
	}
	if n&needStore != 0 {
		if _, err := e.store(ctx); err != nil {
			return err
		}
	}
	if n&needProducer != 0 {
		if _, err := e.producer(); err != nil {
			return err
		}
	}
	return nil
}

// redis returns the Redis client, opening it on first use.
func (e *env) redis() (redis.UniversalClient, error) {
	if e.rc == nil {
		rc, err := rdb.Open(e.cfg.Redis)
		if err != nil {
			return nil, usageError{err}
		}
		e.rc = rc
	}
	return e.rc, nil
}

// store returns the artifact store, opening it on first use.
func (e *env) store(ctx context.Context) (*artifact.Store, error) {
	if e.st == nil {
		st, err := artifact.Open(ctx, e.cfg.Artifacts.Root, e.cfg.Artifacts.ReadRoots, e.cfg.Artifacts.MaxBytes)
		if err != nil {
			return nil, fmt.Errorf("artifacts: %w", err)
		}
		e.st = st
	}
	return e.st, nil
}

// producer returns the producer, opening it (and Redis) on first use.
func (e *env) producer() (*producer.Producer, error) {
	if e.p == nil {
		rc, err := e.redis()
		if err != nil {
			return nil, err
		}
		e.p = producer.New(rc, rdb.NewStore(rc, e.cfg.Jobs.StateTTL), worker.Defaults(e.cfg))
		e.p.SubmitRetry = e.cfg.Jobs.SubmitRetry
		e.p.WaitReplicas, e.p.WaitTimeout = e.cfg.Redis.WaitReplicas, e.cfg.Redis.WaitTimeout
		e.p.CheckArtifact = e.checkArtifact
	}
	return e.p, nil
}

// checkArtifact checks a submitted model URI against the store, so a bad
// one is refused at once instead of failing on a worker. The store is
// opened on the first submission, so commands that only read job state
// never open it; when it cannot be opened, URIs go unchecked.
func (e *env) checkArtifact(ctx context.Context, uri string) error {
	if st := e.checkStore(ctx); st != nil {
		return producer.StoreChecker(st)(ctx, uri)
	}
	return nil
}

// checkDataSet is checkArtifact for a data set URI, which may also name a
// directory inside a file root.
func (e *env) checkDataSet(ctx context.Context, uri string) error {
	if st := e.checkStore(ctx); st != nil {
		return datasets.Check(ctx, st, uri)
	}
	return nil
}

// checkStore opens the store for the artifact checks once; nil when it
// cannot be opened.
func (e *env) checkStore(ctx context.Context) *artifact.Store {
	e.checkOnce.Do(func() {
		st, err := e.store(context.WithoutCancel(ctx))
		if err != nil {
			e.log.Warn("artifact store not reachable from here: artifact URIs are not checked at submission", "error", err)
			return
		}
		e.checkSt = st
	})
	return e.checkSt
}

// sweeps returns a sweep controller on e's Redis with the deployment's task
// defaults, checking artifact URIs like the producer; the caller closes it.
func (e *env) sweeps() (*sweep.Controller, error) {
	rc, err := e.redis()
	if err != nil {
		return nil, err
	}
	c := sweep.New(rc, e.cfg.Jobs.StateTTL, worker.Defaults(e.cfg))
	c.CheckArtifact, c.CheckDataSet = e.checkArtifact, e.checkDataSet
	c.ModelLimits = safetensors.Limits{MaxFileBytes: e.cfg.Artifacts.MaxBytes}
	c.ReadArtifact = func(ctx context.Context, uri string) ([]byte, error) {
		st := e.checkStore(ctx)
		if st == nil {
			return nil, errors.New("the artifact store is not reachable from here")
		}
		return st.Get(ctx, uri)
	}
	return c, nil
}

// close closes what e opened, the embedded Redis last.
func (e *env) close() {
	if e.p != nil {
		e.p.Close()
	}
	if e.st != nil {
		e.st.Close()
	}
	if e.rc != nil {
		e.rc.Close()
	}
	if e.mr != nil {
		e.mr.Close()
	}
}
