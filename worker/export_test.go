package worker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/compressq/compressq/compress/model"
	"github.com/compressq/compressq/compress/nn"
	"github.com/compressq/compressq/compress/onnx"
	"github.com/compressq/compressq/internal/rdb"
	"github.com/compressq/compressq/tasks"
)

// TestExportPipeline runs quantize → export as a pipeline: the int8
// artifact of step 0 becomes a QDQ ONNX model, which decodes and carries
// its form in the metadata. A QDQ export of a float model without data
// fails the job at once with the reason.
func TestExportPipeline(t *testing.T) {
	h := start(t, nil)
	a, _ := nn.ArchByName("lenet-300-100")
	net, err := nn.Build(a, 1)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := model.Save(&buf, net); err != nil {
		t.Fatal(err)
	}
	uri, err := h.store.Put(context.Background(), &buf, ".safetensors")
	if err != nil {
		t.Fatal(err)
	}
	id := h.submit(t, `{"steps":[
		{"type":"compress:quantize","payload":`+quantizeSpec(uri, 4, tasks.PerChannel)+`},
		{"type":"compress:export","payload":{"v":1,"model":"@prev","form":"qdq"}}]}`)
	st := h.wait(t, id, 60*time.Second)
	if st.Status != rdb.StatusSucceeded {
		t.Fatalf("job %s: %s", st.Status, st.Error)
	}
	var res tasks.ExportResult
	if err := json.Unmarshal(st.Results[1], &res); err != nil {
		t.Fatal(err)
	}
	if res.Form != "qdq" || res.Source != "weight-only int4" || len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "int4") {
		t.Errorf("result %+v", res)
	}
	b, err := h.store.Get(context.Background(), res.Artifact)
	if err != nil {
		t.Fatal(err)
	}
	meta, err := onnx.Metadata(b)
	if err != nil || meta[onnx.MetaForm] != "qdq" || int64(len(b)) != res.Bytes {
		t.Fatalf("exported %d bytes (result says %d), metadata %v, %v", len(b), res.Bytes, meta, err)
	}

	id = h.submit(t, `{"type":"compress:export","payload":{"v":1,"model":"`+uri+`","form":"qdq"}}`)
	st = h.wait(t, id, 30*time.Second)
	if st.Status != rdb.StatusFailed || !strings.Contains(st.Error, "needs calibration data") {
		t.Fatalf("qdq of a float model without data: job %s, error %q", st.Status, st.Error)
	}
}
