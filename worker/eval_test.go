package worker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/compress/recipe"
	"github.com/compressq/compressq/compress/safetensors"
	"github.com/compressq/compressq/internal/rdb"
	"github.com/compressq/compressq/tasks"
)

// TestEvalTask runs compress:eval through the queue and checks it against
// the recipe run in this process; a data URI outside the roots fails the
// job at once, naming the field and the reason.
func TestEvalTask(t *testing.T) {
	if testing.Short() {
		t.Skip("trains on MNIST")
	}
	h := start(t, nil)
	raw := sensitivityModel(t)
	uri, err := h.store.Put(context.Background(), bytes.NewReader(raw), ".safetensors")
	if err != nil {
		t.Fatal(err)
	}
	dataURI := putMNIST(t, h.store)
	id := h.submit(t, fmt.Sprintf(`{"type":"compress:eval","payload":{"v":1,"model":%q,"data":%q}}`, uri, dataURI))
	st := h.wait(t, id, time.Minute)
	if st.Status != rdb.StatusSucceeded {
		t.Fatalf("job %s: %s", st.Status, st.Error)
	}
	var got tasks.EvalResult
	if err := json.Unmarshal(st.Results[0], &got); err != nil {
		t.Fatal(err)
	}
	zip, err := mnistZip()
	if err != nil {
		t.Fatal(err)
	}
	splits, err := data.LoadArchive(context.Background(), zip, "mnist.zip")
	if err != nil {
		t.Fatal(err)
	}
	want, err := recipe.Eval(context.Background(), recipe.EvalOptions{Model: raw, Limits: safetensors.Limits{}, Data: splits})
	if err != nil {
		t.Fatal(err)
	}
	if got.Accuracy != want.Accuracy || got.Loss != want.Loss || got.Samples != 10000 || len(got.PerClass) != 10 || len(got.Mean) != 0 {
		t.Fatalf("queued eval %+v, in process %+v", got, want)
	}

	id = h.submit(t, fmt.Sprintf(`{"type":"compress:eval","options":{"max_retry":3},"payload":{"v":1,"model":%q,"data":"file:///elsewhere/mnist.zip"}}`, uri))
	st = h.wait(t, id, time.Minute)
	if st.Status != rdb.StatusFailed || !strings.Contains(st.Error, `data "file:///elsewhere/mnist.zip"`) || !strings.Contains(st.Error, "outside the artifact roots") {
		t.Fatalf("job %s: %q", st.Status, st.Error)
	}
	insp := asynq.NewInspectorFromRedisClient(h.rc)
	info := taskInfoIn(t, insp, tasks.StepTaskID(id, 0), asynq.TaskStateArchived)
	if info.State != asynq.TaskStateArchived || info.Retried != 0 {
		t.Fatalf("task %s, retried %d: want archived without a retry", info.State, info.Retried)
	}
}
