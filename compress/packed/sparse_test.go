package packed

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/compressq/compressq/compress/quant"
	"github.com/compressq/compressq/compress/safetensors"
)

func TestSparseEntries(t *testing.T) {
	tests := []struct {
		nz      []int
		n, bits int
		want    []int
	}{
		// Gaps above 2^2 = 4 get fillers; the last element ends the stream.
		{[]int{0, 9, 10}, 12, 2, []int{0, 4, 8, 9, 10, 11}},
		{[]int{0, 9, 11}, 12, 2, []int{0, 4, 8, 9, 11}},
		{nil, 9, 1, []int{1, 3, 5, 7, 8}},
		{nil, 0, 3, []int{}},
		{[]int{3}, 4, 2, []int{3}},
		{[]int{4}, 5, 2, []int{3, 4}},
	}
	for _, tt := range tests {
		if got := sparseEntries(tt.nz, tt.n, tt.bits); !slices.Equal(got, tt.want) {
			t.Errorf("sparseEntries(%v, %d, %d) = %v, want %v", tt.nz, tt.n, tt.bits, got, tt.want)
		}
	}
}

// sparseWeights returns n normal weights with about a fraction zeros of
// them exactly 0; with runs, the zeros come in runs of up to 2,000.
func sparseWeights(r *rand.Rand, n int, zeros float64, runs bool) []float32 {
	w := make([]float32, n)
	for i := 0; i < n; {
		if r.Float64() < zeros {
			span := 1
			if runs {
				span = 1 + r.IntN(2000)
			}
			i += span
			continue
		}
		w[i] = float32(r.NormFloat64())
		if w[i] == 0 {
			w[i] = 1
		}
		i++
	}
	return w
}

// sparseKinds returns the parameter w stored each way a sparse scheme
// holds values: float32, int8 per tensor and per channel, a codebook with
// fixed-width and Huffman-coded indices.
func sparseKinds(t testing.TB, name string, shape []int, w []float32) []CompressedParam {
	t.Helper()
	var out []CompressedParam
	out = append(out, CompressedParam{Name: name, Shape: shape, Values: w})
	for _, qp := range []quant.Params{{Bits: 8, Symmetric: true}, {Bits: 8, Scheme: quant.PerChannel}} {
		if qp.Scheme == quant.PerChannel && len(shape) < 2 {
			continue
		}
		q, err := quant.QuantizeTensor(w, shape, qp)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, CompressedParam{Name: name, Shape: shape, Quantized: q})
	}
	mask := make([]float32, len(w))
	for i, v := range w {
		if v != 0 {
			mask[i] = 1
		}
	}
	s, err := quant.KMeans(w, 3, mask, 5)
	if err != nil {
		t.Fatal(err)
	}
	for _, huff := range []bool{false, true} {
		out = append(out, CompressedParam{Name: name, Shape: shape, Shared: s, Huffman: huff})
	}
	return out
}

func sameParam(a, b *CompressedParam) error {
	switch {
	case a.Shared != nil:
		if b.Shared == nil || !slices.Equal(a.Shared.Index, b.Shared.Index) || !equalF32(a.Shared.Centroids, b.Shared.Centroids) || a.Huffman != b.Huffman {
			return errors.New("shared weights differ")
		}
	case a.Quantized != nil:
		x, y := a.Quantized, b.Quantized
		if y == nil || x.Axis != y.Axis || x.Symmetric != y.Symmetric || !bytes.Equal(int8Bytes(x.Q), int8Bytes(y.Q)) ||
			!equalF32(x.Scale, y.Scale) || !slices.Equal(x.ZeroPoint, y.ZeroPoint) {
			return errors.New("quantized tensors differ")
		}
	default:
		if b.Values == nil || !equalF32(a.Values, b.Values) {
			return errors.New("values differ")
		}
	}
	if !slices.Equal(a.Shape, b.Shape) {
		return fmt.Errorf("shape %v, want %v", b.Shape, a.Shape)
	}
	return nil
}

