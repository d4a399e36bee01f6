package tasks

import (
	"errors"
	"strings"
	"testing"

	"github.com/hibiken/asynq"
)

func TestDecodeExport(t *testing.T) {
	ok := []string{
		`{"v":1,"model":"file:///m.safetensors"}`,
		`{"v":1,"model":"mem://m","format":"onnx","form":"qdq"}`,
		`{"v":1,"model":"mem://m","form":"qoperator","data":"file:///data/mnist.zip","calibration":"kl","calib_size":500}`,
		`{"v":1,"model":"mem://m","mean":[0.1307],"std":[0.3081]}`,
	}
	for _, s := range ok {
		p, err := DecodeAs[*ExportPayload](TypeExport, []byte(s))
		if err != nil {
			t.Errorf("%s: %v", s, err)
			continue
		}
		if p.Model == "" {
			t.Errorf("%s: model lost", s)
		}
	}
	bad := []struct{ payload, field string }{
		{`{"v":1}`, "model"},
		{`{"v":1,"model":"m.onnx"}`, "model"},
		{`{"v":1,"model":"mem://m","format":"tflite"}`, "format"},
		{`{"v":1,"model":"mem://m","form":"int3"}`, "form"},
		{`{"v":1,"model":"mem://m","form":"qoperator"}`, "data"},
		{`{"v":1,"model":"mem://m","calibration":"kl"}`, "calibration"},
		{`{"v":1,"model":"mem://m","data":"file:///data/mnist.zip","calibration":"vibes"}`, "calibration"},
		{`{"v":1,"model":"mem://m","data":"file:///data/mnist.zip","calib_size":-1}`, "calib_size"},
		{`{"v":1,"model":"mem://m","mean":[0.5]}`, "std"},
		{`{"v":1,"model":"mem://m","mean":[0],"std":[0]}`, "std[0]"},
		{`{"v":1,"model":"mem://m","opset":17}`, "opset"},
	}
	for _, b := range bad {
		_, err := Decode(TypeExport, []byte(b.payload))
		if err == nil || !errors.Is(err, asynq.SkipRetry) {
			t.Errorf("%s: %v, want an invalid payload", b.payload, err)
			continue
		}
		found := false
		for _, fe := range Fields(err) {
			found = found || fe.Field == b.field
		}
		if !found {
			t.Errorf("%s: error %q does not name field %q", b.payload, err, b.field)
		}
	}
	if !strings.Contains(strings.Join(Types, " "), TypeExport) {
		t.Errorf("Types does not list %s", TypeExport)
	}
}
