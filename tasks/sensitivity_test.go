package tasks

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/hibiken/asynq"
)

func TestDecodeSensitivity(t *testing.T) {
	tests := []struct {
		name    string
		payload string
		wantErr []string
	}{
		{"defaults", `{"v":1,"model":"file:///m.safetensors","data":"file:///d/mnist.zip"}`, nil},
		{"full", `{"v":1,"model":"mem://b/m","data":"mem://b/mnist.zip","mean":[0.1307],"std":[0.3081],"params":["layers.1.weight"],"levels":[0.5,0.9],"split":"train","eval_size":500,"target":0.8,"max_drop":0.02,"plot_format":"svg"}`, nil},
		{"bad levels", `{"v":1,"model":"file:///m","levels":[0.5,1.2,0.5]}`, []string{"levels[1]: 1.2 out of range", "levels[2]: 0.5 repeated"}},
		{"bad params", `{"v":1,"model":"file:///m","params":["a",""," a","a"]}`, []string{"params[1]: empty", `params[3]: "a" repeated`}},
		{"every bad field", `{"v":1,"model":"m","split":"val","eval_size":-1,"target":-0.5,"max_drop":0.1,"plot_format":"gif"}`,
			[]string{"model: \"m\" is not an artifact URI", `split: "val" is not one of`, "eval_size: -1", "target: -0.5 out of range", "max_drop: needs target", `plot_format: "gif"`}},
		{"too many points", `{"v":1,"model":"file:///m","levels":[0.5],"params":[` + manyParams(1025) + `]}`, []string{"exceed the limit of 1024 points"}},
		{"wrong type", `{"v":1,"model":"file:///m","levels":"0.5"}`, []string{"levels: must be []float64"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeAs[*SensitivityPayload](TypeSensitivity, []byte(tc.payload))
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !errors.Is(err, asynq.SkipRetry) {
				t.Fatalf("error %v, want one wrapping asynq.SkipRetry", err)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func manyParams(n int) string {
	s := make([]string, n)
	for i := range s {
		s[i] = `"p` + strconv.Itoa(i) + `"`
	}
	return strings.Join(s, ",")
}

func TestSensitivityDefaultsAndIDs(t *testing.T) {
	p := &SensitivityPayload{V: Version, Model: "file:///m"}
	if got := p.EffectiveLevels(); !slices.Equal(got, DefaultSensitivityLevels) {
		t.Fatalf("EffectiveLevels = %v", got)
	}
	p.EffectiveLevels()[0] = 0.1
	if DefaultSensitivityLevels[0] != 0.5 {
		t.Fatal("EffectiveLevels let the caller change the defaults")
	}
	if a, b := SensitivityPointTaskID("job/step-0", "layers.0.weight", 0.9), SensitivityPointTaskID("job/step-0", "layers.0.weight", 0.95); a == b || a != "job/step-0/point-layers.0.weight@0.9" {
		t.Fatalf("point ids %q, %q", a, b)
	}
	if _, err := Decode(TypeSensitivityPoint, []byte(`{"v":1,"run":"r","model":"file:///m","param":"layers.0.weight","sparsity":1}`)); err == nil || !strings.Contains(err.Error(), "sparsity: 1 out of range") {
		t.Fatalf("point with sparsity 1: %v", err)
	}
	if _, err := Decode(TypeSensitivityGather, []byte(`{"v":1}`)); err == nil || !strings.Contains(err.Error(), "run: required") {
		t.Fatalf("gather without run: %v", err)
	}
}
