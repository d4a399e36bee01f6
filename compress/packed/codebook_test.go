package packed

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/compressq/compressq/compress/quant"
	"github.com/compressq/compressq/compress/safetensors"
)

func TestHuffmanRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	for _, tt := range []struct {
		k, n int
		skew float64
	}{{2, 1, 1}, {16, 1000, 0.3}, {16, 1000, 0.9}, {256, 5000, 0.97}, {4, 0, 1}} {
		sym := make([]uint8, tt.n)
		freq := make([]int64, tt.k)
		for i := range sym {
			j := 0
			for j < tt.k-1 && r.Float64() > tt.skew {
				j++
			}
			sym[i] = uint8(j)
			freq[j]++
		}
		lengths := HuffmanLengths(freq)
		if tt.n == 0 {
			lengths[0] = 1
		}
		stream, err := HuffmanEncode(sym, lengths)
		if err != nil {
			t.Fatal(err)
		}
		got, err := HuffmanDecode(stream, lengths, tt.n)
		if err != nil || !slices.Equal(got, sym) {
			t.Fatalf("k %d n %d: decode %v (err %v)", tt.k, tt.n, len(got), err)
		}
		// Huffman never needs more bits than fixed-width coding.
		bits, _ := codebookBits(tt.k)
		if len(stream) > (tt.n*bits+7)/8 {
			t.Errorf("k %d n %d: %d bytes > fixed-width %d", tt.k, tt.n, len(stream), (tt.n*bits+7)/8)
		}
		if tt.n > 8 {
			if _, err := HuffmanDecode(stream[:len(stream)-1], lengths, tt.n); err == nil {
				t.Error("truncated stream accepted")
			}
			if _, err := HuffmanDecode(append(slices.Clone(stream), 0), lengths, tt.n); err == nil {
				t.Error("trailing byte accepted")
			}
		}
	}
	if _, err := canonicalCodes([]uint8{1, 2, 2, 2}); err == nil {
		t.Error("over-full code accepted")
	}
	if _, err := canonicalCodes([]uint8{1, 2, 0}); err == nil {
		t.Error("incomplete code accepted")
	}
}

