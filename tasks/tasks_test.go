package tasks

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
)

func TestDecodeQuantize(t *testing.T) {
	tests := []struct {
		name    string
		payload string
		// wantErr lists substrings the error must contain; empty means success.
		wantErr []string
	}{
		{"valid", `{"v":1,"model":"file:///m.safetensors","bits":8,"granularity":"per-channel"}`, nil},
		{"int4 asymmetric", `{"v":1,"model":"mem://b/m","bits":4,"granularity":"per-tensor","asymmetric":true}`, nil},
		{"missing version", `{"model":"file:///m","bits":8,"granularity":"per-tensor"}`, []string{"v: missing"}},
		{"future version", `{"v":2,"model":"file:///m","bits":8,"granularity":"per-tensor"}`, []string{"v: version 2 not supported"}},
		{"unknown field", `{"v":1,"model":"file:///m","bits":8,"granularity":"per-tensor","bitz":8}`, []string{"bitz: unknown field"}},
		{"wrong type", `{"v":1,"model":"file:///m","bits":"eight","granularity":"per-tensor"}`, []string{"bits: must be int"}},
		{"every bad field at once", `{"v":1,"model":"m.safetensors","bits":3,"granularity":"per-row"}`,
			[]string{`model: "m.safetensors" is not an artifact URI`, "bits: 3 not supported", `granularity: "per-row" is not one of`}},
		{"missing model", `{"v":1,"bits":8,"granularity":"per-tensor"}`, []string{"model: required"}},
		{"mixed precision", `{"v":1,"model":"file:///m","bits":8,"granularity":"per-channel","per_layer_bits":{"layers.1.weight":4}}`, nil},
		{"mixed precision, bad width", `{"v":1,"model":"file:///m","bits":8,"granularity":"per-channel","per_layer_bits":{"layers.1.weight":2}}`,
			[]string{"per_layer_bits.layers.1.weight: 2 not supported"}},
		{"mixed precision with calibration", `{"v":1,"model":"file:///m","bits":8,"granularity":"per-channel","per_layer_bits":{"a":4},"calibration":"minmax","data":"file:///d"}`,
			[]string{"per_layer_bits: weight-only quantization only"}},
		{"not json", `bits=8`, []string{"not a JSON object"}},
		{"trailing data", `{"v":1,"model":"file:///m","bits":8,"granularity":"per-tensor"} {}`, []string{"after top-level value"}},
		{"oversized", `{"v":1,"model":"file:///` + strings.Repeat("a", MaxPayloadBytes) + `"}`, []string{"exceeds the 65536-byte limit"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := DecodeAs[*QuantizePayload](TypeQuantize, []byte(tc.payload))
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				if p.Model == "" || p.Bits == 0 {
					t.Fatalf("decoded payload lost fields: %+v", p)
				}
				return
			}
			if err == nil {
				t.Fatalf("Decode accepted %s", tc.payload)
			}
			if !errors.Is(err, asynq.SkipRetry) {
				t.Errorf("error %q does not wrap asynq.SkipRetry", err)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestDecodeUnknownType(t *testing.T) {
	_, err := Decode("compress:shrink", []byte(`{"v":1}`))
	if err == nil || !errors.Is(err, asynq.SkipRetry) || !strings.Contains(err.Error(), `"compress:shrink" is unknown`) {
		t.Fatalf("got %v", err)
	}
}

func TestEveryTypeRejectsEmptyPayload(t *testing.T) {
	for _, typ := range Types {
		if typ == TypeSleep { // every field is optional: {"v":1} is a no-op
			continue
		}
		_, err := Decode(typ, []byte(`{"v":1}`))
		if err == nil {
			t.Errorf("%s accepted an empty payload", typ)
			continue
		}
		var fe *FieldError
		if !errors.As(err, &fe) {
			t.Errorf("%s: error %q names no field", typ, err)
		}
	}
}

func TestDecodeSleep(t *testing.T) {
	p, err := DecodeAs[*SleepPayload](TypeSleep, []byte(`{"v":1,"duration":"250ms"}`))
	if err != nil || p.Duration != Duration(250*time.Millisecond) {
		t.Fatalf("got %+v, %v", p, err)
	}
	for _, bad := range []string{`{"v":1,"duration":"-1s"}`, `{"v":1,"duration":"2h"}`, `{"v":1,"duration":"soon"}`} {
		if _, err := Decode(TypeSleep, []byte(bad)); err == nil || !errors.Is(err, asynq.SkipRetry) {
			t.Errorf("%s: %v", bad, err)
		}
	}
}

// TestDecodeNASEvalContinuation: a trial that continues another one names
// a horizon of at least its epochs, another trial to continue, and no empty
// or own id to release.
func TestDecodeNASEvalContinuation(t *testing.T) {
	ok := `{"v":1,"sweep":"s","trial":"t2","attempt":1,"candidate":{},"epochs":3,"horizon":9,"from":"t1","release":["t1"]}`
	p, err := DecodeAs[*NASEvalPayload](TypeNASEval, []byte(ok))
	if err != nil || p.Horizon != 9 || p.From != "t1" || len(p.Release) != 1 {
		t.Fatalf("got %+v, %v", p, err)
	}
	for bad, field := range map[string]string{
		`{"v":1,"sweep":"s","trial":"t2","attempt":1,"candidate":{},"epochs":3,"horizon":2}`:      "horizon",
		`{"v":1,"sweep":"s","trial":"t2","attempt":1,"candidate":{},"epochs":3,"from":"t2"}`:      "from",
		`{"v":1,"sweep":"s","trial":"t2","attempt":1,"candidate":{},"epochs":3,"release":["t2"]}`: "release",
		`{"v":1,"sweep":"s","trial":"t2","attempt":1,"candidate":{},"epochs":3,"release":[""]}`:   "release",
	} {
		if _, err := Decode(TypeNASEval, []byte(bad)); err == nil || !errors.Is(err, asynq.SkipRetry) || !strings.Contains(err.Error(), field) {
			t.Errorf("%s: %v, want an error naming %s", bad, err, field)
		}
	}
}

func TestNewRoundTrip(t *testing.T) {
	in := &QuantizePayload{V: Version, Model: "file:///a/b.safetensors", Bits: 8, Granularity: PerChannel}
	task, err := New(in, asynq.Queue("low"))
	if err != nil {
		t.Fatal(err)
	}
	if task.Type() != TypeQuantize {
		t.Fatalf("type %q", task.Type())
	}
	out, err := DecodeAs[*QuantizePayload](task.Type(), task.Payload())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(out, in) {
		t.Fatalf("round trip: got %+v want %+v", out, in)
	}
	if _, err := New(&QuantizePayload{V: Version, Bits: 8}); err == nil {
		t.Fatal("New accepted an invalid payload")
	}
}

func TestDue(t *testing.T) {
	p := &SleepPayload{V: Version}
	at := time.Now().Add(3 * time.Hour).Truncate(time.Millisecond)
	for _, c := range []struct {
		name string
		opts []asynq.Option
		want time.Time
	}{
		{"now", nil, time.Now()},
		{"process_in", []asynq.Option{asynq.ProcessIn(time.Hour)}, time.Now().Add(time.Hour)},
		{"process_at", []asynq.Option{asynq.Queue("low"), asynq.ProcessAt(at)}, at},
	} {
		task, err := New(p, c.opts...)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := Due(task)
		if d := got.Sub(c.want); !ok || d < -time.Second || d > time.Second {
			t.Errorf("%s: Due = %v, %v; want about %v", c.name, got, ok, c.want)
		}
	}
	if _, ok := Due(asynq.NewTask(TypeSleep, nil)); ok {
		t.Error("a task without the header has a due time")
	}
}

func TestJobSpecNormalize(t *testing.T) {
	q := `{"v":1,"model":"file:///m","bits":8,"granularity":"per-tensor"}`
	prev := `{"v":1,"model":"@prev","bits":8,"granularity":"per-tensor"}`
	tests := []struct {
		name    string
		spec    string
		steps   int
		wantErr []string
	}{
		{"single task", `{"type":"compress:quantize","payload":` + q + `}`, 1, nil},
		{"pipeline with @prev", `{"steps":[{"type":"compress:quantize","payload":` + q + `},{"type":"compress:quantize","payload":` + prev + `}]}`, 2, nil},
		{"@prev in first step", `{"steps":[{"type":"compress:quantize","payload":` + prev + `}]}`, 0, []string{"steps[0].payload: @prev: the first step has no previous step"}},
		{"both forms", `{"type":"compress:quantize","payload":` + q + `,"steps":[{"type":"train","payload":{}}]}`, 0, []string{"type: give either"}},
		{"empty", `{}`, 0, []string{"steps: a job needs"}},
		{"bad options and payload", `{"id":"bad id!","options":{"queue":"urgent","max_retry":-1},"steps":[{"type":"compress:quantize","payload":{"v":1,"bits":8,"granularity":"per-tensor"}}]}`, 0,
			[]string{`id: "bad id!" must match`, `options.queue: "urgent" is not one of`, "options.max_retry: -1 out of range", "steps[0].payload.model: required"}},
		{"sub-second timeout", `{"options":{"timeout":"300ms"},"type":"compress:quantize","payload":` + q + `}`, 0, []string{"options.timeout: 300ms is below the queue's 1s resolution"}},
		{"priority conflicts with queue", `{"options":{"queue":"low","priority":"high"},"type":"compress:quantize","payload":` + q + `}`, 0, []string{`options.priority: "high" conflicts with queue "low"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var j JobSpec
			if err := json.Unmarshal([]byte(tc.spec), &j); err != nil {
				t.Fatal(err)
			}
			err := j.Normalize()
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if len(j.Steps) != tc.steps {
					t.Fatalf("%d steps, want %d", len(j.Steps), tc.steps)
				}
				return
			}
			if err == nil {
				t.Fatal("Normalize accepted the spec")
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestStepTask(t *testing.T) {
	var j JobSpec
	spec := `{"options":{"priority":"high","timeout":"90s","process_in":"1h"},"steps":[
		{"type":"compress:quantize","payload":{"v":1,"model":"file:///m","bits":8,"granularity":"per-tensor"}},
		{"type":"compress:quantize","payload":{"v":1,"model":"@prev","bits":4,"granularity":"per-channel"},"options":{"queue":"low","max_retry":1}}]}`
	if err := json.Unmarshal([]byte(spec), &j); err != nil {
		t.Fatal(err)
	}
	if err := j.Normalize(); err != nil {
		t.Fatal(err)
	}
	d := Defaults{Queue: QueueDefault, MaxRetry: 5, Retention: time.Hour}
	t0, err := j.StepTask("job1", 0, "", d)
	if err != nil {
		t.Fatal(err)
	}
	if job, step, ok := JobStep(t0); !ok || job != "job1" || step != 0 {
		t.Fatalf("JobStep = %q %d %v", job, step, ok)
	}
	t1, err := j.StepTask("job1", 1, "file:///out.safetensors", d)
	if err != nil {
		t.Fatal(err)
	}
	p, err := DecodeAs[*QuantizePayload](t1.Type(), t1.Payload())
	if err != nil {
		t.Fatal(err)
	}
	if p.Model != "file:///out.safetensors" || p.Bits != 4 {
		t.Fatalf("step 1 payload %+v", p)
	}
	if _, err := j.StepTask("job1", 1, "", d); err == nil || !errors.Is(err, asynq.SkipRetry) {
		t.Fatalf("step needing @prev without an artifact: %v", err)
	}
	if _, err := j.StepTask("job1", 2, "", d); err == nil {
		t.Fatal("StepTask accepted a step past the end")
	}
	if got := StepTaskID("job1", 3); got != "job1/step-3" {
		t.Fatalf("StepTaskID = %q", got)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(TypeQuantize, []byte(`{"v":1,"model":"file:///m","bits":8,"granularity":"per-tensor"}`))
	f.Add(TypeTrain, []byte(`{"v":1,"arch":"lenet-5","epochs":1}`))
	f.Add(TypeDistill, []byte(`{"v":1,"teacher":"file:///t","student":{"layers":[]},"temperature":4,"alpha":0.7,"epochs":2}`))
	f.Add(TypeNASEval, []byte(`{"v":1,"sweep":"s","trial":"t1","attempt":1,"candidate":{},"epochs":1}`))
	f.Fuzz(func(t *testing.T, typ string, data []byte) {
		p, err := Decode(typ, data)
		if err != nil {
			if !errors.Is(err, asynq.SkipRetry) {
				t.Fatalf("error %q does not wrap SkipRetry", err)
			}
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("decoded payload fails Validate: %v", err)
		}
		if _, err := Marshal(p); err != nil {
			t.Fatalf("decoded payload does not marshal: %v", err)
		}
	})
}

func TestChildOptions(t *testing.T) {
	d := Defaults{MaxRetry: 4, Retention: time.Hour, Timeout: time.Minute, Timeouts: map[string]time.Duration{TypeTrain: 2 * time.Hour}}
	got := map[asynq.OptionType]any{}
	for _, o := range d.ChildOptions(TypeTrain, "sweep", "s/t1") {
		got[o.Type()] = o.Value()
	}
	want := map[asynq.OptionType]any{asynq.TaskIDOpt: "s/t1", asynq.QueueOpt: "sweep", asynq.MaxRetryOpt: 4,
		asynq.RetentionOpt: time.Hour, asynq.TimeoutOpt: 2 * time.Hour}
	if len(got) != len(want) {
		t.Fatalf("options %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("option %v = %v, want %v", k, got[k], v)
		}
	}
	for _, o := range (Defaults{}).ChildOptions(TypeSleep, "", "x") {
		if o.Type() == asynq.QueueOpt || o.Type() == asynq.RetentionOpt || o.Type() == asynq.TimeoutOpt {
			t.Errorf("zero defaults and no queue gave option %v", o)
		}
	}
}

// TestDecodeDataFields covers the fields every data-reading payload shares:
// data (required), mean/std and the optimizer settings.
func TestDecodeDataFields(t *testing.T) {
	tests := []struct {
		typ, payload string
		wantErr      []string
	}{
		{TypeTrain, `{"v":1,"arch":"lenet-5","data":"mem://b/d.zip","epochs":1,"mean":[0.49,0.48,0.45],"std":[0.25,0.24,0.26],"optimizer":"adam","weight_decay":0.0005,"lr_schedule":"cosine","momentum":0.5}`, nil},
		{TypeEval, `{"v":1,"model":"mem://b/m","data":"mem://b/d.zip","batch_size":100,"std":[0.00392157],"mean":[0]}`, nil},
		{TypePrune, `{"v":1,"model":"mem://b/m","data":"mem://b/d.zip","method":"global","sparsity":0.5,"schedule":"agp","lr_schedule":"step"}`, nil},
		{TypeTrain, `{"v":1,"arch":"lenet-5","epochs":1}`, []string{"data: required"}},
		{TypeEval, `{"v":1,"model":"mem://b/m"}`, []string{"data: required"}},
		{TypeDistill, `{"v":1,"teacher":"mem://b/m","student":"lenet-5","temperature":4,"alpha":0.9,"epochs":1}`, []string{"data: required"}},
		{TypeQuantize, `{"v":1,"model":"mem://b/m","bits":8,"granularity":"per-channel","calibration":"minmax"}`, []string{"data: required by the full recipe"}},
		{TypeTrain, `{"v":1,"arch":"lenet-5","data":"d","epochs":1,"mean":[0.1,0.2],"std":[0.3]}`, []string{"std: 1 values for 2 mean values"}},
		{TypeTrain, `{"v":1,"arch":"lenet-5","data":"d","epochs":1,"mean":[0.1],"std":[0]}`, []string{"std[0]: 0 must be a finite number > 0"}},
		{TypeTrain, `{"v":1,"arch":"lenet-5","data":"d","epochs":1,"optimizer":"rmsprop","lr_schedule":"linear","momentum":1.5,"weight_decay":-1}`,
			[]string{`optimizer: "rmsprop" is not one of`, `lr_schedule: "linear" is not one of`, "momentum: 1.5 out of range", "weight_decay: -1 must be >= 0"}},
	}
	for _, tc := range tests {
		t.Run(tc.typ, func(t *testing.T) {
			_, err := Decode(tc.typ, []byte(tc.payload))
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatalf("%s: %v", tc.payload, err)
				}
				return
			}
			if !errors.Is(err, asynq.SkipRetry) {
				t.Fatalf("%s: error %v does not wrap asynq.SkipRetry", tc.payload, err)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}
