package sweep

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/compressq/compressq/compress/model"
	"github.com/compressq/compressq/compress/nas"
	"github.com/compressq/compressq/compress/nn"
	"github.com/compressq/compressq/internal/artifact"
	"github.com/compressq/compressq/tasks"
)

// TestStartPolicy: a policy search is bound to its base model at start —
// the stored spec carries the searched layers and the sensitivity seeds —
// and is refused, before anything is queued, when its model does not
// exist, is not a model, names a layer the model lacks, has a budget no
// policy meets, or cannot be read from where the sweep starts.
func TestStartPolicy(t *testing.T) {
	rc := newRedis(t)
	ctx := context.Background()
	st, err := artifact.Open(ctx, t.TempDir(), nil, 1<<24)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	net, err := nn.Build(nn.Arch{Input: []int{1, 28, 28}, Layers: []nn.LayerSpec{{Type: nn.TypeFlatten}, {Type: nn.TypeDense, Units: 64},
		{Type: nn.TypeReLU}, {Type: nn.TypeDense, Units: 10}}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := model.Save(&buf, net); err != nil {
		t.Fatal(err)
	}
	modelURI, err := st.Put(ctx, &buf, ".safetensors")
	if err != nil {
		t.Fatal(err)
	}
	notModel, err := st.Put(ctx, strings.NewReader("hash,accuracy\n"), ".csv")
	if err != nil {
		t.Fatal(err)
	}
	rep, err := json.Marshal(tasks.SensitivityResult{Baseline: 0.9, Curves: []tasks.SensitivityCurve{
		{Param: "layers.1.weight", Size: 784 * 64, Points: []tasks.SensitivityPoint{{Sparsity: 0.5, Accuracy: 0.9}, {Sparsity: 0.9, Accuracy: 0.85}}},
		{Param: "layers.3.weight", Size: 640, Points: []tasks.SensitivityPoint{{Sparsity: 0.5, Accuracy: 0.8}, {Sparsity: 0.9, Accuracy: 0.3}}}}})
	if err != nil {
		t.Fatal(err)
	}
	report, err := st.Put(ctx, bytes.NewReader(rep), ".json")
	if err != nil {
		t.Fatal(err)
	}
	c := New(rc, time.Hour, tasks.Defaults{})
	defer c.Close()
	c.CheckArtifact = func(ctx context.Context, uri string) error {
		r, _, err := st.Open(ctx, uri)
		if err == nil {
			r.Close()
		}
		return err
	}
	c.ReadArtifact = st.Get
	missing := modelURI[:strings.Index(modelURI, "/sha256/")] + "/sha256/00/" + strings.Repeat("0", 64) + ".safetensors"
	doc := func(model, space string) []byte {
		return []byte("strategy: tpe\nmax_trials: 10\nevaluator: {type: train, data: data.zip, model: \"" + model + "\"}\nspace: " + space + "\n")
	}
	for _, tc := range []struct{ name, model, space, want, field string }{
		{"missing model", missing, "{policy: {}}", "no such artifact", "evaluator.model"},
		{"not a model", notModel, "{policy: {}}", "evaluator.model", "evaluator.model"},
		{"missing report", modelURI, "{policy: {sensitivity: \"" + missing + "\"}}", "no such artifact", "space.policy.sensitivity"},
		{"not a report", modelURI, "{policy: {sensitivity: \"" + modelURI + "\"}}", "not a sensitivity report", "space.policy.sensitivity"},
		{"unknown layer", modelURI, "{policy: {layers: [layers.2.weight]}}", `space.policy.layers[0]: "layers.2.weight" is not a Dense or Conv2D weight`, ""},
		{"budget no policy meets", modelURI, "{policy: {}, constraints: {max_bytes: 200}}",
			"space.constraints: the strategy finds no candidate within max_bytes 200 and max_macs 0", ""},
	} {
		startRefused(t, c, tc.name, doc(tc.model, tc.space), tc.want, tc.field)
	}
	nothingStarted(t, c)
	if _, err := ParseSpec(doc(modelURI, "{dense: {depth: [1], widths: [16]}}")); err == nil || !strings.Contains(err.Error(), "evaluator.model: only with space.policy") {
		t.Errorf("a model without a policy space: %v", err)
	}
	if _, err := ParseSpec([]byte("strategy: tpe\nmax_trials: 10\nevaluator: {type: train, data: data.zip}\nspace: {policy: {}}\n")); err == nil ||
		!strings.Contains(err.Error(), "evaluator.model: required with space.policy") {
		t.Errorf("a policy space without a model: %v", err)
	}

	spec, err := ParseSpec(doc(modelURI, "{policy: {sensitivity: \""+report+"\"}, constraints: {max_bytes: 30000}}"))
	if err != nil {
		t.Fatal(err)
	}
	id, err := c.Start(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	stored, _, err := c.Spec(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	pol := stored.Config.Space.Policy
	if pol == nil || len(pol.Model) != 2 || pol.Model[0].Weights != 784*64 || len(pol.Seeds) != 2 || len(stored.Config.Space.Params) != 4 {
		t.Fatalf("stored policy %+v, params %v", pol, stored.Config.Space.Params)
	}
	// At 8 bits the budget needs pruning, allocated by tolerance (the
	// first layer's curve tolerates it better); at 4 bits the model fits
	// at the first target tried (the artifact stores int4 dense).
	for i, seed := range pol.Seeds {
		a := pol.Assignment(seed)
		first, second := a["layers.1.weight"], a["layers.3.weight"]
		if b, _ := pol.Cost(a); b > 30000 || i == 0 && (first.Bits != 8 || first.Sparsity <= second.Sparsity) ||
			i == 1 && first.Bits != 4 {
			t.Errorf("seed %d %v: %d bytes, assignment %+v", i, seed, b, a)
		}
	}
	if _, err := nas.New(stored.Config); err != nil {
		t.Errorf("the stored spec does not make a strategy: %v", err)
	}

	c.ReadArtifact = nil
	spec, err = ParseSpec(doc(modelURI, "{policy: {}}"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Start(ctx, spec); !errors.Is(err, ErrInvalidSpec) || !strings.Contains(err.Error(), "not reachable") {
		t.Errorf("policy search without the store: %v", err)
	}
}
