package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"

	"github.com/compressq/compressq/compress/safetensors"
	"github.com/compressq/compressq/configs"
	"github.com/compressq/compressq/internal/artifact"
	"github.com/compressq/compressq/internal/rdb"
	"github.com/compressq/compressq/internal/sweep"
	"github.com/compressq/compressq/metrics"
	"github.com/compressq/compressq/tasks"
)

// Options are what a Worker is built from.
type Options struct {
	Config configs.Config
	// Redis is the client every part of the worker shares; the worker does
	// not close it.
	Redis redis.UniversalClient
	// Store is the artifact store handlers read models from and write
	// outputs to.
	Store *artifact.Store
	// Registry receives the worker's metrics; nil means a new registry with
	// the Go and process collectors.
	Registry *prometheus.Registry
	// Logger defaults to one on stderr configured by Config.Log.
	Logger *slog.Logger
}

// Worker is one compressq worker process: an asynq server plus its HTTP
// endpoints.
type Worker struct {
	cfg        configs.Config
	rc         redis.UniversalClient
	store      *artifact.Store
	jobs       *rdb.Store
	sens       *rdb.SensitivityStore
	client     *asynq.Client
	insp       *asynq.Inspector
	reg        *prometheus.Registry
	metrics    *metrics.Metrics
	log        *slog.Logger
	defaults   tasks.Defaults
	limits     safetensors.Limits
	handler    asynq.Handler
	data       dataCache
	sweeps     *sweep.Controller
	evaluators evaluatorCache

	ready    atomic.Bool
	httpAddr atomic.Value // string, once listening
}

// New builds a worker; it does not contact Redis.
func New(o Options) (*Worker, error) {
	if o.Redis == nil || o.Store == nil {
		return nil, errors.New("worker: Options.Redis and Options.Store are required")
	}
	if err := o.Config.Validate(); err != nil {
		return nil, err
	}
	log := o.Logger
	if log == nil {
		log = o.Config.Log.NewLogger(os.Stderr)
	}
	reg := o.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	w := &Worker{
		cfg:      o.Config,
		rc:       o.Redis,
		store:    o.Store,
		data:     dataCache{store: o.Store},
		jobs:     rdb.NewStore(o.Redis, o.Config.Jobs.StateTTL),
		sens:     rdb.NewSensitivityStore(o.Redis, o.Config.Jobs.StateTTL),
		client:   asynq.NewClientFromRedisClient(o.Redis),
		insp:     asynq.NewInspectorFromRedisClient(o.Redis),
		reg:      reg,
		metrics:  metrics.New(reg),
		log:      log,
		defaults: Defaults(o.Config),
		limits:   safetensors.Limits{MaxFileBytes: o.Config.Artifacts.MaxBytes},
	}
	w.sweeps = sweep.New(o.Redis, o.Config.Jobs.StateTTL, w.defaults)
	if err := reg.Register(metrics.NewQueueCollector(w.insp, log)); err != nil {
		return nil, fmt.Errorf("register queue collector: %w", err)
	}
	w.handler = w.newMux()
	return w, nil
}

// Defaults are the task options a deployment's configuration implies.
func Defaults(c configs.Config) tasks.Defaults {
	return tasks.Defaults{
		Queue:     c.Jobs.Queue,
		MaxRetry:  c.Jobs.MaxRetry,
		Retention: c.Jobs.Retention,
		Timeout:   c.Worker.TaskTimeout,
		Timeouts:  c.Worker.TaskTimeouts,
	}
}

func (w *Worker) newMux() asynq.Handler {
	mux := asynq.NewServeMux()
	mux.Use(w.middleware()...)
	mux.Handle(tasks.TypeQuantize, w.adapt(w.quantize))
	mux.Handle(tasks.TypeSleep, w.adapt(w.sleep))
	mux.Handle(tasks.TypeTrain, w.adapt(w.train))
	mux.Handle(tasks.TypeEval, w.adapt(w.eval))
	mux.Handle(tasks.TypePrune, w.adapt(w.prune))
	mux.Handle(tasks.TypeSensitivity, w.adapt(w.sensitivity))
	mux.Handle(tasks.TypeSensitivityPoint, w.adapt(w.sensitivityPoint))
	mux.Handle(tasks.TypeSensitivityGather, w.adapt(w.sensitivityGather))
	mux.Handle(tasks.TypeDistill, w.adapt(w.distill))
	mux.Handle(tasks.TypeNASStep, w.adapt(w.nasStep))
	mux.Handle(tasks.TypeNASEval, w.adapt(w.nasEval))
	mux.Handle(tasks.TypeExport, w.adapt(w.export))
	return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		if _, pattern := mux.Handler(t); pattern == "" {
			w.log.Warn("archiving task of unknown type", "type", t.Type())
			return fmt.Errorf("task type %q is unknown to this worker: %w", t.Type(), asynq.SkipRetry)
		}
		return mux.ProcessTask(ctx, t)
	})
}

