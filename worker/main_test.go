package worker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/compressq/compressq/compress/safetensors"
	"github.com/compressq/compressq/configs"
	"github.com/compressq/compressq/internal/artifact"
	"github.com/compressq/compressq/internal/datasets"
	"github.com/compressq/compressq/internal/mnist"
	"github.com/compressq/compressq/internal/rdb"
	"github.com/compressq/compressq/internal/redistest"
	"github.com/compressq/compressq/internal/testwait"
	"github.com/compressq/compressq/producer"
	"github.com/compressq/compressq/tasks"
	"github.com/compressq/compressq/worker"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// harness is one worker and one producer on a real redis-server.
type harness struct {
	cfg   configs.Config
	srv   *redistest.Server
	rc    redis.UniversalClient
	store *artifact.Store
	w     *worker.Worker
	p     *producer.Producer
}

func testConfig(t *testing.T, url string) configs.Config {
	cfg := configs.Default()
	cfg.Redis.URL = url
	cfg.Artifacts.Root = t.TempDir()
	cfg.Worker.Concurrency = 4
	cfg.Worker.HTTPAddr = "127.0.0.1:0"
	cfg.Worker.ShutdownTimeout = 5 * time.Second
	cfg.Worker.RetryDelayMax = 100 * time.Millisecond
	cfg.Log.Level = "warn"
	return cfg
}

// start runs a worker on a new redis-server until the test ends.
func start(t *testing.T, edit func(*configs.Config)) *harness {
	t.Helper()
	return startOn(t, redistest.Start(t), edit)
}

// startOn runs a worker on srv until the test ends.
func startOn(t *testing.T, srv *redistest.Server, edit func(*configs.Config)) *harness {
	t.Helper()
	cfg := testConfig(t, srv.URL())
	if edit != nil {
		edit(&cfg)
	}
	h := startConfig(t, cfg, nil)
	h.srv = srv
	return h
}

// startConfig runs a worker on the Redis cfg names (any topology) until the
// test ends; reg, if not nil, receives its metrics.
func startConfig(t *testing.T, cfg configs.Config, reg *prometheus.Registry) *harness {
	t.Helper()
	h := &harness{cfg: cfg}
	var err error
	if h.rc, err = rdb.Open(h.cfg.Redis); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.rc.Close() })
	if h.store, err = artifact.Open(context.Background(), h.cfg.Artifacts.Root, nil, h.cfg.Artifacts.MaxBytes); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.store.Close() })
	if h.w, err = worker.New(worker.Options{Config: h.cfg, Redis: h.rc, Store: h.store, Registry: reg}); err != nil {
		t.Fatal(err)
	}
	h.p = producer.New(h.rc, rdb.NewStore(h.rc, h.cfg.Jobs.StateTTL), worker.Defaults(h.cfg))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := h.w.Run(ctx); err != nil {
			t.Errorf("worker.Run: %v", err)
		}
	})
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		h.w.Close()
		h.p.Close()
	})
	return h
}

// putModel stores a generated float32 model and returns its URI and weights.
func (h *harness) putModel(t *testing.T, seed uint64) (string, map[string][]float32) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, seed+1))
	shapes := map[string][]int{"layers.0.weight": {64, 100}, "layers.0.bias": {64}, "layers.2.weight": {10, 64}, "layers.2.bias": {10}}
	f := &safetensors.File{}
	vals := map[string][]float32{}
	for name, shape := range shapes {
		n := 1
		for _, d := range shape {
			n *= d
		}
		w := make([]float32, n)
		for i := range w {
			w[i] = float32(rng.NormFloat64() * 0.1)
		}
		vals[name] = w
		f.Tensors = append(f.Tensors, safetensors.F32Tensor(name, shape, w))
	}
	var buf bytes.Buffer
	if err := safetensors.WriteSafetensors(&buf, f); err != nil {
		t.Fatal(err)
	}
	uri, err := h.store.Put(context.Background(), &buf, ".safetensors")
	if err != nil {
		t.Fatal(err)
	}
	return uri, vals
}

// submit submits spec (JSON) and returns the job id.
func (h *harness) submit(t *testing.T, spec string) string {
	t.Helper()
	s, err := producer.ParseSpec([]byte(spec))
	if err != nil {
		t.Fatal(err)
	}
	id, err := h.p.Submit(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// wait polls the job until it finishes, and fails the test if the timeout
// passes first.
func (h *harness) wait(t *testing.T, id string, timeout time.Duration) *producer.Status {
	t.Helper()
	var st *producer.Status
	testwait.Eventually(t, timeout, func() bool {
		var err error
		if st, err = h.p.Status(context.Background(), id); err != nil {
			t.Fatal(err)
		}
		return st.Status == rdb.StatusSucceeded || st.Status == rdb.StatusFailed
	}, "job %s still %s", id, testwait.Lazy(func() string { return fmt.Sprintf("%s (task %+v)", st.Status, st.Task) }))
	return st
}

func quantizeSpec(model string, bits int, granularity string) string {
	b, _ := json.Marshal(map[string]any{"v": 1, "model": model, "bits": bits, "granularity": granularity})
	return string(b)
}

var _ = tasks.Version

// mnistZip is MNIST as a data set archive (the IDX files compressq data
// mnist writes), built once per test binary.
var mnistZip = sync.OnceValues(func() ([]byte, error) {
	dir, err := mnist.Dir(context.Background())
	if err != nil {
		return nil, err
	}
	return datasets.Zip(dir)
})

// putMNIST stores MNIST in st and returns its data set URI.
func putMNIST(t *testing.T, st *artifact.Store) string {
	t.Helper()
	b, err := mnistZip()
	if err != nil {
		t.Fatal(err)
	}
	uri, err := st.Put(context.Background(), bytes.NewReader(b), ".zip")
	if err != nil {
		t.Fatal(err)
	}
	return uri
}