// TestSparseRoundTrip writes random sparse tensors (0% to 100% zeros, odd
// sizes, long zero runs that need filler entries) with every value kind and
// gap setting, and requires them back exactly, a size report adding up to
// the file, and identical bytes when the read artifact is written again.
func TestSparseRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	shapes := [][]int{{7, 13}, {1}, {3, 1, 3, 3}, {4, 2500}}
	gapSettings := []struct {
		bits int
		huff bool
	}{{0, false}, {1, false}, {3, true}, {5, false}, {8, true}}
	for _, shape := range shapes {
		for _, zeros := range []float64{0, 0.5, 0.9, 0.99, 1} {
			for _, runs := range []bool{false, true} {
				w := sparseWeights(r, safetensors.Numel(shape), zeros, runs)
				for _, p := range sparseKinds(t, "layers.0.weight", shape, w) {
					for _, g := range gapSettings {
						p.Sparse, p.GapBits, p.GapHuffman = true, g.bits, g.huff
						name := fmt.Sprintf("%v/%.2f/runs=%v/%s/gap%d,%v", shape, zeros, runs, p.Scheme(), g.bits, g.huff)
						c := &Compressed{Params: []CompressedParam{p, {Name: "layers.0.bias", Shape: []int{2}, Values: []float32{1, 0}}}}
						b := compressedBytes(t, c)
						got, err := ReadCompressed(b, safetensors.Limits{})
						if err != nil {
							t.Fatalf("%s: %v", name, err)
						}
						q, _ := got.Param("layers.0.weight")
						if err := sameParam(&p, q); err != nil {
							t.Fatalf("%s: %v", name, err)
						}
						if !q.Sparse || (g.bits != 0 && (q.GapBits != g.bits || q.GapHuffman != g.huff)) {
							t.Fatalf("%s: read back as sparse %v, gaps %d bits, huffman %v", name, q.Sparse, q.GapBits, q.GapHuffman)
						}
						if !bytes.Equal(compressedBytes(t, got), b) {
							t.Fatalf("%s: rewriting the read artifact changes its bytes", name)
						}
						rep, err := ReportSize(b, safetensors.Limits{})
						if err != nil {
							t.Fatal(err)
						}
						if rep.HeaderBytes+rep.DataBytes != int64(len(b)) || rep.Params[1].Scheme != p.Scheme() {
							t.Fatalf("%s: report header %d + data %d, file %d; scheme %s", name, rep.HeaderBytes, rep.DataBytes, len(b), rep.Params[1].Scheme)
						}
					}
				}
			}
		}
	}
}

// TestSparseGapWidth checks the automatic choice (GapBits 0) against every
// explicit setting: none is smaller.
func TestSparseGapWidth(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	w := sparseWeights(r, 300*100, 0.92, false)
	p := sparseKinds(t, "w", []int{300, 100}, w)[4]
	size := func(bits int, huff bool) int {
		q := p
		q.Sparse, q.GapBits, q.GapHuffman = true, bits, huff
		return len(compressedBytes(t, &Compressed{Params: []CompressedParam{q}}))
	}
	auto := size(0, false)
	for bits := 1; bits <= MaxGapBits; bits++ {
		for _, huff := range []bool{false, true} {
			if s := size(bits, huff); s < auto {
				t.Errorf("gap width %d, huffman %v: %d bytes, fewer than the automatic choice's %d", bits, huff, s, auto)
			}
		}
	}
}

// TestChooseSparse: a 90%-zero tensor is stored sparsely in fewer bytes,
// a tensor without zeros stays dense, int4 has no sparse scheme.
func TestChooseSparse(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	for _, zeros := range []float64{0.9, 0} {
		w := sparseWeights(r, 50*40, zeros, false)
		for _, p := range sparseKinds(t, "w", []int{50, 40}, w) {
			dense, sparse, err := p.ChooseSparse()
			if err != nil {
				t.Fatal(err)
			}
			if p.Sparse != (zeros > 0) || p.Sparse != (sparse < dense) {
				t.Errorf("%.0f%% zeros, %s: sparse %v with %d bytes against %d dense", 100*zeros, p.Scheme(), p.Sparse, sparse, dense)
			}
			if got := int64(len(compressedBytes(t, &Compressed{Params: []CompressedParam{p}}))); got != min(dense, sparse) {
				t.Errorf("%s: written %d bytes, ChooseSparse said %d", p.Scheme(), got, min(dense, sparse))
			}
		}
	}
	q, _ := quant.QuantizeTensor(make([]float32, 10), []int{10}, quant.Params{Bits: 4})
	p := CompressedParam{Name: "q4", Shape: []int{10}, Quantized: q}
	if _, sparse, err := p.ChooseSparse(); err != nil || sparse != -1 || p.Sparse {
		t.Errorf("int4: sparse size %d, Sparse %v, err %v", sparse, p.Sparse, err)
	}
	p.Sparse = true
	if err := WriteCompressed(&bytes.Buffer{}, &Compressed{Params: []CompressedParam{p}}); err == nil || !strings.Contains(err.Error(), "int4 has no sparse scheme") {
		t.Errorf("sparse int4 written: %v", err)
	}
}

