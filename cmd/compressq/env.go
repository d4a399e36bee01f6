package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"

	"github.com/compressq/compressq/configs"
	"github.com/compressq/compressq/internal/artifact"
	"github.com/compressq/compressq/internal/rdb"
	"github.com/compressq/compressq/producer"
	"github.com/compressq/compressq/worker"
)

// env is what most subcommands need: configuration, a logger, and lazily
// opened Redis, artifact store and producer.
type env struct {
	cfg configs.Config
	log *slog.Logger
	rc  redis.UniversalClient
	st  *artifact.Store
	p   *producer.Producer
}

func loadEnv(cmd *cobra.Command) (*env, error) {
	cfg, err := configs.Load(cmd.Flags())
	if err != nil {
		return nil, usageError{err}
	}
	log := cfg.Log.NewLogger(os.Stderr)
	redis.SetLogger(redisLogger{log})
	return &env{cfg: cfg, log: log}, nil
}

// redisLogger sends go-redis's internal messages (connection retries, which
// the worker reports itself) to the debug log.
type redisLogger struct{ l *slog.Logger }

func (r redisLogger) Printf(ctx context.Context, format string, v ...any) {
	r.l.DebugContext(ctx, fmt.Sprintf(format, v...), "component", "go-redis")
}

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

func (e *env) producer() (*producer.Producer, error) {
	if e.p == nil {
		rc, err := e.redis()
		if err != nil {
			return nil, err
		}
		e.p = producer.New(rc, rdb.NewStore(rc, e.cfg.Jobs.StateTTL), worker.Defaults(e.cfg))
		e.p.SubmitRetry = e.cfg.Jobs.SubmitRetry
		e.p.WaitReplicas, e.p.WaitTimeout = e.cfg.Redis.WaitReplicas, e.cfg.Redis.WaitTimeout
		// Model URIs are checked against the store at submission, so a bad
		// one is refused at once instead of failing on a worker.
		if st, err := e.store(context.Background()); err == nil {
			e.p.CheckArtifact = producer.StoreChecker(st)
		} else {
			e.log.Warn("artifact store not reachable from here: model URIs are not checked at submission", "error", err)
		}
	}
	return e.p, nil
}

// withProducer loads the configuration, opens a producer, runs f, and
// closes what it opened.
func withProducer(cmd *cobra.Command, f func(e *env, p *producer.Producer) error) error {
	e, err := loadEnv(cmd)
	if err != nil {
		return err
	}
	defer e.close()
	p, err := e.producer()
	if err != nil {
		return err
	}
	return f(e, p)
}

// withStore loads the configuration, opens the artifact store, runs f, and
// closes the store.
func withStore(cmd *cobra.Command, f func(st *artifact.Store) error) error {
	e, err := loadEnv(cmd)
	if err != nil {
		return err
	}
	defer e.close()
	st, err := e.store(cmd.Context())
	if err != nil {
		return err
	}
	return f(st)
}

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
}