// TestCodebookRoundTrip writes shared weights with fixed-width and Huffman
// indices, reads them back exactly, and checks the size report: Huffman on
// a skewed index distribution is smaller than fixed width.
func TestCodebookRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 2))
	w := make([]float32, 60*50)
	mask := make([]float32, len(w))
	for i := range w {
		w[i] = float32(r.NormFloat64() * 0.1)
		if r.Float64() < 0.7 {
			mask[i] = 1
		}
	}
	s, err := quant.KMeans(w, 4, mask, 0)
	if err != nil {
		t.Fatal(err)
	}
	sizes := map[bool]int64{}
	for _, huff := range []bool{false, true} {
		c := &Compressed{Params: []CompressedParam{
			{Name: "w", Shape: []int{60, 50}, Shared: s, Huffman: huff},
			{Name: "b", Shape: []int{60}, Values: make([]float32, 60)},
		}}
		var buf bytes.Buffer
		if err := WriteCompressed(&buf, c); err != nil {
			t.Fatal(err)
		}
		back, err := ReadCompressed(buf.Bytes(), safetensors.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		p, _ := back.Param("w")
		if p.Shared == nil || p.Huffman != huff || !slices.Equal(p.Shared.Index, s.Index) || !slices.Equal(p.Shared.Centroids, s.Centroids) {
			t.Fatalf("huffman %v: shared weights differ after the round trip", huff)
		}
		rep, err := ReportSize(buf.Bytes(), safetensors.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if rep.HeaderBytes+rep.DataBytes != int64(buf.Len()) || rep.Params[1].Scheme != SchemeCodebook {
			t.Errorf("size report %+v does not add up to %d", rep, buf.Len())
		}
		sizes[huff] = rep.Params[1].Bytes
	}
	fixed := int64(4*16 + (3000*4+7)/8)
	if sizes[false] != fixed || sizes[true] >= fixed {
		t.Errorf("data bytes: fixed-width %d (want %d), huffman %d (want fewer)", sizes[false], fixed, sizes[true])
	}
}

func TestCodebookRejects(t *testing.T) {
	s := &quant.Shared{Centroids: []float32{0, 1, 2, 3}, Index: []uint8{0, 1, 2, 3, 3, 3}}
	c := &Compressed{Params: []CompressedParam{{Name: "w", Shape: []int{6}, Shared: s, Huffman: true}}}
	f, err := c.encode()
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		edit func(f *safetensors.File)
		want string
	}{
		{"bad lengths", func(f *safetensors.File) { tn, _ := f.Tensor("w.code_lengths"); tn.Data[0] = 5 }, "complete prefix code"},
		{"short stream", func(f *safetensors.File) {
			for i := range f.Tensors {
				if f.Tensors[i].Name == "w.huffman" {
					f.Tensors[i].Data = f.Tensors[i].Data[:0]
					f.Tensors[i].Shape = []int{0}
				}
			}
		}, "too few"},
		{"unknown scheme", func(f *safetensors.File) {
			f.Metadata[EncodingKey] = `{"w":{"scheme":"csr","shape":[6],"bits":8,"axis":-1,"components":{"codebook":"w.codebook","huffman":"w.huffman","code_lengths":"w.code_lengths"}}}`
		}, `unsupported scheme "csr"`},
	} {
		g, err := c.encode()
		if err != nil {
			t.Fatal(err)
		}
		for i := range g.Tensors {
			g.Tensors[i].Data = slices.Clone(g.Tensors[i].Data)
		}
		tt.edit(g)
		var buf bytes.Buffer
		if err := safetensors.WriteSafetensors(&buf, g); err != nil {
			t.Fatal(err)
		}
		_, err = ReadCompressed(buf.Bytes(), safetensors.Limits{})
		if err == nil || !errors.Is(err, safetensors.ErrFormat) || !bytes.Contains([]byte(err.Error()), []byte(tt.want)) {
			t.Errorf("%s: err = %v, want ErrFormat containing %q", tt.name, err, tt.want)
		}
	}
	_ = f
}

// FuzzReadCodebook feeds mutated codebook artifacts to the reader: it must
// never panic, and whatever it accepts must write back and read again to
// the same indices.
func FuzzReadCodebook(f *testing.F) {
	for _, huff := range []bool{false, true} {
		s := &quant.Shared{Centroids: []float32{-1, 0, 0.5, 2}, Index: []uint8{0, 1, 2, 3, 1, 1, 1, 2}}
		var buf bytes.Buffer
		if err := WriteCompressed(&buf, &Compressed{Params: []CompressedParam{{Name: "w", Shape: []int{2, 4}, Shared: s, Huffman: huff}}}); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
		buf.Reset()
		sp := CompressedParam{Name: "w", Shape: []int{2, 4}, Shared: s, Huffman: huff, Sparse: true, GapBits: 2, GapHuffman: huff}
		if err := WriteCompressed(&buf, &Compressed{Params: []CompressedParam{sp}}); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ReadCompressed(data, safetensors.Limits{MaxFileBytes: 1 << 20, MaxElements: 1 << 16})
		if err != nil {
			return
		}
		var buf bytes.Buffer
		if err := WriteCompressed(&buf, c); err != nil {
			t.Fatalf("accepted artifact does not write back: %v", err)
		}
		d, err := ReadCompressed(buf.Bytes(), safetensors.Limits{})
		if err != nil {
			t.Fatalf("rewritten artifact does not read: %v", err)
		}
		for i := range c.Params {
			a, _ := c.Params[i].Float32s()
			b, _ := d.Params[i].Float32s()
			if !slices.Equal(a, b) {
				t.Fatalf("parameter %q changed in the round trip", c.Params[i].Name)
			}
		}
	})
}