// sparseFile encodes one sparse parameter w (shape [4, 6]) and returns the
// raw file for tampering.
func sparseFile(t *testing.T, p CompressedParam) *safetensors.File {
	t.Helper()
	c := &Compressed{Params: []CompressedParam{p}}
	f, err := c.encode()
	if err != nil {
		t.Fatal(err)
	}
	for i := range f.Tensors {
		f.Tensors[i].Data = slices.Clone(f.Tensors[i].Data)
	}
	return f
}

func setTensor(f *safetensors.File, name string, data []byte) {
	for i := range f.Tensors {
		if f.Tensors[i].Name == name {
			f.Tensors[i].Data = data
			f.Tensors[i].Shape = []int{len(data) / f.Tensors[i].DType.Size()}
		}
	}
}

func TestSparseRejects(t *testing.T) {
	w := []float32{0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0}
	shape := []int{4, 6}
	fixed := CompressedParam{Name: "w", Shape: shape, Values: w, Sparse: true, GapBits: 3}
	huff := CompressedParam{Name: "w", Shape: shape, Values: w, Sparse: true, GapBits: 4, GapHuffman: true}
	s, err := quant.KMeans(w, 2, []float32{0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0}, 5)
	if err != nil {
		t.Fatal(err)
	}
	cb := CompressedParam{Name: "w", Shape: shape, Shared: s, Sparse: true, GapBits: 3}
	q, _ := quant.QuantizeTensor(w, shape, quant.Params{Bits: 8, Scheme: quant.PerChannel})
	i8 := CompressedParam{Name: "w", Shape: shape, Quantized: q, Sparse: true, GapBits: 2}
	// fixed: entries at 2, 6, 14 (filler), 15, 23 → gap symbols 2, 3, 7, 0, 7
	// at 3 bits: 010 011 111 000 111 + 1 padding bit.
	if f := sparseFile(t, fixed); !bytes.Equal(f.Tensors[0].Data, []byte{0b01001111, 0b10001110}) {
		t.Fatalf("gaps = %08b", f.Tensors[0].Data)
	}
	setEnc := func(mod func(e *Encoding)) func(f *safetensors.File) {
		return func(f *safetensors.File) {
			e := map[string]Encoding{}
			mustUnmarshal(t, f.Metadata[EncodingKey], &e)
			x := e["w"]
			mod(&x)
			e["w"] = x
			f.Metadata[EncodingKey] = mustMarshal(t, e)
		}
	}
	tests := []struct {
		name   string
		p      CompressedParam
		edit   func(f *safetensors.File)
		limits safetensors.Limits
		want   string
	}{
		{"width 0", fixed, setEnc(func(e *Encoding) { e.Bits = 0 }), safetensors.Limits{}, `parameter "w": scheme sparse-float32 needs bits (the gap width) 1..8, got 0`},
		{"width 9", fixed, setEnc(func(e *Encoding) { e.Bits = 9 }), safetensors.Limits{}, "got 9"},
		{"wrong width", fixed, setEnc(func(e *Encoding) { e.Bits = 4 }), safetensors.Limits{}, `parameter "w": component gaps:`},
		{"gap past numel", fixed, func(f *safetensors.File) { setTensor(f, "w.gaps", []byte{0b01001111, 0b11101110}) }, safetensors.Limits{}, `parameter "w": component gaps: entry 4 at element 29 runs past`},
		{"last gap past numel", fixed, func(f *safetensors.File) { setTensor(f, "w.gaps", []byte{0b01001111, 0b10011110}) }, safetensors.Limits{}, "runs past the 24 elements"},
		{"short stream", fixed, func(f *safetensors.File) { setTensor(f, "w.gaps", []byte{0b01001111}) }, safetensors.Limits{}, `parameter "w": component gaps: ends after 2 entries, at element 6 of 24`},
		{"trailing byte", fixed, func(f *safetensors.File) { setTensor(f, "w.gaps", []byte{0b01001111, 0b10001110, 0}) }, safetensors.Limits{}, "component gaps: after 5 entries: 1 trailing bytes"},
		{"padding", fixed, func(f *safetensors.File) { setTensor(f, "w.gaps", []byte{0b01001111, 0b10001111}) }, safetensors.Limits{}, "component gaps: after 5 entries: padding bits are not zero"},
		{"too many values", fixed, func(f *safetensors.File) { setTensor(f, "w.values", make([]byte, 4*6)) }, safetensors.Limits{}, `parameter "w": component values (tensor "w.values") has 6 elements, want 5`},
		{"too few values", fixed, func(f *safetensors.File) { setTensor(f, "w.values", make([]byte, 4*4)) }, safetensors.Limits{}, "has 4 elements, want 5"},
		{"missing gaps", fixed, func(f *safetensors.File) { removeTensor(f, "w.gaps") }, safetensors.Limits{}, `component gaps refers to tensor "w.gaps"`},
		{"dense role", fixed, setEnc(func(e *Encoding) { e.Components[RoleQ] = "w.q" }), safetensors.Limits{}, `scheme sparse-float32 has no component role "q"`},
		{"axis", fixed, setEnc(func(e *Encoding) { e.Axis = 0 }), safetensors.Limits{}, "needs axis -1"},
		{"element budget", fixed, nil, safetensors.Limits{MaxElements: 23}, "sparse parameters decode to more than 23 elements"},
		{"gap code lengths count", huff, func(f *safetensors.File) { setTensor(f, "w.gap_code_lengths", make([]byte, 8)) }, safetensors.Limits{}, `component gap_code_lengths (tensor "w.gap_code_lengths") has 8 elements, want 16`},
		{"gap code incomplete", huff, func(f *safetensors.File) {
			ts, _ := f.Tensor("w.gap_code_lengths")
			ts.Data[0] = 9
		}, safetensors.Limits{}, "component gap_code_lengths: huffman:"},
		{"gap huffman short", huff, func(f *safetensors.File) { setTensor(f, "w.gap_huffman", []byte{}) }, safetensors.Limits{}, "component gap_huffman: ends after 0 entries"},
		{"gap huffman trailing", huff, func(f *safetensors.File) {
			ts, _ := f.Tensor("w.gap_huffman")
			setTensor(f, "w.gap_huffman", append(slices.Clone(ts.Data), 0))
		}, safetensors.Limits{}, "component gap_huffman: after"},
		{"codebook without zero", cb, func(f *safetensors.File) {
			ts, _ := f.Tensor("w.codebook")
			copy(ts.Data, []byte{0, 0, 0x80, 0x3f}) // entry 0 = 1
		}, safetensors.Limits{}, "codebook has no zero entry for the 19 elements not stored"},
		{"codebook size", cb, func(f *safetensors.File) { setTensor(f, "w.codebook", make([]byte, 4*3)) }, safetensors.Limits{}, "codebook has 3 entries"},
		{"codebook index count", cb, func(f *safetensors.File) { setTensor(f, "w.indices", []byte{0}) }, safetensors.Limits{}, `component indices (tensor "w.indices") has 1 elements, want 2`},
		{"int8 zero point", i8, func(f *safetensors.File) {
			zp, _ := f.Tensor("w.zero_point")
			removeTensor(f, "w.zero_point")
			wide := make([]int32, 4)
			for g, b := range zp.Data {
				wide[g] = int32(int8(b))
			}
			wide[1] = 200
			f.Tensors = append(f.Tensors, safetensors.I32Tensor("w.zero_point", []int{4}, wide))
		}, safetensors.Limits{}, `parameter "w": quant: zero_point[1] = 200`},
		{"int8 scale count", i8, func(f *safetensors.File) { setTensor(f, "w.scale", make([]byte, 4)) }, safetensors.Limits{}, `component scale (tensor "w.scale") has 1 elements, want 4`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := sparseFile(t, tt.p)
			if tt.edit != nil {
				tt.edit(f)
			}
			var buf bytes.Buffer
			if err := safetensors.WriteSafetensors(&buf, f); err != nil {
				t.Fatal(err)
			}
			_, err := ReadCompressed(buf.Bytes(), tt.limits)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one containing %q", err, tt.want)
			}
			if !errors.Is(err, safetensors.ErrFormat) && !errors.Is(err, safetensors.ErrLimit) {
				t.Errorf("err %v wraps neither ErrFormat nor ErrLimit", err)
			}
		})
	}
}

func mustUnmarshal(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatal(err)
	}
}

func mustMarshal(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
