package packed

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/compressq/compressq/compress/quant"
	"github.com/compressq/compressq/compress/safetensors"
)

// sampleCompressed quantizes small generated weights with every scheme and
// keeps one float32 passthrough parameter.
func sampleCompressed(t testing.TB) (*Compressed, map[string][]float32) {
	rng := rand.New(rand.NewPCG(3, 4))
	orig := map[string][]float32{}
	c := &Compressed{Arch: `{"layers":[{"type":"dense"}]}`, Metadata: map[string]string{"source": "unit test"}}
	i := 0
	for _, bits := range []int{8, 4} {
		for _, sch := range []quant.Scheme{quant.PerTensor, quant.PerChannel} {
			for _, sym := range []bool{true, false} {
				shape := []int{3, 5} // odd element count exercises int4 padding
				if i%2 == 1 {
					shape = []int{2, 1, 3, 3}
				}
				w := make([]float32, safetensors.Numel(shape))
				for k := range w {
					w[k] = float32(rng.NormFloat64())
				}
				name := "layers." + string(rune('a'+i)) + ".weight"
				q, err := quant.QuantizeTensor(w, shape, quant.Params{Bits: bits, Scheme: sch, Symmetric: sym})
				if err != nil {
					t.Fatal(err)
				}
				c.Params = append(c.Params, CompressedParam{Name: name, Shape: shape, Quantized: q})
				orig[name] = w
				i++
			}
		}
	}
	bias := []float32{0.5, -1, 2}
	c.Params = append(c.Params, CompressedParam{Name: "layers.z.bias", Shape: []int{3}, Values: bias})
	orig["layers.z.bias"] = bias
	return c, orig
}

func compressedBytes(t testing.TB, c *Compressed) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteCompressed(&buf, c); err != nil {
		t.Fatalf("WriteCompressed: %v", err)
	}
	return buf.Bytes()
}

