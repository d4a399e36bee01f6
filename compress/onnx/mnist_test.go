package onnx

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/compressq/compressq/compress/model"
	"github.com/compressq/compressq/compress/packed"
	"github.com/compressq/compressq/compress/quant"
	"github.com/compressq/compressq/compress/safetensors"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/compress/nn"
	"github.com/compressq/compressq/internal/mnist"
)

// TestImportMNISTAccuracy evaluates the imported zoo model on the
// 10,000 MNIST test images. The zoo model takes raw pixel values 0..255 (its
// reference inputs reach 255 and match the reference outputs, see
// TestImportReference), so the set is loaded with data.RawPixels. (The
// network is nearly scale-invariant: inputs in [0, 1] give only one more
// error, so accuracy alone would not tell the two apart.) The published accuracy is 98.91%; float32 summation order
// may flip a borderline image, so ±0.02 pt (two images) is accepted.
func TestImportMNISTAccuracy(t *testing.T) {
	if testing.Short() {
		t.Skip("loads the MNIST test set")
	}
	net, err := Import(readTestdata(t, "mnist-8/model.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	test := mnistRawTest(t)
	if test.Len() != 10000 {
		t.Fatalf("test set has %d images", test.Len())
	}
	acc, _, err := nn.Evaluate(net, test)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("imported zoo MNIST CNN: test accuracy %.4f (%d errors)", acc, int(float64(test.Len())*(1-acc)+0.5))
	if acc < 0.9889 || acc > 0.9893 {
		t.Errorf("accuracy %.4f, want 0.9891 ± 0.0002", acc)
	}
}

// TestZooQuantizedAccuracy quantizes the imported zoo model's weights
// (biases stay float32), stores them as a compressed artifact, reloads the
// artifact and evaluates it on the MNIST test set. The int8 per-channel
// symmetric model must lose at most 0.2 pt (the design target); int4 is
// reported for reference.
func TestZooQuantizedAccuracy(t *testing.T) {
	if testing.Short() {
		t.Skip("loads the MNIST test set")
	}
	net, err := Import(readTestdata(t, "mnist-8/model.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	test := mnistRawTest(t)
	base, _, err := nn.Evaluate(net, test)
	if err != nil {
		t.Fatal(err)
	}
	arch, _ := json.Marshal(net.Arch())
	for _, p := range []quant.Params{
		{Bits: 8, Scheme: quant.PerChannel, Symmetric: true},
		{Bits: 4, Scheme: quant.PerChannel, Symmetric: true},
	} {
		c := &packed.Compressed{Arch: string(arch)}
		for _, prm := range net.Params() {
			v, shape := prm.Value.Float32s(), []int(prm.Value.Shape())
			cp := packed.CompressedParam{Name: prm.Name, Shape: shape}
			if strings.HasSuffix(prm.Name, ".weight") {
				if cp.Quantized, err = quant.QuantizeTensor(v, shape, p); err != nil {
					t.Fatal(err)
				}
			} else {
				cp.Values = append([]float32(nil), v...)
			}
			c.Params = append(c.Params, cp)
		}
		var buf bytes.Buffer
		if err := packed.WriteCompressed(&buf, c); err != nil {
			t.Fatal(err)
		}
		rep, err := packed.ReportSize(buf.Bytes(), safetensors.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		qnet, err := model.Load(buf.Bytes(), safetensors.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		acc, _, err := nn.Evaluate(qnet, test)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("int%d %s: accuracy %.4f (float32 %.4f), artifact %d bytes (header %d), float32 data %d bytes, ratio %.2fx",
			p.Bits, p.Scheme, acc, base, rep.TotalBytes, rep.HeaderBytes, rep.Float32Bytes, rep.Ratio())
		if p.Bits == 8 && acc < base-0.002 {
			t.Errorf("int8 accuracy %.4f drops more than 0.2 pt below %.4f", acc, base)
		}
	}
}

var mnistRaw = sync.OnceValues(func() (*data.Dataset, error) {
	_, test, err := mnist.Load(context.Background(), data.RawPixels())
	return test, err
})

// mnistRawTest returns the MNIST test set with raw pixel values, loaded
// once per test binary; it skips the test when MNIST is not available.
func mnistRawTest(t *testing.T) *data.Dataset {
	t.Helper()
	test, err := mnistRaw()
	if err != nil {
		t.Skipf("MNIST not available: %v", err)
	}
	return test
}
