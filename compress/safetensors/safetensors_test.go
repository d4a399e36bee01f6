package safetensors

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	st "github.com/nlpodyssey/safetensors"
)

// sampleFile returns a file with one tensor of every integer dtype and F32.
func sampleFile() *File {
	i64 := make([]byte, 16)
	binary.LittleEndian.PutUint64(i64, uint64(1)<<40)
	binary.LittleEndian.PutUint64(i64[8:], math.MaxUint64) // -1
	return &File{
		Tensors: []Tensor{
			F32Tensor("layers.0.weight", []int{2, 3}, []float32{1, -2, 3.5, 0, float32(math.Inf(1)), -0.25}),
			I8Tensor("q", []int{4}, []int8{-128, -1, 0, 127}),
			{Name: "u", DType: U8, Shape: []int{3}, Data: []byte{0, 7, 255}},
			I32Tensor("zp", []int{2}, []int32{-5, 1 << 30}),
			{Name: "big", DType: I64, Shape: []int{2}, Data: i64},
			F32Tensor("scalar", nil, []float32{42}),
			{Name: "empty", DType: F32, Shape: []int{0, 5}, Data: []byte{}},
		},
		Metadata: map[string]string{"b": "2", "a": `{"x":[1,2]}`},
	}
}

func writeBytes(t *testing.T, f *File) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteSafetensors(&buf, f); err != nil {
		t.Fatalf("WriteSafetensors: %v", err)
	}
	return buf.Bytes()
}

func TestSafetensorsRoundTrip(t *testing.T) {
	f := sampleFile()
	b := writeBytes(t, f)
	if n := binary.LittleEndian.Uint64(b); (8+n)%8 != 0 {
		t.Errorf("data section starts at %d, not 8-byte aligned", 8+n)
	}
	for _, read := range []struct {
		name string
		fn   func([]byte) (*File, error)
	}{
		{"bytes", func(b []byte) (*File, error) { return ReadSafetensors(b, Limits{}) }},
		{"reader", func(b []byte) (*File, error) { return ReadSafetensorsFrom(bytes.NewReader(b), Limits{}) }},
	} {
		t.Run(read.name, func(t *testing.T) {
			g, err := read.fn(b)
			if err != nil {
				t.Fatal(err)
			}
			if len(g.Tensors) != len(f.Tensors) {
				t.Fatalf("got %d tensors, want %d", len(g.Tensors), len(f.Tensors))
			}
			for i := 1; i < len(g.Tensors); i++ {
				if g.Tensors[i-1].Name >= g.Tensors[i].Name {
					t.Errorf("tensors not sorted: %q before %q", g.Tensors[i-1].Name, g.Tensors[i].Name)
				}
			}
			for _, want := range f.Tensors {
				got, ok := g.Tensor(want.Name)
				if !ok {
					t.Fatalf("tensor %q missing", want.Name)
				}
				if got.DType != want.DType || !slices.Equal(got.Shape, want.Shape) || !bytes.Equal(got.Data, want.Data) {
					t.Errorf("tensor %q: got %s %v %x, want %s %v %x", want.Name, got.DType, got.Shape, got.Data, want.DType, want.Shape, want.Data)
				}
			}
			if len(g.Metadata) != 2 || g.Metadata["a"] != f.Metadata["a"] || g.Metadata["b"] != "2" {
				t.Errorf("metadata = %v, want %v", g.Metadata, f.Metadata)
			}
			// Writing what was read gives the same bytes.
			if b2 := writeBytes(t, g); !bytes.Equal(b, b2) {
				t.Error("rewrite of a read file differs from the original bytes")
			}
		})
	}
}

func TestWriteSafetensorsDeterministic(t *testing.T) {
	f := sampleFile()
	a := writeBytes(t, f)
	// Reverse the tensor order: the bytes must not change.
	r := &File{Metadata: f.Metadata}
	for i := len(f.Tensors) - 1; i >= 0; i-- {
		r.Tensors = append(r.Tensors, f.Tensors[i])
	}
	if b := writeBytes(t, r); !bytes.Equal(a, b) {
		t.Error("tensor order changed the written bytes")
	}
}