func TestCompressedRoundTrip(t *testing.T) {
	c, orig := sampleCompressed(t)
	b := compressedBytes(t, c)
	got, err := ReadCompressed(b, safetensors.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Arch != c.Arch || got.Metadata["source"] != "unit test" || len(got.Metadata) != 1 {
		t.Errorf("arch/metadata = %q %v", got.Arch, got.Metadata)
	}
	if len(got.Params) != len(c.Params) {
		t.Fatalf("%d params, want %d", len(got.Params), len(c.Params))
	}
	for _, want := range c.Params {
		p, ok := got.Param(want.Name)
		if !ok {
			t.Fatalf("parameter %q missing", want.Name)
		}
		if p.Scheme() != want.Scheme() || !slices.Equal(p.Shape, want.Shape) {
			t.Errorf("%q: scheme %s shape %v, want %s %v", want.Name, p.Scheme(), p.Shape, want.Scheme(), want.Shape)
		}
		if want.Quantized != nil {
			a, b := want.Quantized, p.Quantized
			if b == nil || a.Axis != b.Axis || a.Bits != b.Bits || a.Symmetric != b.Symmetric ||
				!bytes.Equal(int8Bytes(a.Q), int8Bytes(b.Q)) || !equalF32(a.Scale, b.Scale) || !slices.Equal(a.ZeroPoint, b.ZeroPoint) {
				t.Errorf("%q: quantized tensor changed in the round trip", want.Name)
			}
		}
		// Dequantized values are within scale/2 of the originals.
		v, err := p.Float32s()
		if err != nil {
			t.Fatal(err)
		}
		w := orig[want.Name]
		for k := range w {
			bound := 0.0
			if p.Quantized != nil {
				g := 0
				if p.Quantized.Axis == 0 {
					g = k / p.Quantized.GroupSize()
				}
				bound = float64(p.Quantized.Scale[g])/2 + quant.Epsilon*(math.Abs(float64(w[k]))+float64(p.Quantized.Scale[g]))
			}
			if e := math.Abs(float64(v[k] - w[k])); e > bound {
				t.Fatalf("%q[%d]: error %g > %g", want.Name, k, e, bound)
			}
		}
	}
	if b2 := compressedBytes(t, got); !bytes.Equal(b, b2) {
		t.Error("rewriting a read artifact changes its bytes")
	}
	ts, err := got.Float32Tensors()
	if err != nil || len(ts) != len(c.Params) || ts[0].DType != safetensors.F32 {
		t.Fatalf("Float32Tensors: %d tensors, %v", len(ts), err)
	}
	d, err := got.Params[0].Dense()
	if err != nil || !slices.Equal(d.Shape(), got.Params[0].Shape) {
		t.Fatalf("Dense: %v %v", d, err)
	}
}

func TestPackInt4(t *testing.T) {
	q := []int8{-8, 7, -1, 0, 3}
	b := PackInt4(q)
	if want := []byte{0x78, 0x0f, 0x03}; !bytes.Equal(b, want) {
		t.Fatalf("PackInt4 = %x, want %x", b, want)
	}
	back, err := UnpackInt4(b, len(q))
	if err != nil || !bytes.Equal(int8Bytes(back), int8Bytes(q)) {
		t.Fatalf("UnpackInt4 = %v, %v", back, err)
	}
	if _, err := UnpackInt4([]byte{0x78, 0x0f, 0x13}, 5); err == nil {
		t.Error("non-zero padding nibble accepted")
	}
	if _, err := UnpackInt4([]byte{1}, 3); err == nil {
		t.Error("short buffer accepted")
	}
}

func TestSizeReportCountsEveryByte(t *testing.T) {
	c, _ := sampleCompressed(t)
	b := compressedBytes(t, c)
	r, err := ReportSize(b, safetensors.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if r.TotalBytes != int64(len(b)) {
		t.Errorf("total %d, file %d", r.TotalBytes, len(b))
	}
	if want := 8 + int64(binary.LittleEndian.Uint64(b)); r.HeaderBytes != want {
		t.Errorf("header %d, want %d", r.HeaderBytes, want)
	}
	var sum int64
	for _, p := range r.Params {
		var comp int64
		for _, cs := range p.Components {
			comp += cs.Bytes
		}
		if comp != p.Bytes {
			t.Errorf("%q: components sum to %d, Bytes %d", p.Name, comp, p.Bytes)
		}
		sum += p.Bytes
		// Expected component bytes from the scheme.
		var want int64
		switch p.Scheme {
		case SchemeInt8:
			want = p.Elements
		case SchemeInt4:
			want = (p.Elements + 1) / 2
		case SchemeFloat32:
			want = 4 * p.Elements
		}
		qp, _ := c.Param(p.Name)
		if qp.Quantized != nil {
			want += 4 * int64(len(qp.Quantized.Scale))
			if !qp.Quantized.Symmetric {
				want += int64(len(qp.Quantized.ZeroPoint))
			}
		}
		if p.Bytes != want {
			t.Errorf("%q (%s): %d bytes, want %d", p.Name, p.Scheme, p.Bytes, want)
		}
	}
	if r.HeaderBytes+sum != r.TotalBytes {
		t.Errorf("header %d + params %d != total %d", r.HeaderBytes, sum, r.TotalBytes)
	}
	if !strings.Contains(r.String(), "total") {
		t.Error("String() lacks the total row")
	}
}

// tamper reads an artifact as a raw file, applies mod, and rewrites it.
func tamper(t *testing.T, b []byte, mod func(f *safetensors.File, enc map[string]Encoding)) []byte {
	t.Helper()
	f, err := safetensors.ReadSafetensors(b, safetensors.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	var enc map[string]Encoding
	if err := json.Unmarshal([]byte(f.Metadata[EncodingKey]), &enc); err != nil {
		t.Fatal(err)
	}
	mod(f, enc)
	if len(enc) != 0 {
		e, _ := json.Marshal(enc)
		f.Metadata[EncodingKey] = string(e)
	}
	var buf bytes.Buffer
	if err := safetensors.WriteSafetensors(&buf, f); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func removeTensor(f *safetensors.File, name string) {
	for i := range f.Tensors {
		if f.Tensors[i].Name == name {
			f.Tensors = append(f.Tensors[:i], f.Tensors[i+1:]...)
			return
		}
	}
}

func TestReadCompressedRejects(t *testing.T) {
	c := &Compressed{}
	q8, _ := quant.QuantizeTensor([]float32{1, -2, 3, 4, 5, -6}, []int{2, 3}, quant.Params{Bits: 8, Scheme: quant.PerChannel})
	q4, _ := quant.QuantizeTensor([]float32{1, -2, 3}, []int{3}, quant.Params{Bits: 4, Symmetric: true})
	c.Params = []CompressedParam{{Name: "w", Shape: []int{2, 3}, Quantized: q8}, {Name: "v", Shape: []int{3}, Quantized: q4}, {Name: "b", Shape: []int{2}, Values: []float32{1, 2}}}
	good := compressedBytes(t, c)
	if _, err := ReadCompressed(good, safetensors.Limits{}); err != nil {
		t.Fatalf("valid artifact rejected: %v", err)
	}
	setEnc := func(name string, mod func(e *Encoding)) func(*safetensors.File, map[string]Encoding) {
		return func(_ *safetensors.File, enc map[string]Encoding) {
			e := enc[name]
			mod(&e)
			enc[name] = e
		}
	}
	tests := []struct {
		name string
		mod  func(f *safetensors.File, enc map[string]Encoding)
		want string
	}{
		{"wrong format", func(f *safetensors.File, _ map[string]Encoding) { f.Metadata[FormatKey] = "compressq-compressed/9" }, "compressq.format"},
		{"no encoding", func(f *safetensors.File, enc map[string]Encoding) { delete(f.Metadata, EncodingKey); clear(enc) }, "missing"},
		{"missing component tensor", func(f *safetensors.File, _ map[string]Encoding) { removeTensor(f, "w.scale") }, `parameter "w": component scale refers to tensor "w.scale"`},
		{"missing role", setEnc("w", func(e *Encoding) { e.Components = map[string]string{"q": "w.q", "scale": "w.scale"} }), `parameter "w": component "zero_point" is missing`},
		{"unknown role", setEnc("v", func(e *Encoding) { e.Components["codebook"] = "v.codebook" }), `parameter "v": scheme int4 has no component role "codebook"`},
		{"symmetric with zero point", setEnc("w", func(e *Encoding) { e.Symmetric = true }), `parameter "w": scheme int8 has no component role "zero_point"`},
		{"bad axis", setEnc("w", func(e *Encoding) { e.Axis = 1 }), `parameter "w": axis 1`},
		{"wrong shape", setEnc("w", func(e *Encoding) { e.Shape = []int{3, 3} }), `parameter "w": component q (tensor "w.q") has 6 elements, want 9`},
		{"wrong scale length", setEnc("w", func(e *Encoding) { e.Axis = -1 }), `parameter "w": component scale (tensor "w.scale") has 2 elements, want 1`},
		{"bits mismatch", setEnc("v", func(e *Encoding) { e.Bits = 8 }), `parameter "v": scheme int4 with bits 8`},
		{"unknown scheme", setEnc("v", func(e *Encoding) { e.Scheme = "kmeans" }), `parameter "v": unsupported scheme "kmeans"`},
		{"float with bits", setEnc("b", func(e *Encoding) { e.Bits = 8 }), `parameter "b": float32 encoding`},
		{"wrong dtype", setEnc("v", func(e *Encoding) { e.Scheme, e.Bits = SchemeInt8, 8 }), `parameter "v": component q (tensor "v.q") has dtype U8`},
		{"shared component", setEnc("v", func(e *Encoding) { e.Components["scale"] = "w.scale" }), `already used`},
		{"orphan tensor", func(f *safetensors.File, _ map[string]Encoding) {
			f.Tensors = append(f.Tensors, safetensors.F32Tensor("extra", []int{1}, []float32{1}))
		}, `tensor "extra" belongs to no parameter`},
		{"zero scale", func(f *safetensors.File, _ map[string]Encoding) {
			s, _ := f.Tensor("w.scale")
			copy(s.Data, []byte{0, 0, 0, 0})
		}, `parameter "w": quant: scale[0]`},
		{"zero point out of int4 range", func(f *safetensors.File, enc map[string]Encoding) {
			v := enc["v"]
			v.Symmetric = false
			v.Components["zero_point"] = "v.zero_point"
			enc["v"] = v
			f.Tensors = append(f.Tensors, safetensors.I8Tensor("v.zero_point", []int{1}, []int8{9}))
		}, `parameter "v": quant: zero_point[0] = 9`},
		{"int4 padding", func(f *safetensors.File, _ map[string]Encoding) {
			q, _ := f.Tensor("v.q")
			q.Data[1] |= 0x10
		}, `parameter "v": component q: int4: padding`},
		{"unknown field", func(f *safetensors.File, enc map[string]Encoding) {
			clear(enc)
			f.Metadata[EncodingKey] = `{"w":{"scheme":"int8","extra":1}}`
		}, "unknown field"},
		{"negative dim", setEnc("b", func(e *Encoding) { e.Shape = []int{-2} }), `parameter "b": shape`},
		{"bad arch", func(f *safetensors.File, _ map[string]Encoding) { f.Metadata[ArchKey] = "{" }, "compressq.arch"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := tamper(t, good, tc.mod)
			_, err := ReadCompressed(b, safetensors.Limits{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
			if !errors.Is(err, safetensors.ErrFormat) {
				t.Errorf("err %v does not wrap ErrFormat", err)
			}
			if _, err := ReportSize(b, safetensors.Limits{}); err == nil {
				t.Error("ReportSize accepted what ReadCompressed rejects")
			}
		})
	}
}

func TestWriteCompressedRejects(t *testing.T) {
	q, _ := quant.QuantizeTensor([]float32{1, 2}, []int{2}, quant.Params{Bits: 8})
	tests := []struct {
		name string
		c    Compressed
		want string
	}{
		{"both set", Compressed{Params: []CompressedParam{{Name: "a", Shape: []int{2}, Values: []float32{1, 2}, Quantized: q}}}, "more than one"},
		{"shape mismatch", Compressed{Params: []CompressedParam{{Name: "a", Shape: []int{1, 2}, Quantized: q}}}, "differs"},
		{"values length", Compressed{Params: []CompressedParam{{Name: "a", Shape: []int{3}, Values: []float32{1}}}}, "1 values"},
		{"duplicate", Compressed{Params: []CompressedParam{{Name: "a", Shape: []int{1}, Values: []float32{1}}, {Name: "a", Shape: []int{1}, Values: []float32{1}}}}, "duplicate"},
		{"reserved metadata", Compressed{Metadata: map[string]string{FormatKey: "x"}}, "reserved"},
		{"invalid quantized", Compressed{Params: []CompressedParam{{Name: "a", Shape: []int{2}, Quantized: &quant.Quantized{Q: []int8{1}, Shape: []int{2}, Bits: 8, Axis: -1}}}}, `"a"`},
		{"component collision", Compressed{Params: []CompressedParam{{Name: "a", Shape: []int{2}, Quantized: q}, {Name: "a.q", Shape: []int{1}, Values: []float32{1}}}}, "duplicate"},
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

func FuzzReadCompressed(f *testing.F) {
	c, _ := sampleCompressed(f)
	f.Add(compressedBytes(f, c))
	small := &Compressed{Params: []CompressedParam{{Name: "b", Shape: []int{1}, Values: []float32{1}}}}
	f.Add(compressedBytes(f, small))
	// Sparse schemes: every value kind, fixed-width and Huffman-coded gaps.
	w := []float32{0, 0, 1.5, 0, 0, 0, -2, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0}
	for _, p := range sparseKinds(f, "w", []int{4, 6}, w) {
		for _, gaps := range [][2]int{{2, 0}, {4, 1}} {
			p.Sparse, p.GapBits, p.GapHuffman = true, gaps[0], gaps[1] == 1
			f.Add(compressedBytes(f, &Compressed{Params: []CompressedParam{p}}))
		}
	}
	// Format version 2: int32 biases and an activation table, and the
	// integer-only model compress/qnn wrote (int8 per-channel weights,
	// int32 biases, the scale and zero point of every activation).
	f.Add(compressedBytes(f, integerSample()))
	f.Add(readFixture(f, "int8-v2.safetensors"))
	f.Add(readFixture(f, "weightonly-v1.safetensors"))
	f.Fuzz(func(t *testing.T, data []byte) {
		lim := safetensors.Limits{MaxFileBytes: 1 << 20, MaxHeaderBytes: 1 << 16, MaxElements: 1 << 16}
		got, err := ReadCompressed(data, lim)
		if err != nil {
			return
		}
		r, err := ReportSize(data, lim)
		if err != nil {
			t.Fatalf("ReportSize rejects an accepted artifact: %v", err)
		}
		if r.HeaderBytes+r.DataBytes != int64(len(data)) {
			t.Fatalf("report covers %d of %d bytes", r.HeaderBytes+r.DataBytes, len(data))
		}
		for i := range got.Params {
			v, err := got.Params[i].Float32s()
			if err != nil {
				t.Fatalf("accepted parameter does not decode: %v", err)
			}
			if len(v) != safetensors.Numel(got.Params[i].Shape) {
				t.Fatalf("%q: %d values for %v", got.Params[i].Name, len(v), got.Params[i].Shape)
			}
		}
		if a := got.Activations; a != nil {
			if len(a.Scale) != len(a.Tensors) || len(a.ZeroPoint) != len(a.Tensors) {
				t.Fatalf("activation table of %d tensors with %d scales, %d zero points", len(a.Tensors), len(a.Scale), len(a.ZeroPoint))
			}
			for k, s := range a.Scale {
				if !(s > 0) || math.IsInf(float64(s), 0) {
					t.Fatalf("accepted activation scale %v of %q", s, a.Tensors[k])
				}
			}
		}
		var buf bytes.Buffer
		if err := WriteCompressed(&buf, got); err != nil {
			t.Fatalf("accepted artifact does not rewrite: %v", err)
		}
		back, err := ReadCompressed(buf.Bytes(), lim)
		if err != nil {
			t.Fatalf("rewritten artifact does not read: %v", err)
		}
		if (back.Activations == nil) != (got.Activations == nil) {
			t.Fatal("rewriting lost or invented the activation table")
		}
	})
}

func int8Bytes(v []int8) []byte {
	b := make([]byte, len(v))
	for i, x := range v {
		b[i] = byte(x)
	}
	return b
}

func equalF32(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}
