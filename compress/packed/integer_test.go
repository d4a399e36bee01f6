package packed

import (
	"bytes"
	"errors"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/compressq/compressq/compress/safetensors"
)

// readFixture returns a file of testdata.
func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// TestFixturesRead reads an artifact written before version 2 existed (a
// weight-only int8 model, testdata/weightonly-v1.safetensors) and an
// integer-only model written by compress/qnn (int8-v2.safetensors), and
// rewrites each to the same bytes: the writer still produces version 1
// for content without version 2 features.
func TestFixturesRead(t *testing.T) {
	for _, tc := range []struct {
		file, version string
		acts          bool
	}{{"weightonly-v1.safetensors", FormatCompressedV1, false}, {"int8-v2.safetensors", FormatCompressedV2, true}} {
		t.Run(tc.file, func(t *testing.T) {
			raw := readFixture(t, tc.file)
			f, err := safetensors.ReadSafetensors(raw, safetensors.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if got := f.Metadata[FormatKey]; got != tc.version {
				t.Fatalf("%s = %q, want %q", FormatKey, got, tc.version)
			}
			c, err := ReadCompressed(raw, safetensors.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if (c.Activations != nil) != tc.acts {
				t.Fatalf("activation table present %v, want %v", c.Activations != nil, tc.acts)
			}
			var buf bytes.Buffer
			if err := WriteCompressed(&buf, c); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf.Bytes(), raw) {
				t.Fatal("rewritten artifact differs from the fixture")
			}
			rep, err := ReportSize(raw, safetensors.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if rep.HeaderBytes+rep.DataBytes != int64(len(raw)) {
				t.Fatalf("report covers %d of %d bytes", rep.HeaderBytes+rep.DataBytes, len(raw))
			}
		})
	}
}

// integerSample is a small artifact with every version 2 piece: an int8
// weight, an int32 bias and an activation table.
func integerSample() *Compressed {
	return &Compressed{
		Params: []CompressedParam{
			{Name: "layers.0.bias", Shape: []int{2}, Int32: &Int32Codes{Q: []int32{-7, 1 << 20}, Scale: []float32{0.5, 0.25}, Axis: 0}},
			{Name: "layers.1.bias", Shape: []int{3}, Int32: &Int32Codes{Q: []int32{1, 2, 3}, Scale: []float32{2}, Axis: -1}},
		},
		Activations: &Activations{Tensors: []string{"input", "layers.0"}, Scale: []float32{0.1, 0.02}, ZeroPoint: []uint8{0, 128}},
	}
}

// TestInt32RoundTrip writes and reads the int32 scheme and an activation
// table, and checks their dequantized values and the size report.
func TestInt32RoundTrip(t *testing.T) {
	raw := compressedBytes(t, integerSample())
	c, err := ReadCompressed(raw, safetensors.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := c.Param("layers.0.bias")
	v, err := b.Float32s()
	if err != nil {
		t.Fatal(err)
	}
	if b.Scheme() != SchemeInt32 || !equalF32(v, []float32{-3.5, 1 << 18}) {
		t.Fatalf("scheme %s, values %v", b.Scheme(), v)
	}
	b, _ = c.Param("layers.1.bias")
	if v, _ = b.Float32s(); !equalF32(v, []float32{2, 4, 6}) {
		t.Fatalf("per-tensor int32 values %v", v)
	}
	a := c.Activations
	if a == nil || !equalF32(a.Scale, []float32{0.1, 0.02}) || string(a.ZeroPoint) != "\x00\x80" || strings.Join(a.Tensors, ",") != "input,layers.0" {
		t.Fatalf("activations %+v", a)
	}
	rep, err := ReportSize(raw, safetensors.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	last := rep.Params[len(rep.Params)-1]
	if last.Name != ActivationsKey || last.Bytes != 2*4+2 || rep.HeaderBytes+rep.DataBytes != int64(len(raw)) {
		t.Fatalf("activation row %+v; header %d + data %d of %d bytes", last, rep.HeaderBytes, rep.DataBytes, len(raw))
	}
}

// TestIntegerRejects corrupts the version 2 pieces of an artifact and
// checks that reading names the parameter or tensor and wraps ErrFormat.
func TestIntegerRejects(t *testing.T) {
	good := compressedBytes(t, integerSample())
	edit := func(change func(f *safetensors.File)) []byte {
		f, err := safetensors.ReadSafetensors(bytes.Clone(good), safetensors.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		change(f)
		var buf bytes.Buffer
		if err := safetensors.WriteSafetensors(&buf, f); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	setF32 := func(f *safetensors.File, name string, i int, v float32) {
		tt, _ := f.Tensor(name)
		b := math.Float32bits(v)
		tt.Data[4*i], tt.Data[4*i+1], tt.Data[4*i+2], tt.Data[4*i+3] = byte(b), byte(b>>8), byte(b>>16), byte(b>>24)
	}
	md := func(key, old, new string) func(f *safetensors.File) {
		return func(f *safetensors.File) { f.Metadata[key] = strings.Replace(f.Metadata[key], old, new, 1) }
	}
	tests := []struct {
		name   string
		change func(f *safetensors.File)
		want   []string
	}{
		{"version 1 with activations", md(FormatKey, "/2", "/1"), []string{"layers.0.bias", "scheme int32 needs"}},
		{"NaN activation scale", func(f *safetensors.File) { setF32(f, "activations.scale", 1, float32(math.NaN())) }, []string{`"layers.0"`, "scale NaN"}},
		{"zero activation scale", func(f *safetensors.File) { setF32(f, "activations.scale", 0, 0) }, []string{`"input"`, "scale 0"}},
		{"negative activation scale", func(f *safetensors.File) { setF32(f, "activations.scale", 1, -1) }, []string{`"layers.0"`, "scale -1"}},
		{"zero point out of range", func(f *safetensors.File) {
			tt, _ := f.Tensor("activations.zero_point")
			*tt = safetensors.I32Tensor(tt.Name, []int{2}, []int32{0, 256})
		}, []string{`"layers.0"`, "zero point 256"}},
		{"zero point dtype", func(f *safetensors.File) {
			tt, _ := f.Tensor("activations.zero_point")
			tt.DType = safetensors.I8
		}, []string{"activations.zero_point", "dtype"}},
		{"table length", md(ActivationsKey, `"layers.0"`, `"layers.0","layers.1"`), []string{"activations.scale", "2 elements for 3 tensors"}},
		{"duplicate tensor", md(ActivationsKey, `"layers.0"`, `"input"`), []string{`"input"`, "twice"}},
		{"empty tensor name", md(ActivationsKey, `"layers.0"`, `""`), []string{"tensor 1", "empty name"}},
		{"unknown table role", md(ActivationsKey, `"scale":`, `"scales":`), []string{"activations", `"scales"`}},
		{"table component of a parameter", md(ActivationsKey, `"activations.scale"`, `"layers.0.bias.scale"`), []string{"layers.0.bias.scale", "already used"}},
		{"table trailing data", md(ActivationsKey, `}}`, `}} {}`), []string{ActivationsKey, "trailing"}},
		{"int32 scale NaN", func(f *safetensors.File) { setF32(f, "layers.0.bias.scale", 1, float32(math.NaN())) }, []string{"layers.0.bias", "scale[1] = NaN"}},
		{"int32 scale too large", func(f *safetensors.File) { setF32(f, "layers.1.bias.scale", 0, 0x1p100) }, []string{"layers.1.bias", "scale[0]"}},
		{"int32 scale count", md(EncodingKey, `"axis":-1`, `"axis":0`), []string{"layers.1.bias", "1 elements, want 3"}},
		{"int32 not symmetric", md(EncodingKey, `"scheme":"int32","shape":[2],"bits":32,"axis":0,"symmetric":true`, `"scheme":"int32","shape":[2],"bits":32,"axis":0`), []string{"layers.0.bias", "symmetric"}},
		{"int32 code dtype", func(f *safetensors.File) {
			tt, _ := f.Tensor("layers.0.bias.q")
			tt.DType, tt.Shape = safetensors.F32, []int{2}
		}, []string{"layers.0.bias", "dtype F32"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadCompressed(edit(tc.change), safetensors.Limits{})
			if err == nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, safetensors.ErrFormat) {
				t.Errorf("%v does not wrap ErrFormat", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// TestIntegerWriteRejects checks that the writer validates the version 2
// pieces before writing.
func TestIntegerWriteRejects(t *testing.T) {
	tests := []struct {
		name string
		c    Compressed
		want string
	}{
		{"int32 sparse", Compressed{Params: []CompressedParam{{Name: "b", Shape: []int{1}, Sparse: true, Int32: &Int32Codes{Q: []int32{1}, Scale: []float32{1}, Axis: -1}}}}, "no sparse"},
		{"int32 scale", Compressed{Params: []CompressedParam{{Name: "b", Shape: []int{1}, Int32: &Int32Codes{Q: []int32{1}, Scale: []float32{0}, Axis: -1}}}}, "scale[0] = 0"},
		{"int32 and values", Compressed{Params: []CompressedParam{{Name: "b", Shape: []int{1}, Values: []float32{1}, Int32: &Int32Codes{Q: []int32{1}, Scale: []float32{1}, Axis: -1}}}}, "more than one"},
		{"activation lengths", Compressed{Activations: &Activations{Tensors: []string{"input"}}}, "1 tensors, 0 scales"},
		{"activation scale", Compressed{Activations: &Activations{Tensors: []string{"input"}, Scale: []float32{float32(math.Inf(1))}, ZeroPoint: []uint8{0}}}, `"input": scale +Inf`},
		{"reserved key", Compressed{Metadata: map[string]string{ActivationsKey: "{}"}}, "reserved"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := WriteCompressed(&bytes.Buffer{}, &tc.c)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}