func TestWriteSafetensorsRejects(t *testing.T) {
	tests := []struct {
		name string
		f    File
		want string
	}{
		{"short data", File{Tensors: []Tensor{{Name: "w", DType: F32, Shape: []int{2}, Data: make([]byte, 7)}}}, `"w"`},
		{"duplicate", File{Tensors: []Tensor{F32Tensor("w", []int{1}, []float32{1}), F32Tensor("w", []int{1}, []float32{2})}}, "duplicate"},
		{"bad dtype", File{Tensors: []Tensor{{Name: "w", DType: "F8", Shape: []int{1}, Data: []byte{0}}}}, "dtype"},
		{"reserved name", File{Tensors: []Tensor{F32Tensor(MetadataKey, []int{1}, []float32{1})}}, "name"},
		{"empty name", File{Tensors: []Tensor{F32Tensor("", []int{1}, []float32{1})}}, "name"},
		{"negative dim", File{Tensors: []Tensor{{Name: "w", DType: U8, Shape: []int{-1}, Data: nil}}}, "negative"},
		{"bad utf8 metadata", File{Metadata: map[string]string{"k": "\xff"}}, "UTF-8"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := WriteSafetensors(&bytes.Buffer{}, &tc.f)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// rawFile builds a file from a literal header and data section.
func rawFile(header string, data []byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	b = append(b, header...)
	return append(b, data...)
}

func TestReadSafetensorsHostile(t *testing.T) {
	huge := make([]byte, 8)
	binary.LittleEndian.PutUint64(huge, 1<<62)
	tests := []struct {
		name   string
		file   []byte
		limits Limits
		want   string
		limit  bool // wraps ErrLimit rather than ErrFormat
	}{
		{"short", []byte{1, 2, 3}, Limits{}, "shorter", false},
		{"huge header length", huge, Limits{}, "header length", true},
		{"header past end", rawFile(`{}`, nil)[:9], Limits{}, "exceeds the", false},
		{"not json", rawFile(`nope`, nil), Limits{}, "header", false},
		{"not object", rawFile(`[1]`, nil), Limits{}, "not a JSON object", false},
		{"trailing json", rawFile(`{} {}`, nil), Limits{}, "unexpected bytes", false},
		{"duplicate key", rawFile(`{"a":{"dtype":"U8","shape":[0],"data_offsets":[0,0]},"a":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}}`, nil), Limits{}, `duplicate key "a"`, false},
		{"unknown dtype", rawFile(`{"w":{"dtype":"F8","shape":[1],"data_offsets":[0,1]}}`, []byte{0}), Limits{}, `tensor "w": dtype "F8"`, false},
		{"negative dim", rawFile(`{"w":{"dtype":"U8","shape":[-1],"data_offsets":[0,0]}}`, nil), Limits{}, `tensor "w": shape[0]`, false},
		{"overflow shape", rawFile(`{"w":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,0]}}`, nil), Limits{}, `tensor "w"`, true},
		{"product overflows", rawFile(`{"w":{"dtype":"U8","shape":[1000000,1000000,1000000,1000000],"data_offsets":[0,0]}}`, nil), Limits{}, `tensor "w"`, true},
		{"dim too big for int64", rawFile(`{"w":{"dtype":"U8","shape":[99999999999999999999],"data_offsets":[0,0]}}`, nil), Limits{}, `tensor "w"`, false},
		{"length mismatch", rawFile(`{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}`, make([]byte, 4)), Limits{}, `tensor "w": data_offsets [0, 4] span 4 bytes`, false},
		{"reversed offsets", rawFile(`{"w":{"dtype":"U8","shape":[0],"data_offsets":[4,0]}}`, make([]byte, 4)), Limits{}, "end before", false},
		{"three offsets", rawFile(`{"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1,2]}}`, make([]byte, 1)), Limits{}, "data_offsets has 3", false},
		{"overlap", rawFile(`{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}}`, make([]byte, 3)), Limits{}, "overlap", false},
		{"gap", rawFile(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}`, make([]byte, 2)), Limits{}, "gap", false},
		{"data too short", rawFile(`{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}}`, make([]byte, 2)), Limits{}, "data section is 2 bytes", false},
		{"trailing data", rawFile(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`, make([]byte, 2)), Limits{}, "data section is 2 bytes", false},
		{"metadata not strings", rawFile(`{"__metadata__":{"a":1}}`, nil), Limits{}, "__metadata__", false},
		{"file limit", rawFile(`{}`, make([]byte, 100)), Limits{MaxFileBytes: 50}, "limit", true},
		{"header limit", rawFile(`{}      `, nil), Limits{MaxHeaderBytes: 4}, "limit", true},
		{"tensor limit", rawFile(`{"a":{"dtype":"U8","shape":[0],"data_offsets":[0,0]},"b":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}}`, nil), Limits{MaxTensors: 1}, "more than 1 tensors", true},
		{"rank limit", rawFile(`{"a":{"dtype":"U8","shape":[1,1,1],"data_offsets":[0,1]}}`, []byte{1}), Limits{MaxRank: 2}, `tensor "a": rank 3`, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadSafetensors(tc.file, tc.limits)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
			sentinel := ErrFormat
			if tc.limit {
				sentinel = ErrLimit
			}
			if !errors.Is(err, sentinel) {
				t.Errorf("err = %v, does not wrap %v", err, sentinel)
			}
			if _, err := ReadSafetensorsFrom(bytes.NewReader(tc.file), tc.limits); err == nil {
				t.Error("ReadSafetensorsFrom accepted what ReadSafetensors rejects")
			}
		})
	}
}