// middleware is the chain every task runs through, outermost first.
func (w *Worker) middleware() []asynq.MiddlewareFunc {
	return []asynq.MiddlewareFunc{withLogging(w.log), withMetrics(w.metrics), withRecover(w.log), withTimeout(w.cfg.Worker.TimeoutFor)}
}

// Handler is the worker's full task handler, middleware included.
func (w *Worker) Handler() asynq.Handler { return w.handler }

// Registry is the registry the worker's metrics are in.
func (w *Worker) Registry() *prometheus.Registry { return w.reg }

// HTTPAddr is the address the HTTP endpoints listen on, once Run has
// started them ("" before, or when disabled).
func (w *Worker) HTTPAddr() string {
	s, _ := w.httpAddr.Load().(string)
	return s
}

// Run serves until ctx is done, then shuts down gracefully: it stops
// fetching tasks and waits up to worker.shutdown_timeout for running ones,
// handing the rest back to the queue. If Redis is unreachable at start, Run
// logs it and keeps trying; /readyz says not ready until it answers.
func (w *Worker) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	if addr := w.cfg.Worker.HTTPAddr; addr != "" {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("worker.http_addr %q: %w", addr, err)
		}
		w.httpAddr.Store(ln.Addr().String())
		hs := &http.Server{Handler: w.HTTPHandler(), ReadHeaderTimeout: 10 * time.Second}
		wg.Go(func() {
			if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				w.log.Error("http server", "error", err)
			}
		})
		defer func() {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			hs.Shutdown(sctx)
		}()
	}
	if err := w.waitForRedis(ctx); err != nil {
		return nil // canceled while waiting: nothing was started
	}
	srv := asynq.NewServerFromRedisClient(w.rc, w.serverConfig())
	if err := srv.Start(w.handler); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	w.ready.Store(true)
	w.log.Info("worker started", "concurrency", w.cfg.Worker.EffectiveConcurrency(), "queues", w.cfg.Worker.Queues, "http", w.HTTPAddr())
	<-ctx.Done()
	w.ready.Store(false)
	w.log.Info("worker stopping", "shutdown_timeout", w.cfg.Worker.ShutdownTimeout)
	srv.Shutdown()
	return nil
}

// waitForRedis pings until Redis answers, backing off up to 10 s between
// attempts, and returns ctx's error if ctx ends first.
func (w *Worker) waitForRedis(ctx context.Context) error {
	delay := 250 * time.Millisecond
	for {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := w.rc.Ping(pctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		w.log.Error("redis unreachable, retrying", "error", err, "retry_in", delay)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		delay = min(2*delay, 10*time.Second)
	}
}

func (w *Worker) serverConfig() asynq.Config {
	wc := w.cfg.Worker
	level := asynq.WarnLevel
	if w.cfg.Log.SlogLevel() <= slog.LevelDebug {
		level = asynq.DebugLevel
	}
	return asynq.Config{
		Concurrency:       wc.EffectiveConcurrency(),
		Queues:            wc.Queues,
		StrictPriority:    wc.StrictPriority,
		ShutdownTimeout:   wc.ShutdownTimeout,
		TaskCheckInterval: wc.TaskCheckInterval,
		RetryDelayFunc:    retryDelay(wc.LeaseRetryDelay, wc.RetryDelayMax),
		Logger:            asynqLogger{w.log.With("component", "asynq")},
		LogLevel:          level,
		HealthCheckFunc: func(err error) {
			if err != nil {
				w.log.Error("redis health check failed", "error", err)
			}
		},
	}
}

// retryDelay uses leaseDelay for tasks recovered from a dead worker and
// asynq's exponential backoff, capped at maxDelay, for failed runs.
func retryDelay(leaseDelay, maxDelay time.Duration) asynq.RetryDelayFunc {
	return func(n int, err error, t *asynq.Task) time.Duration {
		if errors.Is(err, asynq.ErrLeaseExpired) {
			return leaseDelay
		}
		d := asynq.DefaultRetryDelayFunc(n, err, t)
		if maxDelay > 0 {
			d = min(d, maxDelay)
		}
		return d
	}
}

// HTTPHandler serves /metrics, /healthz (the process is alive) and /readyz
// (the worker is serving and Redis answers).
func (w *Worker) HTTPHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", metrics.Handler(w.reg, w.cfg.Worker.MetricsToken))
	mux.HandleFunc("/healthz", func(rw http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(rw, "ok")
	})
	mux.HandleFunc("/readyz", func(rw http.ResponseWriter, r *http.Request) {
		if !w.ready.Load() {
			http.Error(rw, "not ready: worker not serving", http.StatusServiceUnavailable)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), time.Second)
		defer cancel()
		if err := w.rc.Ping(ctx).Err(); err != nil {
			http.Error(rw, "not ready: redis: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(rw, "ready")
	})
	return mux
}

// Close releases the worker's asynq client and inspector.
func (w *Worker) Close() error {
	return errors.Join(w.client.Close(), w.insp.Close(), w.sweeps.Close())
}
