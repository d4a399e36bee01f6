package model

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/compress/nn"
	"github.com/compressq/compressq/compress/safetensors"
)

func TestSaveWithTransform(t *testing.T) {
	arch, err := nn.ArchByName("lenet-300-100")
	if err != nil {
		t.Fatal(err)
	}
	net, err := nn.Build(arch, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := data.Transform{Mean: []float64{0.1307}, Std: []float64{0.3081}}
	var buf bytes.Buffer
	if err := SaveWithTransform(&buf, net, want); err != nil {
		t.Fatal(err)
	}
	got, ok, err := ReadInputTransform(buf.Bytes(), safetensors.Limits{})
	if err != nil || !ok || !slices.Equal(got.Mean, want.Mean) || !slices.Equal(got.Std, want.Std) {
		t.Fatalf("read back %v %v %v, want %v", got, ok, err, want)
	}
	if _, err := Load(buf.Bytes(), safetensors.Limits{}); err != nil {
		t.Fatalf("Load ignores the transform keys: %v", err)
	}
	buf.Reset()
	if err := Save(&buf, net); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := ReadInputTransform(buf.Bytes(), safetensors.Limits{}); ok || err != nil {
		t.Fatalf("plain Save states a transform: %v %v", ok, err)
	}
	for _, md := range []map[string]string{
		{InputMeanKey: "0.1"},
		{InputMeanKey: "x", InputStdKey: "1"},
		{InputMeanKey: "0", InputStdKey: "0"},
	} {
		if _, _, err := InputTransform(md); !errors.Is(err, safetensors.ErrFormat) {
			t.Errorf("%v: err = %v, want ErrFormat", md, err)
		}
	}
}