// TestReadSafetensorsFromBoundsAllocation checks that a header promising a
// huge data section is rejected before the data is allocated.
func TestReadSafetensorsFromBoundsAllocation(t *testing.T) {
	hdr := `{"w":{"dtype":"U8","shape":[1000000000],"data_offsets":[0,1000000000]}}`
	_, err := ReadSafetensorsFrom(bytes.NewReader(rawFile(hdr, nil)), Limits{MaxFileBytes: 1 << 20})
	if !errors.Is(err, ErrLimit) {
		t.Fatalf("err = %v, want ErrLimit", err)
	}
}

func TestFloat32Conversion(t *testing.T) {
	tests := []struct {
		name  string
		dtype DType
		raw   []byte
		want  []float32
	}{
		{"f16", F16, u16s(0x3c00, 0xc000, 0x0001, 0x7bff, 0x0000, 0x8000, 0x3555), []float32{1, -2, 5.9604645e-08, 65504, 0, float32(math.Copysign(0, -1)), 0.33325195}},
		{"bf16", BF16, u16s(0x3f80, 0xc040), []float32{1, -3}},
		{"f64", F64, binary.LittleEndian.AppendUint64(nil, math.Float64bits(0.1)), []float32{0.1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tn := Tensor{Name: "x", DType: tc.dtype, Shape: []int{len(tc.want)}, Data: tc.raw}
			got, err := tn.Float32s()
			if err != nil {
				t.Fatal(err)
			}
			for i := range got {
				if math.Float32bits(got[i]) != math.Float32bits(tc.want[i]) {
					t.Errorf("[%d] = %v, want %v", i, got[i], tc.want[i])
				}
			}
		})
	}
	// Special values of half precision.
	inf := Float16To32(0x7c00)
	nan := Float16To32(0x7e00)
	if !math.IsInf(float64(inf), 1) || !math.IsNaN(float64(nan)) {
		t.Errorf("f16 inf/nan = %v/%v", inf, nan)
	}
	if _, err := (&Tensor{Name: "q", DType: I8, Shape: []int{1}, Data: []byte{1}}).Float32s(); err == nil || !strings.Contains(err.Error(), `"q"`) {
		t.Errorf("Float32s on I8: err = %v, want error naming the tensor", err)
	}
}

func TestDense(t *testing.T) {
	want := []float32{1, 2, 3, 4, 5, 6}
	tn := F32Tensor("w", []int{2, 3}, want)
	d, err := tn.Dense()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(d.Shape(), []int{2, 3}) {
		t.Fatalf("shape = %v", d.Shape())
	}
	v, err := d.At(1, 2)
	if err != nil || v.(float32) != 6 {
		t.Fatalf("At(1,2) = %v, %v", v, err)
	}
	back, err := DenseTensor("w", d)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back.Data, tn.Data) || !slices.Equal(back.Shape, tn.Shape) {
		t.Error("DenseTensor(Dense()) is not the identity")
	}
}

// TestInteropNlpodyssey checks files against an independent implementation
// in both directions.
func TestInteropNlpodyssey(t *testing.T) {
	b := writeBytes(t, sampleFile())
	theirs, err := st.Deserialize(b)
	if err != nil {
		t.Fatalf("reference reader rejects our file: %v", err)
	}
	for _, want := range sampleFile().Tensors {
		v, ok := theirs.Tensor(want.Name)
		if !ok {
			t.Fatalf("reference reader misses %q", want.Name)
		}
		if v.DType().String() != string(want.DType) || !bytes.Equal(v.Data(), want.Data) || len(v.Shape()) != len(want.Shape) {
			t.Errorf("%q: reference reads %v %v", want.Name, v.DType(), v.Shape())
		}
	}

	view, err := st.NewTensorView(st.I8, []uint64{2, 2}, []byte{0x80, 1, 2, 0x7f})
	if err != nil {
		t.Fatal(err)
	}
	view2, err := st.NewTensorView(st.F32, []uint64{1}, binary.LittleEndian.AppendUint32(nil, math.Float32bits(1.5)))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := st.Serialize(map[string]st.TensorView{"a": view, "b": view2}, map[string]string{"k": "v"})
	if err != nil {
		t.Fatal(err)
	}
	f, err := ReadSafetensors(raw, Limits{})
	if err != nil {
		t.Fatalf("we reject the reference writer's file: %v", err)
	}
	a, _ := f.Tensor("a")
	if q, err := a.Int8s(); err != nil || q[0] != -128 || q[3] != 127 {
		t.Errorf("a = %v, %v", q, err)
	}
	if f.Metadata["k"] != "v" {
		t.Errorf("metadata = %v", f.Metadata)
	}
}

func FuzzReadSafetensors(f *testing.F) {
	var buf bytes.Buffer
	if err := WriteSafetensors(&buf, sampleFile()); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add(rawFile(`{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}}`, make([]byte, 3)))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		lim := Limits{MaxFileBytes: 1 << 20, MaxHeaderBytes: 1 << 16}
		file, err := ReadSafetensors(data, lim)
		file2, err2 := ReadSafetensorsFrom(bytes.NewReader(data), lim)
		if (err == nil) != (err2 == nil) {
			t.Fatalf("readers disagree: %v vs %v", err, err2)
		}
		if err != nil {
			return
		}
		// Whatever is accepted must be consistent and rewritable.
		for i, tn := range file.Tensors {
			if len(tn.Data) != tn.Numel()*tn.DType.Size() {
				t.Fatalf("tensor %q: %d bytes for %v", tn.Name, len(tn.Data), tn.Shape)
			}
			if !bytes.Equal(tn.Data, file2.Tensors[i].Data) {
				t.Fatalf("tensor %q differs between readers", tn.Name)
			}
			if tn.DType.IsFloat() {
				if _, err := tn.Float32s(); err != nil {
					t.Fatal(err)
				}
			}
		}
		var out bytes.Buffer
		if err := WriteSafetensors(&out, file); err != nil {
			t.Fatalf("accepted file does not rewrite: %v", err)
		}
		if _, err := ReadSafetensors(out.Bytes(), lim); err != nil {
			t.Fatalf("rewritten file does not read: %v", err)
		}
	})
}

func u16s(v ...uint16) []byte {
	var b []byte
	for _, x := range v {
		b = binary.LittleEndian.AppendUint16(b, x)
	}
	return b
}
